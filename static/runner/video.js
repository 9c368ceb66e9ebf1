/*
 * Videos: downloading them whole before a trial (blob URLs, retried), loading one into the
 * <video>, playing it while recording requestVideoFrameCallback samples, and measuring the
 * display's refresh. The arithmetic on what was recorded is in timing.js.
 */
import { backoffMs, countdown } from "../common/api.js";
import { medianInterval, playbackTiming, sampleTime, stallLimitMs } from "./timing.js";

// Requests per video before the page gives up and asks the worker to return the HIT.
export const MAX_DOWNLOADS = 4;

/** The page gave up on a video; `message` says why in words for the worker. */
export class VideoFailure extends Error {}

async function fetchBlobUrl(url, onRetry) {
  let why = "";
  for (let attempt = 0; attempt < MAX_DOWNLOADS; attempt++) {
    if (attempt > 0) {
      await countdown(backoffMs(attempt - 1), (s) => onRetry("Downloading the video failed (" + why +
        ") — trying again in " + s + " s (attempt " + (attempt + 1) + " of " + MAX_DOWNLOADS + ")…"));
      onRetry("Loading video…");
    }
    try {
      const res = await fetch(url, { credentials: "same-origin", mode: "cors" });
      if (res.ok) {
        const blob = await res.blob();
        if (blob.size > 0) return URL.createObjectURL(blob);
        why = "the file was empty";
      } else {
        why = "HTTP " + res.status;
        // A missing video stays missing: one retry in case of a passing fault, then give up.
        if (res.status === 404 && attempt >= 1) break;
      }
    } catch (e) {
      why = "no connection";
    }
  }
  throw new VideoFailure("the video could not be downloaded (" + why + ")");
}

/** preload(i) starts (once) the download of trial i's video; release(i) frees it. */
export function createPreloader(trials, onRetry) {
  const blobs = {};
  return {
    preload(i) {
      if (i >= trials.length) return null;
      if (!blobs[i]) {
        blobs[i] = fetchBlobUrl(trials[i].video_url, onRetry);
        blobs[i].catch(() => { /* reported where the trial awaits it */ });
      }
      return blobs[i];
    },
    release(i) {
      const p = blobs[i];
      delete blobs[i];
      if (p) p.then((u) => { setTimeout(() => { URL.revokeObjectURL(u); }, 1000); }, () => {});
    },
  };
}

// A downloaded video that is not ready to play this long after loading counts as broken.
const LOAD_LIMIT_MS = 15000;

/** Loads src into the video; rejects when it cannot be decoded or is not ready in time. */
export function loadVideo(video, src) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(failed, LOAD_LIMIT_MS);
    function ready() {
      cleanup();
      resolve();
    }
    function failed() {
      cleanup();
      reject(new Error("your browser cannot decode it"));
    }
    function cleanup() {
      clearTimeout(timer);
      video.removeEventListener("canplaythrough", ready);
      video.removeEventListener("error", failed);
    }
    video.addEventListener("canplaythrough", ready);
    video.addEventListener("error", failed);
    video.src = src;
    video.load();
  });
}

function quality(video) {
  if (typeof video.getVideoPlaybackQuality !== "function") return null;
  const q = video.getVideoPlaybackQuality();
  return { total: q.totalVideoFrames, dropped: q.droppedVideoFrames };
}

/**
 * Plays the loaded video once; resolves with the response's timing fields when it ends, or
 * when it stalls or errors (then its held frame does not count). Rejects if play() fails.
 * onLeave() is called when the page is left (Back, Forward, reload, closed) mid-video: a page
 * restored from the back/forward cache resolves with `interrupted: "navigation"`.
 */
export function playAndMeasure(video, onLeave = () => {}) {
  return new Promise((resolve, reject) => {
    const samples = [];
    let settled = false;
    let watchdog = null;
    let hiddenDuring = document.hidden;
    let blurredDuring = !document.hasFocus();
    let interrupted = null;
    const rvfc = typeof video.requestVideoFrameCallback === "function";
    const q0 = quality(video);
    function onFrame(now, meta) {
      if (settled) return;
      samples.push({ mediaTime: meta.mediaTime, presentedFrames: meta.presentedFrames, t: sampleTime(now, meta) });
      video.requestVideoFrameCallback(onFrame);
    }
    function onVisibility() { if (document.hidden) hiddenDuring = true; }
    function onBlur() { blurredDuring = true; }
    function onPageHide() {
      interrupted = "navigation";
      hiddenDuring = true;
      onLeave();
    }
    function onError() { finish(true); }
    function settle() {
      // Ends playback bookkeeping once; false when it already ended.
      if (settled) return false;
      settled = true;
      clearTimeout(watchdog);
      video.removeEventListener("error", onError);
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("blur", onBlur);
      window.removeEventListener("pagehide", onPageHide);
      return true;
    }
    function finish(stalled) {
      if (!settle()) return;
      if (stalled) video.pause();
      const timing = playbackTiming({ samples, q0, q1: quality(video), rvfc, stalled });
      resolve(Object.assign(timing, { hidden_during_video: hiddenDuring, blurred_during_video: blurredDuring,
        interrupted }));
    }
    // Registered before play(): otherwise the first frames may get no callback (checked in
    // headless Chromium; docs/contracts.md, frame_log).
    if (rvfc) video.requestVideoFrameCallback(onFrame);
    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("blur", onBlur);
    window.addEventListener("pagehide", onPageHide);
    video.addEventListener("ended", () => {
      // The last frame's callback can arrive just after "ended".
      setTimeout(() => { finish(false); }, 60);
    }, { once: true });
    // A decode error or a stall mid-video must not leave the worker stuck on a dead screen.
    video.addEventListener("error", onError);
    watchdog = setTimeout(() => { finish(true); }, stallLimitMs(video.duration));
    const p = video.play();
    if (p && p.catch) {
      p.catch((err) => {
        if (settle()) reject(err);
      });
    }
  });
}

/** The `q`-quantile of the requestAnimationFrame intervals over one second (ms), or null. */
function refreshReading(q) {
  return new Promise((resolve) => {
    const stamps = [];
    function tick(t) {
      stamps.push(t);
      if (t - stamps[0] < 1000) requestAnimationFrame(tick);
      else resolve(medianInterval(stamps, q));
    }
    requestAnimationFrame(tick);
  });
}

/**
 * The display's refresh interval (ms), or null: the 10th percentile of requestAnimationFrame's
 * intervals over a second, the shortest of up to `tries` seconds, stopping at a reading that
 * `fits(intervalMs)`. A busy main thread (or a throttled one) skips frames, which lengthens
 * intervals but never shortens one, so a few frames on time find a 60 Hz display; a 30 Hz display
 * never shows a 16.7 ms interval, and costs the worker `tries` seconds.
 */
export async function measureRefresh(fits = () => true, tries = 3) {
  let best = null;
  for (let i = 0; i < tries; i++) {
    const reading = await refreshReading(0.1);
    if (reading !== null && (best === null || reading < best)) best = reading;
    if (best !== null && fits(best)) break;
  }
  return best;
}
