"""Load and fault runs behind scripts/bench_load and scripts/fault_test (prints JSON figures)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis as redis_py

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulation.audit import audit  # noqa: E402
from studies.loader import load_experiment  # noqa: E402
from simulation.workers import WorkerModel, simulate_async  # noqa: E402
from simulation.stack import (RedisProcess, ServerProcess, build_load_experiment, kill_and_restart,  # noqa: E402
                       stored_responses, wait_for_stored)

CAP = 4


def faults(server: ServerProcess, redis_proc: RedisProcess, r, events: list, stop: threading.Event,
           every_responses: int) -> None:
    """Kill -9 the server, then Redis, then the server again, each after ``every_responses`` more are stored."""
    for target in (server, redis_proc, server):
        goal = stored_responses(r) + every_responses
        if not wait_for_stored(r, goal, timeout_s=600, stop=stop):
            return
        seconds = kill_and_restart(target)
        events.append({"killed": "server" if target is server else "redis", "at_stored_responses": goal,
                       "down_and_restart_s": round(seconds, 2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["load", "fault"])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix=f"mvt-{args.mode}-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        exp_dir = build_load_experiment(tmp / "exp", n_lists=args.workers)
        build_s = time.perf_counter() - t0
        redis_proc = RedisProcess(tmp / "redis").start()
        r = redis_py.Redis.from_url(redis_proc.url, decode_responses=True)
        load_experiment(r, exp_dir)
        server = ServerProcess(tmp / "data", redis_proc.url, workers=args.server_workers,
                               max_tasks_per_worker=CAP).start()
        events: list = []
        stop = threading.Event()
        fault_thread = None
        retry_budget = 10.0
        if args.mode == "fault":
            retry_budget = 60.0
            fault_thread = threading.Thread(target=faults, args=(server, redis_proc, r, events, stop, args.workers * 8 // 5),
                                            daemon=True)
            fault_thread.start()
        model = WorkerModel(think_ms=0, p_reload=0.05, p_retry=0.05, p_abandon=0.0, retry_budget_s=retry_budget)
        try:
            result = asyncio.run(simulate_async(server.base_url, exp_dir, n_workers=args.workers,
                                                concurrency=args.concurrency, model=model, rng=args.seed))
        finally:
            stop.set()
            if fault_thread:
                fault_thread.join(timeout=120)
        report = audit(r, max_tasks_per_worker=CAP, acked_keys=result.acked_keys)
        server.stop()
        redis_proc.stop()
        out = {"mode": args.mode, "workers": args.workers, "concurrency": args.concurrency,
               "server_processes": args.server_workers, "build_s": round(build_s, 2),
               "simulation": result.summary(), "faults": events, "audit": report.summary()}
        print(json.dumps(out, indent=2))
        sys.exit(0 if report.ok and (args.mode == "load" or len(events) == 3) else 1)


if __name__ == "__main__":
    main()
