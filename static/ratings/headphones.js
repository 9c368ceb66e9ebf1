/*
 * The headphone screening's rules, without the DOM or Web Audio (unit-tested in
 * tests/js/headphones.test.mjs): trials, tones, scoring and the pass rule.
 *
 * Woods, Siegel, Traer & McDermott (2017), "Headphone screening to facilitate web-based
 * auditory experiments", Attention, Perception & Psychophysics 79:2064–2072: each trial plays
 * three 200 Hz pure tones and asks which was quietest. One tone is 6 dB quieter (the answer);
 * one is at full level but in antiphase between the left and right channel. Over headphones
 * the antiphase tone sounds as loud as the standard; over loudspeakers the two channels cancel
 * in the air (the paper measured more than 20 dB of attenuation at 200 Hz), so it sounds
 * quietest and a loudspeaker listener picks it. Six trials, passed with at least five correct
 * (the paper, and its authors' reference implementation's defaults). Tone length 1000 ms as
 * in the paper; the 100 ms raised-cosine ramps and 500 ms gaps are this implementation's.
 */

export const TONE_HZ = 200;
export const TONE_MS = 1000;
export const RAMP_MS = 100;
export const GAP_MS = 500;
export const QUIET_DB = -6;
export const N_TRIALS = 6;
export const PASS_CORRECT = 5;
/** Peak amplitude of the standard tone (about −10 dBFS), leaving room below full scale. */
export const STANDARD_PEAK = 0.3;
export const TONES = ["standard", "antiphase", "quiet"];

/** A seeded generator of uniform numbers in [0, 1) (mulberry32), so a trial plan reproduces. */
export function seededRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` trials, each the three tones in a random order (Fisher–Yates with `rng`, uniform over
 * the 6 orders): `{order: ["antiphase", "quiet", "standard"], answer: 2}`, `answer` being the
 * 1-based position of the quiet tone, the key a worker presses.
 */
export function planTrials(rng = Math.random, n = N_TRIALS) {
  if (!Number.isInteger(n) || n < 1) throw new RangeError("n (" + n + ") must be a whole number of trials >= 1");
  const trials = [];
  for (let t = 0; t < n; t++) {
    const order = TONES.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    trials.push({ order, answer: order.indexOf("quiet") + 1 });
  }
  return trials;
}

/** Gain of a tone kind relative to the standard: 10^(−6/20) ≈ 0.501 for the quiet one. */
export function toneGain(kind) {
  if (!TONES.includes(kind)) throw new RangeError("tone (" + kind + ") must be one of " + TONES.join(", "));
  return kind === "quiet" ? 10 ** (QUIET_DB / 20) : 1;
}

/**
 * One trial's stereo samples at `sampleRate` Hz: the three tones of `order`, each TONE_MS long
 * with RAMP_MS raised-cosine onset and offset, GAP_MS of silence between them. The antiphase
 * tone's right channel is its left channel negated. Returns `{left, right}` Float32Arrays,
 * `starts` (each tone's first sample) and `toneLength` (samples per tone).
 */
export function trialSamples(order, sampleRate) {
  const tone = Math.round((TONE_MS / 1000) * sampleRate);
  const gap = Math.round((GAP_MS / 1000) * sampleRate);
  const ramp = Math.round((RAMP_MS / 1000) * sampleRate);
  const length = order.length * tone + (order.length - 1) * gap;
  const left = new Float32Array(length);
  const right = new Float32Array(length);
  const starts = [];
  order.forEach((kind, k) => {
    const start = k * (tone + gap);
    const peak = STANDARD_PEAK * toneGain(kind);
    const sign = kind === "antiphase" ? -1 : 1;
    starts.push(start);
    for (let i = 0; i < tone; i++) {
      const edge = Math.min(i, tone - 1 - i);
      const envelope = edge < ramp ? 0.5 - 0.5 * Math.cos((Math.PI * edge) / ramp) : 1;
      const v = peak * envelope * Math.sin((2 * Math.PI * TONE_HZ * i) / sampleRate);
      left[start + i] = v;
      right[start + i] = sign * v;
    }
  });
  return { left, right, starts, toneLength: tone };
}

/**
 * The volume screen's sound: the standard tone twice (the loudest sound of the screening), in
 * phase, so the level the worker sets is the one the screening plays.
 */
export function calibrationSamples(sampleRate) {
  return trialSamples(["standard", "standard"], sampleRate);
}

/** The key ("1", "2", "3") that names a tone, as a 1-based position; null for any other key. */
export function keyToTone(key) {
  return /^[1-3]$/.test(key) ? Number(key) : null;
}

/**
 * The outcome of `answers` (1-based positions, one per trial) to `trials`: `{correct, n, passed,
 * label}`, `passed` when correct >= PASS_CORRECT (scaled to n trials as ceil(5n/6)), `label`
 * "correct/n" (what every rating reports as `headphone_check`).
 */
export function scoreCheck(trials, answers) {
  if (answers.length !== trials.length) {
    throw new RangeError("answers (" + answers.length + ") must number the trials (" + trials.length + ")");
  }
  const correct = trials.reduce((c, trial, i) => c + (answers[i] === trial.answer ? 1 : 0), 0);
  const n = trials.length;
  const needed = Math.ceil((PASS_CORRECT * n) / N_TRIALS);
  return { correct, n, passed: correct >= needed, label: correct + "/" + n };
}
