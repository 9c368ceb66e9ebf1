"""The control room's cost on a large study (run via scripts/bench_control), printed from one run.

Starts ``mvt serve --workers 2`` on its embedded Redis with a synthetic experiment of 1000 links ×
42 lists × 8 trials, allocates `bench_server.N_RETURNING` assignments and records responses (wrk's
``responses`` scenario), then prints:

1. the overview's cost (`app.control.overview`, what ``/admin/`` and ``mvt status`` compute), all of it
   and the dashboards' 3-s refresh (`app.control.QUALITY_S`): wall time, this process's CPU and the
   Redis server's CPU (``INFO cpu``) per computation, median of 5;
2. the hot routes (eligibility, response writes) without and with ``--dashboards`` signed-in
   control rooms polling ``/admin/overview`` every 3 s: req/s, p50, p99, the servers' CPU per
   request (with the part of Redis and of the supervisor process, where the overview is computed:
   `app.overview_cache`), and the ratios with/without;
3. the CPU per second of the serving processes, the supervisor and Redis on the idle server without
   and with the dashboards (``--idle-seconds``): what watching costs, measured in CPU rather than
   in a p99 that other processes on the machine move.

The figures depend on the machine's load (printed at the end); run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server as bench  # noqa: E402

from app.control import QUALITY_S, overview  # noqa: E402
from app.overview_cache import WATCHED_S  # noqa: E402
from kernel.store.connect import client_from_url  # noqa: E402
from simulation.synthetic import write_experiment  # noqa: E402

N_LINKS, N_LISTS = 1000, 42


def overview_cost(url: str, runs: int = 5, quality_max_age_s: float = 0.0) -> dict:
    """Median wall ms, this process's CPU ms and Redis's CPU ms of one `overview` computation: with
    ``quality_max_age_s`` 0 all of it (``mvt status``, and the dashboards' every `QUALITY_S`), else the
    dashboards' 3-s refresh (counts only; the slowly changing part kept from the first computation)."""
    r = client_from_url(url)
    walls, cpus, redis_cpus = [], [], []
    overview(r, 60, quality_max_age_s=quality_max_age_s)
    for _ in range(runs):
        before = r.info("cpu")
        wall, cpu = time.perf_counter(), time.process_time()
        experiments = overview(r, 60, quality_max_age_s=quality_max_age_s)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        after = r.info("cpu")
        redis_cpus.append(sum(after[k] - before[k] for k in ("used_cpu_user", "used_cpu_sys")) * 1000)
    r.close()
    [e] = experiments
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus),
            "redis_cpu_ms": statistics.median(redis_cpus), "links": len(e.links), "lists": e.n_lists,
            "in_progress": e.in_progress, "done": e.done}


def supervisor_cpu(target) -> float:
    """CPU seconds so far of the servers' own (supervisor) processes, which compute the control room's
    overview and serve no requests (``mvt serve --workers N``)."""
    total = 0.0
    for server in target.servers:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / bench.os.sysconf("SC_CLK_TCK")
    return total


def idle_cost(target, dashboards: int, seconds: float) -> str:
    """CPU per second of the serving processes, the supervisor and Redis while ``dashboards`` control
    rooms poll an otherwise idle server (less sensitive to other processes' load than a p99)."""
    stop = bench.watch_dashboards(target.bases, dashboards)
    time.sleep(bench.DASHBOARD_POLL_S + 2 if dashboards else 2)
    (total, redis), supervisor, started = target.cpu(), supervisor_cpu(target), time.monotonic()
    time.sleep(seconds)
    (total2, redis2), supervisor2, took = target.cpu(), supervisor_cpu(target), time.monotonic() - started
    stop.set()
    own, in_redis = supervisor2 - supervisor, redis2 - redis
    serving = total2 - total - in_redis - own
    return (f"idle server, {dashboards:2d} dashboards: serving processes {serving / took * 1000:4.0f} ms CPU/s, "
            f"supervisor {own / took * 1000:3.0f} ms/s, Redis {in_redis / took * 1000:3.0f} ms/s")


def main() -> None:
    """Measure, then print the overview's cost and the hot routes with and without dashboards."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (max 30)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of without/with, interleaved (odd rounds: with first)")
    parser.add_argument("--idle-seconds", type=float, default=20,
                        help="seconds of the idle-server CPU measure without and with the dashboards (0: skip)")
    args = parser.parse_args()
    duration = max(1, min(args.duration, 30))
    wrk = bench.ensure_wrk()
    bench.N_LINKS, bench.N_LISTS = N_LINKS, N_LISTS
    tmp = Path(tempfile.mkdtemp(prefix="mvt-bench-control-"))
    exp_dir = tmp / "bench-exp"
    write_experiment(exp_dir, experiment_id="bench", n_links=N_LINKS, n_lists=N_LISTS, n_trials=bench.N_TRIALS)
    # bench_server's one checkout under test: this one, embedded Redis, one server of 2 worker processes
    options = SimpleNamespace(store="embedded", servers=1, workers=2, limits="on", wrk_threads=1)
    target = bench.Target("this", bench.ROOT, tmp / "this", options, "text")
    target.tmp.mkdir(parents=True)
    rows = {}

    def run(scenario: str, tag: str, data: dict) -> dict:
        script = target.tmp / f"{scenario}.lua"
        script.write_text(bench.wrk_script(scenario, tag, data))
        before = supervisor_cpu(target)
        row = bench.measure(wrk, target, script, args.connections, options, duration, scenario)
        row["supervisor_cpu_us"] = round((supervisor_cpu(target) - before) / max(row["requests"], 1) * 1e6, 1)
        print(f"{scenario:12s} {row['rps']:8.0f} req/s  p99 {row['p99_ms']:6.1f} ms  "
              f"CPU {row['cpu_us']:5.0f} us/req (Redis {row['redis_cpu_us']:4.0f}, the supervisor's "
              f"overview {row['supervisor_cpu_us']:4.0f})", flush=True)
        return row

    try:
        target.start()
        data = target.prepare(exp_dir, "C")
        run("responses", "fill", data)
        for what, age in (("all of it (mvt status; the dashboards' every 30 s)", 0.0),
                          ("the dashboards' 3-s refresh", QUALITY_S)):
            cost = overview_cost(target.url, quality_max_age_s=age)
            print(f"overview of {cost['links']} links x {N_LISTS} lists ({cost['in_progress']} in progress, "
                  f"{cost['done']} done), {what}: {cost['wall_ms']:.1f} ms wall, {cost['cpu_ms']:.1f} ms CPU here + "
                  f"{cost['redis_cpu_ms']:.1f} ms Redis CPU per computation (median of 5)", flush=True)
        for round_ in range(args.rounds):
            # Interleaved, the order alternating from round to round: the machine's load drifts between runs.
            for watching in (0, args.dashboards) if round_ % 2 == 0 else (args.dashboards, 0):
                stop = bench.watch_dashboards(target.bases, watching)
                # Past the first polls (each worker process computes its first overview then): the steady state.
                time.sleep(bench.DASHBOARD_POLL_S + 3 if watching else 0)
                for scenario in ("eligibility", "responses"):
                    rows.setdefault((scenario, watching), []).append(
                        run(scenario, f"D{watching}R{round_}{scenario}", data))
                stop.set()
                if watching:
                    time.sleep(WATCHED_S + 1)  # the supervisor computes until the last poll's mark expires
        if args.idle_seconds > 0:
            for watching in (0, args.dashboards):
                print(idle_cost(target, watching, args.idle_seconds), flush=True)
    finally:
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # the store and experiment: ~1.1 GB a run
    for scenario in ("eligibility", "responses"):
        def ratio(key: str) -> str:
            """Median over the rounds of with / without (each round's pair ran one after the other)."""
            pairs = zip(rows[scenario, args.dashboards], rows[scenario, 0])
            return f"x{statistics.median(w[key] / max(wo[key], 1e-9) for w, wo in pairs):.2f}"

        per_round = ", ".join(f"{w['p99_ms']:.1f}/{wo['p99_ms']:.1f}"
                              for w, wo in zip(rows[scenario, args.dashboards], rows[scenario, 0]))
        print(f"{scenario}: p99 ms with/without per round: {per_round}")
        print(f"{scenario}: with {args.dashboards} dashboards / without (median of {args.rounds} rounds): req/s "
              f"{ratio('rps')}, p99 {ratio('p99_ms')}, CPU per request (server + Redis) {ratio('cpu_us')}")
    print(f"load average after the runs (other processes included): {bench.os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
