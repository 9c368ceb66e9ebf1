/*
 * The MVT study kind's browser module: its device rules (refresh rate, rescaling; after the
 * session's shared touch and screen-size rules), the
 * instructions shown while the list is allocated, practice, the display check and the trials
 * (Play armed 300 ms after the cross, then a fresh key press or a pointer's click; the video
 * measured; the answer). common/session.js runs the sequence around it (tab claim, eligibility,
 * consent, allocation, debrief, completion) through `createKind(ctx)`.
 *
 * Contract with the server: docs/contracts.md ("Browser ↔ server"). The page never learns a
 * trial's duration; it reports which video frames it saw presented (frame_log), whether the
 * whole video was on the worker's screen, and how often it was started; the server decides
 * whether the trial counts.
 */
import { backoffMs, countdown, sleep } from "../common/api.js";
import { stimulusRoom } from "../common/device.js";
import { deviceInfo, fullyInside, measureVisible, watchVisible } from "../common/layout.js";
import { $, clicked, show, stop } from "../common/screens.js";
import { turnedAway } from "../common/words.js";
import { trialOptions } from "./choices.js";
import { PLAY_ARM_MS, clickStartsPlay, inputType, isPlayKey, keyStartsPlay } from "./input.js";
import { keepTiming, markLeft, markPlayed, playedTrial, unmarkPlayed } from "./played.js";
import { askAnswer, setPhase, setProgress, setTrialStatus, showCheckResult } from "./screens.js";
import { fitStage, rescaleFits } from "./stage.js";
import { refreshFits, roundedInterval } from "./timing.js";
import { VideoFailure, createPreloader, loadVideo, measureRefresh, playAndMeasure } from "./video.js";

// Load, decode or play failures of one video before the page asks the worker to return the HIT.
const MAX_PLAY_TRIES = 3;

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

/** The video's side on screen in device px (study.json: display_px, else the built size size_px), or null. */
function shownPx(study) {
  return study.display_px || study.size_px || null;
}


/* The worker's window: this page's own at top level; inside the landing layout's frame, the
 * layout answers "mvt-viewport-ask" with its window's size. */
let topView = null;
if (window.parent !== window) {
  window.addEventListener("message", (ev) => {
    const d = ev.data;
    if (ev.source === window.parent && d && d.type === "mvt-viewport" && Number.isFinite(d.width)) {
      topView = { top_viewport_w: Math.round(d.width), top_viewport_h: Math.round(d.height) };
    }
  });
}
function askTopViewport() {
  if (window.parent !== window) window.parent.postMessage({ type: "mvt-viewport-ask" }, "*");
}
function topViewport() {
  if (window.parent === window) return { top_viewport_w: Math.round(window.innerWidth), top_viewport_h: Math.round(window.innerHeight) };
  return topView || { top_viewport_w: null, top_viewport_h: null };
}

/**
 * The MVT page's own device rules (study.json), after the shared ones (common/device.js, checked
 * by the session): a sentence when this device cannot meet them, else null.
 */
async function deviceProblem(rules, shown) {
  const room = stimulusRoom(window.screen);
  const dpr = window.devicePixelRatio || 1;
  if (shown && room * dpr < shown * (rules.max_rescale || 1.5) / 2) {
    return "Your screen is too small to show the pictures at their size (" + shown + " pixels): they would be " +
      "shrunk to less than " + Math.round(100 * (rules.max_rescale || 1.5) / 2) + " %.";
  }
  const fits = (ms) => refreshFits(1000 / ms, rules.refresh_tolerance_hz);
  const interval = await measureRefresh(fits);  // a busy computer's skipped frames are not the display's
  const hz = interval ? 1000 / interval : null;
  if (!refreshFits(hz, rules.refresh_tolerance_hz)) {
    return "Your screen refreshes about " + Math.round(hz) + " times per second; this task needs a display at " +
      "60 Hz (or 120 Hz), so that the pictures are shown for the intended time.";
  }
  return null;
}

/**
 * The answer of a trial whose video was started before a reload: measured, or no timing and
 * interrupted (the page was left while it played: Back, Forward, reload, closed).
 */
function resumedTiming(rec) {
  return rec.timing || { presented_frames: null, frame_log: null, timing_source: "none", stimulus_visible: null,
    interrupted: "navigation" };
}

/** The timing of a trial the server says was already started elsewhere: not shown again. */
function unseenTiming(plays) {
  return { presented_frames: null, frame_log: null, timing_source: "none", stimulus_visible: null, plays };
}

/** A fresh id for one viewing of a trial (POST /api/trial-start; retries repeat it). */
function newStartId() {
  return "s" + Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
}

/**
 * The MVT kind's hooks for common/session.js (ctx: its `cfg`, `study`, `store`, `queue`,
 * `tabId`, `touch`, `returnSentence`, `screenOut`).
 */
export function createKind(ctx) {
  const { cfg, study, store, queue, tabId, touch } = ctx;
  const RETURN = ctx.returnSentence;

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

  /**
   * Plays trial `key`'s video (downloaded by videos.preload(t)) once and measures it; retries a
   * failed load or play a few times with a countdown, then throws VideoFailure. Practice trials
   * (key null) are not remembered as played.
   */
  async function playTrial(video, videos, t, key, token) {
    const rules = study.device;
    const startId = newStartId();
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
      askTopViewport();
      // The video's CSS size draws its built pixels one to one on this screen (zoom included in
      // devicePixelRatio); without a known size, the page's default.
      const shown = shownPx(study);
      const dpr = window.devicePixelRatio || 1;
      const maxCss = shown ? shown / dpr : cfg.video_css_px;
      const fit = await fitStage($("screen-trial"), video, Math.min(rules.min_stimulus_px, maxCss), maxCss);
      const drawn = fit.size * dpr;
      setTrialStatus(!fit.fits ? "The whole video does not fit on your screen: make the window larger or zoom " +
        "out (Ctrl and −), then press Play." :
        !rescaleFits(drawn, shown, rules.max_rescale) ? "The pictures are shown at " + Math.round(100 * drawn / shown) +
        " % of their size: set your browser's zoom to 100 % (Ctrl and 0), then press Play." :
        touch ? "Look at the cross in the middle, then tap Play." :
        "Look at the cross in the middle, then press Play (or the space bar).");
      const how = await playPressed();
      setTrialStatus("");
      if (key !== null) {
        markPlayed(store, key);
        // The server counts every viewing, from whatever browser: a trial started before (another
        // profile, device or tab) is answered without showing it again, and excluded there.
        const plays = await announceStart(token, key, startId);
        if (plays > 1) return unseenTiming(plays);
      }
      const before = await measureVisible(video);
      const watch = watchVisible(video);
      let timing;
      try {
        timing = await playAndMeasure(video, () => { if (key !== null) markLeft(store, key); });
      } catch (err) {
        watch.stop();
        if (key !== null) unmarkPlayed(store, key);
        why = err && err.message;
        continue;
      }
      const seen = watch.stop();
      const cssPx = video.getBoundingClientRect().width;
      Object.assign(timing, deviceInfo(), topViewport(), {
        stimulus_visible: before.visible !== null && fullyInside(before.box, before.visible) && seen !== false,
        input_type: how,
        video_px: Math.round(cssPx),
        drawn_device_px: Math.round(cssPx * (window.devicePixelRatio || 1) * 10) / 10,
      });
      if (key !== null) keepTiming(store, key, timing);
      return timing;
    }
    throw new VideoFailure("the video could not be played (" + why + ")");
  }

  /**
   * POST /api/trial-start before trial `key` plays: the number of viewings the server knows of,
   * this one included. When the server cannot be reached in three tries the video plays anyway
   * (the answer then carries the page's own count).
   */
  async function announceStart(token, key, startId) {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await fetch(cfg.api_base + "/api/trial-start", {
          method: "POST", headers: { "Content-Type": "application/json" }, cache: "no-store",
          body: JSON.stringify({ assignment_token: token, trial: key, start_id: startId }),
        });
        if (res.ok) return (await res.json()).plays;
        if (res.status < 500 && res.status !== 429) return 1;
      } catch (e) { /* offline: try again */ }
      await sleep(backoffMs(attempt));
    }
    return 1;
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

  /** After consent, while the list is allocated: the instructions, once per assignment. */
  async function whileAllocating() {
    if (!store("instructed")) {
      show("instructions");
      await clicked($("instructions-continue"));
      store("instructed", true);
    } else {
      show("loading");
    }
  }

  /**
   * The display check, then every trial not yet answered (a video started before a reload is
   * answered without showing it again); each answer goes into the queue. False when the page
   * gave up on a video.
   */
  async function runTrials(a) {
    const trials = a.trials;
    const n = trials.length;
    let start = Math.min(a.resume_from || 0, n);
    while (start < n && queue.isAnswered(trials[start].trial)) start++;

    show("check");
    const videos = createPreloader(trials, setTrialStatus);
    let first = start;
    while (first < n && playedTrial(store, trials[first].trial)) first++;
    videos.preload(first);
    offerFullscreen();
    const tolerance = study.device ? study.device.refresh_tolerance_hz : 3;
    const interval = await measureRefresh((ms) => refreshFits(1000 / ms, tolerance));
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
          timing = await playTrial(video, videos, t, key, a.assignment_token);
        } catch (err) {
          if (!(err instanceof VideoFailure)) throw err;
          giveUp(a.assignment_token, t, err);
          return false;
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
    return true;
  }
  return {
    deviceRules: async () => {
      const problem = await deviceProblem(study.device, shownPx(study));
      if (!problem) return true;
      ctx.screenOut(turnedAway(problem, RETURN));
      return false;
    },
    sizeSubject: "the videos",
    whileAllocating,
    beforeTrials: (a) => practise(a.assignment_token),
    runTrials,
  };
}
