// static/common/device.js: the device rules every study kind's page applies before consent.
import assert from "node:assert/strict";
import { test } from "node:test";

import { sharedDeviceProblem, stimulusRoom } from "../../static/common/device.js";

const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

test("no rules, or rules the study leaves out, pass every device", () => {
  assert.equal(sharedDeviceProblem(null, true, PHONE), null);
  assert.equal(sharedDeviceProblem({}, true, PHONE), null);
  assert.equal(sharedDeviceProblem({ touch_allowed: true, min_stimulus_px: 300 }, true, PHONE), null);
});

test("touch refused only when the study says touch_allowed = false", () => {
  assert.match(sharedDeviceProblem({ touch_allowed: false }, true, PHONE), /cannot be done on a phone or tablet/);
  assert.equal(sharedDeviceProblem({ touch_allowed: false }, false, LAPTOP), null);
});

test("min_stimulus_px must fit the screen less the browser's bars, in the kind's words", () => {
  assert.equal(stimulusRoom(LAPTOP), 568);
  assert.equal(sharedDeviceProblem({ min_stimulus_px: 568 }, false, LAPTOP, "the videos"), null);
  assert.equal(sharedDeviceProblem({ min_stimulus_px: 569 }, false, LAPTOP, "the videos"),
    "Your screen is too small for this task: the videos need at least 569 by 569 pixels.");
  assert.equal(sharedDeviceProblem({ min_stimulus_px: 600 }, false, LAPTOP),
    "Your screen is too small for this task: the page needs at least 600 by 600 pixels.");
});
