"""The embedded Redis under an operator's mistakes: concurrent starts, two servers on one folder,
kill -9 of the Redis and of the server, a load into the wrong folder. Real `mvt` processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kernel.store.redis_server import socket_path
from simulation.stack import ServerProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.serial]


def machine(tmp_path: Path) -> dict:
    """Environment of this test's processes: a TMPDIR of its own, so the servers other test runs
    have registered on this machine (`running_servers`) do not take part."""
    folder = tmp_path / "machine"
    folder.mkdir(exist_ok=True)
    return {"TMPDIR": str(folder)}


def mvt(args: list[str], data_dir: Path, **popen) -> subprocess.CompletedProcess:
    """Run ``mvt ARGS`` with the embedded Redis of ``data_dir`` (in a test's tmp_path)."""
    env = {k: v for k, v in os.environ.items() if k != "MVT_REDIS_URL"}
    env.update(machine(data_dir.parent))
    return subprocess.run([sys.executable, "-m", "cli", *args], env={**env, "MVT_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=90, **popen)


def assign(server: ServerProcess, worker: str, assignment: str) -> httpx.Response:
    return httpx.post(f"{server.base_url}/api/assignments", verify=False, timeout=10, json={
        "link": "synth-001", "worker_id": worker, "assignment_id": assignment, "hit_id": "H1"})


def eligibility(server: ServerProcess, worker: str) -> dict:
    return httpx.get(f"{server.base_url}/api/eligibility", params={"link": "synth-001", "worker_id": worker},
                     verify=False, timeout=10).json()


def redis_pid(data_dir: Path) -> int:
    return int((data_dir / "redis" / "redis.pid").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def wait_until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = check()
            if got:
                return got
        except (httpx.HTTPError, OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.1)


def test_load_and_serve_started_together_then_block_and_a_second_serve(tmp_path, synthetic_experiment):
    data = tmp_path / "data"
    server = ServerProcess(data, None, workers=1, env=machine(tmp_path))
    env = {**{k: v for k, v in os.environ.items() if k != "MVT_REDIS_URL"}, **machine(tmp_path)}
    load = subprocess.Popen([sys.executable, "-m", "cli", "load", str(synthetic_experiment)],
                            env={**env, "MVT_DATA_DIR": str(data)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        server.start()
        assert load.wait(timeout=90) == 0, load.stderr.read()
        # Whoever came first, the server owns the Redis now and it outlived the load.
        assert eligibility(server, "W1") == {"eligible": True, "reason": None}
        shown = f"embedded Redis at {data.resolve()} (unix socket {socket_path(data)})"
        blocked = mvt(["block", "W2"], data)
        assert blocked.returncode == 0, blocked.stderr
        assert blocked.stderr.splitlines()[0] == f"store: {shown}, owned by mvt serve (pid {server.proc.pid}, " \
                                                 f"since {blocked.stderr.split('since ')[1].split(')')[0]})"
        assert blocked.stdout == "blocked 1 workers; 1 blocked in total\n"
        assert eligibility(server, "W2") == {"eligible": False, "reason": "blocked", "study_title": None}  # the live server sees it
        assert eligibility(server, "W1") == {"eligible": True, "reason": None}  # block's exit stopped nothing

        second = mvt(["serve", "--port", str(free_port())], data)
        assert second.returncode == 1
        assert f"is in use by mvt serve (pid {server.proc.pid}, since " in second.stderr, second.stderr
        assert eligibility(server, "W1") == {"eligible": True, "reason": None}
    finally:
        server.stop()
        load.kill() if load.poll() is None else None


@pytest.fixture
def serving(tmp_path, synthetic_experiment):
    """``(data_dir, server, first)``: `mvt serve` on its embedded Redis with the synthetic experiment
    loaded, and its answer to assignment A1 of worker W1. Stopped at teardown."""
    data = tmp_path / "data"
    server = ServerProcess(data, None, workers=1, env=machine(tmp_path)).start()
    try:
        assert mvt(["load", str(synthetic_experiment)], data).returncode == 0
        first = assign(server, "W1", "A1")
        assert first.status_code == 200, first.text
        yield data, server, first
    finally:
        server.stop()


def test_a_killed_redis_is_restarted_and_a_killed_server_leaves_no_redis(serving):
    data, server, first = serving
    old = redis_pid(data)
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    again = wait_until(lambda: (r := assign(server, "W1", "A1")).status_code == 200 and r, 30,
                       "the server did not answer again after its Redis was killed")
    print(f"served again {time.monotonic() - t0:.2f} s after kill -9 of the embedded Redis")
    assert again.json()["assignment_token"] == first.json()["assignment_token"]  # AOF: the same list
    new = redis_pid(data)
    assert new != old and alive(new)

    server.kill()  # kill -9 of the server's process group; its Redis runs in a session of its own
    wait_until(lambda: not alive(new), 20, f"the Redis (pid {new}) of a killed server still runs")
    server.start()
    assert assign(server, "W1", "A1").json()["assignment_token"] == first.json()["assignment_token"]


def test_load_into_an_empty_store_refuses_when_a_server_uses_another(tmp_path, synthetic_experiment):
    served = tmp_path / "served"
    server = ServerProcess(served, None, workers=1, env=machine(tmp_path)).start()
    try:
        other = tmp_path / "elsewhere"
        result = mvt(["load", str(synthetic_experiment)], other)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        refusal = result.stderr.splitlines()
        assert len(refusal) == 1 and refusal[0].startswith(
            f"error: no store in {other.resolve()} (MVT_DATA_DIR) yet, and no server running on this machine "
            "would see an experiment loaded into a new one; stores of the servers running on this machine: ")
        assert (f"MVT_DATA_DIR={served.resolve()} (mvt serve at https://127.0.0.1:{server.port}, "
                f"pid {server.proc.pid})" in refusal[0])
        assert refusal[0].endswith("; or add --new-store to create one here anyway")
        assert not other.exists()
        forced = mvt(["load", str(synthetic_experiment), "--new-store"], other)
        assert forced.returncode == 0, forced.stderr
        assert forced.stderr.splitlines()[0] == \
            f"store: embedded Redis at {other.resolve()} (unix socket {socket_path(other)})"
        again = mvt(["load", str(synthetic_experiment)], other)
        assert again.returncode == 0 and "error" not in again.stderr  # not empty any more
        second = ServerProcess(tmp_path / "second", None, workers=1, env=machine(tmp_path)).start()
        try:  # the (empty) store of one running server, while another uses its own: loaded
            mine = mvt(["load", str(synthetic_experiment)], tmp_path / "second")
            assert mine.returncode == 0 and "error" not in mine.stderr, mine.stderr
        finally:
            second.stop()
    finally:
        server.stop()


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_kill_9_of_the_supervisor_takes_its_workers_down_and_frees_the_port(tmp_path, synthetic_experiment):
    """kill -9 of the main `mvt serve --workers 2` process (only it, not its group) left both workers
    holding the port and answering 503 forever, and a new `mvt serve` exited "Address already in use"."""
    data = tmp_path / "data"
    server = ServerProcess(data, None, workers=2).start()
    again = None
    try:
        supervisor = server.proc.pid
        workers = wait_until(lambda: [p for p in children_of(supervisor)
                                      if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
                             or None, 30, "no worker processes")
        assert len(workers) == 2, workers
        os.kill(supervisor, signal.SIGKILL)
        server.proc.wait()
        t0 = time.monotonic()
        wait_until(lambda: not any(alive(w) for w in workers), 20, f"workers {workers} outlived their supervisor")
        print(f"workers gone {time.monotonic() - t0:.2f} s after kill -9 of the supervisor")
        again = ServerProcess(data, None, workers=2, port=server.port).start(timeout_s=30)
        assert httpx.get(f"{again.base_url}/healthz", verify=False, timeout=5).status_code == 200
    finally:
        if again is not None:
            again.stop()
        server.stop()


def write_aof(path: Path, n_keys: int) -> None:
    """An AOF of ``n_keys`` SET commands (RESP), as Redis would have written it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for start in range(0, n_keys, 100_000):
            f.write(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(k), k)
                             for k in (b"load:%d" % i for i in range(start, min(n_keys, start + 100_000)))))


@pytest.mark.slow
def test_a_slow_aof_load_is_waited_for_and_healthz_says_loading(tmp_path):
    """After a kill -9 of the embedded Redis the supervisor restarts it and waits however long its AOF
    takes to load (it stopped supervising when a load took more than 10 s); meanwhile /healthz answers
    503 {"status": "loading"} with Retry-After, then ok, with every key back."""
    import redis as redis_py

    data = tmp_path / "data"
    n_keys = 2_000_000
    write_aof(data / "redis" / "appendonly.aof", n_keys)
    server = ServerProcess(data, None, workers=1).start(timeout_s=120)   # the first load is waited for too
    try:
        old = redis_pid(data)
        os.kill(old, signal.SIGKILL)
        seen, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                got = httpx.get(f"{server.base_url}/healthz", verify=False, timeout=5)
                seen.append((got.status_code, got.json().get("status"), got.headers.get("retry-after")))
                if got.status_code == 200 and redis_pid(data) != old:
                    break
            except (httpx.HTTPError, ValueError):
                seen.append("no answer")
            time.sleep(0.02)
        assert seen[-1] == (200, "ok", None), seen[-5:]
        assert (503, "loading", "5") in seen, f"/healthz never said loading: {sorted(set(map(str, seen)))}"
        client = redis_py.Redis(unix_socket_path=str(socket_path(data)))
        assert client.dbsize() == n_keys
        client.close()
        log = server.log_path.read_text()
        assert "restarting it" in log and "could not restart" not in log, log[-2000:]
    finally:
        server.stop()


def test_a_redis_that_will_not_restart_is_retried_with_backoff_and_requests_meanwhile_get_a_sentence(serving):
    """kill -9 of the embedded Redis, again and again: restarted each time. Then with a damaged AOF every
    restart fails: the server retries after 1 s, 2 s, 4 s … saying so on its log, requests get a 503
    sentence with Retry-After (no traceback), and once the AOF is whole again it is served as before."""
    data, server, first = serving
    for _ in range(3):
        old = redis_pid(data)
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: redis_pid(data) != old and assign(server, "W1", "A1").status_code == 200, 30,
                   "the server did not answer again after its Redis was killed")

    aof = data / "redis" / "appendonly.aof"
    whole = aof.read_bytes()
    aof.write_bytes(whole + b"not a command\r\n")  # Redis refuses to start on it ("Bad file format")
    os.kill(redis_pid(data), signal.SIGKILL)
    wait_until(lambda: "trying again in 2 s" in server.log_path.read_text(), 30,
               "the supervisor did not retry a failed restart")
    refused = httpx.get(f"{server.base_url}/api/eligibility", params={"link": "synth-001", "worker_id": "W2"},
                        verify=False, timeout=10)
    assert (refused.status_code, refused.json(), refused.headers["retry-after"]) == (
        503, {"detail": "the database is unavailable right now; try again in a minute",
              "reason": "redis_unavailable"}, "1")

    aof.write_bytes(whole)
    again = wait_until(lambda: (r := assign(server, "W1", "A1")).status_code == 200 and r, 30,
                       "the server was not served again once its Redis could start")
    assert again.json()["assignment_token"] == first.json()["assignment_token"]
    log = server.log_path.read_text()
    # Four kills, each seen by the supervisor: while Redis ran ("restarting it") or, when the kill hit the
    # new process before the supervisor had finished starting it (a busy machine), as a failed restart.
    noticed = (log.count("mvt: the embedded Redis exited with code -9; restarting it")
               + log.count("mvt: could not restart the embedded Redis: the embedded redis-server exited with code -9"))
    assert noticed == 4, log[-3000:]
    # The failed restarts since the last one that worked wait 1 s, 2 s, 4 s … (the first may be the kill
    # that hit a starting Redis), and the damaged AOF is named with Redis's log.
    since = log.rsplit("restarting it", 1)[-1]
    waits = [int(s) for s in re.findall(r"could not restart the embedded Redis: .*; trying again in (\d+) s", since)]
    assert waits and waits == [2 ** k for k in range(len(waits))], log[-3000:]
    assert ("mvt: could not restart the embedded Redis: the embedded redis-server exited with code 1; see "
            f"{data.resolve() / 'redis' / 'redis.log'}; trying again in ") in since, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
