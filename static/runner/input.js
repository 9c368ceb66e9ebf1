/*
 * Which key presses and clicks may start a video, pure. A keypress that confirmed the last
 * answer must not start the next video: Play is enabled (armed) only PLAY_ARM_MS after the
 * cross became visible, and then needs its own fresh action — a new key press (not an
 * auto-repeat of a key held since before) or a pointer's click.
 */

export const PLAY_ARM_MS = 300;

export function isPlayKey(key) { return key === " " || key === "Enter"; }

/** A keydown {key, repeat, timeStamp} starts the video when it is a fresh press after arming. */
export function keyStartsPlay(ev, armedAt) {
  return armedAt !== null && isPlayKey(ev.key) && !ev.repeat && ev.timeStamp >= armedAt;
}

/** A click {detail} on Play starts the video when a pointer made it (keys go through keyStartsPlay). */
export function clickStartsPlay(ev, armedAt) {
  return armedAt !== null && ev.detail > 0;
}

/** What started the video: the last pointer's type (mouse, touch, pen) or the keyboard. */
export function inputType(byKey, pointerType) {
  if (byKey) return "keyboard";
  return ["mouse", "touch", "pen"].indexOf(pointerType) >= 0 ? pointerType : "mouse";
}
