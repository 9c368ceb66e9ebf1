/*
 * Where the stimulus is on the worker's screen: sizing the trial stage to the part of the page
 * the worker can see, and watching that the whole video stays there while it plays.
 *
 * IntersectionObserver with the implicit root reports against the top-level viewport even in
 * a cross-origin frame (checked in Chromium), so inside MTurk's layout this measures the worker's window,
 * not the frame. The arithmetic is pure (fullyInside, fittedSize) for Node's tests.
 */

// Enough thresholds that scrolling part of a box out of view is reported.
const THRESHOLDS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];

/** Whether the visible rectangle covers the whole box (within tolerance px for rounding). */
export function fullyInside(box, visible, tolerance = 1) {
  if (!box || !visible || box.width <= 0 || box.height <= 0) return false;
  return visible.width >= box.width - tolerance && visible.height >= box.height - tolerance;
}

/**
 * The video side (CSS px) that lets the stage fit the visible area: the current side less what
 * the stage sticks out, in both directions, clamped to [min, max]. Integer px.
 */
export function fittedSize(current, box, visible, min, max) {
  const overX = Math.max(0, box.width - visible.width);
  const overY = Math.max(0, box.height - visible.height);
  const size = Math.floor(current - Math.max(overX, overY) - (overX || overY ? 4 : 0));
  return Math.max(min, Math.min(max, size));
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

function setVideoSize(px) {
  document.documentElement.style.setProperty("--video-px", px + "px");
}

/**
 * Sizes the video so that the stage (progress, video, status, Play) fits the worker's visible
 * area, scrolled into view, between minPx and maxPx. Resolves with the side in CSS px and
 * whether the stage now fits.
 */
export async function fitStage(stage, video, minPx, maxPx) {
  const box = stage.getBoundingClientRect();
  const chromeY = box.height - video.getBoundingClientRect().height;
  const room = Math.min(Math.floor(window.innerWidth - 32), Math.floor(window.innerHeight - chromeY - 8));
  let size = Math.max(minPx, Math.min(maxPx, room));
  setVideoSize(size);
  let fits = false;
  for (let i = 0; i < 3 && !fits; i++) {
    stage.scrollIntoView({ block: "nearest", inline: "nearest" });
    const m = await measureVisible(stage);
    fits = m.visible !== null && fullyInside(m.box, m.visible);
    if (!fits && m.visible) {
      const next = fittedSize(size, m.box, m.visible, minPx, maxPx);
      if (next === size) break;
      size = next;
      setVideoSize(size);
    }
  }
  return { size, fits };
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
