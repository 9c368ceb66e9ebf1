// static/runner/timing.js: frame log → confirmed ranges, drops, stalls, refresh (node --test tests/js/).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  FRAME_LOG_MAX, FRAME_TIMES_MAX, frameIndex, frameLog, frameTimes, medianInterval, playbackTiming, refreshFits,
  roundedInterval, sampleTime, stallLimitMs,
} from "../../static/runner/timing.js";

// [frame index, presentedFrames] pairs → requestVideoFrameCallback samples at 60 fps, each shown
// at its nominal time (t, ms) after a page clock of 5000 ms.
const at = (pairs) => pairs.map(([idx, pf]) => ({ mediaTime: idx / 60, presentedFrames: pf, t: 5000 + idx * 1000 / 60 }));
// The frame_times of frames from..to shown at their nominal times: no step off the 60 fps grid ("c").
const nominal = (from, to) => from + ";" + "c".repeat(to - from);
const run = (from, to, pf0) => Array.from({ length: to - from + 1 }, (_, k) => [from + k, pf0 + k]);

test("a perfectly played 6-frame stimulus (fixation 30, mask 30) is one range", () => {
  assert.equal(frameLog(at(run(0, 65, 1))), "0-65");
});

test("skipped callbacks do not break a range while presentedFrames keeps pace", () => {
  assert.equal(frameLog(at([[0, 10], [1, 11], [4, 14], [5, 15], [9, 19]])), "0-9");
});

test("a frame between two samples that presentedFrames cannot vouch for is left out", () => {
  // 30 → 32 took three presentations for two frames: frame 31 is not confirmed.
  assert.equal(frameLog(at([...run(0, 30, 1), ...run(32, 65, 34)])), "0-30,32-65");
});

test("a dropped frame also unconfirms the frame before it, which stayed on screen longer", () => {
  // Frame 36 dropped: no callback, and presentedFrames goes up by one from 35 to 37.
  assert.equal(frameLog(at([...run(0, 35, 1), ...run(37, 65, 37)])), "0-34,37-65");
});

test("a single-frame range followed by a drop disappears", () => {
  assert.equal(frameLog(at([[0, 0], [1, 5], [3, 6], [4, 7]])), "0-0,3-4");
});

test("several drops in a row leave out the frame before the gap only", () => {
  assert.equal(frameLog(at([...run(0, 10, 0), [14, 11], [15, 12]])), "0-9,14-15");
});

test("a repeated or earlier mediaTime is ignored", () => {
  assert.equal(frameLog(at([[0, 1], [1, 2], [1, 3], [0, 4], [2, 3]])), "0-2");
});

test("WebM media times (rounded to the millisecond) map to the nearest frame", () => {
  assert.equal(frameIndex(0.016), 1);
  assert.equal(frameIndex(0.983), 59);
  assert.equal(frameIndex(1.0), 60);
  assert.equal(frameIndex(0.5, 30), 15);
  const webm = run(0, 65, 1).map(([idx, pf]) => ({ mediaTime: Math.floor(idx * 1000 / 60) / 1000, presentedFrames: pf }));
  assert.equal(frameLog(webm), "0-65");
});

test("nothing to log gives null", () => {
  assert.equal(frameLog([]), null);
});

test("a log longer than the server accepts gives null", () => {
  // Every second frame presented twice: one range per sample, thousands of characters.
  const samples = at(Array.from({ length: 700 }, (_, k) => [2 * k, 3 * k]));
  assert.ok(samples.map((s) => frameIndex(s.mediaTime)).join("-x,").length > FRAME_LOG_MAX);
  assert.equal(frameLog(samples), null);
  assert.equal(frameLog(samples.slice(0, 20)), "0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20," +
    "22-22,24-24,26-26,28-28,30-30,32-32,34-34,36-36,38-38");
});

test("a finished playback reports its log, its presentations and the drops counted by the browser", () => {
  const timing = playbackTiming({
    samples: at(run(0, 65, 101)), q0: { total: 10, dropped: 1 }, q1: { total: 77, dropped: 2 }, rvfc: true, stalled: false,
  });
  assert.deepEqual(timing, {
    presented_frames: null, frame_log: "0-65", frame_times: nominal(0, 65), frames_presented_total: 66,
    dropped_frames: 1, timing_source: "rvfc",
  });
});

test("frame times say how long each sampled frame stayed: a held frame is a long gap", () => {
  const samples = at(run(0, 33, 1));
  samples.slice(31).forEach((s) => { s.t += 2500; });  // frame 30 held 2.5 s (a stall)
  // 31 came 2516.7 ms after 30 (2500.0 off the grid, in tenths), 32 and 33 on time after it.
  assert.equal(frameTimes(samples), nominal(0, 30) + "(1,25000)cc");
});

test("frame times of a real playback are the compact form the server reads back to its index:ms text", () => {
  // Bodies captured from this page in Chromium (index:ms form) and their compact form, which
  // kernel.responses.compact_frame_times wrote and tests/test_responses_stored.py reads back.
  const captured = JSON.parse(readFileSync(new URL("../fixtures/browser_answers.json", import.meta.url)));
  captured.answers.forEach((answer, k) => {
    const samples = answer.frame_times.split(",").map((part) => {
      const [idx, ms] = part.split(":").map(Number);
      return { mediaTime: idx / 60, presentedFrames: idx, t: 81234.5678 + ms };
    });
    assert.equal(frameTimes(samples), captured.frame_times_compact[k]);
  });
  // Skipped callbacks (steps of 2 and 3) and the rounding of real times (±0.1 ms): one character each.
  const jittered = at([[0, 1], [1, 2], [3, 4], [6, 7]]);
  jittered[1].t -= 0.1;
  jittered[2].t += 0.04;
  assert.equal(frameTimes(jittered), "0;bim");
});

test("frame times skip repeated frames and samples without a time, and give up when too long", () => {
  const samples = at([[0, 1], [1, 2], [1, 3], [3, 5]]);
  samples[3].t = NaN;
  assert.equal(frameTimes(samples), "0;c");
  assert.equal(frameTimes([]), null);
  const long = at(run(0, 13000, 1));
  assert.ok(nominal(0, 13000).length > FRAME_TIMES_MAX);
  assert.equal(frameTimes(long), null);
});

test("a sample's time is the frame's expected display time, else its presentation time, else now", () => {
  assert.equal(sampleTime(10, { expectedDisplayTime: 30, presentationTime: 20 }), 30);
  assert.equal(sampleTime(10, { presentationTime: 20 }), 20);
  assert.equal(sampleTime(10, {}), 10);
});

test("a stalled playback does not count the frame it was stuck on", () => {
  const samples = at(run(0, 40, 1));
  const timing = playbackTiming({ samples, q0: null, q1: null, rvfc: true, stalled: true });
  assert.deepEqual(timing, {
    presented_frames: null, frame_log: "0-39", frame_times: nominal(0, 40), frames_presented_total: 40,
    dropped_frames: null, timing_source: "rvfc",
  });
  assert.equal(samples.length, 41, "the caller's samples are left as they were");
});

test("a stall on the very first frame confirms nothing", () => {
  const timing = playbackTiming({ samples: at([[0, 1]]), q0: null, q1: null, rvfc: true, stalled: true });
  assert.equal(timing.frame_log, null);
  assert.equal(timing.frames_presented_total, null);
  assert.equal(timing.timing_source, "none");
});

test("without requestVideoFrameCallback the playback-quality counters are used, unless it stalled", () => {
  const q0 = { total: 5, dropped: 0 };
  const q1 = { total: 71, dropped: 3 };
  assert.deepEqual(playbackTiming({ samples: [], q0, q1, rvfc: false, stalled: false }), {
    presented_frames: null, frame_log: null, frame_times: null, frames_presented_total: 63, dropped_frames: 3,
    timing_source: "playback_quality",
  });
  assert.equal(playbackTiming({ samples: [], q0, q1, rvfc: false, stalled: true }).timing_source, "none");
  assert.deepEqual(playbackTiming({ samples: [], q0: null, q1: null, rvfc: false, stalled: false }), {
    presented_frames: null, frame_log: null, frame_times: null, frames_presented_total: null, dropped_frames: null,
    timing_source: "none",
  });
});

test("a video is called stalled 2 s after its natural end (15 s when its duration is unknown)", () => {
  assert.equal(stallLimitMs(1.1), 3100);
  assert.equal(stallLimitMs(NaN), 17000);
  assert.equal(stallLimitMs(Infinity), 17000);
  assert.equal(stallLimitMs(0), 17000);
});

test("the refresh interval is the median of the animation-frame intervals", () => {
  assert.equal(medianInterval([0, 16, 33, 50, 66.5]), 17);  // 16, 16.5, 17, 17: the upper middle
  assert.equal(medianInterval([0, 10, 30]), 20);
  assert.equal(medianInterval([0, 16.5, 100, 116.5]), 16.5);  // one late frame does not move it
  assert.equal(medianInterval([5]), null);
  assert.equal(medianInterval([]), null);
  assert.equal(roundedInterval(16.66666), 16.667);
  assert.equal(roundedInterval(null), null);
});

test("refreshFits: 60 Hz and its multiples within the tolerance pass, others fail, unmeasured passes", () => {
  assert.equal(refreshFits(60.2, 3), true);
  assert.equal(refreshFits(59.94, 3), true);
  assert.equal(refreshFits(119.5, 3), true);
  assert.equal(refreshFits(144, 3), false);   // 144 = 2.4 x 60: frames shown for 2 or 3 refreshes
  assert.equal(refreshFits(75, 3), false);
  assert.equal(refreshFits(30, 3), false);    // every other video frame never shown
  assert.equal(refreshFits(50, 3), false);
  assert.equal(refreshFits(null, 3), true);
  assert.equal(refreshFits(64, 5), true);
});

test("medianInterval with q = 0.25 finds a 60 Hz display through skipped frames", () => {
  // 60 Hz with 60 % of the frames skipped by a busy computer (33.3 ms gaps).
  const stamps = [0];
  for (let i = 1; i <= 60; i++) stamps.push(stamps[i - 1] + (i % 5 < 3 ? 1000 / 30 : 1000 / 60));
  assert.ok(Math.abs(medianInterval(stamps, 0.25) - 1000 / 60) < 1e-9);
  assert.ok(medianInterval(stamps) > 16.7);  // the median would not
  // A true 30 Hz display stays at 33.3 ms in every quantile.
  const slow = Array.from({ length: 31 }, (_, i) => i * 1000 / 30);
  assert.ok(Math.abs(medianInterval(slow, 0.25) - 1000 / 30) < 1e-9);
  assert.ok(Math.abs(medianInterval(slow, 0.1) - 1000 / 30) < 1e-9);
});

test("medianInterval with q = 0.1 (measureRefresh) finds 60 Hz when only one frame in eight comes on time", () => {
  // A throttled main thread: gaps of 2 and 3 refreshes, every eighth frame on time.
  const stamps = [0];
  for (let i = 1; i <= 40; i++) stamps.push(stamps[i - 1] + (1000 / 60) * (i % 8 === 0 ? 1 : 2 + (i % 2)));
  assert.ok(Math.abs(medianInterval(stamps, 0.1) - 1000 / 60) < 1e-9);
  assert.ok(medianInterval(stamps, 0.25) > 30);  // the lower quartile would read about 30 Hz
});
