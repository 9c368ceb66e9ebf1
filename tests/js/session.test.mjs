// static/common/sequence.js (the order of a session, for every study kind) and
// static/common/words.js (the platform's words, MTurk's as the fallback).
import assert from "node:assert/strict";
import { test } from "node:test";

import { OUTCOMES, runSequence } from "../../static/common/sequence.js";
import { MTURK_WORDS, pageWords, redirectHost, returnSentence } from "../../static/common/words.js";

const ASSIGNMENT = { assignment_token: "T", completed: false, completion_code: null, trials: [] };

/**
 * Steps that record their calls in `log` and answer as `answers` says (a step's answer, or a
 * function of its arguments); allocation resolves when the test says (`allocated()`), so the
 * test sees what happens while it runs.
 */
function recorder(answers = {}) {
  const log = [];
  let allocated;
  const allocation = new Promise((resolve, reject) => { allocated = { resolve, reject }; });
  const defaults = {
    claimTab: true, consented: false, eligible: true, deviceRules: true, consent: true,
    allocate: () => allocation, whileAllocating: undefined, refuse: undefined, finish: undefined,
    beforeTrials: true, startQueue: undefined, runTrials: true, debrief: "", complete: true,
  };
  const steps = {};
  for (const [name, answer] of Object.entries({ ...defaults, ...answers })) {
    steps[name] = (...args) => {
      log.push(name);
      return typeof answer === "function" ? answer(...args) : answer;
    };
  }
  return { steps, log, allocated: (a = ASSIGNMENT) => allocated.resolve(a), refused: (e) => allocated.reject(e) };
}

test("a first visit runs every step in order, allocating only after consent", async () => {
  const r = recorder();
  const run = runSequence(r.steps);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(r.log, ["claimTab", "consented", "eligible", "deviceRules", "consent", "allocate", "whileAllocating"]);
  r.allocated();
  assert.equal(await run, "finished");
  assert.deepEqual(r.log.slice(7), ["beforeTrials", "startQueue", "runTrials", "debrief", "complete"]);
});

test("nothing is allocated when the tab, the server, the device or the participant says no", async () => {
  for (const [answers, outcome, last] of [
    [{ claimTab: false }, "other_tab", "claimTab"],
    [{ eligible: false }, "refused", "eligible"],
    [{ deviceRules: false }, "screened_out", "deviceRules"],
    [{ consent: false }, "declined", "consent"],
  ]) {
    const r = recorder(answers);
    assert.equal(await runSequence(r.steps), outcome);
    assert.equal(r.log[r.log.length - 1], last);
    assert.ok(!r.log.includes("allocate"), outcome);
  }
});

test("the server is asked about eligibility before the kind's device rules", async () => {
  const r = recorder({ eligible: false });
  await runSequence(r.steps);
  assert.ok(!r.log.includes("deviceRules"));
});

test("a reload after consent asks neither eligibility nor the device rules again", async () => {
  const r = recorder({ consented: true, allocate: () => ASSIGNMENT });
  assert.equal(await runSequence(r.steps), "finished");
  assert.deepEqual(r.log, ["claimTab", "consented", "consent", "allocate", "whileAllocating", "beforeTrials",
    "startQueue", "runTrials", "debrief", "complete"]);
});

test("a refused allocation is shown after the kind's screens and runs no trial", async () => {
  const r = recorder();
  const run = runSequence(r.steps);
  const err = Object.assign(new Error("full"), { status: 409, reason: "link_full" });
  r.refused(err);
  assert.equal(await run, "refused");
  assert.deepEqual(r.log.slice(-3), ["allocate", "whileAllocating", "refuse"]);
});

test("an allocation that throws at once is a refusal too", async () => {
  const r = recorder({ allocate: () => { throw new Error("offline"); } });
  assert.equal(await runSequence(r.steps), "refused");
  assert.equal(r.log[r.log.length - 1], "refuse");
});

test("a completed assignment gets its code again without trials, debrief or completion", async () => {
  const codes = [];
  const r = recorder({ allocate: () => ({ ...ASSIGNMENT, completed: true, completion_code: "MVT-X",
    completion_url: "https://app.prolific.com/submissions/complete?cc=C1" }),
    finish: (code, url) => { codes.push([code, url]); } });
  assert.equal(await runSequence(r.steps), "finished");
  assert.deepEqual(codes, [["MVT-X", "https://app.prolific.com/submissions/complete?cc=C1"]]);
  for (const step of ["beforeTrials", "runTrials", "debrief", "complete"]) assert.ok(!r.log.includes(step), step);
});

test("a kind that stops before or during its trials gets no debrief and no completion", async () => {
  for (const answers of [{ beforeTrials: false }, { runTrials: false }]) {
    const r = recorder({ ...answers, allocate: () => ASSIGNMENT });
    assert.equal(await runSequence(r.steps), "stopped");
    assert.ok(!r.log.includes("debrief") && !r.log.includes("complete"));
  }
  const r = recorder({ beforeTrials: false, allocate: () => ASSIGNMENT });
  await runSequence(r.steps);
  assert.ok(!r.log.includes("startQueue"), "answers wait until the kind's screens are through");
});

test("the debrief comment goes to completion with the assignment", async () => {
  let seen = null;
  const r = recorder({ allocate: () => ASSIGNMENT, debrief: "the sound was quiet",
    complete: (a, comment) => { seen = [a.assignment_token, comment]; return false; } });
  assert.equal(await runSequence(r.steps), "not_completed");
  assert.deepEqual(seen, ["T", "the sound was quiet"]);
});

test("every outcome word is documented", async () => {
  assert.deepEqual([...OUTCOMES].sort(), ["declined", "finished", "not_completed", "other_tab", "refused",
    "screened_out", "stopped"]);
});

test("the page's words fall back to MTurk's, and a platform's return sentence is honoured", () => {
  assert.deepEqual(pageWords({}), { ...MTURK_WORDS });
  const prolific = { finish: { method: "redirect", return_sentence: "Please return the study on Prolific." } };
  assert.equal(returnSentence(prolific), "Please return the study on Prolific.");
  const words = { task: "study", participant_id: "participant ID", return_sentence: "Please close this page." };
  assert.deepEqual(pageWords({ ...prolific, words }), words);
  assert.deepEqual(pageWords({ words: { task: " ", participant_id: null } }), { ...MTURK_WORDS });
});

test("the done screen names a redirect's host, never a platform it does not know", () => {
  assert.equal(redirectHost("https://app.prolific.com/submissions/complete?cc=C1"), "app.prolific.com");
  assert.equal(redirectHost("not a url"), null);
  assert.equal(redirectHost(undefined), null);
});
