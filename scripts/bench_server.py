"""Load test of the experiment server over HTTPS on 127.0.0.1 with wrk (run via scripts/bench_server).

Starts ``mvt serve --workers N`` on a throw-away data dir with its embedded Redis and a synthetic
experiment, then runs wrk for each scenario (eligibility, first-time assignment, returning
assignment, response writes, and on request ``trial_start``: the announcement before each video) at each connection count, bounded by ``--duration`` per run, and
prints req/s, p50 and p99 latency, non-2xx counts and the servers' CPU per request.

``--store single`` uses a redis-server on TCP, ``--store cluster`` (or ``--cluster``) a local
Redis Cluster of 3 masters + 3 replicas (both AOF ``everysec``, like the embedded one);
``--servers N`` starts N ``mvt serve`` processes on different ports, one store and one secret,
and runs one wrk per server at the same time (connections split between them; req/s summed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernel.assignments import allocate  # noqa: E402
from studies.loader import load_experiment  # noqa: E402
from kernel.store.connect import client_from_url  # noqa: E402
from kernel.store.redis_server import socket_path  # noqa: E402
from kernel.settings import Settings  # noqa: E402
from simulation.cluster import LocalCluster  # noqa: E402
from simulation.stack import RedisProcess, free_port  # noqa: E402
from kernel.tokens import make_token  # noqa: E402
from simulation.synthetic import write_experiment  # noqa: E402

N_LINKS, N_LISTS, N_TRIALS = 300, 200, 8
N_RETURNING = 5000

WRK_COMMON = """
local counter = 0
local threads_n = 1
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
function init(args)
  threads_n = tonumber(args[1] or "1")
end
local function next_k()
  local k = counter * threads_n + (tid or 0)
  counter = counter + 1
  return k
end
"""


def wrk_script(kind: str, run_tag: str, data: dict) -> str:
    """The wrk Lua script for one scenario."""
    if kind == "eligibility":
        body = """
function request()
  local k = next_k()
  return wrk.format("GET", "/api/eligibility?link=bench-" .. string.format("%03d", (k % LINKS) + 1)
    .. "&worker_id=EW" .. k)
end
"""
    elif kind == "first_assignment":
        body = """
function request()
  local k = next_k()
  local link = "bench-" .. string.format("%03d", (k % LINKS) + 1)
  local b = '{"link":"' .. link .. '","worker_id":"RUN' .. (tid or 0) .. 'W' .. k .. '","assignment_id":"RUN'
    .. (tid or 0) .. 'A' .. k .. '","hit_id":"H1"}'
  return wrk.format("POST", "/api/assignments", {["Content-Type"] = "application/json"}, b)
end
"""
        body = body.replace("RUN", run_tag)
    elif kind == "returning_assignment":
        body = "BODIES = " + lua_list(data["returning"]) + """
function request()
  local k = next_k()
  return wrk.format("POST", "/api/assignments", {["Content-Type"] = "application/json"}, BODIES[(k % #BODIES) + 1])
end
"""
    elif kind == "trial_start":
        # POST /api/trial-start, sent once before every video: a new start id per request.
        body = "TOKENS = " + lua_list(data["tokens"]) + """
function request()
  local k = next_k()
  local n = #TOKENS
  local trial = math.floor(k / n) % TRIALS
  local b = '{"assignment_token":"' .. TOKENS[(k % n) + 1] .. '","trial":' .. trial .. ',"start_id":"RUN' .. k .. '"}'
  return wrk.format("POST", "/api/trial-start", {["Content-Type"] = "application/json"}, b)
end
""".replace("RUN", run_tag)
    else:
        body = "TOKENS = " + lua_list(data["tokens"]) + """
function request()
  local k = next_k()
  local n = #TOKENS
  local trial = math.floor(k / n) % TRIALS
  local b = '{"assignment_token":"' .. TOKENS[(k % n) + 1] .. '","trial":' .. trial .. ',"response":"cat",'
    .. '"response_time_ms":612.5,"presented_frames":null,"dropped_frames":0,"refresh_interval_ms":16.7,'
    .. '"hidden_during_video":false,"blurred_during_video":false,"timing_source":"rvfc",'
    .. '"frame_log":"0-65","frames_presented_total":66}'
  return wrk.format("POST", "/api/responses", {["Content-Type"] = "application/json"}, b)
end
"""
    return f"LINKS = {N_LINKS}\nTRIALS = {N_TRIALS}\n" + WRK_COMMON + body


def lua_list(items) -> str:
    """A Lua table literal of strings."""
    return "{" + ",".join(json.dumps(x) for x in items) + "}"


def parse_wrk(out: str) -> dict:
    """req/s, p50/p99 (ms), requests and non-2xx from wrk --latency output."""
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": total, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1).strip() if errors else ""}


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU seconds of ``root`` and all its descendants (Linux /proc)."""
    parents, times = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    family, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in family)


def ensure_wrk() -> str:
    """Path of wrk, installed from Debian when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        return shutil.which("wrk")
    raise SystemExit("wrk is needed: apt-get install -y wrk")


def prepare(settings: Settings, url: str, tag: str) -> dict:
    """Flush, load the bench experiment, pre-allocate returning assignments; tokens for response writes."""
    r = client_from_url(url)
    r.flushdb()
    load_experiment(r, settings.data_dir / "bench-exp")

    async def allocate_many():
        from kernel.store.fastredis import connect

        ar = await connect(url)
        out = []
        for start in range(0, N_RETURNING, 100):
            out.extend(await asyncio.gather(*(
                allocate(ar, f"bench-{(i % N_LINKS) + 1:03d}", f"{tag}RW{i}", f"{tag}RA{i}", "H1", cap=4,
                         allotted_ms=3_600_000) for i in range(start, min(start + 100, N_RETURNING)))))
        await ar.aclose()
        return out
    allocations = asyncio.run(allocate_many())
    # Let an AOF rewrite triggered by the load finish: it forks and would skew the first run.
    for _ in range(600):
        info = r.info("persistence")
        nodes = info.values() if "aof_enabled" not in info else [info]  # RedisCluster: one dict per node
        if not any(n.get("aof_rewrite_in_progress") or n.get("aof_rewrite_scheduled") for n in nodes):
            break
        time.sleep(0.1)
    r.close()
    return {
        "returning": [json.dumps({"link": a.link_id, "worker_id": a.worker_id, "assignment_id": a.assignment_id,
                                  "hit_id": "H1"}, separators=(",", ":")) for a in allocations],
        "tokens": [make_token(settings.signing_key, a.assignment_id, a.link_id, a.worker_id, a.list_index)
                   for a in allocations],
    }


SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"
DASHBOARD_POLL_S = 3.0


def watch_dashboards(bases: list[str], n: int) -> threading.Event:
    """``n`` signed-in control rooms (spread over the servers) polling ``/admin/overview`` like the page
    does; set the returned event to stop them."""
    stop = threading.Event()

    def watch(base: str) -> None:
        with httpx.Client(base_url=base, verify=False, timeout=30) as client:
            client.post("/admin/signin", data={"token": ADMIN_TOKEN})
            while not stop.wait(DASHBOARD_POLL_S):
                client.get("/admin/overview")

    for i in range(n):
        threading.Thread(target=watch, args=(bases[i % len(bases)],), daemon=True).start()
    if n:
        print(f"({n} control rooms polling /admin/overview every {DASHBOARD_POLL_S:g} s)", flush=True)
    return stop


def run_wrk(wrk: str, bases: list[str], script: Path, n_conn: int, threads: int, duration: int) -> dict:
    """One wrk per server base URL at once, connections split between them; summed req/s, worst latencies."""
    share = max(1, n_conn // len(bases))
    runs = [subprocess.Popen([wrk, f"-t{threads}", f"-c{share}", f"-d{duration}s", "--latency", "--timeout", "10s",
                              "-s", str(script), base, "--", str(threads)], stdout=subprocess.PIPE, text=True)
            for base in bases]
    parsed = [parse_wrk(run.communicate(timeout=duration + 60)[0]) for run in runs]
    return {"rps": sum(p["rps"] for p in parsed), "p50_ms": max(p["p50_ms"] for p in parsed),
            "p99_ms": max(p["p99_ms"] for p in parsed), "requests": sum(p["requests"] for p in parsed),
            "non_2xx": sum(p["non_2xx"] for p in parsed),
            "socket_errors": "; ".join(p["socket_errors"] for p in parsed if p["socket_errors"])}


def run_scenario(wrk: str, tmp: Path, servers, bases: list[str], scenario: str, tag: str, data: dict, n_conn: int,
                 threads: int, duration: int) -> dict:
    """One wrk run of ``scenario``; its figures with the servers' CPU per request, printed on one line."""
    script = tmp / f"{scenario}.lua"
    script.write_text(wrk_script(scenario, tag, data))
    cpu_before = sum(tree_cpu_seconds(s.pid) for s in servers)
    row = {"scenario": scenario, "connections": n_conn, **run_wrk(wrk, bases, script, n_conn, threads, duration)}
    cpu = sum(tree_cpu_seconds(s.pid) for s in servers) - cpu_before
    row["server_cpu_us_per_request"] = round(cpu / max(row["requests"], 1) * 1e6, 1)
    print(f"{scenario:22s} c={n_conn:<4d} {row['rps']:8.0f} req/s  p50 {row['p50_ms']:6.1f} ms  "
          f"p99 {row['p99_ms']:6.1f} ms  requests {row['requests']:6d}  non-2xx {row['non_2xx']}  "
          f"server CPU {row['server_cpu_us_per_request']:5.0f} us/req"
          + (f"  socket errors: {row['socket_errors']}" if row["socket_errors"] else ""), flush=True)
    return row


@contextlib.contextmanager
def serving(tmp: Path, settings: Settings, store_kind: str, n_servers: int, workers: int, limits: str):
    """``(server processes, base URLs, store URL)``: ``n_servers`` ``mvt serve`` processes on a throw-away
    store (``embedded``, ``single`` or ``cluster``), up and answering; stopped (and ``tmp`` removed) after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVT_")}
    env["MVT_SECRET_KEY"] = SECRET_KEY
    env["MVT_ADMIN_TOKEN"], env["MVT_ADMIN_SIGNIN_PER_MINUTE"] = ADMIN_TOKEN, "1000"
    for name in ("ASSIGNMENTS_PER_MINUTE", "ASSIGNMENTS_PER_WORKER_PER_MINUTE", "HELD_PER_CLIENT",
                 "ELIGIBILITY_PER_MINUTE", "ELIGIBILITY_PER_WORKER_PER_MINUTE"):
        env[f"MVT_LIMIT_{name}"] = "1000000000" if limits == "on" else "0"
    store = None
    if store_kind == "single":
        store = RedisProcess(tmp / "redis", appendfsync="everysec").start()
        url = store.url
    elif store_kind == "cluster":
        store = LocalCluster(tmp / "cluster", appendfsync="everysec").start()
        url = store.url
    else:
        url = f"unix://{socket_path(settings.data_dir)}?db=0"
    servers, bases = [], []
    for i in range(n_servers):
        port = free_port()
        server_env = {**env, "MVT_DATA_DIR": str(settings.data_dir if i == 0 else tmp / f"data{i}")}
        if store_kind != "embedded":
            server_env["MVT_REDIS_URL"] = url
        servers.append(subprocess.Popen([str(ROOT / ".venv" / "bin" / "mvt"), "serve", "--host", "127.0.0.1",
                                         "--port", str(port), "--workers", str(workers)], env=server_env,
                                        cwd=tmp, stdout=open(tmp / f"server{i}.log", "wb"),  # noqa: SIM115
                                        stderr=subprocess.STDOUT))  # a file: a full pipe (its event log) would stall it
        bases.append(f"https://127.0.0.1:{port}")
    print(f"(store: {store_kind}; {n_servers} server(s) x {workers} worker process(es))", flush=True)
    try:
        for base in bases:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", verify=False, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"server did not start: {(tmp / f'server{bases.index(base)}.log').read_text()}")
        yield servers, bases, url
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if store is not None:
            store.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    """Run every scenario at every connection count and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (max 30)")
    parser.add_argument("--connections", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes per server")
    parser.add_argument("--servers", type=int, default=1, help="mvt serve processes (different ports)")
    parser.add_argument("--store", choices=["embedded", "single", "cluster"], default="embedded")
    parser.add_argument("--cluster", action="store_const", const="cluster", dest="store",
                        help="same as --store cluster")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--scenarios", nargs="+", default=["eligibility", "first_assignment",
                                                            "returning_assignment", "responses"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--dashboards", type=int, default=0,
                        help="signed-in control rooms (/admin/) polling the overview every 3 s during the runs")
    parser.add_argument("--limits", choices=["on", "off"], default="on",
                        help="per-client limits (kernel/limits.py): on = checked on every request but set too high to "
                             "refuse wrk's single address, so the figures include their cost; off = not checked")
    args = parser.parse_args()
    if args.store == "embedded" and args.servers > 1:
        parser.error("--servers > 1 needs --store single or cluster (the embedded Redis belongs to one server)")
    duration = max(1, min(args.duration, 30))
    wrk = ensure_wrk()

    tmp = Path(tempfile.mkdtemp(prefix="mvt-bench-"))
    settings = Settings(_env_file=None, data_dir=tmp / "data", secret_key=SECRET_KEY)
    started = time.monotonic()
    write_experiment(settings.data_dir / "bench-exp", experiment_id="bench", n_links=N_LINKS, n_lists=N_LISTS,
                     n_trials=N_TRIALS)
    print(f"(wrote the synthetic experiment in {time.monotonic() - started:.1f} s)", flush=True)
    results = []
    with serving(tmp, settings, args.store, args.servers, args.workers, args.limits) as (servers, bases, url):
        watching = watch_dashboards(bases, args.dashboards)
        for n_conn in args.connections:
            started = time.monotonic()
            data = prepare(settings, url, f"C{n_conn}")
            print(f"(loaded {N_LINKS} links x {N_LISTS} lists, {N_RETURNING} assignments for returning/responses "
                  f"in {time.monotonic() - started:.1f} s)", flush=True)
            for run, scenario in enumerate(args.scenarios):
                row = run_scenario(wrk, tmp, servers, bases, scenario, f"C{n_conn}S{run}", data, n_conn,
                                   args.wrk_threads, duration)
                results.append({**row, "store": args.store, "servers": args.servers})
        watching.set()
    print(f"load average after the runs (other processes included): {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
