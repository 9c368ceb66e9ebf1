// static/ratings/headphones.js: the Woods et al. (2017) screening's trials, tones and pass rule.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  GAP_MS, N_TRIALS, STANDARD_PEAK, TONE_MS, calibrationSamples, keyToTone, planTrials, scoreCheck, seededRng, toneGain, trialSamples,
} from "../../static/ratings/headphones.js";

const RATE = 48000;

function rms(x, from, to) {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / (to - from));
}

test("a plan holds each tone once per trial, the answer is where the quiet one is, and a seed reproduces it", () => {
  const plan = planTrials(seededRng(7));
  assert.equal(plan.length, N_TRIALS);
  for (const trial of plan) {
    assert.deepEqual(trial.order.slice().sort(), ["antiphase", "quiet", "standard"]);
    assert.equal(trial.order[trial.answer - 1], "quiet");
  }
  assert.deepEqual(planTrials(seededRng(7)), plan);
  assert.notDeepEqual(planTrials(seededRng(8)), plan);
  assert.throws(() => planTrials(Math.random, 0), /n \(0\) must be a whole number of trials >= 1/);
});

test("all six orders of the three tones come up about equally often", () => {
  const counts = {};
  for (const trial of planTrials(seededRng(1), 6000)) {
    const key = trial.order.join(",");
    counts[key] = (counts[key] || 0) + 1;
  }
  assert.equal(Object.keys(counts).length, 6);
  // 1000 expected each; a binomial sd of 29, so 4.5 sd either side.
  for (const [order, count] of Object.entries(counts)) assert.ok(count > 870 && count < 1130, order + ": " + count);
});

test("the quiet tone is 6 dB below the standard; the antiphase tone cancels when the channels add up", () => {
  const order = ["standard", "antiphase", "quiet"];
  const { left, right, starts } = trialSamples(order, RATE);
  const tone = (TONE_MS / 1000) * RATE;
  assert.equal(left.length, 3 * tone + 2 * (GAP_MS / 1000) * RATE);
  assert.deepEqual(starts, [0, tone + (GAP_MS / 1000) * RATE, 2 * (tone + (GAP_MS / 1000) * RATE)]);
  const level = (k, x) => rms(x, starts[k], starts[k] + tone);
  assert.ok(Math.abs(20 * Math.log10(level(2, left) / level(0, left)) - -6) < 0.01);
  assert.ok(Math.abs(level(1, left) / level(0, left) - 1) < 1e-6);  // the antiphase tone is not quieter in one ear
  const sum = Float32Array.from(left, (v, i) => v + right[i]);  // what loudspeakers add in the air, ideally
  assert.equal(level(1, sum), 0);
  assert.ok(Math.abs(level(0, sum) / level(0, left) - 2) < 1e-6);  // in phase: twice the pressure
  assert.equal(left[0], 0);  // ramped in: no click
  assert.equal(left[starts[0] + tone + 10], 0);  // silence in the gap
  assert.equal(toneGain("standard"), 1);
  assert.throws(() => toneGain("loud"), /tone \(loud\) must be one of standard, antiphase, quiet/);
});

test("the volume sound is the standard tone, in phase in both ears", () => {
  const { left, right } = calibrationSamples(RATE);
  assert.deepEqual(left, right);
  assert.ok(Math.abs(Math.max(...left) - STANDARD_PEAK) < 1e-4);
});

test("five or six of six correct pass, four fail; the label is correct/n", () => {
  const plan = planTrials(seededRng(3));
  const right = plan.map((t) => t.answer);
  const wrong = (k) => right.map((a, i) => (i < k ? (a % 3) + 1 : a));
  assert.deepEqual(scoreCheck(plan, right), { correct: 6, n: 6, passed: true, label: "6/6" });
  assert.deepEqual(scoreCheck(plan, wrong(1)), { correct: 5, n: 6, passed: true, label: "5/6" });
  assert.deepEqual(scoreCheck(plan, wrong(2)), { correct: 4, n: 6, passed: false, label: "4/6" });
  assert.throws(() => scoreCheck(plan, [1, 2]), /answers \(2\) must number the trials \(6\)/);
});

test("keys 1, 2 and 3 name the tones", () => {
  assert.deepEqual(["1", "2", "3", "0", "4", "a", "Enter"].map(keyToTone), [1, 2, 3, null, null, null, null]);
});
