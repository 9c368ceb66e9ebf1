/*
 * The rating study kind's browser module. A screen is one sample with the 5-point scale (ACR, or
 * DCR beside its reference), or several samples of one source with sliders 0–100 (MUSHRA) or
 * 5-point menus (same-source); several images are compared in place by flipping between them
 * (flipscreen.js). Sounds and videos must play to the end before a single-stimulus rating;
 * plays, replays, time and visibility go with every rating. Before consent the headphone check
 * (audio studies that ask for it); after allocation the instructions, once per assignment.
 * common/session.js runs the sequence around it (tab claim, eligibility, consent, allocation,
 * debrief, completion) through `createKind(ctx)`.
 */
import { deviceInfo, fullyInside } from "../common/layout.js";
import { $, clicked, show } from "../common/screens.js";
import { el, ratingControl } from "./dom.js";
import { sampleLetter } from "./flip.js";
import { flipScreen } from "./flipscreen.js";
import { headphoneCheck } from "./headphone_check.js";
import {
  Playback, groupScreens, instructionsText, keyToScore, scaleButtons, screenOfTrial, screenStatus,
} from "./logic.js";

/** The rating kind's hooks for common/session.js (ctx: its `cfg`, `store`, `queue`, `returnSentence`). */
export function createKind(ctx) {
  const { cfg, store, queue } = ctx;
  let visibility = { hidden: false, blurred: false };
  let headphone = null;  // the headphone check's "correct/trials", sent with every rating
  document.addEventListener("visibilitychange", () => { if (document.hidden) visibility.hidden = true; });
  window.addEventListener("blur", () => { visibility.blurred = true; });
  // One player at a time: starting one pauses every other on the page.
  document.addEventListener("play", (ev) => {
    document.querySelectorAll("audio, video").forEach((m) => { if (m !== ev.target && !m.paused) m.pause(); });
  }, true);
  // Keys belong to the rating: a click on a player's controls leaves the focus on the player,
  // where Enter would play it again and number keys would not reach the page. Focus goes back
  // to the scale when a focused player starts or stops (the media controls keep pointer events
  // to themselves); Enter and number keys aimed at a player are the page's.
  for (const type of ["play", "pause"]) {
    document.addEventListener(type, (ev) => {
      if (ev.target === document.activeElement) setTimeout(() => { focusScale(); }, 0);
    }, true);
  }
  document.addEventListener("keydown", (ev) => {
    const target = ev.target;
    if (!target || !target.matches || !target.matches("audio, video")) return;
    if (ev.key === "Enter" || /^[0-9]$/.test(ev.key)) {
      ev.preventDefault();
      focusScale();
    }
  }, true);

  function focusScale() {
    const scale = $("rate-scale");
    if (!scale.hasAttribute("tabindex")) scale.setAttribute("tabindex", "-1");
    scale.focus({ preventScroll: true });
  }

  /** A player (audio, video) or picture for `url`, with its Playback counter. */
  function mediaElement(type, url, label) {
    const playback = new Playback();
    let node;
    if (type === "image") {
      node = el("img", { src: url, alt: label });
    } else {
      node = el(type === "audio" ? "audio" : "video", { src: url, controls: true, preload: "auto", "aria-label": label,
        playsinline: type === "video", controlslist: "nodownload noplaybackrate" });
      node.addEventListener("play", () => playback.onPlay());
      node.addEventListener("ended", () => playback.onEnded(node.played, node.duration));
    }
    return { node, playback };
  }

  /**
   * While a single-stimulus screen is rated (ACR images; DSIS/DCR: the reference beside the
   * impaired sample), per stimulus: how long it was seen or heard (`view_ms`) and whether it ever
   * was wholly on the worker's screen (`visible`). A picture counts while it is wholly inside the
   * worker's visible viewport and the page is visible; a video while it plays there; a sound while
   * it plays (wherever the page is; `visible` null). IntersectionObserver readings, as MVT's; inside
   * the landing layout's cross-origin frame they are taken against the top-level window
   * (docs/contracts.md). Time goes to the picture a slot shows, not to the slot: Flip puts the
   * reference in the sample's slot. `slots`: [{node, picture: () => name, media?: "audio" | "video"}];
   * call `moved()` when a slot's picture changes.
   */
  function watchStimuli(slots) {
    const whole = new Map(slots.map((s) => [s.node, false]));
    const stats = {};
    const since = {};
    const playing = (node) => !node.paused && !node.ended && node.readyState >= 3;  // HAVE_FUTURE_DATA
    const seen = (s) => (s.media === "audio" ? playing(s.node) :
      !document.hidden && whole.get(s.node) && (!s.media || playing(s.node)));
    const media = slots.filter((s) => s.media);
    const PLAY_EVENTS = ["playing", "pause", "ended", "waiting", "seeking", "emptied"];
    function settle() {
      const now = performance.now();
      const on = new Set(slots.filter(seen).map((s) => s.picture()));
      for (const s of slots) stats[s.picture()] = stats[s.picture()] || { ms: 0, visible: false };
      for (const name of Object.keys(stats)) {
        if (since[name] !== undefined) { stats[name].ms += now - since[name]; delete since[name]; }
        if (on.has(name)) { since[name] = now; stats[name].visible = true; }
      }
    }
    const io = new IntersectionObserver((entries) => {
      for (const e of entries) whole.set(e.target, e.isIntersecting && fullyInside(e.boundingClientRect, e.intersectionRect));
      settle();
    }, { threshold: [0, 0.5, 0.99, 1] });
    // A fresh reading once a picture has loaded: an empty box is not a seen picture, and a box
    // growing from empty to wholly visible may cross no threshold.
    const reread = (ev) => { io.unobserve(ev.target); io.observe(ev.target); };
    const shown = slots.filter((s) => s.media !== "audio");  // a sound's box on screen says nothing
    for (const s of shown) { io.observe(s.node); s.node.addEventListener(s.media ? "loadeddata" : "load", reread); }
    for (const s of media) for (const type of PLAY_EVENTS) s.node.addEventListener(type, settle);
    document.addEventListener("visibilitychange", settle);
    settle();
    return {
      moved: settle,
      stop() {
        for (const e of io.takeRecords()) whole.set(e.target, e.isIntersecting && fullyInside(e.boundingClientRect, e.intersectionRect));
        settle();
        for (const name of Object.keys(since)) delete since[name];
        document.removeEventListener("visibilitychange", settle);
        for (const s of shown) s.node.removeEventListener(s.media ? "loadeddata" : "load", reread);
        for (const s of media) for (const type of PLAY_EVENTS) s.node.removeEventListener(type, settle);
        io.disconnect();
        const audio = new Set(slots.filter((s) => s.media === "audio").map((s) => s.picture()));
        const out = {};
        for (const [name, s] of Object.entries(stats)) {
          out[name] = { view_ms: Math.round(s.ms), visible: audio.has(name) ? null : s.visible };
        }
        return out;
      },
    };
  }

  function panel(title, media) {
    const box = el("div", { class: "stimulus" });
    box.append(el("h2", {}, title), media.node);
    return box;
  }

  function setProgress(first, count, total) {
    $("rate-no").textContent = count > 1 ? (first + 1) + "–" + (first + count) : String(first + 1);
    $("rate-n").textContent = String(total);
    $("rate-progress").max = total;
    $("rate-progress").value = first;
  }

  function send(token, trial, response, report) {
    return queue.enqueue({ assignment_token: token, trial: trial.trial, response, ...report, ...deviceInfo(),
      hidden_during_video: visibility.hidden, blurred_during_video: visibility.blurred, headphone_check: headphone });
  }

  /** One sample (with its reference for DCR) and the 5-point scale; resolves once rated. */
  async function singleScreen(trial, token) {
    const stimuli = $("stimuli");
    const sample = mediaElement(trial.media_type, trial.media_url, "Sample");
    const players = [sample];
    let showing = "sample";  // what the sample's slot shows (Flip swaps in the reference)
    const played = trial.media_type === "image" ? undefined : trial.media_type;
    const slots = [{ node: sample.node, picture: () => showing, media: played }];
    let seen = null;
    if (trial.reference_url) {
      const reference = mediaElement(trial.media_type, trial.reference_url, "Reference");
      players.unshift(reference);
      stimuli.append(panel("Reference", reference), panel("Test sample", sample));
      if (played) slots.push({ node: reference.node, picture: () => "reference", media: played });
      if (trial.media_type === "image") {
        const flip = el("button", { type: "button", id: "flip", class: "flip" }, "Flip: show the reference here (F)");
        slots.push({ node: reference.node, picture: () => "reference" });
        flip.addEventListener("click", () => {
          if (seen) seen.moved();  // the time so far goes to the picture shown until now
          showing = showing === "sample" ? "reference" : "sample";
          sample.node.src = showing === "sample" ? trial.media_url : trial.reference_url;
          sample.node.alt = showing === "sample" ? "Sample" : "Reference (flipped)";
          flip.textContent = showing === "sample" ? "Flip: show the reference here (F)" : "Flip back to the sample (F)";
          if (seen) seen.moved();
        });
        stimuli.append(flip);
      }
    } else {
      stimuli.append(panel("Sample", sample));
    }
    if (trial.attention) {
      const asked = scaleButtons(trial).find((b) => b.value === trial.attention);
      stimuli.append(el("p", { class: "warning", role: "note", id: "attention" }, "Attention check: please choose " +
        trial.attention + (asked ? " (" + asked.label + ")" : "") + " for this sample."));
    }
    $("rate-question").textContent = trial.scale === "dcr" ? "How annoying is the degradation?" :
      "How good is the quality of the sample?";
    $("rate-hint").textContent = "Number keys 1–5 choose, Enter confirms.";
    const scale = $("rate-scale");
    let chosen = null;
    const buttons = scaleButtons(trial).map((b) => {
      const button = el("button", { type: "button", role: "radio", "aria-checked": "false", "data-value": b.value,
        disabled: true }, b.value + " " + b.label);
      button.addEventListener("click", () => choose(b.value));
      scale.append(button);
      return button;
    });
    const next = $("rate-next");
    const ready = () => players.every((p) => p.playback.mayRate(trial.media_type));
    function update() {
      const ok = ready();
      buttons.forEach((b) => { b.disabled = !ok; });
      next.disabled = !ok || chosen === null;
      $("rate-status").textContent = ok ? "" : (trial.reference_url ? "Play the reference and the sample to the end " +
        "before rating." : "Play the sample to the end before rating.");
    }
    function choose(value) {
      if (!ready()) return;
      chosen = value;
      buttons.forEach((b) => b.setAttribute("aria-checked", String(b.dataset.value === value)));
      update();
    }
    players.forEach((p) => p.node.addEventListener("ended", update));
    function onKey(ev) {
      if (ev.key === "f" || ev.key === "F") { const f = $("flip"); if (f) f.click(); return; }
      if (ev.key === "Enter" && !next.disabled) { ev.preventDefault(); $("rate-form").requestSubmit(); return; }
      const score = keyToScore(ev.key, trial.scale);
      if (score) { choose(score); ev.preventDefault(); }
    }
    document.addEventListener("keydown", onKey);
    update();
    // Pictures on every single-stimulus screen; sounds and videos where a reference is beside them.
    if (trial.media_type === "image" || trial.reference_url) seen = watchStimuli(slots);
    await new Promise((resolve) => {
      $("rate-form").onsubmit = (ev) => { ev.preventDefault(); if (!next.disabled) resolve(); };
    });
    document.removeEventListener("keydown", onKey);
    players.forEach((p) => { if (p.node.pause) p.node.pause(); });
    const report = sample.playback.report(trial.media_type);
    if (seen) {
      const pictures = seen.stop();
      const none = { view_ms: 0, visible: false };
      const { sample: shown = none, reference } = pictures;
      Object.assign(report, { view_ms: shown.view_ms, stimulus_visible: shown.visible });
      if (trial.reference_url) {
        const ref = reference || none;
        Object.assign(report, { reference_view_ms: ref.view_ms, reference_visible: ref.visible });
      }
    }
    await send(token, trial, chosen, report).catch(() => {});
  }

  /** Several samples of one source: MUSHRA sliders (with the reference) or 5-point menus. */
  async function multiScreen(trials, token) {
    const stimuli = $("stimuli");
    const first = trials[0];
    if (first.reference_url) {
      stimuli.append(panel("Reference", mediaElement(first.media_type, first.reference_url, "Reference")));
      // The reference stays at the top of the window while the samples below it scroll (ratings.css).
      $("screen-rate").classList.add("reference-pinned");
    }
    $("rate-question").textContent = first.scale === "mushra" ?
      "Rate every sample from 0 to 100 compared with the reference" : "Rate the quality of every sample";
    $("rate-hint").textContent = "Play a sample before rating it." +
      (first.scale === "mushra" ? " Arrow keys move a focused slider." : "");
    const scale = $("rate-scale");
    const next = $("rate-next");
    const rows = trials.map((trial, k) => {
      const name = "Sample " + sampleLetter(k);
      const media = mediaElement(trial.media_type, trial.media_url, name);
      const state = Object.assign(ratingControl(trial, name, () => update()), { media });
      media.node.addEventListener("play", state.unlock);
      const row = el("div", { class: "mushra-row" });
      row.append(el("span", {}, name), media.node, state.input, ...(state.shown ? [state.shown] : []));
      scale.append(row);
      return state;
    });
    const hint = $("rate-hint").textContent;
    function update() {
      const status = screenStatus(first.scale, rows.map((r) => (r.touched ? r.input.value : null)), hint);
      next.disabled = !status.ready;
      $("rate-hint").textContent = status.hint;
    }
    update();
    await new Promise((resolve) => {
      $("rate-form").onsubmit = (ev) => { ev.preventDefault(); if (!next.disabled) resolve(); };
    });
    for (const r of rows) {
      if (r.media.node.pause) r.media.node.pause();
      await send(token, r.trial, String(r.input.value), r.media.playback.report(r.trial.media_type)).catch(() => {});
    }
  }

  async function runScreen(screen, index, total, token) {
    $("stimuli").replaceChildren();
    $("rate-scale").replaceChildren();
    $("rate-status").textContent = "";
    $("screen-rate").classList.remove("reference-pinned");
    visibility = { hidden: document.hidden, blurred: false };
    setProgress(index, screen.trials.length, total);
    show("rate");
    if (screen.trials.length === 1 && screen.trials[0].scale !== "mushra") {
      await singleScreen(screen.trials[0], token);
    } else if (screen.trials[0].media_type === "image") {
      for (const rated of await flipScreen(screen.trials)) {
        await send(token, rated.trial, rated.response, rated.report).catch(() => {});
      }
    } else {
      await multiScreen(screen.trials, token);
    }
  }

  /** Before consent, first visit only: the headphone check when the study asks for it. */
  async function deviceRules() {
    headphone = await headphoneCheck(cfg, store, ctx.returnSentence);  // false: turned away, told why
    return headphone !== false;
  }

  /** After allocation: the instructions (the study's, else the page's for its first screen), once. */
  async function beforeTrials(a) {
    if (store("instructed")) return true;
    $("instructions-text").textContent = (cfg.study && cfg.study.instructions) ||
      instructionsText(a.trials[0], groupScreens(a.trials)[0].trials.length);
    show("instructions");
    await clicked($("instructions-continue"));
    store("instructed", true);
    return true;
  }

  /** Every screen from the one holding the first unanswered trial; ratings go into the queue. */
  async function runTrials(a) {
    if (headphone === null) headphone = store("headphone_check") || null;  // passed before a reload
    const screens = groupScreens(a.trials);
    const resumeAt = screenOfTrial(screens, a.resume_from);
    let index = screens.slice(0, resumeAt).reduce((n, sc) => n + sc.trials.length, 0);
    for (let i = resumeAt; i < screens.length; i++) {
      await runScreen(screens[i], index, a.trials.length, a.assignment_token);
      index += screens[i].trials.length;
    }
    return true;
  }

  const sizeSubject = { image: "the pictures", video: "the videos" }[cfg.study && cfg.study.media_kind];
  return { sizeSubject, deviceRules, beforeTrials, runTrials };
}
