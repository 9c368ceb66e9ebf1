/*
 * Sizing the MVT trial stage (progress, video, status, Play) to the part of the page the worker
 * can see. The arithmetic is pure (fittedSize) for Node's tests.
 */
import { fullyInside, measureVisible } from "../common/layout.js";

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

/**
 * Whether a video drawn `drawn` device px keeps the study's device rule: within max_rescale / 2
 * and max_rescale times the size it should be shown at (`shown`, device px; unknown passes).
 */
export function rescaleFits(drawn, shown, maxRescale = 1.5) {
  if (!shown || !drawn) return true;
  return drawn >= shown * maxRescale / 2 && drawn <= shown * maxRescale;
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
