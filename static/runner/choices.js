/*
 * The answer list's rules, pure: which options a trial offers, which ones a filter text
 * shows, and which number key picks which shown option. screens.js applies them to the DOM.
 */

// Above this many options the answer screen offers a filter box.
export const MANY_OPTIONS = 12;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Options in natural, case-insensitive order ("a2" before "A10", "bee" before "Cat"). */
export function sortOptions(names) {
  return names.slice().sort((x, y) => collator.compare(x, y) || (x < y ? -1 : x > y ? 1 : 0));
}

/** What Enter in the filter box says when it cannot pick: "" for exactly one match. */
export function filterNote(nMatches) {
  if (nMatches === 1) return "";
  if (nMatches === 0) return "No option matches what you typed.";
  return nMatches + " options match — type more, or pick one with the mouse or a number key.";
}

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
