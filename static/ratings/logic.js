/*
 * The rating runner's rules, without the DOM (unit-tested in tests/js/ratings.test.mjs):
 * which trials share a screen, the scale's buttons and keys, when a sample may be rated, and
 * what a rating reports about how the sample was presented.
 */

/**
 * Consecutive trials with the same `screen` form one screen (MUSHRA, same-source). Single-stimulus
 * designs give every sample of a task its own screen number, so each of their trials stands alone.
 */
export function groupScreens(trials) {
  const screens = [];
  for (const trial of trials) {
    const last = screens[screens.length - 1];
    if (last && last.screen === trial.screen) {
      last.trials.push(trial);
    } else {
      screens.push({ screen: trial.screen, trials: [trial] });
    }
  }
  return screens;
}

/** The index of the screen holding trial `resumeFrom` (the first unanswered trial). */
export function screenOfTrial(screens, resumeFrom) {
  let seen = 0;
  for (let i = 0; i < screens.length; i++) {
    seen += screens[i].trials.length;
    if (resumeFrom < seen) return i;
  }
  return screens.length;
}

/**
 * The instructions for a task whose first screen shows `nOnScreen` samples like `trial`: what to
 * play or look at, how to rate, and the keys that work on that kind of screen (digits choose a
 * score only on single-sample screens; on several-sample image screens they show a sample).
 */
export function instructionsText(trial, nOnScreen) {
  const image = trial.media_type === "image";
  const verb = trial.media_type === "audio" ? "Listen to" : image ? "Look at" : "Watch";
  const flip = "Click a letter (or press its number) to show that sample in the viewing area; F or Space flips back.";
  if (trial.scale === "mushra") {
    return verb + " the reference and every sample on each screen, then rate each sample from 0 (bad) to 100 " +
      "(excellent) compared with the reference. One of the samples is the reference itself: give it 100." +
      (image ? " " + flip.replace("letter (", "letter or Reference (").replace("number)", "number, R)") : "");
  }
  if (nOnScreen > 1) {
    return verb + " every sample on each screen (all are versions of one " +
      (trial.media_type === "audio" ? "recording" : image ? "picture" : "video") + "), then choose each " +
      "sample's overall quality from Excellent (5) to Bad (1) in the menu beside it." + (image ? " " + flip : "");
  }
  const keys = " Number keys 1–5 choose, Enter confirms.";
  if (trial.scale === "dcr") {
    return verb + " the reference and the test sample" + (image ? " (F shows the reference in the sample's " +
      "place and back)" : " to the end") + ". Rate how much the test sample is degraded compared with the " +
      "reference, from Imperceptible (5) to Very annoying (1)." + keys;
  }
  return verb + " each sample" + (image ? "" : " to the end") +
    ", then rate its overall quality from Excellent (5) to Bad (1)." + keys;
}

/** Buttons of a 5-point scale, best first: [{value: "5", label: "Excellent", key: "5"}, ...]. */
export function scaleButtons(trial) {
  if (trial.scale === "mushra") return [];
  return trial.labels.map((label, i) => ({ value: String(5 - i), label, key: String(5 - i) }));
}

/** The scale point a key press chooses ("1".."5"), or null. */
export function keyToScore(key, scale) {
  if (scale === "mushra") return null;
  return /^[1-5]$/.test(key) ? key : null;
}

/** The BS.1534 band a MUSHRA score falls in (80–100 Excellent, ..., 0–20 Bad). */
export function mushraBand(value, labels) {
  const v = Number(value);
  const index = v >= 80 ? 0 : v >= 60 ? 1 : v >= 40 ? 2 : v >= 20 ? 3 : 4;
  return labels[index];
}

/**
 * Why a MUSHRA screen cannot be sent yet, or null: every sample rated, and (BS.1534) at least
 * one rated 100, since the hidden reference is among the samples. `scores` holds each slider's
 * value, null while it has not been moved.
 */
export function mushraIncomplete(scores) {
  if (scores.some((v) => v === null)) return "Rate every sample.";
  if (!scores.some((v) => Number(v) === 100)) {
    return "Rate at least one sample 100: the reference is hidden among the samples.";
  }
  return null;
}

/**
 * Whether a multi-sample screen may go on, and the hint to show: `values` are the samples' scores
 * (null: not rated yet). Every sample must be rated, and for MUSHRA one at 100. Until every sample
 * has a score the screen's own `hint` stays; then the hint says what still stops Next.
 */
export function screenStatus(scale, values, hint) {
  const missing = scale === "mushra" ? mushraIncomplete(values)
    : (values.every((v) => v !== null) ? null : "Rate every sample.");
  return { ready: missing === null, hint: missing && values.every((v) => v !== null) ? missing : hint };
}

/** Share of a sample that must have been played, as the union of the played ranges, for "played to
 * the end": a seek to the last moment fires `ended` too, after a few milliseconds of sound. */
export const PLAYED_SHARE = 0.95;

/** Seconds covered by a TimeRanges-like `{length, start(i), end(i)}` (the element's `played`: its
 * ranges are already merged, so their lengths add up). */
export function playedSeconds(ranges) {
  let total = 0;
  for (let i = 0; i < ranges.length; i++) total += Math.max(0, ranges.end(i) - ranges.start(i));
  return total;
}

/**
 * Counts what happens to one audio or video sample: plays, whether it played to the end,
 * replays (plays after the first), and the time from showing it to rating it.
 */
export class Playback {
  constructor(now = () => performance.now()) {
    this.now = now;
    this.shownAt = now();
    this.plays = 0;
    this.completed = false;
  }

  onPlay() { this.plays += 1; }

  /** At `ended`: complete once `PLAYED_SHARE` of the `duration` (s) has been played (`played`: the element's ranges). */
  onEnded(played, duration) {
    if (Number.isFinite(duration) && duration > 0 && playedSeconds(played) >= PLAYED_SHARE * duration) {
      this.completed = true;
    }
  }

  get replays() { return Math.max(0, this.plays - 1); }

  /** Audio and video must have played to the end before they may be rated; images at once. */
  mayRate(mediaType) { return mediaType === "image" || this.completed; }

  /** The presentation fields sent with a rating (`playback_completed` null for an image: nothing to play). */
  report(mediaType) {
    return {
      response_time_ms: Math.max(0, Math.round(this.now() - this.shownAt)),
      // Not `plays`: that counts replays of a stimulus that must be seen once (MVT), a failed
      // presentation; a rated sample may be played again.
      replays: this.replays,
      playback_completed: mediaType === "image" ? null : this.completed,
    };
  }
}
