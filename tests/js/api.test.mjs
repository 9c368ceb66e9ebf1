// static/common/api.js: backoff schedule, refusal sentences, the answer queue, retried POSTs.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { ApiError, backoffMs, countdown, createApi, createQueue, refusalSentence, retryWaitMs } from "../../static/common/api.js";
import { memoryStore } from "./memory_store.mjs";

test("backoff doubles from 0.5 s up to 15 s, with ±25 % jitter", () => {
  const middle = () => 0.5;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 10].map((a) => backoffMs(a, middle)), [500, 1000, 2000, 4000, 8000, 15000, 15000]);
  assert.equal(backoffMs(2, () => 0), 1500);
  assert.equal(backoffMs(2, () => 1), 2500);
});

const REASONS = { blocked: "Sorry, blocked.", expired: "Too late." };

test("a refusal shows the server's sentence for its reason, else its detail, else the fallback", () => {
  assert.equal(refusalSentence(new ApiError(409, { reason: "expired", detail: "assignment A1 expired" }), REASONS, "F."), "Too late.");
  assert.equal(refusalSentence(new ApiError(413, { reason: "too_large", detail: "The request is too large." }), REASONS, "F."),
    "The request is too large.");
  assert.equal(refusalSentence(new ApiError(409, null), REASONS, "F."), "F.");
  assert.equal(refusalSentence(new ApiError(409, { reason: "constructor" }), REASONS, "F."), "F.");
});

test("queued answers are sent in order and forgotten once the server has them", async () => {
  const sent = [];
  const { store, data } = memoryStore({ queue: [{ trial: 0, assignment_token: "old" }], answered: [0] });
  const queue = createQueue(async (path, body) => { sent.push([path, body.trial, body.assignment_token]); }, store,
    () => assert.fail("nothing is refused"));
  queue.retoken("new");
  assert.deepEqual(data("queue"), [{ trial: 0, assignment_token: "new" }]);
  await queue.enqueue({ trial: 1, assignment_token: "new" });
  assert.deepEqual(sent, [["/api/responses", 0, "new"], ["/api/responses", 1, "new"]]);
  assert.deepEqual(data("queue"), []);
  assert.deepEqual(data("answered"), [0, 1]);
  assert.equal(queue.isAnswered(1), true);
  assert.equal(queue.isAnswered(2), false);
});

test("an answer the server cannot accept is kept aside; a refused assignment stops the queue", async () => {
  const { store, data } = memoryStore();
  const refused = [];
  const answers = { 0: new ApiError(422, { reason: "bad_response", detail: "not an option" }),
    1: new ApiError(409, { reason: "expired" }) };
  const queue = createQueue(async (path, body) => { throw answers[body.trial]; }, store, (err) => refused.push(err.reason));
  queue.enqueue({ trial: 0 }).catch(() => {});
  await assert.rejects(queue.enqueue({ trial: 1 }), (err) => err.reason === "expired");
  assert.deepEqual(data("rejected"), [{ payload: { trial: 0 }, error: "not an option" }]);
  assert.deepEqual(refused, ["expired"]);
  assert.deepEqual(data("queue"), [{ trial: 1 }], "the refused answer stays queued");
});

const realFetch = globalThis.fetch;
afterEach(() => { globalThis.fetch = realFetch; });

test("a 5xx is retried after telling the worker; a 4xx is thrown with its reason", async () => {
  const statuses = [503, 200, 409];
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push([url, init.method, init.body]);
    const status = statuses.shift();
    return new Response(JSON.stringify(status === 200 ? { ok: 1 } : { reason: "link_full", detail: "full" }), { status });
  };
  const problems = [];
  const api = createApi("https://h", (text) => problems.push(text));
  assert.deepEqual(await api("/api/x", { a: 1 }), { ok: 1 });
  await assert.rejects(api("/api/y", {}), (err) => err instanceof ApiError && err.status === 409 &&
    err.reason === "link_full" && err.message === "full");
  assert.deepEqual(calls, [["https://h/api/x", "POST", '{"a":1}'], ["https://h/api/x", "POST", '{"a":1}'],
    ["https://h/api/y", "POST", "{}"]]);
  assert.deepEqual(problems, ["Connection problem — retrying in 1 s. Nothing is lost: your answers are kept " +
    "until the server has them.", null, null]);
});

test("a 429 waits for its Retry-After (at least the backoff) and says why", async () => {
  const limited = (after) => new Response('{"reason":"rate_limited","detail":"too many"}',
    { status: 429, headers: after === null ? {} : { "Retry-After": after } });
  assert.equal(retryWaitMs(limited("30"), 0, () => 0.5), 30000);
  assert.equal(retryWaitMs(limited("30"), 10, () => 0.5), 30000);
  assert.equal(retryWaitMs(limited(null), 1, () => 0.5), 1000);
  assert.equal(retryWaitMs(new Response("", { status: 503, headers: { "Retry-After": "30" } }), 0, () => 0.5), 500);
  const statuses = [429, 200];
  globalThis.fetch = async () => (statuses.shift() === 429 ? limited("1") : new Response('{"ok":1}', { status: 200 }));
  const problems = [];
  const api = createApi("https://h", (text) => problems.push(text), { rate_limited: "Too many requests." });
  const started = Date.now();
  assert.deepEqual(await api("/api/assignments", {}), { ok: 1 });
  assert.ok(Date.now() - started >= 1000, `retried after ${Date.now() - started} ms, expected Retry-After 1 s`);
  assert.deepEqual(problems, ["Too many requests. Retrying in 1 s. Nothing is lost: your answers are kept " +
    "until the server has them.", null]);
});

test("a countdown tells each second once, even when its timer fires a millisecond early", async () => {
  const realNow = Date.now;
  const clock = [1000, 1499, 1500];  // the 500 ms sleep ends when Date.now() still says 1 ms to go
  Date.now = () => (clock.length > 1 ? clock.shift() : clock[0]);
  const told = [];
  try {
    await countdown(500, (s) => told.push(s));
  } finally {
    Date.now = realNow;
  }
  assert.deepEqual(told, [1]);
});
