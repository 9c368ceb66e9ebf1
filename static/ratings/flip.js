/*
 * Flip-compare on a multi-sample image screen, without the DOM (tests/js/flip.test.mjs): which
 * image a key shows, and how long, how often and how wholly each image was on view. The DOM
 * side is flipscreen.js.
 */

/** The view id of the labelled reference; samples are 0, 1, … in screen order. */
export const REFERENCE = "ref";

/** A sample's neutral name on screen: A, B, … (never its algorithm). */
export function sampleLetter(k) {
  return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[k % 26];
}

/**
 * What a key press does on a flip-compare screen, or null when it is not ours.
 *
 * Digits 1–9 show sample 1–9, R shows the reference (when the screen has one), F or Space flip
 * back to the image shown before. `target` says where the key went: "text" (a menu or text
 * field: its own type-ahead keeps every key), "button" (another button: Space presses it),
 * "view" (one of the flip view buttons: Space flips instead of pressing it) or "other".
 * Returns {show: view} or {flip: true}.
 */
export function flipKey(key, { nSamples, hasReference, target = "other", modifier = false }) {
  if (modifier || target === "text") return null;
  if (/^[1-9]$/.test(key)) {
    const k = Number(key) - 1;
    return k < nSamples ? { show: k } : null;
  }
  if ((key === "r" || key === "R") && hasReference) return { show: REFERENCE };
  if (key === "f" || key === "F") return { flip: true };
  if (key === " " && target !== "button") return { flip: true };
  return null;
}

/**
 * Which image is in the viewing area, and per image: how often it was put there, how long it
 * stayed while the page was visible, and whether the viewing area was wholly inside the
 * visible viewport meanwhile.
 *
 * `view_ms` of an image is the sum, over the intervals in which it was the shown image, of the
 * time the page was visible (a hidden tab's time is left out; `hidden_during_video` says it
 * happened). `views` counts switches to the image, so showing the image already shown counts
 * nothing; `replays` = views − 1 (0 for an image never or once shown), as a replayed sound.
 */
export class FlipViews {
  constructor(views, now = () => performance.now()) {
    this.now = now;
    this.startedAt = now();
    this.stats = new Map(views.map((v) => [v, { views: 0, ms: 0, visible: null }]));
    this.current = null;
    this.previous = null;
    this.since = null;
    this.hidden = false;
  }

  _close() {
    if (this.current !== null && this.since !== null) {
      this.stats.get(this.current).ms += this.now() - this.since;
    }
    this.since = null;
  }

  /** Put `view` in the viewing area; true when that changed the shown image. */
  show(view) {
    if (!this.stats.has(view)) throw new RangeError("no view " + String(view) + " on this screen");
    if (view === this.current) return false;
    this._close();
    this.previous = this.current;
    this.current = view;
    this.stats.get(view).views += 1;
    this.since = this.hidden ? null : this.now();
    return true;
  }

  /** Show the image shown before the current one again; returns it, or null when there is none. */
  flip() {
    if (this.previous === null) return null;
    const back = this.previous;
    this.show(back);
    return back;
  }

  /** Whether `view` has been shown at least once (a sample may be rated once it has). */
  seen(view) { return this.stats.get(view).views > 0; }

  /** The page was hidden (tab switched, window minimised) or shown again. */
  setHidden(hidden) {
    if (hidden === this.hidden) return;
    if (hidden) this._close();
    this.hidden = hidden;
    if (!hidden && this.current !== null) this.since = this.now();
  }

  /**
   * One reading of whether the viewing area was wholly visible while `view` was shown (true,
   * false, or null for no reading): a view is visible when every reading said so.
   */
  noteVisible(view, visible) {
    const s = this.stats.get(view);
    if (visible === false) s.visible = false;
    else if (visible === true && s.visible === null) s.visible = true;
  }

  /** Stop the clock (Next was pressed). */
  stop() {
    this._close();
    this.current = null;
    this.previous = null;
  }

  /** The presentation fields sent with sample `view`'s rating. */
  report(view) {
    const s = this.stats.get(view);
    return {
      response_time_ms: Math.max(0, Math.round(this.now() - this.startedAt)),
      replays: Math.max(0, s.views - 1),
      view_ms: Math.round(s.ms),
      stimulus_visible: s.visible,
    };
  }
}
