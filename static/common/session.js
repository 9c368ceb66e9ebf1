/*
 * The worker page's entry module for every study kind: one session, in the order of
 * sequence.js — one tab per assignment → eligibility → the kind's device rules → consent →
 * allocation (POST /api/assignments, only after consent; a Prolific or panel arrival is placed then, with
 * its page's `placement` ticket) → the kind's screens and trials →
 * debrief (optional comment) → completion (POST /api/complete) → the code to the platform.
 *
 * The page names its kind's module, a same-origin URL: the `kind_module` of its `mvt-config`
 * JSON if present, else the `data-kind` attribute of the script element that loads this module
 * (`<script type="module" src="/static/common/session.js" data-kind="/static/runner/kind.js">`).
 * The kind module exports `createKind(ctx)` returning the kind's hooks (docs/contracts.md,
 * "Browser session and study kinds"):
 *
 *   ctx = {cfg, study, store, api, queue, tabId, touch, words, returnSentence, refuse, screenOut}
 *   createKind(ctx) → {
 *     sizeSubject?            : what the study file's min_stimulus_px must fit, in words ("the videos")
 *     deviceRules?()          → bool: before consent, first visit only, after the shared rules
 *                               (common/device.js: touch_allowed, min_stimulus_px); false = it told the worker
 *     whileAllocating?()      : after consent, while the list is allocated (default: "Loading…")
 *     beforeTrials?(a)        → bool: between allocation and trials; false = it stopped the page
 *     runTrials(a)            → bool: the kind's trials, answers into ctx.queue; false = stopped
 *   }
 *
 * Contract with the server: docs/contracts.md ("Browser ↔ server").
 */
import { complete, createApi, createQueue, refusalSentence } from "./api.js";
import { sharedDeviceProblem } from "./device.js";
import { isTouchDevice } from "./layout.js";
import { runSequence } from "./sequence.js";
import { $, askComment, askConsent, isStopped, setNetProblem, show, stop } from "./screens.js";
import { TAB_HEARTBEAT_MS, claimTab, makeStore, releaseTab } from "./store.js";
import { finishTask, leaveWithoutConsent, screenOut } from "./submit.js";
import { pageWords, turnedAway } from "./words.js";

const cfg = JSON.parse($("mvt-config").textContent);
const words = pageWords(cfg);
const RETURN = words.return_sentence;
// A placed arrival's link is only where the server would put them until consent (each visit may
// name another), so its memory (tab claim, consent, unsent answers) is keyed by the assignment alone.
const store = makeStore("mvt:" + (cfg.placement ? "placed" : cfg.link) + ":" + cfg.assignment_id + ":");
const api = createApi(cfg.api_base, setNetProblem, cfg.reasons);
const tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);

/** The server refused the participant: its sentence, and how to give the task back. */
function refuse(err) {
  const sentence = refusalSentence(err, cfg.reasons, cfg.reason_fallback);
  stop(err && err.reason === "other_tab" ? sentence : sentence + " " + RETURN);
}

const queue = createQueue(api, store, refuse);

/**
 * The kind module's URL: the config's `kind_module`, else the loading script's `data-kind`;
 * only same-origin URLs (the page's CSP allows no other script).
 */
function kindModuleUrl() {
  const script = document.querySelector("script[type=module][data-kind]");
  const named = cfg.kind_module || (script && script.dataset.kind);
  if (!named) throw new Error("the page names no study kind module");
  const url = new URL(named, window.location.href);
  if (url.origin !== window.location.origin) throw new Error("the study kind module " + named + " is not on this server");
  return url.href;
}

/** One tab per assignment: a second tab says so and does nothing. */
function holdTab() {
  if (!claimTab(store, tabId, Date.now())) {
    stop("This task is already open in another tab or window. Please continue there and close this one.");
    return false;
  }
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

/**
 * Asks the server first, so a worker who may not take part is told before consent. A placed
 * arrival's page (Prolific, a panel: `cfg.placement`) was asked that by the server that sent it.
 */
async function eligible() {
  if (cfg.placement) return true;
  const query = new URLSearchParams({ link: cfg.link, worker_id: cfg.worker_id, assignment_id: cfg.assignment_id });
  try {
    const res = await fetch(cfg.api_base + "/api/eligibility?" + query.toString(), { cache: "no-store" });
    const answer = res.ok ? await res.json() : null;
    if (answer && answer.eligible === false) {  // before anything is allocated: says so, as the landing does
      stop(turnedAway(refusalSentence({ reason: answer.reason, body: {} }, cfg.reasons, cfg.reason_fallback), RETURN));
      return false;
    }
  } catch (e) { /* the allocation refuses too, after consent */ }
  return true;
}

/** POST /api/complete with the comment, then the code to the platform; false when it did not complete. */
async function completeTask(a, comment) {
  show("loading");
  try {
    const done = await complete(api, queue, a.assignment_token, comment);
    finishTask(cfg, queue, done.completion_code, done.completion_url);
    return true;
  } catch (err) {
    if (err && err.status === 409 && err.reason !== "incomplete") {
      refuse(err);
      return false;
    }
    stop("Your answers are saved, but the task could not be completed (" + err.message +
      "). Please reload this page; if that does not help, contact the requester.");
    return false;
  }
}

async function main() {
  const { createKind } = await import(kindModuleUrl());
  const kind = createKind({
    cfg, study: cfg.study || {}, store, api, queue, tabId, touch: isTouchDevice(), words,
    returnSentence: RETURN, refuse, screenOut: (message) => screenOut(cfg, message),
  });
  await runSequence({
    claimTab: holdTab,
    consented: () => Boolean(store("consented")),
    eligible,
    deviceRules: () => {
      const problem = sharedDeviceProblem(cfg.study && cfg.study.device, isTouchDevice(), window.screen, kind.sizeSubject);
      if (problem) {
        screenOut(cfg, turnedAway(problem, RETURN));
        return false;
      }
      return kind.deviceRules ? kind.deviceRules() : true;
    },
    consent: async () => {
      const agreed = await askConsent(store, RETURN);
      if (!agreed) leaveWithoutConsent(cfg);
      return agreed;
    },
    allocate: () => api("/api/assignments", {
      link: cfg.link, worker_id: cfg.worker_id, assignment_id: cfg.assignment_id, hit_id: cfg.hit_id || null,
      placement: cfg.placement || null,
    }),
    whileAllocating: () => (kind.whileAllocating ? kind.whileAllocating() : show("loading")),
    refuse,
    finish: (code, url) => finishTask(cfg, queue, code, url),
    beforeTrials: (a) => (kind.beforeTrials ? kind.beforeTrials(a) : true),
    startQueue: (a) => {
      queue.retoken(a.assignment_token);
      queue.pump().catch(() => {});  // answers kept from before a reload go out now
    },
    runTrials: (a) => kind.runTrials(a),
    debrief: () => askComment(store),
    complete: completeTask,
  });
}

main().catch((err) => {
  if (isStopped()) return;
  stop("Something went wrong (" + (err && err.message) + "). Please reload the page; your answers so far are kept.");
});
