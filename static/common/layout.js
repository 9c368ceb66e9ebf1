/*
 * Where things are on the worker's screen, for every study kind: how much of an element the
 * worker can see (measureVisible, watchVisible while a stimulus is shown), the device's sizes
 * sent with every answer (deviceInfo) and whether it is a touch device.
 *
 * IntersectionObserver with the implicit root reports against the top-level viewport even in
 * a cross-origin frame (checked in Chromium), so inside MTurk's layout this measures the worker's window,
 * not the frame. The arithmetic is pure (fullyInside) for Node's tests.
 */

// Enough thresholds that scrolling part of a box out of view is reported.
const THRESHOLDS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];

/** Whether the visible rectangle covers the whole box (within tolerance px for rounding). */
export function fullyInside(box, visible, tolerance = 1) {
  if (!box || !visible || box.width <= 0 || box.height <= 0) return false;
  return visible.width >= box.width - tolerance && visible.height >= box.height - tolerance;
}

/** One IntersectionObserver reading of el: {box, visible, ratio} (visible null when off screen). */
export function measureVisible(el) {
  return new Promise((resolve) => {
    const io = new IntersectionObserver((entries) => {
      io.disconnect();
      const e = entries[entries.length - 1];
      const visible = e.isIntersecting ? e.intersectionRect : null;
      resolve({ box: e.boundingClientRect, visible, ratio: e.intersectionRatio });
    }, { threshold: THRESHOLDS });
    io.observe(el);
  });
}

/**
 * Watches el while a stimulus plays. stop() → true when every reading had el wholly visible,
 * false when any did not, null when the observer reported nothing.
 */
export function watchVisible(el) {
  let seen = false;
  let inside = true;
  function note(entries) {
    for (const e of entries) {
      seen = true;
      if (!e.isIntersecting || !fullyInside(e.boundingClientRect, e.intersectionRect)) inside = false;
    }
  }
  const io = new IntersectionObserver(note, { threshold: THRESHOLDS });
  io.observe(el);
  return {
    stop() {
      note(io.takeRecords());
      io.disconnect();
      return seen ? inside : null;
    },
  };
}

/** The page's and screen's size, devicePixelRatio and fullscreen state, as sent per trial. */
export function deviceInfo() {
  return {
    viewport_w: Math.round(window.innerWidth),
    viewport_h: Math.round(window.innerHeight),
    screen_w: window.screen ? Math.round(window.screen.width) : null,
    screen_h: window.screen ? Math.round(window.screen.height) : null,
    dpr: window.devicePixelRatio || null,
    fullscreen: Boolean(document.fullscreenElement),
  };
}

/** A phone or tablet: the primary pointer is coarse (a finger). */
export function isTouchDevice() {
  return typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches;
}
