/*
 * Talking to the server: POSTs retried with backoff until the server answers, the queue that
 * keeps answers (memory + localStorage) until the server has them, completion, and the
 * sentence a refusal shows. No DOM here: callers pass what to do with status text.
 */

export function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

/** Waits ms, calling tick(seconds left) now and whenever that number changes, so a status line counts down. */
export async function countdown(ms, tick) {
  const end = Date.now() + ms;
  let shown = null;
  // A timer may fire a millisecond before Date.now() says it is due: without `shown` the same
  // second was then told twice.
  for (let left = ms; left > 0; left = end - Date.now()) {
    const seconds = Math.ceil(left / 1000);
    if (seconds !== shown) tick((shown = seconds));
    await sleep(Math.min(left, 1000));
  }
}

// Exponential backoff with jitter; network errors, 5xx and 429 are retried without limit.
export function backoffMs(attempt, random = Math.random) {
  return Math.min(500 * Math.pow(2, attempt), 15000) * (0.75 + random() * 0.5);
}

export class ApiError extends Error {
  constructor(status, body) {
    const data = body || {};
    super(typeof data.detail === "string" ? data.detail : "HTTP " + status);
    this.status = status;
    this.body = data;
    this.reason = data.reason || null;
  }
}

/**
 * What the worker is told about a refused request: the server's sentence for its reason
 * (config.reasons, from kernel/reasons.py), else the server's own detail, else the fallback.
 */
export function refusalSentence(err, reasons, fallback) {
  const known = err && err.reason && Object.prototype.hasOwnProperty.call(reasons, err.reason);
  if (known) return reasons[err.reason];
  if (err && err.body && typeof err.body.detail === "string") return err.body.detail;
  return fallback;
}

/** How long to wait before retrying: the backoff, or longer when a 429 says so in Retry-After (seconds). */
export function retryWaitMs(res, attempt, random = Math.random) {
  const wait = backoffMs(attempt, random);
  const after = res && res.status === 429 ? Number(res.headers.get("Retry-After")) : NaN;
  return after > 0 ? Math.max(wait, after * 1000) : wait;
}

/**
 * api(path, body): POST JSON to base + path; resolves with the answer, throws ApiError on 4xx
 * other than 429. reasons (config.reasons) gives the sentence shown while a 429 waits.
 */
export function createApi(base, onNetProblem, reasons = {}) {
  return async function api(path, body) {
    for (let attempt = 0; ; attempt++) {
      let res = null;
      try {
        res = await fetch(base + path, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store",
        });
      } catch (e) { res = null; }
      if (res && res.ok) {
        onNetProblem(null);
        return res.json();
      }
      if (res && res.status < 500 && res.status !== 429) {
        let data = null;
        try { data = await res.json(); } catch (e) { data = null; }
        onNetProblem(null);
        throw new ApiError(res.status, data);
      }
      const wait = retryWaitMs(res, attempt);
      const busy = res && res.status === 429 && reasons.rate_limited;
      await countdown(wait, (s) => onNetProblem((busy ? reasons.rate_limited + " Retrying" : "Connection problem — retrying") +
        " in " + s + " s. Nothing is lost: your answers are kept until the server has them."));
    }
  };
}

/**
 * Answers wait here until the server confirms them. onRefused(err) is called (and pump
 * rejects) when the server refuses the assignment itself (409, 403, 410).
 */
export function createQueue(api, store, onRefused) {
  const queue = store("queue") || [];
  const answered = store("answered") || [];
  let pumping = null;

  function persist() { store("queue", queue); }

  function pump() {
    if (pumping) return pumping;
    const run = (async () => {
      while (queue.length) {
        try {
          await api("/api/responses", queue[0]);
        } catch (err) {
          if (err.status === 409 || err.status === 403 || err.status === 410) {
            onRefused(err);
            throw err;
          }
          // A payload the server can never accept: keep a copy for the record, go on.
          store("rejected", (store("rejected") || []).concat([{ payload: queue[0], error: err.message }]));
        }
        queue.shift();
        persist();
      }
    })();
    pumping = run;
    const clear = () => { if (pumping === run) pumping = null; };
    run.then(clear, clear);
    return run;
  }

  return {
    pump,
    isAnswered(trial) { return answered.indexOf(trial) >= 0; },
    enqueue(payload) {
      queue.push(payload);
      persist();
      if (answered.indexOf(payload.trial) < 0) answered.push(payload.trial);
      store("answered", answered);
      return pump();
    },
    // Answers still queued from before a reload belong to this assignment's new token.
    retoken(token) {
      queue.forEach((p) => { p.assignment_token = token; });
      persist();
    },
    forget() { store("queue", []); },
  };
}

/** POST /api/complete (with the debrief comment) once the queue is empty; "incomplete" is retried a few times. */
export async function complete(api, queue, token, comment = null) {
  for (let attempt = 0; ; attempt++) {
    await queue.pump();
    try {
      return await api("/api/complete", { assignment_token: token, comment: comment || null });
    } catch (err) {
      if (err.status === 409 && err.reason === "incomplete" && attempt < 5) {
        await sleep(backoffMs(attempt));
        continue;
      }
      throw err;
    }
  }
}
