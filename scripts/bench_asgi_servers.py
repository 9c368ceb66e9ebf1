"""The floor of two ASGI servers over TLS: uvicorn as ``mvt serve`` runs it against granian (Rust core).

Both serve the same bare ASGI app (``GET /`` answers the 2 KB body of `scripts/bench_null.py`'s null
route) over TLS with keep-alive on 127.0.0.1, with the same worker processes; wrk runs at each
connection count, the two servers interleaved in ``--rounds`` rounds (the order alternating). Per
run it prints req/s, p99 and the CPU per request of the server's processes (from /proc); then the
medians and the median of the per-round ratios granian/uvicorn.

granian is not a dependency of mvt-server: install it in a scratch environment and name that
Python, e.g. ``python3 -m venv /tmp/g && /tmp/g/bin/pip install granian uvicorn httptools uvloop``,
then ``.venv/bin/python scripts/bench_asgi_servers.py --python /tmp/g/bin/python``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from app.tls import ensure_self_signed  # noqa: E402
from bench_server import cpu_seconds, ensure_wrk, run_wrk  # noqa: E402
from simulation.stack import free_port  # noqa: E402

APP = '''
BODY = b'{"null":"' + b"x" * 2036 + b'"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
'''


def commands(python: str, port: int, workers: int, cert: Path, key: Path) -> dict[str, list[str]]:
    """The command line of each server: uvicorn with ``mvt serve``'s choices (httptools, uvloop, no
    access log), granian's ASGI interface with its defaults."""
    return {
        "uvicorn": [python, "-m", "uvicorn", "nullapp:app", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", str(workers), "--http", "httptools", "--loop", "uvloop", "--no-access-log",
                    "--log-level", "warning", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
        "granian": [python, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", str(workers), "--no-access-log", "--log-level", "warning",
                    "--ssl-certificate", str(cert), "--ssl-keyfile", str(key), "nullapp:app"],
    }


def start(cmd: list[str], cwd: Path, base: str) -> subprocess.Popen:
    """Start a server and wait until it answers."""
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if httpx.get(base, verify=False, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{cmd[2]} did not start: {' '.join(cmd)}")


def main() -> None:
    """Measure both servers, interleaved, and print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python with granian, uvicorn, httptools and uvloop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="mvt-asgi-"))
    (tmp / "nullapp.py").write_text(APP)
    (tmp / "get.lua").write_text('function request() return wrk.format("GET", "/") end\n')
    cert, key = ensure_self_signed(tmp / "tls")
    print(f"load average before the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results = []
    for round_no in range(1, args.rounds + 1):
        names = ["uvicorn", "granian"] if round_no % 2 else ["granian", "uvicorn"]
        for name in names:
            port = free_port()
            base = f"https://127.0.0.1:{port}"
            proc = start(commands(args.python, port, args.workers, cert, key)[name], tmp, base + "/")
            try:
                for n_conn in args.connections:
                    before = cpu_seconds([proc.pid])[0]
                    row = run_wrk(wrk, [base], tmp / "get.lua", n_conn, 1, args.duration)
                    row["cpu_us"] = (cpu_seconds([proc.pid])[0] - before) / max(row["requests"], 1) * 1e6
                    row.update(server=name, round=round_no, connections=n_conn)
                    results.append(row)
                    print(f"round {round_no} {name:8s} c={n_conn:<4d} {row['rps']:8.0f} req/s  p99 {row['p99_ms']:6.1f} ms"
                          f"  CPU {row['cpu_us']:5.1f} us/req  non-2xx {row['non_2xx']}", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    print(f"\nmedians over {args.rounds} rounds ({args.workers} worker processes each):")
    for n_conn in args.connections:
        mine = {name: [r for r in results if r["server"] == name and r["connections"] == n_conn]
                for name in ("uvicorn", "granian")}
        ratio = {k: statistics.median(g[k] / u[k] for u in mine["uvicorn"] for g in mine["granian"]
                                      if u["round"] == g["round"]) for k in ("cpu_us", "rps", "p99_ms")}
        print(f"c={n_conn:<4d} " + " | ".join(
            f"{name}: {statistics.median(r['cpu_us'] for r in rows):5.1f} us/req "
            f"{statistics.median(r['rps'] for r in rows):6.0f} req/s p99 {statistics.median(r['p99_ms'] for r in rows):5.1f} ms"
            for name, rows in mine.items())
            + f" || granian/uvicorn: CPU x{ratio['cpu_us']:.2f} req/s x{ratio['rps']:.2f} p99 x{ratio['p99_ms']:.2f}")
    print(f"load average after the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
