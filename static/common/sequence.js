/*
 * The order of a session, written once for every study kind, with its steps injected: pure (no
 * DOM, no fetch), so `node --test` proves the order. session.js gives the real steps.
 *
 *   tab claim → [first visit: eligibility → the kind's device rules] → consent
 *   → allocation (POST /api/assignments, never before consent), the kind's screens meanwhile
 *   → [already completed: the code again] → the kind's screens before its trials
 *   → the answer queue → the kind's trials → debrief (comment) → completion
 */

/**
 * The outcome words `runSequence` resolves with: how far the session got.
 * `other_tab`: another tab holds the assignment; `refused`: the server refused the participant
 * (eligibility or allocation); `screened_out`: the kind's device rules turned the device away;
 * `declined`: no consent; `stopped`: the kind stopped the page (a failed video, …);
 * `finished`: the completion code was handed to the platform (also on a completed assignment);
 * `not_completed`: completion was refused or failed (its step showed why).
 */
export const OUTCOMES = Object.freeze([
  "other_tab", "refused", "screened_out", "declined", "stopped", "finished", "not_completed",
]);

/**
 * Runs one session with `steps` (every one may return a value or a promise):
 *
 * - `claimTab()` → bool: this tab may run the assignment (else the step has said so);
 * - `consented()` → bool: consent was given before (a reload): eligibility and device rules are
 *   not asked again;
 * - `eligible()` → bool: the server lets this participant take part (else it has said why);
 * - `deviceRules()` → bool: the kind's rules and checks pass (else the participant was told);
 * - `consent()` → bool: the participant agreed (else the decline was shown);
 * - `allocate()` → promise of the assignment (the server's answer to POST /api/assignments);
 *   its rejection goes to `refuse(err)`;
 * - `whileAllocating()`: screens shown while the allocation runs (MVT: the instructions);
 * - `finish(code, url)`: hands a completion code to the platform (`url`: the server's `completion_url`, for a redirecting platform);
 * - `beforeTrials(assignment)` → bool: the kind's screens between allocation and trials
 *   (MVT: practice; ratings: instructions); false when it stopped the page;
 * - `startQueue(assignment)`: answers kept from before a reload go to the new token and out;
 * - `runTrials(assignment)` → bool: every trial was answered; false when the kind stopped;
 * - `debrief()` → the comment ("" for none);
 * - `complete(assignment, comment)` → bool: POST /api/complete succeeded and `finish` was
 *   called (else the step showed why).
 *
 * Resolves with one of `OUTCOMES`.
 */
export async function runSequence(steps) {
  if (!(await steps.claimTab())) return "other_tab";
  if (!(await steps.consented())) {
    if (!(await steps.eligible())) return "refused";
    if (!(await steps.deviceRules())) return "screened_out";
  }
  if (!(await steps.consent())) return "declined";
  // The allocation runs while the kind shows its first screens; its refusal waits for them.
  let allocation;
  try {
    allocation = Promise.resolve(steps.allocate());
  } catch (err) {
    allocation = Promise.reject(err);
  }
  allocation.catch(() => {});
  await steps.whileAllocating();
  let assignment;
  try {
    assignment = await allocation;
  } catch (err) {
    await steps.refuse(err);
    return "refused";
  }
  if (assignment.completed && assignment.completion_code) {
    await steps.finish(assignment.completion_code, assignment.completion_url);
    return "finished";
  }
  if (!(await steps.beforeTrials(assignment))) return "stopped";
  await steps.startQueue(assignment);
  if (!(await steps.runTrials(assignment))) return "stopped";
  const comment = await steps.debrief();
  return (await steps.complete(assignment, comment)) ? "finished" : "not_completed";
}
