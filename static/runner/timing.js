/*
 * Timing measurement, pure: playback samples → the fields of a response's timing
 * (frame_log, frames_presented_total, dropped_frames, timing_source), and rAF stamps → the
 * refresh interval. No DOM here, so Node's test runner imports it (tests/js/timing.test.mjs).
 */

export const FPS = 60;
export const FRAME_LOG_MAX = 4000;
export const FRAME_TIMES_MAX = 12000;
// A video that has not ended this long after its natural end is treated as stalled.
export const STALL_GRACE_MS = 2000;

/** Video frame index of a requestVideoFrameCallback mediaTime (WebM/MP4 times are rounded). */
export function frameIndex(mediaTime, fps = FPS) {
  return Math.round(mediaTime * fps);
}

/*
 * Ranges of frame indices confirmed as presented: a range grows while consecutive
 * callbacks advance presentedFrames by as much as the frame index (in Chromium callbacks skip
 * frames, the counter does not). Returns "a-b,c-d" or null (nothing confirmed, or too long).
 */
export function frameLog(samples, fps = FPS) {
  const runs = [];
  let prev = null;
  for (const sample of samples) {
    const idx = frameIndex(sample.mediaTime, fps);
    const pf = sample.presentedFrames;
    if (prev && idx <= prev.idx) continue;
    if (prev && pf - prev.pf === idx - prev.idx) runs[runs.length - 1][1] = idx;
    else {
      // Fewer presentations than frames: something after prev.idx was dropped, so the frame
      // at prev.idx stayed on screen longer than one frame and is not confirmed either.
      if (prev && pf - prev.pf < idx - prev.idx) {
        const last = runs[runs.length - 1];
        if (last[1] === prev.idx) {
          if (last[0] === last[1]) runs.pop();
          else last[1] -= 1;
        }
      }
      runs.push([idx, idx]);
    }
    prev = { idx, pf };
  }
  const text = runs.map((r) => r[0] + "-" + r[1]).join(",");
  if (!text || text.length > FRAME_LOG_MAX) return null;
  return text;
}

/*
 * When each sampled frame was on screen, compactly (about one character per sample): the first
 * sample's frame index, ";", then per later sample (one per requestVideoFrameCallback sample with a
 * new frame index) its index step g (>= 1) and d, the change of its offset from the 60 fps grid.
 * A sample's time T is in tenths of a ms since the first sample's (the 0.1 ms the page always sent);
 * its offset is T - round((index - first) x 1000/60 x 10). g 1-5 with d within ±2 (a 60 Hz display,
 * callbacks skipped) is the character chr(97 + 5(g-1) + d + 2), "a"-"y"; any other step "(g,d)".
 * The server, which alone knows where the image starts and ends, reads the image segment's on-screen
 * time from it (a held frame shows as a long gap); kernel.responses.frame_times_text turns it back
 * into the "index:ms,..." text the export shows. null without samples or when too long.
 */
export function frameTimes(samples, fps = FPS) {
  let out = null;
  let last = -1;
  let t0 = null;
  let first = 0;
  let offset = 0;
  for (const sample of samples) {
    const idx = frameIndex(sample.mediaTime, fps);
    if (idx <= last || typeof sample.t !== "number" || !isFinite(sample.t)) continue;
    if (t0 === null) {
      t0 = sample.t;
      first = idx;
      out = idx + ";";
    } else {
      const r = Math.round((sample.t - t0) * 10) - Math.floor((500 * (idx - first) + 1) / 3);
      const g = idx - last;
      const d = r - offset;
      out += g <= 5 && d >= -2 && d <= 2 ? String.fromCharCode(97 + 5 * (g - 1) + d + 2) : "(" + g + "," + d + ")";
      offset = r;
    }
    last = idx;
  }
  if (out === null || out.length > FRAME_TIMES_MAX) return null;
  return out;
}

/** A sample's on-screen time (ms): the frame's expected display time, else its presentation time, else now. */
export function sampleTime(now, meta) {
  if (meta && typeof meta.expectedDisplayTime === "number" && meta.expectedDisplayTime > 0) return meta.expectedDisplayTime;
  if (meta && typeof meta.presentationTime === "number" && meta.presentationTime > 0) return meta.presentationTime;
  return now;
}

/**
 * The timing fields of one playback. samples: [{mediaTime, presentedFrames, t}] from
 * requestVideoFrameCallback (rvfc true); q0/q1: {total, dropped} from
 * getVideoPlaybackQuality before and after, or null; stalled: playback never ended.
 */
export function playbackTiming({ samples, q0, q1, rvfc, stalled }) {
  // A stalled video's last frame stayed on screen (for seconds, not one refresh): it does not
  // count as presented, so a stall inside the image segment fails the timing check.
  const shown = stalled ? samples.slice(0, -1) : samples;
  const dropped = q0 && q1 ? q1.dropped - q0.dropped : null;
  const log = rvfc ? frameLog(shown) : null;
  let total = null;
  if (rvfc && shown.length) total = shown[shown.length - 1].presentedFrames - shown[0].presentedFrames + 1;
  else if (q0 && q1) total = (q1.total - q0.total) - dropped;
  return {
    presented_frames: null,
    frame_log: log,
    frame_times: rvfc ? frameTimes(samples) : null,
    frames_presented_total: total,
    dropped_frames: dropped,
    timing_source: log !== null ? "rvfc" : (q0 && !stalled ? "playback_quality" : "none"),
  };
}

/** How long to wait for "ended" before calling a video stalled, from its duration in seconds. */
export function stallLimitMs(durationS) {
  return (isFinite(durationS) && durationS > 0 ? durationS * 1000 : 15000) + STALL_GRACE_MS;
}

/**
 * The `q`-quantile (default the median) of the intervals between requestAnimationFrame
 * timestamps (ms), or null with fewer than two. A busy computer skips frames, which lengthens
 * some intervals but never shortens one: a low quantile (video.js's measureRefresh takes q = 0.1)
 * still finds the display's own refresh when a tenth of the frames come on time.
 */
export function medianInterval(stamps, q = 0.5) {
  const d = [];
  for (let i = 1; i < stamps.length; i++) d.push(stamps[i] - stamps[i - 1]);
  d.sort((a, b) => a - b);
  return d.length ? d[Math.floor(d.length * q)] : null;
}

/** The refresh interval as sent with each response: ms to three decimals, or null. */
export function roundedInterval(intervalMs) {
  return intervalMs === null ? null : Math.round(intervalMs * 1000) / 1000;
}

/**
 * Whether a display refreshing `hz` times a second shows 60 fps video frames for whole, equal
 * numbers of refreshes: within `toleranceHz` of 60 or a multiple of it (120, 180, 240). An
 * unmeasured rate (null) passes: the display check warns instead.
 */
export function refreshFits(hz, toleranceHz, fps = FPS) {
  if (!hz) return true;
  const multiple = Math.max(1, Math.round(hz / fps));
  return Math.abs(hz - multiple * fps) <= toleranceHz;
}
