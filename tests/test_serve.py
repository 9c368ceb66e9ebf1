"""`mvt serve` and `mvt demo` really start (subprocess), answer over HTTPS, and stop their Redis."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kernel.store.redis_server import EmbeddedRedis
from app.tls import ensure_self_signed
from tests.fixtures.redis import free_port

MVT = str(Path(sys.executable).parent / "mvt")


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            return httpx.get(url, verify=False, timeout=2)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"no answer from {url}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def run_mvt(args, data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVT_")}
    env["MVT_DATA_DIR"] = str(data_dir)
    return subprocess.Popen([MVT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=data_dir.parent)


def test_demo_serves_the_built_experiment_and_prints_the_urls(tmp_path, small_experiment):
    data_dir = tmp_path / "data"
    # A demo built earlier is reused; the real build is the stimuli part's and tested there.
    shutil.copytree(small_experiment, data_dir / "demo-exp")
    port = free_port()
    proc = run_mvt(["demo", "--port", str(port)], data_dir)
    try:
        r = wait_healthy(f"https://127.0.0.1:{port}/healthz", proc)
        assert r.json() == {"status": "ok"}
        link = httpx.get(f"https://127.0.0.1:{port}/api/eligibility", verify=False,
                         params={"link": "small-001", "worker_id": "DEMO_W1"}).json()
        assert link == {"eligible": True, "reason": None}
    finally:
        out = stop(proc)
    base = f"https://127.0.0.1:{port}"
    assert f"worker page:     {base}/experiment.html?link=small-001&b=DEMO_A1&c=DEMO_H1&d=DEMO_W1" in out
    assert (f"landing preview: {base}/mturk/landing?link=small-001&assignmentId=DEMO_A1&hitId=DEMO_H1"
            f"&workerId=DEMO_W1&turkSubmitTo={base}") in out
    assert not EmbeddedRedis(data_dir).running()
    assert (data_dir / "redis" / "appendonly.aof").exists()


def test_serve_with_given_certificate_and_two_workers(tmp_path):
    data_dir = tmp_path / "data"
    certfile, keyfile = ensure_self_signed(tmp_path / "certs", hosts=["127.0.0.1"])
    port = free_port()
    proc = run_mvt(["serve", "--port", str(port), "--certfile", str(certfile), "--keyfile", str(keyfile),
                    "--workers", "2"], data_dir)
    try:
        r = wait_healthy(f"https://127.0.0.1:{port}/healthz", proc)
        assert r.json() == {"status": "ok"}
        ctx_ok = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(cafile=certfile))
        assert ctx_ok.status_code == 200
    finally:
        out = stop(proc)
    assert f"serving https://127.0.0.1:{port}" in out
    assert not EmbeddedRedis(data_dir).running()


def test_sigterm_stops_the_server_and_its_embedded_redis(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    proc = run_mvt(["serve", "--port", str(port)], data_dir)
    try:
        wait_healthy(f"https://127.0.0.1:{port}/healthz", proc)
        assert EmbeddedRedis(data_dir).running()
    finally:
        stop(proc, signal.SIGTERM)
    assert proc.returncode is not None
    assert not EmbeddedRedis(data_dir).running()


def test_serve_refuses_half_a_certificate(tmp_path):
    certfile, _ = ensure_self_signed(tmp_path / "certs")
    proc = run_mvt(["serve", "--certfile", str(certfile)], tmp_path / "data")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert out.strip().splitlines()[-1] == ("error: give both --certfile and --keyfile, or neither "
                                            "(for a self-signed certificate)")


def test_rating_demo_serves_the_chosen_design(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    proc = run_mvt(["demo", "--ratings", "--design", "mushra", "--port", str(port)], data_dir)
    try:
        wait_healthy(f"{base}/healthz", proc, timeout_s=120)
        page = httpx.get(f"{base}/experiment.html?link=demo-ratings-mushra-audio-001&b=DEMO_A1&c=DEMO_H1&d=DEMO_W1",
                         verify=False)
        task = httpx.post(f"{base}/api/assignments", verify=False, json={
            "link": "demo-ratings-mushra-audio-001", "worker_id": "DEMO_W1", "assignment_id": "DEMO_A1",
            "hit_id": "DEMO_H1"}).json()
    finally:
        out = stop(proc)
    assert page.status_code == 200
    assert [t["scale"] for t in task["trials"]] == ["mushra"] * 4 and all("reference_url" in t for t in task["trials"])
    assert f"worker page:     {base}/experiment.html?link=demo-ratings-mushra-audio-001&b=DEMO_A1" in out


def test_demo_design_without_ratings_is_refused(tmp_path):
    proc = run_mvt(["demo", "--design", "mushra"], tmp_path / "data")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--design and --media choose a rating demo: add --ratings" in out


def test_a_busy_port_is_one_error_line_before_anything_starts(tmp_path):
    import socket

    (tmp_path / "tmp").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**{k: v for k, v in os.environ.items() if k != "MVT_REDIS_URL"},
               "MVT_DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(tmp_path / "tmp")}
        for command in ("serve", "demo"):
            done = subprocess.run([sys.executable, "-m", "cli", command, "--port", str(port)], env=env,
                                  capture_output=True, text=True, timeout=60)
            assert (done.returncode, done.stdout) == (1, ""), done.stderr
            assert done.stderr == (f"error: cannot listen on 127.0.0.1:{port} (Address already in use): another "
                                   "program uses it; stop it or choose another --port\n")
    assert not (tmp_path / "data" / "redis").exists()  # no Redis was started


def _serve_with_a_request_arriving(tmp_path, port: int):
    """``mvt serve`` with one TLS connection whose request body is still arriving."""
    import socket

    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MVT_")},
           "MVT_DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(tmp_path / "tmp")}
    proc = subprocess.Popen([MVT, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_healthy(f"https://127.0.0.1:{port}/healthz", proc)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
    conn.sendall(b"POST /api/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")
    # The request is "still arriving" once the server has read what was sent (a fixed pause was a race on a
    # busy machine): its end of this connection has nothing left to read.
    deadline = time.monotonic() + 30
    while unread_bytes(port, conn.getsockname()[1]) != 0:
        assert time.monotonic() < deadline, "the server did not read the request's first bytes within 30 s"
        time.sleep(0.02)
    return proc, conn


def unread_bytes(local_port: int, remote_port: int) -> int | None:
    """Bytes waiting to be read on 127.0.0.1:``local_port``'s TCP connection from ``remote_port`` (the
    kernel's receive queue, /proc/net/tcp); None if there is no such connection."""
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            return int(fields[4].split(":")[1], 16)
    return None


def test_ctrl_c_tells_a_request_still_arriving_to_retry_and_stops_within_2_s(tmp_path):
    port = free_port()
    proc, conn = _serve_with_a_request_arriving(tmp_path, port)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    conn.settimeout(5)
    answer = conn.recv(4096)
    conn.close()
    answered_s = time.monotonic() - t0
    out, _ = proc.communicate(timeout=30)
    stopped_s = time.monotonic() - t0
    print(f"answered {answered_s:.2f} s, stopped {stopped_s:.2f} s after Ctrl-C")
    assert stopped_s < 2.0
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b"retry-after: 2\r\n" in answer
    assert answer.endswith(b'{"detail":"the server is restarting; retry in a few seconds","reason":"unavailable"}')
    assert proc.returncode == 0
    assert out.splitlines()[-1] == "stopped; 1 request still arriving was told to retry (503)"


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path):
    port = free_port()
    proc, conn = _serve_with_a_request_arriving(tmp_path, port)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)  # the client has not closed its side: the server is still waiting for it
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    conn.close()
    assert "Traceback" not in out and "Error" not in out, out
    assert out.splitlines()[-1] == "stopped; 1 request still arriving was told to retry (503)"
