/*
 * The answer list's rules, pure: which options a trial offers, which ones a filter text
 * shows, and which number key picks which shown option. screens.js applies them to the DOM.
 */

// Above this many options the answer screen offers a filter box.
export const MANY_OPTIONS = 12;

/** The trial's own options when it has any, else the assignment's. */
export function trialOptions(trial, assignmentOptions) {
  return trial.options && trial.options.length ? trial.options : assignmentOptions;
}

/** Whether an option stays shown for the text typed into the filter box (case-insensitive substring). */
export function matchesFilter(name, filterText) {
  const term = filterText.trim().toLowerCase();
  return term === "" || name.toLowerCase().indexOf(term) >= 0;
}

/** The number key shown next to the k-th shown option (0-based): "1" … "9", "0", then none. */
export function keyLabel(k) {
  return k < 10 ? String((k + 1) % 10) : "";
}

/** Which shown option (0-based) a key picks, or null when it is not a number key. */
export function keyIndex(key) {
  if (!/^[0-9]$/.test(key)) return null;
  return key === "0" ? 9 : Number(key) - 1;
}
