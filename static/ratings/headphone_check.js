/*
 * The headphone/volume check of audio rating studies (`[ratings] headphone_check = true`),
 * run before consent and before a list is allocated, so a worker it turns away holds nothing:
 * a volume screen (a calibration tone, Play again, Continue), then the Woods et al. (2017)
 * screening (headphones.js holds its rules), then a pass screen or the stop screen. The tones
 * are made here with Web Audio; nothing is downloaded and no study sample is played.
 */
import { $, clicked, show, stop } from "../common/screens.js";
import { screenOut } from "../common/submit.js";
import { turnedAway } from "../common/words.js";
import { calibrationSamples, keyToTone, planTrials, scoreCheck, trialSamples } from "./headphones.js";

/** Whether this study asks for the check: its media are audio and its study file says so. */
export function wantsHeadphoneCheck(study) {
  return Boolean(study && study.media_kind === "audio" && study.headphone_check === true);
}

/** Plays `samples` ({left, right, starts, toneLength}) once; marks the tone playing; resolves when it ends. */
function play(ctx, samples, onTone = () => {}) {
  const buffer = ctx.createBuffer(2, samples.left.length, ctx.sampleRate);
  buffer.copyToChannel(samples.left, 0);
  buffer.copyToChannel(samples.right, 1);
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  return new Promise((resolve) => {
    const timers = [];
    const done = () => {
      timers.forEach(clearTimeout);
      onTone(null);
      resolve();
    };
    source.onended = done;
    source.start();
    // Marks follow the buffer's own rate, so they stay in step if it plays faster.
    const rate = source.playbackRate.value || 1;
    const ms = (n) => (n / ctx.sampleRate) * 1000 / rate;
    samples.starts.forEach((start, k) => {
      timers.push(setTimeout(() => onTone(k), ms(start)));
      timers.push(setTimeout(() => onTone(null), ms(start + samples.toneLength)));
    });
    // A context that never runs (no audio device) sends no 'ended': the worker is not left waiting.
    timers.push(setTimeout(done, ms(samples.left.length) + 1500));
  });
}

async function volumeScreen(ctx) {
  show("volume");
  const playButton = $("volume-play");
  const next = $("volume-continue");
  next.disabled = true;
  let playing = false;
  playButton.onclick = async () => {
    if (playing) return;
    playing = true;
    playButton.disabled = true;
    await ctx.resume();
    $("volume-status").textContent = "Playing…";
    await play(ctx, calibrationSamples(ctx.sampleRate));
    $("volume-status").textContent = "Set the volume now if the tone was too quiet or too loud, then play it again.";
    playButton.textContent = "Play again";
    playButton.disabled = false;
    next.disabled = false;
    playing = false;
  };
  await new Promise((resolve) => {
    next.onclick = (ev) => { ev.preventDefault(); if (!next.disabled && !playing) resolve(); };
  });
}

/** One screening trial; resolves with the tone (1..3) the worker chose as quietest. */
async function trialScreen(ctx, trial, t, n) {
  $("hp-no").textContent = String(t + 1);
  $("hp-n").textContent = String(n);
  $("hp-progress").max = n;
  $("hp-progress").value = t;
  const playButton = $("hp-play");
  const next = $("hp-next");
  const choices = [...document.querySelectorAll("#hp-choices button")];
  let chosen = null;
  let heard = false;
  choices.forEach((b) => { b.disabled = true; b.setAttribute("aria-checked", "false"); b.classList.remove("playing"); });
  next.disabled = true;
  playButton.disabled = false;
  $("hp-status").textContent = "Press Play (or P) to hear the three tones. You can hear them once.";
  show("headphones");
  playButton.focus({ preventScroll: true });
  function choose(tone) {
    if (!heard) return;
    chosen = tone;
    choices.forEach((b, k) => b.setAttribute("aria-checked", String(k + 1 === tone)));
    next.disabled = false;
  }
  async function start() {
    if (playButton.disabled) return;
    playButton.disabled = true;
    $("hp-status").textContent = "Listen…";
    await ctx.resume();
    await play(ctx, trialSamples(trial.order, ctx.sampleRate),
      (k) => choices.forEach((b, i) => b.classList.toggle("playing", i === k)));
    heard = true;
    choices.forEach((b) => { b.disabled = false; });
    $("hp-status").textContent = "Choose 1, 2 or 3, then Next.";
    choices[0].focus({ preventScroll: true });
  }
  playButton.onclick = (ev) => { ev.preventDefault(); start(); };
  choices.forEach((b, k) => { b.onclick = (ev) => { ev.preventDefault(); choose(k + 1); }; });
  function onKey(ev) {
    if ((ev.key === "p" || ev.key === "P") && !heard) { ev.preventDefault(); start(); return; }
    if (ev.key === "Enter" && chosen !== null) { ev.preventDefault(); next.click(); return; }
    const tone = keyToTone(ev.key);
    if (tone) { ev.preventDefault(); choose(tone); }
  }
  document.addEventListener("keydown", onKey);
  await new Promise((resolve) => {
    next.onclick = (ev) => { ev.preventDefault(); if (chosen !== null) resolve(); };
  });
  document.removeEventListener("keydown", onKey);
  return chosen;
}

/**
 * Runs the check when the study asks for it (`cfg.study`, see `wantsHeadphoneCheck`).
 *
 * Resolves with the outcome "correct/trials" (sent with every rating as `headphone_check`),
 * null when the study runs no check, or false when the worker failed it: the stop screen
 * then says the study needs headphones and how to give the task back (`returnSentence`).
 * The outcome is kept in `store`, so a reload neither repeats a passed check nor retries a
 * failed one.
 */
export async function headphoneCheck(cfg, store, returnSentence) {
  if (!wantsHeadphoneCheck(cfg.study)) return null;
  const failMessage = (label) => turnedAway("This study needs headphones, and the headphone check did not confirm " +
    "that you are wearing them (" + label.replace("/", " of ") + " answers right).", returnSentence);
  if (store("headphone_failed")) { stop(failMessage(store("headphone_failed"))); return false; }
  if (store("headphone_check")) return store("headphone_check");
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) {
    stop(turnedAway("This study plays sounds, and your browser cannot play the headphone check's tones. Please " +
      "use a current Chrome, Firefox, Edge or Safari.", returnSentence));
    return false;
  }
  const ctx = new Context();
  await volumeScreen(ctx);
  const trials = planTrials();
  const answers = [];
  for (let t = 0; t < trials.length; t++) answers.push(await trialScreen(ctx, trials[t], t, trials.length));
  ctx.close().catch(() => {});
  const result = scoreCheck(trials, answers);
  if (!result.passed) {
    store("headphone_failed", result.label);
    screenOut(cfg, failMessage(result.label));
    return false;
  }
  store("headphone_check", result.label);
  $("hp-passed-score").textContent = result.correct + " of " + result.n;
  show("headphones-passed");
  await clicked($("hp-passed-continue"));
  return result.label;
}
