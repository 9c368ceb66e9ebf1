"""Load test of the experiment server over HTTPS on 127.0.0.1 with wrk (run via scripts/bench_server).

Starts the server of a checkout (``mvt serve --workers N`` through `scripts/bench_null.py`, which
adds the null route ``GET /bench/null`` in front of the app) on a throw-away data dir with its
embedded Redis and a synthetic experiment (1,000 links x 42 lists x 50 trials, the shape issue 25
measured), then runs wrk for each scenario at each connection count, bounded by ``--duration``
per run: ``null`` (a cached 2 KB body: the floor of the stack, same server, processes and TLS),
eligibility, first-time assignment, returning assignment, response writes, and on request
``trial_start`` and ``browser_responses`` (response writes with the runner page's real answers,
tests/fixtures/browser_answers.json, in the form each checkout's page sends); the assignment requests accept gzip, as browsers do. Per run it prints req/s, p50 and p99 latency, non-2xx counts, the CPU per request
of the server processes plus their Redis (user + system time from /proc; the Redis share in
brackets) and that CPU as a multiple of the null route's in the same round (the floor multiple).

``--compare PATH_A PATH_B`` runs two checkouts (each its own server, data dir and Redis, each
prepared by its own code: `scripts/bench_prepare.py`), interleaved run by run in ``--rounds``
rounds (default 3, the order alternating), and prints per scenario the median of the per-round
ratios B/A (CPU per request, req/s, p99) and each side's median CPU and floor multiple: on a
shared machine only ratios measured side by side mean anything.

``--store single`` uses a redis-server on TCP, ``--store cluster`` (or ``--cluster``) a local
Redis Cluster of 3 masters + 3 replicas (both AOF ``everysec``, like the embedded one);
``--servers N`` starts N server processes on different ports, one store and one secret,
and runs one wrk per server at the same time (connections split between them; req/s summed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kernel.store.connect import client_from_url  # noqa: E402
from kernel.store.redis_server import socket_path  # noqa: E402
from simulation.cluster import LocalCluster  # noqa: E402
from simulation.stack import RedisProcess, free_port  # noqa: E402
from simulation.synthetic import write_experiment  # noqa: E402

N_LINKS, N_LISTS, N_TRIALS, N_CLASSES = 1000, 42, 50, 50
"""1,000 links: 42,000 lists, 40,000 left after the returning assignments, for first_assignment's new workers
(one list each; 400 links left 14,800 and a 5 s run at 3,200 req/s ran out: 1,088 of 15,888 answers were
link_full refusals). `measure` says so when a run still runs out."""
N_RETURNING = 2000

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
    if kind == "null":
        body = """
function request()
  return wrk.format("GET", "/bench/null")
end
"""
    elif kind == "eligibility":
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
  return wrk.format("POST", "/api/assignments", {["Content-Type"] = "application/json", ["Accept-Encoding"] = "gzip"}, b)
end
"""
        body = body.replace("RUN", run_tag)
    elif kind == "returning_assignment":
        body = "BODIES = " + lua_list(data["returning"]) + """
function request()
  local k = next_k()
  return wrk.format("POST", "/api/assignments", {["Content-Type"] = "application/json", ["Accept-Encoding"] = "gzip"}, BODIES[(k % #BODIES) + 1])
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
    elif kind == "browser_responses":
        # The runner page's real answers (tests/fixtures/browser_answers.json), frame_times in the form the
        # checkout's page sends (data["compact"]: compact since 0.2.0, else index:ms text).
        body = "TOKENS = " + lua_list(data["tokens"]) + "\nANSWERS = " + lua_list(browser_answers(data["compact"])) + """
function request()
  local k = next_k()
  local n = #TOKENS
  local trial = TRIALS - 1 - math.floor(k / n) % TRIALS  -- from the last trial down: not the ones responses wrote
  local b = '{"assignment_token":"' .. TOKENS[(k % n) + 1] .. '","trial":' .. trial .. ',' .. ANSWERS[(trial % #ANSWERS) + 1]
  return wrk.format("POST", "/api/responses", {["Content-Type"] = "application/json"}, b)
end
"""
    else:
        body = "TOKENS = " + lua_list(data["tokens"]) + """
function request()
  local k = next_k()
  local n = #TOKENS
  local trial = math.floor(k / n) % TRIALS
  local b = '{"assignment_token":"' .. TOKENS[(k % n) + 1] .. '","trial":' .. trial .. ',"response":"class00",'
    .. '"response_time_ms":612.5,"presented_frames":null,"dropped_frames":0,"refresh_interval_ms":16.7,'
    .. '"hidden_during_video":false,"blurred_during_video":false,"timing_source":"rvfc",'
    .. '"frame_log":"0-65","frames_presented_total":66}'
  return wrk.format("POST", "/api/responses", {["Content-Type"] = "application/json"}, b)
end
"""
    return f"LINKS = {N_LINKS}\nTRIALS = {N_TRIALS}\n" + WRK_COMMON + body


def browser_answers(compact: bool) -> list[str]:
    """The captured answers of the runner page (tests/fixtures/browser_answers.json) as JSON bodies without the
    opening brace, token and trial, answering ``class00``; frame_times compact when ``compact``."""
    from kernel.responses import compact_frame_times

    captured = json.loads((ROOT / "tests" / "fixtures" / "browser_answers.json").read_text())
    out = []
    for answer in captured["answers"]:
        rest = {k: v for k, v in answer.items() if k not in ("trial", "assignment_token")} | {"response": "class00"}
        if compact:
            rest["frame_times"] = compact_frame_times(rest["frame_times"])
        out.append(json.dumps(rest, separators=(",", ":"))[1:])
    return out


def sends_compact_frame_times(checkout: Path) -> bool:
    """Whether the checkout's runner page sends frame_times compactly (0.2.0)."""
    return "def compact_frame_times" in (checkout / "kernel" / "responses.py").read_text()


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


def cpu_seconds(roots: list[int]) -> tuple[float, float]:
    """User+system CPU seconds of ``roots`` and all their descendants (Linux /proc): (all, the
    redis-server processes among them)."""
    parents, times, names = {}, {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        head, fields = text.rsplit(")", 1)
        fields = fields.split()
        pid = int(stat.parent.name)
        parents[pid], names[pid] = int(fields[1]), head.split("(", 1)[1]
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    family, grew = set(roots), True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    return (sum(times.get(pid, 0.0) for pid in family),
            sum(times.get(pid, 0.0) for pid in family if names.get(pid, "").startswith("redis-server")))


def ensure_wrk() -> str:
    """Path of wrk, installed from Debian when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        return shutil.which("wrk")
    raise SystemExit("wrk is needed: apt-get install -y wrk")


SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"
DASHBOARD_POLL_S = 3.0


class Target:
    """One checkout under test: its servers (``--servers`` x ``--workers``), data dirs and store."""

    def __init__(self, name: str, checkout: Path, tmp: Path, args, log_format: str):
        self.name, self.checkout, self.tmp, self.args = name, checkout.resolve(), tmp, args
        self.log_format = log_format
        self.python = self.checkout / ".venv" / "bin" / "python"
        if not self.python.exists():
            raise SystemExit(f"{checkout} has no .venv/bin/python (run scripts/bootstrap there)")
        self.servers: list[subprocess.Popen] = []
        self.bases: list[str] = []
        self.store = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MVT_")}
        # bench_null.py from this checkout, everything else from the checkout under test
        self.env["PYTHONPATH"] = f"{self.checkout}:{ROOT / 'scripts'}"
        self.env["MVT_SECRET_KEY"] = SECRET_KEY
        self.env["MVT_ADMIN_TOKEN"], self.env["MVT_ADMIN_SIGNIN_PER_MINUTE"] = ADMIN_TOKEN, "1000"
        for limit in ("ASSIGNMENTS_PER_MINUTE", "ASSIGNMENTS_PER_WORKER_PER_MINUTE", "HELD_PER_CLIENT",
                      "ELIGIBILITY_PER_MINUTE", "ELIGIBILITY_PER_WORKER_PER_MINUTE", "ARRIVALS_PER_MIN"):
            self.env[f"MVT_LIMIT_{limit}"] = "1000000000" if args.limits == "on" else "0"

    def start(self) -> None:
        """Start the store (unless embedded) and the servers; wait until each answers /healthz."""
        data_dir = self.tmp / "data"
        if self.args.store == "single":
            self.store = RedisProcess(self.tmp / "redis", appendfsync="everysec").start()
            self.url = self.store.url
        elif self.args.store == "cluster":
            self.store = LocalCluster(self.tmp / "cluster", appendfsync="everysec").start()
            self.url = self.store.url
        else:
            self.url = f"unix://{socket_path(data_dir)}?db=0"
        for i in range(self.args.servers):
            port = free_port()
            env = {**self.env, "MVT_DATA_DIR": str(data_dir if i == 0 else self.tmp / f"data{i}")}
            if self.args.store != "embedded":
                env["MVT_REDIS_URL"] = self.url
            self.servers.append(subprocess.Popen(
                [str(self.python), str(ROOT / "scripts" / "bench_null.py"), "serve", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(self.args.workers), "--log-format", self.log_format],
                env=env, cwd=self.tmp, stdout=open(self.tmp / f"server{i}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT))  # a file: a full pipe (its event log) would stall it
            self.bases.append(f"https://127.0.0.1:{port}")
        for i, base in enumerate(self.bases):
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz", verify=False, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"{self.name}: server did not start: {(self.tmp / f'server{i}.log').read_text()}")

    def prepare(self, exp_dir: Path, tag: str) -> dict:
        """Flush, load the bench experiment with the checkout's code, pre-allocate the returning assignments."""
        out = self.tmp / "prepared.json"
        subprocess.run([str(self.python), str(ROOT / "scripts" / "bench_prepare.py"), self.url, str(exp_dir),
                        SECRET_KEY, tag, str(N_RETURNING), str(N_LINKS), str(out)], env=self.env, check=True)
        return json.loads(out.read_text())

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the servers and their Redis (all, Redis)."""
        roots = [s.pid for s in self.servers]
        if self.store is not None:
            procs = getattr(self.store, "procs", None)
            roots += [p.pid for p in procs.values()] if procs else [self.store.proc.pid]
        return cpu_seconds(roots)

    def stop(self) -> None:
        """Stop the servers (Ctrl-C, then kill) and the store."""
        for server in self.servers:
            server.send_signal(signal.SIGINT)
        for server in self.servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if self.store is not None:
            self.store.stop()


def watch_dashboards(bases: list[str], n: int) -> threading.Event:
    """``n`` signed-in control rooms (spread over the servers) polling ``/admin/overview`` like the page
    does (naming the section they have: 304 while it is current); set the returned event to stop them."""
    stop = threading.Event()

    def watch(base: str) -> None:
        with httpx.Client(base_url=base, verify=False, timeout=30) as client:
            client.post("/admin/signin", data={"token": ADMIN_TOKEN})
            shown = {}  # the section the page has: it asks for it only when changed (static/control/control.js)
            while not stop.wait(DASHBOARD_POLL_S):
                answer = client.get("/admin/overview", headers=shown)
                if answer.status_code == 200 and "etag" in answer.headers:
                    shown = {"If-None-Match": answer.headers["etag"]}

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


def measure(wrk: str, target: Target, script: Path, n_conn: int, args, duration: int, scenario: str) -> dict:
    """One wrk run against ``target``: its figures and the CPU per request of its servers and Redis;
    for ``responses`` also the Redis memory per stored response (``used_memory`` growth over the
    answers recorded: each request of the run answers a trial not answered before)."""
    memory = used_memory(target.url) if scenario in ("responses", "browser_responses") else None
    before = target.cpu()
    row = run_wrk(wrk, target.bases, script, n_conn, args.wrk_threads, duration)
    after = target.cpu()
    n = max(row["requests"], 1)
    row["cpu_us"] = round((after[0] - before[0]) / n * 1e6, 1)
    row["redis_cpu_us"] = round((after[1] - before[1]) / n * 1e6, 1)
    if scenario == "first_assignment" and row["non_2xx"]:
        print(f"({target.name}: {row['non_2xx']} of {row['requests']} first assignments were refused: the "
              f"{N_LINKS * N_LISTS - N_RETURNING} free lists ran out, so the figures include refusals; "
              "use a shorter --duration)", flush=True)
    if memory is not None and row["requests"] > row["non_2xx"]:
        row["bytes_per_response"] = round((used_memory(target.url) - memory) / (row["requests"] - row["non_2xx"]))
    return row


def used_memory(url: str) -> int:
    """Redis ``used_memory`` (summed over a cluster's nodes)."""
    client = client_from_url(url)
    try:
        info = client.info("memory")
        return sum(v["used_memory"] for v in info.values()) if "used_memory" not in info else info["used_memory"]
    finally:
        client.close()


def print_row(row: dict) -> None:
    """One measured run, one line."""
    floor = f"  floor x{row['floor_multiple']:.2f}" if row.get("floor_multiple") else ""
    print(f"{row['target']:>6s} {row['scenario']:22s} c={row['connections']:<4d} {row['rps']:8.0f} req/s  "
          f"p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  requests {row['requests']:6d}  "
          f"non-2xx {row['non_2xx']}  CPU {row['cpu_us']:5.0f} us/req (Redis {row['redis_cpu_us']:3.0f}){floor}"
          + (f"  Redis {row['bytes_per_response']} B/response" if "bytes_per_response" in row else "")
          + (f"  socket errors: {row['socket_errors']}" if row["socket_errors"] else ""), flush=True)


def summary(results: list[dict], names: list[str]) -> None:
    """Per scenario and load: each target's median CPU, floor multiple, req/s and p99, and (two
    targets) the medians of the per-round ratios second/first."""
    keys = sorted({(r["scenario"], r["connections"]) for r in results},
                  key=lambda k: (SCENARIOS.index(k[0]) if k[0] in SCENARIOS else 99, k[1]))
    print(f"\nmedians over {max(r['round'] for r in results)} round(s):")
    for scenario, n_conn in keys:
        rows = {name: [r for r in results if (r["scenario"], r["connections"], r["target"]) == (scenario, n_conn, name)]
                for name in names}
        parts = []
        for name in names:
            mine = rows[name]
            floor = [r["floor_multiple"] for r in mine if r.get("floor_multiple")]
            parts.append(f"{name}: {statistics.median(r['cpu_us'] for r in mine):5.0f} us/req"
                         + (f" (x{statistics.median(floor):.2f} floor)" if floor else "")
                         + f" {statistics.median(r['rps'] for r in mine):6.0f} req/s"
                         f" p99 {statistics.median(r['p99_ms'] for r in mine):5.1f} ms")
        for name, part in zip(names, parts):
            memory = [r["bytes_per_response"] for r in rows[name] if "bytes_per_response" in r]
            if memory:
                parts[names.index(name)] = part + f" {statistics.median(memory):.0f} B/response"
        line = f"{scenario:22s} c={n_conn:<4d} " + " | ".join(parts)
        if len(names) == 2:
            pairs = [(a, b) for a in rows[names[0]] for b in rows[names[1]] if a["round"] == b["round"]]
            ratio = {k: statistics.median(b[k] / a[k] for a, b in pairs if a[k]) for k in ("cpu_us", "rps", "p99_ms")}
            line += (f" || {names[1]}/{names[0]}: CPU x{ratio['cpu_us']:.2f}  req/s x{ratio['rps']:.2f}  "
                     f"p99 x{ratio['p99_ms']:.2f}")
        print(line, flush=True)


SCENARIOS = ["null", "eligibility", "first_assignment", "returning_assignment", "responses", "trial_start",
             "browser_responses"]


def main() -> None:
    """Run every scenario at every connection count (for each target, interleaved) and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (max 30)")
    parser.add_argument("--connections", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes per server")
    parser.add_argument("--servers", type=int, default=1, help="server processes (different ports)")
    parser.add_argument("--store", choices=["embedded", "single", "cluster"], default="embedded")
    parser.add_argument("--cluster", action="store_const", const="cluster", dest="store",
                        help="same as --store cluster")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=SCENARIOS[:-2],
                        help="null (the floor) is measured whenever another scenario is, for the floor multiple")
    parser.add_argument("--log-format", choices=["off", "text", "json"], nargs="+", default=["text"],
                        help="the servers' event log (mvt serve --log-format; written to a file); with --compare "
                             "one per checkout: --compare X X --log-format off text measures the log's cost")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("PATH_A", "PATH_B"),
                        help="two checkouts (each with its .venv), measured interleaved; ratios are B/A")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3 with --compare, else 1)")
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
    rounds = args.rounds or (3 if args.compare else 1)
    scenarios = ["null"] + [s for s in args.scenarios if s != "null"]
    wrk = ensure_wrk()
    checkouts = args.compare or [ROOT]
    names = ["A", "B"] if args.compare else ["this"]

    tmp = Path(tempfile.mkdtemp(prefix="mvt-bench-"))
    if len(args.log_format) > len(checkouts):
        parser.error("--log-format takes one format, or one per checkout of --compare")
    formats = args.log_format * 2 if len(args.log_format) == 1 else args.log_format
    targets = [Target(name, checkout, tmp / name, args, fmt) for name, checkout, fmt in zip(names, checkouts, formats)]
    exp_dir = tmp / "bench-exp"
    started = time.monotonic()
    write_experiment(exp_dir, experiment_id="bench", n_links=N_LINKS, n_lists=N_LISTS, n_trials=N_TRIALS,
                     classes=tuple(f"class{i:02d}" for i in range(N_CLASSES)))
    print(f"(wrote the synthetic experiment, {N_LINKS} links x {N_LISTS} lists x {N_TRIALS} trials, "
          f"in {time.monotonic() - started:.1f} s)", flush=True)
    for target in targets:
        print(f"({target.name} = {target.checkout} at {git_head(target.checkout)}; store: {args.store}; "
              f"{args.servers} server(s) x {args.workers} worker process(es); log format {target.log_format})", flush=True)
    print(f"load average before the runs (other processes included): {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          flush=True)
    results = []
    try:
        for target in targets:
            target.tmp.mkdir(parents=True)
            target.start()
        watching = [watch_dashboards(t.bases, args.dashboards) for t in targets]
        for round_no in range(1, rounds + 1):
            order = targets if round_no % 2 else targets[::-1]
            for n_conn in args.connections:
                prepared = {}
                for target in order:
                    started = time.monotonic()
                    prepared[target.name] = target.prepare(exp_dir, f"R{round_no}C{n_conn}")
                    prepared[target.name]["compact"] = sends_compact_frame_times(target.checkout)
                    print(f"({target.name}: store prepared, {N_RETURNING} assignments for returning/responses, "
                          f"in {time.monotonic() - started:.1f} s)", flush=True)
                floors = {}
                for run, scenario in enumerate(scenarios):
                    for target in order:
                        tag = f"R{round_no}C{n_conn}S{run}"
                        script = target.tmp / f"{scenario}.lua"
                        script.write_text(wrk_script(scenario, tag, prepared[target.name]))
                        row = {"target": target.name, "round": round_no, "scenario": scenario, "connections": n_conn,
                               "store": args.store, "servers": args.servers, "log_format": target.log_format,
                               **measure(wrk, target, script, n_conn, args, duration, scenario)}
                        if scenario == "null":
                            floors[target.name] = row["cpu_us"]
                        elif floors.get(target.name):
                            row["floor_multiple"] = round(row["cpu_us"] / floors[target.name], 2)
                        results.append(row)
                        print_row(row)
        for stop in watching:
            stop.set()
    finally:
        for target in targets:
            target.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary(results, names)
    print(f"load average after the runs (other processes included): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def git_head(checkout: Path) -> str:
    """The checkout's commit (short), with ``+changes`` when its tree differs from it."""
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    return (head.stdout.strip() or "?") + ("+changes" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    main()
