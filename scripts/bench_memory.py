"""Redis memory per stored response, measured through the real write path (issue 25).

    scripts/bench_memory [--responses 10000] [--compare CHECKOUT]

Starts a private redis-server (no persistence), loads a synthetic experiment (links of 40 lists x 50
trials, so each link's responses hash is as large as a real link's and uses Redis's hashtable
encoding), allocates the assignments and records every trial with `kernel.responses.record_response`
(record.lua), then prints the growth of ``used_memory`` per stored response for two bodies:

- ``bench``: the body ``scripts/bench_server`` posts (timing fields, no presentation fields);
- ``browser``: what the MVT runner sends from a desktop browser (timing and presentation fields:
  viewport, screen, dpr, input type, tab id, drawn size, and ``frame_times`` with one sample per frame
  seen, 85 % of frames, as headless Chromium's callbacks fire).

With ``--compare CHECKOUT`` the same measurement runs on CHECKOUT's code too (its store format) and the
two are printed side by side: before (CHECKOUT) and after (this checkout). Uses only functions main had
at 3bc28f2, so an older checkout measures alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LISTS, TRIALS = 40, 50


def browser_body(rng: random.Random, trial: int) -> dict:
    """The timing and presentation fields of one MVT answer from a desktop browser (a 6-frame image)."""
    end = 30 + 6 + 30 - 1
    seen = [i for i in range(end + 1) if i == 0 or rng.random() < 0.85]
    times = ",".join(f"{i}:{i * 1000 / 60 + (rng.uniform(-0.3, 0.3) if i else 0):.1f}" for i in seen)
    return {"response_time_ms": round(rng.uniform(400, 1500), 1), "dropped_frames": 0, "refresh_interval_ms": 16.667,
            "hidden_during_video": False, "blurred_during_video": False, "timing_source": "rvfc",
            "frame_log": f"0-{end}", "frames_presented_total": end + 1, "frame_times": times, "viewport_w": 1366,
            "viewport_h": 650, "screen_w": 1366, "screen_h": 768, "dpr": 1.0, "fullscreen": False,
            "top_viewport_w": 1366, "top_viewport_h": 650, "stimulus_visible": True, "input_type": "mouse",
            "video_px": 512, "drawn_device_px": 512.0, "tab_id": f"t{rng.getrandbits(64):016x}"}


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
    from kernel.tokens import TokenData
    from simulation.synthetic import write_experiment
    from studies.loader import load_experiment

    r = redis_py.Redis.from_url(url, decode_responses=True)
    n_links = -(-n // (LISTS * TRIALS))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        exp_dir = write_experiment(Path(tmp), experiment_id="mem", n_links=n_links, n_lists=LISTS, n_trials=TRIALS)
        for body in ("bench", "browser"):
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
                    for trial in range(TRIALS):
                        if stored == n:
                            break
                        timing = BENCH_BODY if body == "bench" else browser_body(rng, trial)
                        await record_response(ar, token, trial, "cat" if trial % 2 else "dog", timing)
                        stored += 1
                await ar.aclose()
                return stored, r.info("memory")["used_memory"] - before

            stored, grown = asyncio.run(run(body, rng))
            out[body] = {"responses": stored, "bytes_per_response": round(grown / stored, 1)}
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
    print(f"Redis used_memory growth per stored response ({args.responses} responses per body, "
          f"links of {LISTS} lists x {TRIALS} trials):")
    print(f"{'body':<10}" + "".join(f"{name:>16}" for name in results))
    for body in ("bench", "browser"):
        print(f"{body:<10}" + "".join(f"{results[name][body]['bytes_per_response']:>14} B" for name in results))
    if args.compare:
        for body in ("bench", "browser"):
            print(f"{body}: after/before = "
                  f"{results['after'][body]['bytes_per_response'] / results['before'][body]['bytes_per_response']:.2f}")


if __name__ == "__main__":
    main()
