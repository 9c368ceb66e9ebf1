/*
 * mvt-server trial runner, the entry module: consent → instructions → display check →
 * trials → completion, in that order.
 *
 * Contract with the server: docs/contracts.md ("Browser ↔ server"). The page never learns a
 * trial's duration; it reports which video frames it saw presented (frame_log) and the server
 * counts those in the image segment.
 */
import { complete, createApi, createQueue, refusalSentence } from "./api.js";
import { trialOptions } from "./choices.js";
import {
  $, askAnswer, clicked, isStopped, setNetProblem, setProgress, setTrialStatus, show, showCheckResult, stop,
} from "./screens.js";
import { makeStore } from "./store.js";
import { submitToPlatform } from "./submit.js";
import { roundedInterval } from "./timing.js";
import { createPreloader, loadVideo, measureRefresh, playAndMeasure } from "./video.js";

const cfg = JSON.parse($("mvt-config").textContent);
const store = makeStore("mvt:" + cfg.link + ":" + cfg.assignment_id + ":");
const api = createApi(cfg.api_base, setNetProblem, cfg.reasons);

function refuse(err) {
  stop(refusalSentence(err, cfg.reasons, cfg.reason_fallback) + " Please return the HIT.");
}

const queue = createQueue(api, store, refuse);

function finishScreen(code) {
  queue.forget();
  $("completion-code").textContent = code;
  show("done");
  submitToPlatform(cfg, code);
}

// Space or Enter starts the video even when the Play button has lost focus.
document.addEventListener("keydown", (ev) => {
  const play = $("play");
  if ($("screen-trial").hidden) return;
  if ((ev.key === " " || ev.key === "Enter") && ev.target !== play && !play.disabled) {
    ev.preventDefault();
    play.click();
  }
});

async function consent() {
  if (store("consented")) return true;
  show("consent");
  const choice = await Promise.race([
    clicked($("consent-agree")).then(() => "agree"),
    clicked($("consent-decline")).then(() => "decline"),
  ]);
  if (choice === "decline") {
    stop("You did not agree to take part. Please return the HIT; nothing has been recorded.");
    return false;
  }
  store("consented", true);
  return true;
}

/** Plays trial t until a playback is measured (a failed load or play is retried by the worker). */
async function playTrial(video, videos, t) {
  const play = $("play");
  let src = await videos.preload(t);
  for (;;) {
    try {
      await loadVideo(video, src);
      setTrialStatus("Look at the cross in the middle, then press Play (or the space bar).");
      play.disabled = false;
      play.focus();
      await clicked(play);
      play.disabled = true;
      setTrialStatus("");
      return await playAndMeasure(video);
    } catch (err) {
      setTrialStatus("The video could not be played (" + (err && err.message) + "). Press Play to try again.");
      videos.release(t);
      src = await videos.preload(t);
    }
  }
}

async function main() {
  if (!(await consent())) return;
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
  if (a.completed && a.completion_code) { finishScreen(a.completion_code); return; }
  const trials = a.trials;
  const n = trials.length;
  queue.retoken(a.assignment_token);
  queue.pump().catch(() => {});
  let start = a.resume_from || 0;
  while (start < n && queue.isAnswered(trials[start].trial)) start++;

  show("check");
  const videos = createPreloader(trials, setTrialStatus);
  videos.preload(start);
  const interval = await measureRefresh();
  showCheckResult(interval, cfg, start, n);
  await clicked($("check-continue"));

  const video = $("video");
  for (let t = start; t < n; t++) {
    if (queue.isAnswered(trials[t].trial)) continue;
    setProgress(t, n);
    $("play").disabled = true;
    setTrialStatus("Loading video…");
    show("trial");
    const timing = await playTrial(video, videos, t);
    // Download the next videos while the worker answers, not while this one plays.
    videos.preload(t + 1);
    videos.preload(t + 2);
    const answer = await askAnswer(trialOptions(trials[t], a.options));
    videos.release(t);
    timing.refresh_interval_ms = roundedInterval(interval);
    queue.enqueue(Object.assign({
      assignment_token: a.assignment_token,
      trial: trials[t].trial,
      response: answer.response,
      response_time_ms: answer.response_time_ms,
    }, timing)).catch(() => {});
  }
  setProgress(n, n);
  show("loading");
  try {
    const done = await complete(api, queue, a.assignment_token);
    finishScreen(done.completion_code);
  } catch (err) {
    stop("Your answers are saved, but the task could not be completed (" + err.message +
      "). Please reload this page; if that does not help, contact the requester.");
  }
}

main().catch((err) => {
  if (isStopped()) return;
  stop("Something went wrong (" + (err && err.message) + "). Please reload the page; your answers so far are kept.");
});
