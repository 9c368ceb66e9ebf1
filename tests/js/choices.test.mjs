// static/runner/choices.js: which options a trial offers, the filter, the number keys.
import assert from "node:assert/strict";
import { test } from "node:test";

import { keyIndex, keyLabel, matchesFilter, trialOptions } from "../../static/runner/choices.js";

test("a trial's own options win over the assignment's, unless it has none", () => {
  assert.deepEqual(trialOptions({ options: ["b", "a"] }, ["x"]), ["b", "a"]);
  assert.deepEqual(trialOptions({ options: [] }, ["x"]), ["x"]);
  assert.deepEqual(trialOptions({}, ["x"]), ["x"]);
});

test("the filter keeps options containing the trimmed text, ignoring case", () => {
  const names = ["Zoë & \"quotes\"", "class 01", "右", "CAT"];
  assert.deepEqual(names.filter((n) => matchesFilter(n, " zo ")), ["Zoë & \"quotes\""]);
  assert.deepEqual(names.filter((n) => matchesFilter(n, "cat")), ["CAT"]);
  assert.deepEqual(names.filter((n) => matchesFilter(n, "右")), ["右"]);
  assert.deepEqual(names.filter((n) => matchesFilter(n, "  ")), names);
  assert.deepEqual(names.filter((n) => matchesFilter(n, "dog")), []);
});

test("number keys 1–9 then 0 pick the first ten shown options", () => {
  assert.deepEqual([0, 1, 8, 9, 10, 11].map(keyLabel), ["1", "2", "9", "0", "", ""]);
  assert.deepEqual(["1", "2", "9", "0"].map(keyIndex), [0, 1, 8, 9]);
  assert.deepEqual(["a", "Enter", " ", "10", ""].map(keyIndex), [null, null, null, null, null]);
});

test("options sort naturally and ignore case", async () => {
  const { sortOptions } = await import("../../static/runner/choices.js");
  assert.deepEqual(sortOptions(["class 10", "Class 2", "bee", "Cat", "class 1", "ant"]),
    ["ant", "bee", "Cat", "class 1", "Class 2", "class 10"]);
  const names = ["b", "a"];
  sortOptions(names);
  assert.deepEqual(names, ["b", "a"]);  // the caller's list is left alone
});

test("Enter in the filter says why it picked nothing", async () => {
  const { filterNote } = await import("../../static/runner/choices.js");
  assert.equal(filterNote(1), "");
  assert.equal(filterNote(0), "No option matches what you typed.");
  assert.equal(filterNote(3), "3 options match — type more, or pick one with the mouse or a number key.");
});
