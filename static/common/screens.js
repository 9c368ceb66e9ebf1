/*
 * The screens every study kind shares: one screen at a time (the page's sections marked
 * data-screen, shown by name), the stop message, consent, the debrief comment and the
 * connection-problem line.
 */
import { measureVisible } from "./layout.js";
import { turnedAway } from "./words.js";

export function $(id) { return document.getElementById(id); }

let stopped = false;

export function isStopped() { return stopped; }

export function show(name) {
  if (stopped && name !== "stop") return;
  const screens = document.querySelectorAll("[data-screen]");
  for (const screen of screens) screen.hidden = screen.id !== "screen-" + name;
  const screen = $("screen-" + name);
  const heading = screen.querySelector("h1[tabindex], legend[tabindex]");
  if (heading) heading.focus({ preventScroll: true });
  // A new text screen starts at its top (the worker may have scrolled the HIT page down while
  // reading the last one); the trial and answer screens place themselves (layout.js). Measured
  // against the worker's window, not this page: inside the landing layout's frame the frame
  // does not scroll, the HIT page around it does.
  if (name !== "trial" && name !== "answer") {
    measureVisible(screen).then((m) => {
      if (!screen.hidden && (m.visible === null || m.visible.top > m.box.top + 1)) {
        screen.scrollIntoView({ block: "start" });
      }
    });
  }
}

/** The stop screen with this message; no other screen shows after it. */
export function stop(message) {
  $("stop-message").textContent = message;
  show("stop");
  stopped = true;
}

/**
 * The consent screen, once per assignment (`store` remembers the answer): resolves true once
 * the worker agrees; a decline shows the stop screen with the platform's `returnSentence`.
 */
export async function askConsent(store, returnSentence) {
  if (store("consented")) return true;
  show("consent");
  const choice = await Promise.race([
    clicked($("consent-agree")).then(() => "agree"),
    clicked($("consent-decline")).then(() => "decline"),
  ]);
  if (choice === "decline") {
    stop(turnedAway("You did not agree to take part.", returnSentence));
    return false;
  }
  store("consented", true);
  return true;
}

/** Resolves on the element's next click. */
export function clicked(el) {
  return new Promise((resolve) => {
    el.addEventListener("click", function handler(ev) {
      ev.preventDefault();
      el.removeEventListener("click", handler);
      resolve(ev);
    });
  });
}

export function setNetProblem(text) {
  const netStatus = $("net-status");
  netStatus.textContent = text || "";
  netStatus.hidden = !text;
}

/**
 * The debrief screen (its optional comment box), once per assignment: resolves with the trimmed
 * comment ("" when none), kept in `store` so a reload goes straight on to completion.
 */
export async function askComment(store) {
  const kept = store("comment");
  if (kept !== null) return kept;
  show("debrief");
  await clicked($("debrief-finish"));
  const comment = $("debrief-comment").value.trim();
  store("comment", comment);
  return comment;
}
