/*
 * The rating runner (rating studies' /experiment.html): consent → instructions → screens →
 * completion. A screen is one sample with the 5-point scale (ACR, or DCR beside its
 * reference), or several samples of one source with sliders 0–100 (MUSHRA) or 5-point menus
 * (same-source); several images are compared in place by flipping between them (flipscreen.js).
 * Sounds and videos must play to the end before a single-stimulus rating;
 * plays, replays, time and visibility go with every rating. Talking to the server, the answer
 * queue and handing the code to MTurk are the MVT runner's modules (static/runner/).
 */
import { deviceInfo } from "../runner/layout.js";
import { el, ratingControl } from "./dom.js";
import { sampleLetter } from "./flip.js";
import { flipScreen } from "./flipscreen.js";
import { complete, createApi, createQueue, refusalSentence } from "../runner/api.js";
import { $, askConsent, clicked, setNetProblem, show, stop } from "../runner/screens.js";
import { makeStore } from "../runner/store.js";
import { finishTask, returnSentence } from "../runner/submit.js";
import { headphoneCheck } from "./headphone_check.js";
import {
  Playback, groupScreens, instructionsText, keyToScore, scaleButtons, screenOfTrial, screenStatus,
} from "./logic.js";

const cfg = JSON.parse($("mvt-config").textContent);
const store = makeStore("mvt:" + cfg.link + ":" + cfg.assignment_id + ":");
const api = createApi(cfg.api_base, setNetProblem, cfg.reasons);
const RETURN = returnSentence(cfg);

function refuse(err) {
  stop(refusalSentence(err, cfg.reasons, cfg.reason_fallback) + " " + RETURN);
}

const queue = createQueue(api, store, refuse);
let visibility = { hidden: false, blurred: false };
let headphone = null;  // the headphone check's "correct/trials", sent with every rating
document.addEventListener("visibilitychange", () => { if (document.hidden) visibility.hidden = true; });
window.addEventListener("blur", () => { visibility.blurred = true; });

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
  if (trial.reference_url) {
    const reference = mediaElement(trial.media_type, trial.reference_url, "Reference");
    players.unshift(reference);
    stimuli.append(panel("Reference", reference), panel("Test sample", sample));
    if (trial.media_type === "image") {
      const flip = el("button", { type: "button", id: "flip", class: "flip" }, "Flip: show the reference here (F)");
      let showing = "sample";
      flip.addEventListener("click", () => {
        showing = showing === "sample" ? "reference" : "sample";
        sample.node.src = showing === "sample" ? trial.media_url : trial.reference_url;
        sample.node.alt = showing === "sample" ? "Sample" : "Reference (flipped)";
        flip.textContent = showing === "sample" ? "Flip: show the reference here (F)" : "Flip back to the sample (F)";
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
  await new Promise((resolve) => {
    $("rate-form").onsubmit = (ev) => { ev.preventDefault(); if (!next.disabled) resolve(); };
  });
  document.removeEventListener("keydown", onKey);
  players.forEach((p) => { if (p.node.pause) p.node.pause(); });
  await send(token, trial, chosen, sample.playback.report(trial.media_type)).catch(() => {});
}

/** Several samples of one source: MUSHRA sliders (with the reference) or 5-point menus. */
async function multiScreen(trials, token) {
  const stimuli = $("stimuli");
  const first = trials[0];
  if (first.reference_url) {
    stimuli.append(panel("Reference", mediaElement(first.media_type, first.reference_url, "Reference")));
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

async function main() {
  headphone = await headphoneCheck(cfg, store, RETURN);  // before allocation: a worker turned away holds no list
  if (headphone === false) return;
  let a;
  try {
    a = await api("/api/assignments", { link: cfg.link, worker_id: cfg.worker_id,
      assignment_id: cfg.assignment_id, hit_id: cfg.hit_id });
  } catch (err) { refuse(err); return; }
  if (a.completed) { finishTask(cfg, queue, a.completion_code, a.completion_url); return; }
  queue.retoken(a.assignment_token);
  queue.pump().catch(() => {});  // ratings kept from before a reload go out now, as in the MVT runner
  const screens = groupScreens(a.trials);
  if (!store("consented")) {  // first visit: consent, then the instructions (a reload skips both)
    if (!(await askConsent(store, RETURN))) return;
    $("instructions-text").textContent = (cfg.study && cfg.study.instructions) ||
      instructionsText(a.trials[0], screens[0].trials.length);
    show("instructions");
    await clicked($("instructions-continue"));
  }
  const resumeAt = screenOfTrial(screens, a.resume_from);
  let index = screens.slice(0, resumeAt).reduce((n, s) => n + s.trials.length, 0);
  for (let i = resumeAt; i < screens.length; i++) {
    await runScreen(screens[i], index, a.trials.length, a.assignment_token);
    index += screens[i].trials.length;
  }
  try {
    const done = await complete(api, queue, a.assignment_token);
    finishTask(cfg, queue, done.completion_code, done.completion_url);
  } catch (err) { refuse(err); }
}

main();
