/*
 * The device rules every study kind shares (the study file's [device]: `touch_allowed`,
 * `min_stimulus_px`), checked by session.js before consent, so nothing is allocated on a device
 * that cannot take part. A kind adds its own rules after these (MVT: refresh rate, rescaling).
 * Pure (the screen and the touch flag are arguments), so `node --test` covers it.
 */

/** Room the page leaves for a stimulus, CSS px: the browser's bars and a trial's controls take about 200 px. */
export function stimulusRoom(screen) {
  return Math.min(screen.width - 20, screen.height - 200);
}

/**
 * A sentence when this device cannot meet `rules`, else null. `touch`: a phone or tablet;
 * `screen`: `{width, height}` in CSS px; `subject`: what must fit ("the videos"). A rule the
 * study does not give (null, absent) is not checked; no rules at all pass.
 */
export function sharedDeviceProblem(rules, touch, screen, subject = "the page") {
  if (!rules) return null;
  if (touch && rules.touch_allowed === false) {
    return "This task needs a computer with a mouse or keyboard; it cannot be done on a phone or tablet.";
  }
  const min = rules.min_stimulus_px;
  if (min && screen && stimulusRoom(screen) < min) {
    return "Your screen is too small for this task: " + subject + " need" + (subject === "the page" ? "s" : "") +
      " at least " + min + " by " + min + " pixels.";
  }
  return null;
}
