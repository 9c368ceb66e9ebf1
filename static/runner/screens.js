/*
 * The MVT task's own screens: the trial's status line, progress, the display check's result and
 * the answer form (its rules come from choices.js). Showing a screen and the stop message are
 * common/screens.js.
 */
import { $, show } from "../common/screens.js";
import { MANY_OPTIONS, filterNote, keyIndex, keyLabel, matchesFilter, sortOptions } from "./choices.js";
import { refreshFits } from "./timing.js";

export function setTrialStatus(text) { $("trial-status").textContent = text; }

/** "Practice" or "Trial" before the progress numbers. */
export function setPhase(name) {
  for (const el of document.querySelectorAll("[data-phase]")) el.textContent = name;
}

export function setProgress(done, n) {
  for (const el of document.querySelectorAll("[data-trial-no]")) el.textContent = String(Math.min(done + 1, n));
  for (const el of document.querySelectorAll("[data-trial-n]")) el.textContent = String(n);
  for (const bar of document.querySelectorAll("[data-progress]")) {
    bar.max = n;
    bar.value = done;
    bar.setAttribute("aria-label", done + " of " + n + " trials done");
  }
}

/** Fills the display check with the measured refresh rate and any warnings; enables Start. */
export function showCheckResult(intervalMs, cfg, start, n) {
  const hz = intervalMs ? 1000 / intervalMs : null;
  $("check-status").hidden = true;
  const result = $("check-result");
  result.hidden = false;
  result.textContent = hz ? "Your screen refreshes about " + Math.round(hz) + " times per second." :
    "Your screen's refresh rate could not be measured.";
  const warnings = [];
  const tolerance = cfg.study ? cfg.study.device.refresh_tolerance_hz : 3;
  if (!hz || !refreshFits(hz, tolerance)) {
    warnings.push("This task is designed for a 60 Hz display; on yours the shortest pictures may be " +
      "shown for a different time. If you can, set your display to 60 Hz; otherwise you may still continue.");
  }
  if (Math.min(window.innerWidth, window.innerHeight - 170) < cfg.video_css_px * 0.75) {
    warnings.push("Your window is small, so the videos will be shown smaller than intended. " +
      "Please make the window larger (or zoom out) if you can.");
  }
  if (warnings.length) {
    $("check-warning").hidden = false;
    $("check-warning").textContent = warnings.join(" ");
  }
  if (start > 0 && start < n) {
    result.textContent += " Welcome back: you continue at trial " + (start + 1) + " of " + n + ".";
  }
  $("check-continue").disabled = false;
  $("check-continue").focus({ preventScroll: true });
}

function optionInput(name, i) {
  const label = document.createElement("label");
  label.className = "choice";
  const input = document.createElement("input");
  input.type = "radio";
  input.name = "answer";
  input.value = String(i);
  const key = document.createElement("span");
  key.className = "key";
  key.setAttribute("aria-hidden", "true");
  const text = document.createElement("span");
  text.className = "choice-text";
  text.textContent = name;
  label.append(input, key, text);
  return label;
}

/**
 * Shows the answer form, options in natural order; resolves with {response, response_time_ms}
 * when one is confirmed. The filter box takes focus only where typing is cheap (touch: false).
 */
export function askAnswer(unsorted, touch = false) {
  const options = sortOptions(unsorted);
  return new Promise((resolve) => {
    const box = $("answer-options");
    const next = $("answer-next");
    const form = $("answer-form");
    const filter = $("answer-filter");
    const inputs = [];
    box.textContent = "";
    next.disabled = true;
    options.forEach((name, i) => {
      const label = optionInput(name, i);
      box.appendChild(label);
      const input = label.querySelector("input");
      inputs.push(input);
      input.addEventListener("change", () => { next.disabled = false; });
    });
    const many = options.length > MANY_OPTIONS;
    const note = $("answer-filter-note");
    note.textContent = "";
    form.classList.toggle("many", many);
    $("answer-filter-row").hidden = !many;
    // Key hints are for keyboards; a phone's worker taps.
    $("answer-hint").hidden = many || touch;
    $("answer-hint-many").hidden = !many || touch;
    filter.value = "";
    const visible = () => inputs.filter((x) => !x.parentNode.hidden);
    function numberKeys() {
      let k = 0;
      for (const x of inputs) x.parentNode.querySelector(".key").textContent = x.parentNode.hidden ? "" : keyLabel(k++);
    }
    filter.oninput = () => {
      note.textContent = "";
      inputs.forEach((x, i) => { x.parentNode.hidden = !matchesFilter(options[i], filter.value); });
      numberKeys();
    };
    numberKeys();
    const shownAt = performance.now();
    function choose(input) {
      input.checked = true;
      input.focus();
      next.disabled = false;
    }
    function finish() {
      const picked = inputs.filter((x) => x.checked)[0];
      if (!picked) return;
      document.removeEventListener("keydown", onKey);
      form.onsubmit = null;
      resolve({ response: options[Number(picked.value)], response_time_ms: Math.round(performance.now() - shownAt) });
    }
    function onKey(ev) {
      if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const inText = ev.target === filter;
      const k = inText ? null : keyIndex(ev.key);
      if (k !== null) {
        const v = visible();
        if (k < v.length) { choose(v[k]); ev.preventDefault(); }
      } else if (ev.key === "Enter") {
        ev.preventDefault();
        if (!next.disabled) finish();
        else if (inText && visible().length === 1) choose(visible()[0]);
        else if (inText) note.textContent = filterNote(visible().length);
      }
    }
    form.onsubmit = (ev) => { ev.preventDefault(); finish(); };
    document.addEventListener("keydown", onKey);
    show("answer");
    if (many && !touch) filter.focus({ preventScroll: true });
  });
}
