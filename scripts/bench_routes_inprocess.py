"""CPU of the hot routes in the app itself, without TLS and HTTP: two checkouts compared in rounds.

``scripts/bench_server`` measures the whole stack, where the kernel's TLS and socket work and the
batching that a busy machine's scheduling allows move the CPU per request by ±20 % from run to run.
This bench drives each checkout's ASGI app (``app.main.create_app``, its lifespan, its hot paths)
directly from one process: ``--concurrency`` requests at a time, as many connections would, against
a redis-server over TCP (AOF ``everysec``) holding the bench experiment of `scripts/bench_server`
(prepared by each checkout's `scripts/bench_prepare.py`). It prints per route the CPU time of the
app's process per request (``time.process_time``: the server's Python, its Redis client and the
system calls to Redis) and of redis-server per request (/proc), the minimum over ``--repeats`` runs
of ``--requests`` requests (the run least disturbed by other work); rounds alternate the order.
Every request of a round is a new one: new workers, a returning assignment this process has not
answered yet (as in `scripts/bench_server`, where a process sees each about once per run), a trial
not yet answered.

``.venv/bin/python scripts/bench_routes_inprocess.py --compare /work/wt-base .`` prints each side's
medians over the rounds and the median of the per-round ratios B/A.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUTES = ("eligibility", "first_assignment", "returning_assignment", "responses")

CHILD = r'''
import asyncio, json, os, sys, time
from pathlib import Path

def redis_cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

async def main():
    url, redis_pid, prepared, n, repeats, concurrency, secret, tag = sys.argv[1:9]
    n, repeats, concurrency = int(n), int(repeats), int(concurrency)
    data = json.loads(Path(prepared).read_text())
    os.environ.update(MVT_SECRET_KEY=secret, MVT_REDIS_URL=url, MVT_LOG_FORMAT="text")
    for limit in ("ASSIGNMENTS_PER_MINUTE", "ASSIGNMENTS_PER_WORKER_PER_MINUTE", "HELD_PER_CLIENT",
                  "ELIGIBILITY_PER_MINUTE", "ELIGIBILITY_PER_WORKER_PER_MINUTE", "ARRIVALS_PER_MIN"):
        os.environ[f"MVT_LIMIT_{limit}"] = "1000000000"
    sys.stderr = open(os.devnull, "w")  # the event log: formatted and written, as by mvt serve, but not kept
    from app.fastpath import replay_body
    from app.main import create_app
    from kernel.settings import Settings
    app = create_app(Settings(_env_file=None))

    def request(route, k):
        headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")]
        if route == "eligibility":
            return ("GET", "/api/eligibility", f"link=bench-{k % 400 + 1:03d}&worker_id={tag}EW{k}".encode(), headers, b"")
        if route == "first_assignment":
            body = json.dumps({"link": f"bench-{k % 400 + 1:03d}", "worker_id": f"{tag}W{k}",
                               "assignment_id": f"{tag}A{k}", "hit_id": "H1"}).encode()
        elif route == "returning_assignment":
            body = data["returning"][k % len(data["returning"])].encode()
        else:
            tokens = data["tokens"]
            body = json.dumps({"assignment_token": tokens[k % len(tokens)], "trial": (k // len(tokens)) % 50,
                               "response": "class00", "response_time_ms": 612.5, "presented_frames": None,
                               "dropped_frames": 0, "refresh_interval_ms": 16.7, "hidden_during_video": False,
                               "blurred_during_video": False, "timing_source": "rvfc", "frame_log": "0-65",
                               "frames_presented_total": 66}).encode()
        headers = headers + [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if route != "responses":
            headers.append((b"accept-encoding", b"gzip"))
        return ("POST", "/api/assignments" if route != "responses" else "/api/responses", b"", headers, body)

    async def one(route, k):
        method, path, query, headers, body = request(route, k)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": query,
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000 + k % 1000),
                 "server": ("127.0.0.1", 8443), "state": {}}
        receive = replay_body(body, lambda: asyncio.sleep(3600))  # the body, then nothing (the client waits)
        status = []
        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
        await app(scope, receive, send)
        if status != [200]:
            raise SystemExit(f"{route} answered {status}")

    results = {}
    async with app.router.lifespan_context(app):
        base = 0
        for route in json.loads(sys.argv[9]):
            best = None
            for _ in range(repeats):
                cpu, rcpu = time.process_time(), redis_cpu(redis_pid)
                for start in range(base, base + n, concurrency):
                    await asyncio.gather(*(one(route, k) for k in range(start, min(start + concurrency, base + n))))
                row = ((time.process_time() - cpu) / n * 1e6, (redis_cpu(redis_pid) - rcpu) / n * 1e6)
                best = row if best is None or row[0] + row[1] < best[0] + best[1] else best
                base += n  # new workers, new returning assignments, trials not yet answered
            results[route] = best
    print(json.dumps(results))

import uvloop
uvloop.run(main())
'''


def run_side(checkout: Path, tmp: Path, url: str, redis_pid: int, exp_dir: Path, tag: str, args) -> dict:
    """Prepare the store with ``checkout``'s code, then measure its app; {route: (app µs, Redis µs)}."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_server import N_LINKS, N_RETURNING, SECRET_KEY

    python = checkout / ".venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVT_")}
    env["PYTHONPATH"] = str(checkout)
    prepared = tmp / "prepared.json"
    subprocess.run([str(python), str(ROOT / "scripts" / "bench_prepare.py"), url, str(exp_dir), SECRET_KEY, tag,
                    str(N_RETURNING), str(N_LINKS), str(prepared)], env=env, check=True)
    (tmp / "child.py").write_text(CHILD)
    out = subprocess.run([str(python), str(tmp / "child.py"), url, str(redis_pid), str(prepared), str(args.requests),
                          str(args.repeats), str(args.concurrency), SECRET_KEY, tag, json.dumps(args.routes)],
                         env=env, cwd=tmp, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{checkout}: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure both checkouts in alternating rounds; print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs=2, type=Path, required=True, metavar=("PATH_A", "PATH_B"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per route and round (the least CPU counts); requests x repeats <= 2000")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench_server import N_CLASSES, N_LINKS, N_LISTS, N_RETURNING, N_TRIALS

    if args.requests * args.repeats > N_RETURNING:
        parser.error(f"--requests x --repeats must be at most {N_RETURNING} (the returning assignments prepared)")
    from simulation.stack import RedisProcess
    from simulation.synthetic import write_experiment

    tmp = Path(tempfile.mkdtemp(prefix="mvt-inproc-"))
    exp_dir = tmp / "exp"
    write_experiment(exp_dir, experiment_id="bench", n_links=N_LINKS, n_lists=N_LISTS, n_trials=N_TRIALS,
                     classes=tuple(f"class{i:02d}" for i in range(N_CLASSES)))
    print(f"load average before the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    names = {"A": args.compare[0].resolve(), "B": args.compare[1].resolve()}
    results: dict[str, list[dict]] = {"A": [], "B": []}
    stores = {}
    try:
        for name in names:
            (tmp / name).mkdir()
            stores[name] = RedisProcess(tmp / name / "redis", appendfsync="everysec").start()
        for round_no in range(1, args.rounds + 1):
            for name in (["A", "B"] if round_no % 2 else ["B", "A"]):
                store = stores[name]
                row = run_side(names[name], tmp / name, store.url, store.proc.pid, exp_dir, f"R{round_no}", args)
                results[name].append(row)
                print(f"round {round_no} {name}: " + "  ".join(f"{route} {app:.0f}+{redis:.0f}"
                                                              for route, (app, redis) in row.items()), flush=True)
    finally:
        for store in stores.values():
            store.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nA = {names['A']}, B = {names['B']}; CPU µs per request, app + Redis, medians of {args.rounds} rounds:")
    for route in args.routes:
        a = [r[route] for r in results["A"]]
        b = [r[route] for r in results["B"]]
        ratio = statistics.median((y[0] + y[1]) / (x[0] + x[1]) for x, y in zip(a, b))
        print(f"{route:22s} A {statistics.median(x[0] for x in a):5.0f} + {statistics.median(x[1] for x in a):3.0f}"
              f" | B {statistics.median(y[0] for y in b):5.0f} + {statistics.median(y[1] for y in b):3.0f}"
              f" || B/A x{ratio:.2f}")
    print(f"load average after the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
