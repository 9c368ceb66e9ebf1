/*
 * Handing the completion code to the recruitment platform, as the server's `finish` config
 * says (platforms/base.py), for every study kind. A redirecting platform (Prolific, a panel) gets
 * the participant back with the study's code at the `completion_url` of the server's complete
 * answer: the page config never holds it (it is readable before any work). For MTurk: with turkSubmitTo
 * (top level, or MTurk's own frame for an ExternalQuestion HIT) the runner submits the HIT
 * itself; inside the landing layout's iframe (no turkSubmitTo) it hands the code to the
 * layout, which submits.
 */
import { $, show, stop } from "./screens.js";
import { redirectHost } from "./words.js";

export function submitToPlatform(cfg, code, completionUrl = null) {
  const finish = cfg.finish || {};
  const url = completionUrl || finish.url;
  if (finish.method === "redirect") {
    if (!url) {  // the server gave no URL (an assignment begun before it noted the platform)
      $("done-status").textContent = `Enter this code on ${(cfg.words && cfg.words.platform) || "the study's site"} to finish.`;
      return;
    }
    const host = redirectHost(url);
    $("done-status").textContent = "Taking you back" + (host ? " to " + host : "") + " to record your completion…";
    setTimeout(() => { window.location.assign(url); }, 1500);
    return;
  }
  if (cfg.turk_submit_to) {
    const form = $("submit-form");
    form.action = cfg.turk_submit_to + "/mturk/externalSubmit";
    $("submit-assignment").value = cfg.assignment_id;
    $("submit-code").value = code;
    form.hidden = false;
    $("done-status").textContent = "Submitting your HIT to MTurk…";
    setTimeout(() => { form.submit(); }, 1500);
    return;
  }
  if (window.parent && window.parent !== window) {
    window.parent.postMessage({ type: "mvt-complete", assignmentId: cfg.assignment_id, completionCode: code }, "*");
    $("done-status").textContent = "Your code has been passed to the HIT page; it submits the HIT for you. " +
      "If nothing happens, copy the code into the HIT page and press its Submit button.";
    return;
  }
  $("done-status").textContent = "Copy this code into the HIT page on MTurk to get paid.";
}

/**
 * The done screen with the completion `code`, handed to the platform (a redirecting one at
 * `completionUrl`, from the server's answer); the answer queue is done with.
 */
export function finishTask(cfg, queue, code, completionUrl = null) {
  queue.forget();
  if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(() => {});
  $("completion-code").textContent = code;
  show("done");
  submitToPlatform(cfg, code, completionUrl);
}

/**
 * Stops with `message` and, where the platform has a screened-out code (Prolific, panels), takes
 * the participant back there after 4 s (no pay, no penalty).
 */
export function screenOut(cfg, message) {
  stop(message);
  const out = cfg.finish && cfg.finish.screened_out_url;
  if (out) setTimeout(() => { window.location.assign(out); }, 4000);
}

/**
 * After a declined consent (nothing was allocated: every platform allocates only after consent),
 * where the platform has a no-consent code (Prolific's NO_CONSENT) the participant is taken back
 * there after 4 s.
 */
export function leaveWithoutConsent(cfg) {
  if (!cfg.finish || cfg.finish.method !== "redirect") return;  // MTurk: the worker returns the HIT
  const out = cfg.finish.no_consent_url;
  if (out) setTimeout(() => { window.location.assign(out); }, 4000);
}
