/* Building the rating page's elements (main.js, flipscreen.js). */
import { mushraBand, scaleButtons } from "./logic.js";

/** A `tag` element with attributes (true: present, false/null/undefined: absent) and text. */
export function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === true) node.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  if (text) node.textContent = text;
  return node;
}

/**
 * One sample's rating control on a multi-sample screen: a 0-100 slider with its value and band
 * (MUSHRA) or a menu of the 5-point scale, locked until `unlock()`. `onChange` runs after each
 * change; `state.touched` says whether the sample has a score.
 */
export function ratingControl(trial, name, onChange) {
  let input;
  let shown = null;
  if (trial.scale === "mushra") {
    input = el("input", { type: "range", min: 0, max: 100, step: 1, value: 50, disabled: true,
      "aria-label": "Score of " + name });
    shown = el("output", {}, "not rated");
  } else {
    input = el("select", { "aria-label": "Rating of " + name, disabled: true });
    input.append(el("option", { value: "" }, "choose…"));
    scaleButtons(trial).forEach((b) => input.append(el("option", { value: b.value }, b.value + " " + b.label)));
  }
  const state = { trial, input, shown, touched: false, unlock: () => { input.disabled = false; } };
  input.addEventListener("input", () => {
    state.touched = input.value !== "";
    if (shown) shown.textContent = input.value + " " + mushraBand(input.value, trial.labels);
    onChange();
  });
  return state;
}
