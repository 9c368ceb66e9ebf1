/*
 * mvt-server trial runner, the entry module: one tab per assignment → eligibility and device
 * rules → consent → instructions → practice → display check → trials → debrief → completion.
 *
 * Contract with the server: docs/contracts.md ("Browser ↔ server"). The page never learns a
 * trial's duration; it reports which video frames it saw presented (frame_log), whether the
 * whole video was on the worker's screen, and how often it was started; the server decides
 * whether the trial counts.
 */
import { backoffMs, complete, countdown, createApi, createQueue, refusalSentence, sleep } from "./api.js";
import { trialOptions } from "./choices.js";
import { PLAY_ARM_MS, clickStartsPlay, inputType, isPlayKey, keyStartsPlay } from "./input.js";
import { deviceInfo, fitStage, fullyInside, isTouchDevice, measureVisible, watchVisible } from "./layout.js";
import {
  $, askAnswer, askConsent, clicked, isStopped, setNetProblem, setPhase, setProgress, setTrialStatus, show,
  showCheckResult, stop,
} from "./screens.js";
import {
  TAB_HEARTBEAT_MS, claimTab, keepTiming, makeStore, markPlayed, playedTrial, releaseTab, unmarkPlayed,
} from "./store.js";
import { finishTask, returnSentence, screenOut } from "./submit.js";
import { refreshFits, roundedInterval } from "./timing.js";
import { VideoFailure, createPreloader, loadVideo, measureRefresh, playAndMeasure } from "./video.js";

const cfg = JSON.parse($("mvt-config").textContent);
const study = cfg.study;
const store = makeStore("mvt:" + cfg.link + ":" + cfg.assignment_id + ":");
const api = createApi(cfg.api_base, setNetProblem, cfg.reasons);
const tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);
const touch = isTouchDevice();
// Load, decode or play failures of one video before the page asks the worker to return the HIT.
const MAX_PLAY_TRIES = 3;

const RETURN = returnSentence(cfg);

function refuse(err) {
  const sentence = refusalSentence(err, cfg.reasons, cfg.reason_fallback);
  stop(err && err.reason === "other_tab" ? sentence : sentence + " " + RETURN);
}

const queue = createQueue(api, store, refuse);

/* Play: enabled PLAY_ARM_MS after the cross shows, then started by a fresh key press or a
 * pointer's click only (input.js), so the Enter that confirmed an answer cannot start it. */
let armedAt = null;
let lastPointer = null;
let onPlay = null;

function startPlay(byKey) {
  const resolve = onPlay;
  onPlay = null;
  armedAt = null;
  $("play").disabled = true;
  resolve(inputType(byKey, lastPointer));
}

document.addEventListener("pointerdown", (ev) => { lastPointer = ev.pointerType; }, true);
for (const type of ["keydown", "keyup"]) {
  document.addEventListener(type, (ev) => {
    if ($("screen-trial").hidden || !isPlayKey(ev.key)) return;
    ev.preventDefault();
    if (type === "keydown" && onPlay && keyStartsPlay(ev, armedAt)) startPlay(true);
  }, true);
}
$("play").addEventListener("click", (ev) => {
  ev.preventDefault();
  if (onPlay && clickStartsPlay(ev, armedAt)) startPlay(false);
});

/** Enables Play after PLAY_ARM_MS; resolves with the input type that started the video. */
async function playPressed() {
  await sleep(PLAY_ARM_MS);
  const play = $("play");
  play.disabled = false;
  play.focus({ preventScroll: true });
  armedAt = performance.now();
  return new Promise((resolve) => { onPlay = resolve; });
}

/** Full screen for the trials, where the browser (and the frame's host) allows it. */
function offerFullscreen() {
  if (!document.fullscreenEnabled || document.fullscreenElement) return;
  $("fullscreen").hidden = false;
  $("fullscreen-offer").hidden = false;
  $("fullscreen").addEventListener("click", () => {
    document.documentElement.requestFullscreen().then(() => {
      $("fullscreen").hidden = true;
      $("fullscreen-offer").hidden = true;
    }, () => {
      $("fullscreen-offer").textContent = "Your browser did not allow full screen; you can go on without it.";
    });
  });
}

/** One tab per assignment: a second tab says so and does nothing. */
function holdTab() {
  if (!claimTab(store, tabId, Date.now())) return false;
  const beat = setInterval(() => {
    if (!claimTab(store, tabId, Date.now())) {
      clearInterval(beat);
      stop("This task was opened in another tab or window. Please continue there and close this one.");
    }
  }, TAB_HEARTBEAT_MS);
  window.addEventListener("pagehide", () => { releaseTab(store, tabId); });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted && !claimTab(store, tabId, Date.now())) {
      stop("This task is open in another tab or window. Please continue there and close this one.");
    }
  });
  return true;
}

/** Asks the server first, so a worker who may not take part is told before consent. */
async function eligible() {
  const query = new URLSearchParams({ link: cfg.link, worker_id: cfg.worker_id, assignment_id: cfg.assignment_id });
  try {
    const res = await fetch(cfg.api_base + "/api/eligibility?" + query.toString(), { cache: "no-store" });
    const answer = res.ok ? await res.json() : null;
    if (answer && answer.eligible === false) {
      refuse({ reason: answer.reason, body: {} });
      return false;
    }
  } catch (e) { /* the allocation refuses too, after consent */ }
  return true;
}

/** The study's device rules (study.json): a sentence when this device cannot meet them. */
async function deviceProblem(rules) {
  if (touch && !rules.touch_allowed) {
    return "This task needs a computer with a mouse or keyboard; it cannot be done on a phone or tablet.";
  }
  // The browser's bars and the trial's progress line and Play button take about 200 px.
  const room = Math.min(window.screen.width - 20, window.screen.height - 200);
  if (room < rules.min_stimulus_px) {
    return "Your screen is too small for this task: the videos need at least " + rules.min_stimulus_px +
      " by " + rules.min_stimulus_px + " pixels.";
  }
  const interval = await measureRefresh(0.25);  // a busy computer's skipped frames are not the display's
  const hz = interval ? 1000 / interval : null;
  if (!refreshFits(hz, rules.refresh_tolerance_hz)) {
    return "Your screen refreshes about " + Math.round(hz) + " times per second; this task needs a display at " +
      "60 Hz (or 120 Hz), so that the pictures are shown for the intended time.";
  }
  return null;
}

/**
 * Plays trial `key`'s video (downloaded by videos.preload(t)) once and measures it; retries a
 * failed load or play a few times with a countdown, then throws VideoFailure. Practice trials
 * (key null) are not remembered as played.
 */
async function playTrial(video, videos, t, key) {
  const rules = study.device;
  let why = "";
  for (let tries = 0; tries < MAX_PLAY_TRIES; tries++) {
    if (tries > 0) {
      videos.release(t);
      await countdown(backoffMs(tries - 1), (s) => setTrialStatus("The video could not be played (" + why +
        "). Trying again in " + s + " s (attempt " + (tries + 1) + " of " + MAX_PLAY_TRIES + ")…"));
    }
    setTrialStatus("Loading video…");
    const src = await videos.preload(t);
    try {
      await loadVideo(video, src);
    } catch (err) {
      why = err.message;
      continue;
    }
    const fit = await fitStage($("screen-trial"), video, rules.min_stimulus_px, cfg.video_css_px);
    setTrialStatus(fit.fits ? (touch ? "Look at the cross in the middle, then tap Play." :
      "Look at the cross in the middle, then press Play (or the space bar).") :
      "The whole video does not fit on your screen: make the window larger or zoom out (Ctrl and −), " +
      "then press Play.");
    const how = await playPressed();
    setTrialStatus("");
    const before = await measureVisible(video);
    const watch = watchVisible(video);
    if (key !== null) markPlayed(store, key);
    let timing;
    try {
      timing = await playAndMeasure(video);
    } catch (err) {
      watch.stop();
      if (key !== null) unmarkPlayed(store, key);
      why = err && err.message;
      continue;
    }
    const seen = watch.stop();
    Object.assign(timing, deviceInfo(), {
      stimulus_visible: before.visible !== null && fullyInside(before.box, before.visible) && seen !== false,
      input_type: how,
      video_px: Math.round(video.getBoundingClientRect().width),
    });
    if (key !== null) keepTiming(store, key, timing);
    return timing;
  }
  throw new VideoFailure("the video could not be played (" + why + ")");
}

/** The worker cannot go on: record why (best effort, once) and ask them to return the HIT. */
function giveUp(token, trial, err) {
  fetch(cfg.api_base + "/api/failure", {
    method: "POST", headers: { "Content-Type": "application/json" }, keepalive: true, cache: "no-store",
    body: JSON.stringify({ assignment_token: token, trial, reason: String(err.message).slice(0, 300) }),
  }).catch(() => {});
  const which = trial === null ? "A practice video" : "Trial " + (trial + 1);
  stop(which + " cannot be shown in your browser: " + err.message + ". " + RETURN + " " +
    "The problem has been recorded; the answers you gave are kept.");
}

/**
 * Practice trials (study.json): played and answered like trials, with feedback; never sent to
 * the server. Resolves false when the page gave up on a practice video.
 */
async function practise(token) {
  const practice = study.practice || [];
  if (!practice.length || store("practiced")) return true;
  const videos = createPreloader(practice, setTrialStatus);
  setPhase("Practice");
  for (let p = 0; p < practice.length; p++) {
    setProgress(p, practice.length);
    $("play").disabled = true;
    show("trial");
    try {
      await playTrial($("video"), videos, p, null);
    } catch (err) {
      if (!(err instanceof VideoFailure)) throw err;
      giveUp(token, null, err);
      return false;
    }
    videos.preload(p + 1);
    const answer = await askAnswer(practice[p].options, touch);
    videos.release(p);
    const label = practice[p].label;
    $("feedback-text").textContent = answer.response === label ?
      "Correct: it was " + label + "." :
      "It was " + label + " (you chose " + answer.response + "). Short pictures are hard; " +
      "in the task, just give your best guess.";
    $("feedback-continue").textContent = p + 1 < practice.length ? "Next practice video" : "Continue";
    show("feedback");
    await clicked($("feedback-continue"));
  }
  store("practiced", true);
  setPhase("Trial");
  return true;
}

/** The answer of a trial whose video was started before a reload: measured, or null timing. */
function resumedTiming(rec) {
  return rec.timing || { presented_frames: null, frame_log: null, timing_source: "none", stimulus_visible: null };
}

async function main() {
  if (!holdTab()) {
    stop("This task is already open in another tab or window. Please continue there and close this one.");
    return;
  }
  if (!store("consented")) {
    if (!(await eligible())) return;
    const problem = await deviceProblem(study.device);
    if (problem) {
      screenOut(cfg, problem + " " + RETURN + " Nothing has been recorded.");
      return;
    }
  }
  if (!(await askConsent(store, RETURN))) return;
  const assignmentP = api("/api/assignments", {
    link: cfg.link, worker_id: cfg.worker_id, assignment_id: cfg.assignment_id, hit_id: cfg.hit_id || null,
  });
  assignmentP.catch(() => { /* handled below */ });
  if (!store("instructed")) {
    show("instructions");
    await clicked($("instructions-continue"));
    store("instructed", true);
  } else {
    show("loading");
  }
  let a;
  try {
    a = await assignmentP;
  } catch (err) {
    refuse(err);
    return;
  }
  if (a.completed && a.completion_code) { finishTask(cfg, queue, a.completion_code, a.completion_url); return; }
  if (!(await practise(a.assignment_token))) return;
  const trials = a.trials;
  const n = trials.length;
  queue.retoken(a.assignment_token);
  queue.pump().catch(() => {});
  let start = Math.min(a.resume_from || 0, n);
  while (start < n && queue.isAnswered(trials[start].trial)) start++;

  show("check");
  const videos = createPreloader(trials, setTrialStatus);
  let first = start;
  while (first < n && playedTrial(store, trials[first].trial)) first++;
  videos.preload(first);
  offerFullscreen();
  const interval = await measureRefresh();
  showCheckResult(interval, cfg, start, n);
  await clicked($("check-continue"));

  const video = $("video");
  for (let t = start; t < n; t++) {
    const key = trials[t].trial;
    if (queue.isAnswered(key)) continue;
    setProgress(t, n);
    $("play").disabled = true;
    let timing;
    const earlier = playedTrial(store, key);
    if (earlier) {
      // Started before a reload (or in another tab): answer it without showing it again.
      timing = resumedTiming(earlier);
    } else {
      show("trial");  // playTrial says "Loading video…" before it awaits anything
      try {
        timing = await playTrial(video, videos, t, key);
      } catch (err) {
        if (!(err instanceof VideoFailure)) throw err;
        giveUp(a.assignment_token, t, err);
        return;
      }
      // Download the next videos while the worker answers, not while this one plays.
      videos.preload(t + 1);
      videos.preload(t + 2);
    }
    const answer = await askAnswer(trialOptions(trials[t], a.options), touch);
    videos.release(t);
    timing.refresh_interval_ms = roundedInterval(interval);
    queue.enqueue(Object.assign({
      assignment_token: a.assignment_token,
      trial: key,
      response: answer.response,
      response_time_ms: answer.response_time_ms,
      plays: (playedTrial(store, key) || { plays: 1 }).plays,
      tab_id: tabId,
    }, timing)).catch(() => {});
  }
  setProgress(n, n);
  let comment = store("comment");
  if (comment === null) {
    show("debrief");
    await clicked($("debrief-finish"));
    comment = $("debrief-comment").value.trim();
    store("comment", comment);
  }
  show("loading");
  try {
    const done = await complete(api, queue, a.assignment_token, comment);
    finishTask(cfg, queue, done.completion_code, done.completion_url);
  } catch (err) {
    if (err && err.status === 409 && err.reason !== "incomplete") {
      refuse(err);
      return;
    }
    stop("Your answers are saved, but the task could not be completed (" + err.message +
      "). Please reload this page; if that does not help, contact the requester.");
  }
}

main().catch((err) => {
  if (isStopped()) return;
  stop("Something went wrong (" + (err && err.message) + "). Please reload the page; your answers so far are kept.");
});
