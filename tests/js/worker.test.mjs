// The pure rules behind what a worker sees: common/layout.js (on screen), runner/stage.js
// (fitting), runner/input.js (what starts a video), common/store.js (one tab), runner/played.js
// (played trials) and common/api.js (countdown).
import assert from "node:assert/strict";
import { test } from "node:test";

import { countdown } from "../../static/common/api.js";
import { memoryStore } from "./memory_store.mjs";
import { PLAY_ARM_MS, clickStartsPlay, inputType, keyStartsPlay } from "../../static/runner/input.js";
import { fullyInside } from "../../static/common/layout.js";
import { TAB_STALE_MS, claimTab, releaseTab } from "../../static/common/store.js";
import { keepTiming, markLeft, markPlayed, playedTrial, unmarkPlayed } from "../../static/runner/played.js";
import { fittedSize, rescaleFits } from "../../static/runner/stage.js";

test("a box is wholly visible when the visible rectangle is as large (1 px rounding allowed)", () => {
  const box = { width: 400, height: 400 };
  assert.equal(fullyInside(box, { width: 400, height: 400 }), true);
  assert.equal(fullyInside(box, { width: 399.5, height: 399.2 }), true);
  assert.equal(fullyInside(box, { width: 400, height: 150 }), false);  // half below the window
  assert.equal(fullyInside(box, null), false);  // off screen
  assert.equal(fullyInside({ width: 0, height: 0 }, { width: 0, height: 0 }), false);
});

test("the video shrinks by what the stage sticks out, within its bounds", () => {
  // A 640 px stage in a 600 px visible area: 40 px less (and a 4 px margin).
  assert.equal(fittedSize(512, { width: 700, height: 640 }, { width: 700, height: 600 }, 256, 512), 468);
  assert.equal(fittedSize(512, { width: 700, height: 640 }, { width: 300, height: 640 }, 256, 512), 256);
  assert.equal(fittedSize(300, { width: 500, height: 500 }, { width: 500, height: 500 }, 256, 512), 300);
});

test("Play starts on a fresh key press after arming, never on a repeat or before", () => {
  const armed = 1000;
  assert.equal(keyStartsPlay({ key: " ", repeat: false, timeStamp: 1001 }, armed), true);
  assert.equal(keyStartsPlay({ key: "Enter", repeat: false, timeStamp: 1500 }, armed), true);
  assert.equal(keyStartsPlay({ key: "Enter", repeat: true, timeStamp: 1500 }, armed), false);
  assert.equal(keyStartsPlay({ key: "Enter", repeat: false, timeStamp: 999 }, armed), false);
  assert.equal(keyStartsPlay({ key: "Enter", repeat: false, timeStamp: 1500 }, null), false);
  assert.equal(keyStartsPlay({ key: "a", repeat: false, timeStamp: 1500 }, armed), false);
  assert.equal(clickStartsPlay({ detail: 1 }, armed), true);
  assert.equal(clickStartsPlay({ detail: 0 }, armed), false);  // made by a key: judged as a key
  assert.ok(PLAY_ARM_MS >= 300);
});

test("the input type names the keyboard or the last pointer", () => {
  assert.equal(inputType(true, "touch"), "keyboard");
  assert.equal(inputType(false, "touch"), "touch");
  assert.equal(inputType(false, null), "mouse");
  assert.equal(inputType(false, "weird"), "mouse");
});

test("one tab holds an assignment until its claim goes stale or it lets go", () => {
  const store = memoryStore().store;
  assert.equal(claimTab(store, "a", 0), true);
  assert.equal(claimTab(store, "b", 1000), false);
  assert.equal(claimTab(store, "a", 1500), true);  // heartbeat
  assert.equal(claimTab(store, "b", 1500 + TAB_STALE_MS), true);  // a crashed tab's claim expires
  assert.equal(claimTab(store, "a", 1600 + TAB_STALE_MS), false);
  releaseTab(store, "a");  // not the holder: nothing changes
  assert.equal(claimTab(store, "c", 1700 + TAB_STALE_MS), false);
  releaseTab(store, "b");  // a reload: the page lets go as it leaves
  assert.equal(claimTab(store, "c", 1800 + TAB_STALE_MS), true);
});

test("a trial is marked played before its video starts and keeps its timing after", () => {
  const store = memoryStore().store;
  assert.equal(playedTrial(store, 3), null);
  assert.equal(markPlayed(store, 3), 1);
  assert.deepEqual(playedTrial(store, 3), { plays: 1, timing: null });  // a reload mid-video
  keepTiming(store, 3, { frame_log: "0-65" });
  assert.deepEqual(playedTrial(store, 3), { plays: 1, timing: { frame_log: "0-65" } });
  assert.equal(markPlayed(store, 3), 2);
  unmarkPlayed(store, 3);
  unmarkPlayed(store, 3);
  assert.equal(playedTrial(store, 3), null);
});

test("a countdown ticks whole seconds down to the end", async () => {
  const ticks = [];
  const t0 = Date.now();
  await countdown(1200, (s) => ticks.push(s));
  assert.deepEqual(ticks, [2, 1]);
  assert.ok(Date.now() - t0 >= 1150);
});

test("the drawn video keeps the rescale rule within max_rescale / 2 and max_rescale times its size", () => {
  assert.equal(rescaleFits(512, 512), true);
  assert.equal(rescaleFits(384, 512), true);   // 0.75x
  assert.equal(rescaleFits(383, 512), false);
  assert.equal(rescaleFits(768, 512), true);   // 1.5x
  assert.equal(rescaleFits(1024, 512), false); // dpr 2 drawing 512 CSS px
  assert.equal(rescaleFits(1024, 512, 2), true);
  assert.equal(rescaleFits(300, null), true);  // an experiment built before sizes were known
});

test("a trial whose page was left mid-video is remembered as interrupted", () => {
  const { store } = memoryStore();
  markPlayed(store, 3);
  markLeft(store, 3);
  assert.deepEqual(playedTrial(store, 3), { plays: 1, timing: null, interrupted: "navigation" });
  markLeft(store, 4);  // never started: nothing to remember
  assert.equal(playedTrial(store, 4), null);
});
