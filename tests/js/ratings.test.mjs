// static/ratings/logic.js: screens, scale buttons and keys, MUSHRA bands, playback rules.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  PLAYED_SHARE, Playback, groupScreens, instructionsText, playedSeconds, screenStatus, keyToScore, mushraBand,
  mushraIncomplete, scaleButtons, screenOfTrial,
} from "../../static/ratings/logic.js";

const ACR = ["Excellent", "Good", "Fair", "Poor", "Bad"];

test("trials sharing a screen number in a row form one screen; single-stimulus trials stand alone", () => {
  const trials = [0, 0, 0, 2, 2, 1, 1].map((screen, trial) => ({ trial, screen, scale: "mushra" }));
  assert.deepEqual(groupScreens(trials).map((s) => s.trials.map((t) => t.trial)), [[0, 1, 2], [3, 4], [5, 6]]);
  const single = [3, 0, 2, 1].map((screen, trial) => ({ trial, screen, scale: "acr" }));
  assert.equal(groupScreens(single).length, 4);
});

test("resuming starts at the screen holding the first unanswered trial", () => {
  const screens = groupScreens([0, 0, 1, 1, 2, 2].map((screen, trial) => ({ trial, screen })));
  assert.deepEqual([0, 1, 2, 3, 5, 6].map((t) => screenOfTrial(screens, t)), [0, 0, 1, 1, 2, 3]);
});

test("the 5-point scale reads best first, 5 Excellent ... 1 Bad, and digits 1-5 choose", () => {
  assert.deepEqual(scaleButtons({ scale: "acr", labels: ACR }).map((b) => b.value + " " + b.label),
    ["5 Excellent", "4 Good", "3 Fair", "2 Poor", "1 Bad"]);
  assert.deepEqual(scaleButtons({ scale: "mushra", labels: ACR }), []);
  assert.deepEqual(["1", "5", "0", "6", "a", "Enter"].map((k) => keyToScore(k, "acr")), ["1", "5", null, null, null, null]);
  assert.equal(keyToScore("3", "mushra"), null);
});

test("MUSHRA bands follow BS.1534: 80-100 Excellent ... 0-20 Bad", () => {
  assert.deepEqual([100, 80, 79, 60, 40, 20, 19, 0].map((v) => mushraBand(v, ACR)),
    ["Excellent", "Excellent", "Good", "Good", "Fair", "Poor", "Bad", "Bad"]);
});

test("audio may be rated only after playing to the end; replays and time are reported", () => {
  let now = 1000;
  const p = new Playback(() => now);
  assert.equal(p.mayRate("audio"), false);
  assert.equal(p.mayRate("image"), true);
  p.onPlay();
  assert.equal(p.mayRate("audio"), false);
  p.onEnded(ranges([0, 2]), 2);
  p.onPlay();
  p.onEnded(ranges([0, 2]), 2);
  now = 4500;
  assert.equal(p.mayRate("audio"), true);
  assert.deepEqual(p.report("audio"), { response_time_ms: 3500, replays: 1, playback_completed: true });
});

/** A TimeRanges stand-in: `ranges([0, 1], [1.5, 2])`. */
function ranges(...spans) {
  return { length: spans.length, start: (i) => spans[i][0], end: (i) => spans[i][1] };
}

test("an ended sample counts as played to the end only when most of it was played, not after a seek", () => {
  assert.equal(playedSeconds(ranges([0, 0.5], [1.5, 2])), 1);
  assert.equal(PLAYED_SHARE, 0.95);
  const seeked = new Playback();
  seeked.onPlay();
  seeked.onEnded(ranges([1.95, 2]), 2);  // dragged to the end: 50 ms heard, then `ended`
  assert.equal(seeked.mayRate("audio"), false);
  assert.equal(seeked.report("audio").playback_completed, false);
  assert.equal(new Playback().report("image").playback_completed, null);  // nothing to play
  seeked.onEnded(ranges([0, 0.2], [1.95, 2]), 2);  // the start too: still not most of it
  assert.equal(seeked.mayRate("audio"), false);
  seeked.onEnded(ranges([0, 1.86], [1.95, 2]), 2);  // a skip of 0.09 s (< 5 %) is forgiven
  assert.equal(seeked.mayRate("audio"), true);
  const unknown = new Playback();
  unknown.onEnded(ranges([0, 2]), NaN);  // no duration known: never complete
  assert.equal(unknown.mayRate("video"), false);
});

test("a MUSHRA screen needs every sample rated and one at 100 (the hidden reference)", () => {
  assert.equal(mushraIncomplete(["100", null, "40"]), "Rate every sample.");
  assert.equal(mushraIncomplete(["90", "20", "40"]),
    "Rate at least one sample 100: the reference is hidden among the samples.");
  assert.equal(mushraIncomplete(["90", "100", "0"]), null);
});

test("a multi-sample screen goes on once every sample is rated (MUSHRA: one at 100); the hint says what stops it", () => {
  const own = "Play a sample before rating it.";
  assert.deepEqual(screenStatus("acr", ["5", null], own), { ready: false, hint: own });
  assert.deepEqual(screenStatus("acr", ["5", "1"], own), { ready: true, hint: own });
  assert.deepEqual(screenStatus("mushra", ["90", null], own), { ready: false, hint: own });
  assert.deepEqual(screenStatus("mushra", ["90", "40"], own),
    { ready: false, hint: "Rate at least one sample 100: the reference is hidden among the samples." });
  assert.deepEqual(screenStatus("mushra", ["100", "40"], own), { ready: true, hint: own });
});

test("the instructions name the keys that work on the task's kind of screen", () => {
  const trial = (scale, media_type) => ({ scale, media_type, labels: ACR });
  const keys = "Number keys 1–5 choose, Enter confirms.";
  const cases = [
    // [scale, media, samples on the first screen, sentences that must appear, that must not]
    ["acr", "audio", 1, ["Listen to each sample to the end", keys], ["menu"]],
    ["acr", "video", 1, ["Watch each sample to the end", keys], []],
    ["acr", "image", 1, ["Look at each sample, then rate", keys], ["to the end"]],
    ["acr", "audio", 4, ["one recording", "in the menu beside it"], [keys, "flips"]],
    ["acr", "image", 3, ["one picture", "press its number) to show that sample", "F or Space flips back"], [keys]],
    ["dcr", "audio", 1, ["the test sample to the end", "Very annoying (1)", keys], ["F shows"]],
    ["dcr", "image", 1, ["F shows the reference in the sample's place", keys], ["to the end", "Play"]],
    ["mushra", "audio", 4, ["from 0 (bad) to 100", "give it 100"], [keys, "flips"]],
    ["mushra", "image", 4, ["letter or Reference (or press its number, R)", "F or Space flips back"], [keys]],
  ];
  for (const [scale, media, n, present, absent] of cases) {
    const text = instructionsText(trial(scale, media), n);
    for (const s of present) assert.ok(text.includes(s), `${scale} ${media} ${n}: "${s}" missing in "${text}"`);
    for (const s of absent) assert.ok(!text.includes(s), `${scale} ${media} ${n}: "${s}" in "${text}"`);
  }
});
