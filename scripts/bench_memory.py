"""Redis memory per stored response, measured through the real write path (issue 25).

    scripts/bench_memory [--responses 10000] [--compare CHECKOUT]

Starts a private redis-server (no persistence), loads a synthetic experiment (links of 40 lists x 50
trials, so each link's responses hash is as large as a real link's and uses Redis's hashtable
encoding), allocates the assignments and records every trial with `kernel.responses.record_response`
(record.lua), then prints per stored response, for two bodies, the growth of ``used_memory`` (INFO
memory) and the responses hashes' ``MEMORY USAGE`` (exact, SAMPLES 0):

- ``bench``: the body ``scripts/bench_server`` posts (timing fields, no presentation fields);
- ``browser``: real answers of the MVT runner page, captured in Chromium inside the landing layout
  (tests/fixtures/browser_answers.json: timing and presentation fields, ``frame_times`` with the
  samples of 61-90 frame videos), validated as the server does (`app.validation.ResponseIn`), each
  assignment with its own tab id. ``frame_times`` goes in the form the checkout's page sends: compact
  where the checkout has `kernel.responses.compact_frame_times` (0.2.0), else as index:ms text;
- ``browser_10s``: the last of them stretched to a 600-frame image (660 frames: the longest trial of the
  usual design 1, 3, 6, 9, 15, 600), its playback's steps repeated.

With ``--compare CHECKOUT`` the same measurement runs on CHECKOUT's code too (its store format) and the
two are printed side by side: before (CHECKOUT) and after (this checkout). Uses only functions main had
at 3bc28f2, so an older checkout measures alike.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LISTS, TRIALS = 40, 50


CAPTURED = json.loads((Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "browser_answers.json").read_text())


def long_answer(n_frames: int = 660) -> dict:
    """A captured answer stretched to a video of ``n_frames`` (fixation 30, a 600-frame image, mask 30): its
    playback's steps (index step, time step) repeated, as Chromium's callbacks came."""
    base = CAPTURED["answers"][-1]
    pairs = [(int(i), float(t)) for i, t in (part.split(":") for part in base["frame_times"].split(","))]
    steps = [(b[0] - a[0], round((b[1] - a[1]) * 10)) for a, b in itertools.pairwise(pairs)]
    index, tenths, out = pairs[0][0], 0, [f"{pairs[0][0]}:0.0"]
    for k in range(10 * n_frames):
        step, dt = steps[k % len(steps)]
        if index + step >= n_frames:
            break
        index, tenths = index + step, tenths + dt
        out.append(f"{index}:{tenths // 10}.{tenths % 10}")
    return {**base, "frame_times": ",".join(out), "frame_log": f"{pairs[0][0]}-{index}",
            "frames_presented_total": index - pairs[0][0] + 1}


def browser_bodies(answers: list[dict]) -> list[dict]:
    """``answers`` as the checkout's server receives them from its page: validated by its `ResponseIn`,
    frame_times compact when its page sends that form."""
    from app.validation import ResponseIn

    try:
        from kernel.responses import compact_frame_times
    except ImportError:  # before 0.2.0: the page sent index:ms text
        compact_frame_times = None
    out = []
    for answer in answers:
        sent = {**answer, "assignment_token": "t"}
        if compact_frame_times:
            sent["frame_times"] = compact_frame_times(answer["frame_times"])
        body = ResponseIn.model_validate_json(json.dumps(sent))
        out.append(body.model_dump(exclude={"assignment_token", "trial", "response"}))
    return out


BODIES = ("bench", "browser", "browser_10s")

BENCH_BODY = {"response_time_ms": 612.5, "dropped_frames": 0, "refresh_interval_ms": 16.7,
              "hidden_during_video": False, "blurred_during_video": False, "timing_source": "rvfc",
              "frame_log": "0-65", "frames_presented_total": 66}
"""scripts/bench_server's response body (its Lua template), without the token, trial and response."""


def measure(url: str, n: int) -> dict:
    """Bytes of ``used_memory`` growth per stored response, per body, with the importable checkout's code."""
    import redis as redis_py
    import redis.asyncio as aredis

    from kernel.assignments import allocate
    from kernel.responses import record_response
    from kernel.store import keys
    from kernel.tokens import TokenData
    from simulation.synthetic import write_experiment
    from studies.loader import load_experiment

    r = redis_py.Redis.from_url(url, decode_responses=True)
    n_links = -(-n // (LISTS * TRIALS))
    out = {}
    bodies = {"bench": [BENCH_BODY], "browser": browser_bodies(CAPTURED["answers"]),
              "browser_10s": browser_bodies([long_answer()])}
    with tempfile.TemporaryDirectory() as tmp:
        exp_dir = write_experiment(Path(tmp), experiment_id="mem", n_links=n_links, n_lists=LISTS, n_trials=TRIALS)
        for body in BODIES:
            r.flushdb()
            load_experiment(r, exp_dir)
            rng = random.Random(0)

            async def run(body, rng):
                ar = aredis.Redis.from_url(url, decode_responses=True)
                tokens = []
                for k in range(n_links):
                    for i in range(LISTS):
                        a = await allocate(ar, f"mem-{k + 1:03d}", f"W{k}x{i}", f"3ASSIGNMENT{k:05d}X{i:014d}", "H1",
                                           cap=1000, allotted_ms=3_600_000)
                        tokens.append(TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index))
                before = r.info("memory")["used_memory"]
                stored = 0
                for token in tokens:
                    tab = f"{rng.getrandbits(80):020x}"[:19]  # one per assignment, as long as the page's
                    for trial in range(TRIALS):
                        if stored == n:
                            break
                        timing = bodies[body][trial % len(bodies[body])]
                        if body != "bench":
                            timing = {**timing, "tab_id": tab}
                        await record_response(ar, token, trial, "cat" if trial % 2 else "dog", timing)
                        stored += 1
                await ar.aclose()
                return stored, r.info("memory")["used_memory"] - before

            stored, grown = asyncio.run(run(body, rng))
            usage = sum(r.memory_usage(keys.link_responses(f"mem-{k + 1:03d}"), samples=0) or 0 for k in range(n_links))
            out[body] = {"responses": stored, "bytes_per_response": round(grown / stored, 1),
                         "memory_usage_per_response": round(usage / stored, 1)}
    return out


def main() -> None:
    """Measure this checkout (and the one compared), print B/response per body."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=10_000, help="responses stored per body (default 10000)")
    parser.add_argument("--compare", metavar="CHECKOUT", help="also measure this checkout (before)")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.responses)))
        return
    from kernel.store.redis_server import redis_server_executable
    from simulation.stack import free_port

    here = Path(__file__).resolve().parents[1]
    sides = [("before", Path(args.compare).resolve())] if args.compare else []
    sides.append(("after" if args.compare else "this checkout", here))
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([redis_server_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            url = f"redis://127.0.0.1:{port}/0"
            results = {}
            for name, checkout in sides:
                env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
                done = subprocess.run([sys.executable, str(here / "scripts" / "bench_memory.py"), "--measure", url,
                                       "--responses", str(args.responses)], env=env, cwd=checkout, check=True,
                                      capture_output=True, text=True)
                results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"Redis memory per stored response ({args.responses} responses per body, links of {LISTS} lists x "
          f"{TRIALS} trials): used_memory growth / the responses hashes' MEMORY USAGE")
    print(f"{'body':<12}" + "".join(f"{name:>24}" for name in results))
    for body in BODIES:
        print(f"{body:<12}" + "".join(f"{results[name][body]['bytes_per_response']:>12} / "
                                      f"{results[name][body].get('memory_usage_per_response', '-'):>6} B"
                                      for name in results))
    if args.compare:
        for body in BODIES:
            print(f"{body}: after/before = "
                  f"{results['after'][body]['bytes_per_response'] / results['before'][body]['bytes_per_response']:.2f}")

if __name__ == "__main__":
    main()
