// static/ratings/flip.js: flip-compare keys and the per-image view accounting.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FlipViews, REFERENCE, flipKey, sampleLetter } from "../../static/ratings/flip.js";

const MUSHRA = { nSamples: 4, hasReference: true };
const SAME = { nSamples: 3, hasReference: false };

test("digits show samples that exist, R the reference where there is one, F and Space flip back", () => {
  assert.deepEqual(["1", "4", "5", "0", "r", "R", "f", "F", " ", "x", "Enter"].map((k) => flipKey(k, MUSHRA)), [
    { show: 0 }, { show: 3 }, null, null, { show: REFERENCE }, { show: REFERENCE }, { flip: true }, { flip: true },
    { flip: true }, null, null]);
  assert.deepEqual(["3", "4", "r"].map((k) => flipKey(k, SAME)), [{ show: 2 }, null, null]);
});

test("keys typed into a menu stay the menu's, Space presses other buttons, modifiers are the browser's", () => {
  assert.deepEqual(["2", "f", " "].map((k) => flipKey(k, { ...MUSHRA, target: "text" })), [null, null, null]);
  assert.equal(flipKey(" ", { ...MUSHRA, target: "button" }), null);
  assert.deepEqual(flipKey("f", { ...MUSHRA, target: "button" }), { flip: true });
  assert.deepEqual(flipKey(" ", { ...MUSHRA, target: "view" }), { flip: true });
  assert.equal(flipKey("r", { ...MUSHRA, modifier: true }), null);
});

test("samples are named A, B, C … in screen order", () => {
  assert.deepEqual([0, 1, 2, 25].map(sampleLetter), ["A", "B", "C", "Z"]);
});

test("flip goes back to the image shown before; showing the shown image changes nothing", () => {
  const v = new FlipViews([REFERENCE, 0, 1, 2], () => 0);
  assert.equal(v.flip(), null);
  v.show(REFERENCE);
  assert.equal(v.show(REFERENCE), false);
  v.show(1);
  assert.equal(v.flip(), REFERENCE);
  assert.equal(v.flip(), 1);
  v.show(2);
  assert.equal(v.flip(), 1);
  assert.deepEqual([REFERENCE, 0, 1, 2].map((k) => v.seen(k)), [true, false, true, true]);
  assert.throws(() => v.show(3), /no view 3 on this screen/);
});

test("view time sums each image's intervals on view and leaves out time the page was hidden", () => {
  let now = 100;
  const v = new FlipViews([REFERENCE, 0, 1], () => now);
  v.show(REFERENCE);            // ref 100..300
  now = 300; v.show(0);         // A 300..700, hidden 400..600 → 200
  now = 400; v.setHidden(true);
  now = 600; v.setHidden(false);
  now = 700; v.flip();          // ref 700..750
  now = 750; v.show(0);         // A 750..1000
  now = 1000; v.stop();
  now = 1234;
  assert.deepEqual(v.report(REFERENCE), { response_time_ms: 1134, replays: 1, view_ms: 250, stimulus_visible: null });
  assert.deepEqual(v.report(0), { response_time_ms: 1134, replays: 1, view_ms: 450, stimulus_visible: null });
  assert.deepEqual(v.report(1), { response_time_ms: 1134, replays: 0, view_ms: 0, stimulus_visible: null });
});

test("an image switched to while the page is hidden counts from when the page shows again", () => {
  let now = 0;
  const v = new FlipViews([0, 1], () => now);
  v.show(0);
  now = 10; v.setHidden(true);
  now = 20; v.show(1);
  now = 50; v.setHidden(false);
  now = 80; v.stop();
  assert.deepEqual([v.report(0).view_ms, v.report(1).view_ms], [10, 30]);
});

test("an image counts as wholly visible only if every reading while it was shown said so", () => {
  const v = new FlipViews([0, 1, 2], () => 0);
  [[0, true], [0, null], [0, true], [1, true], [1, false], [1, true]].forEach(([k, seen]) => v.noteVisible(k, seen));
  assert.deepEqual([0, 1, 2].map((k) => v.report(k).stimulus_visible), [true, false, null]);
});
