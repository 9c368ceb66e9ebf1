"""A throwaway local stack for load and fault runs: redis-server and `mvt serve` processes.

Everything listens on 127.0.0.1 only. Used by ``scripts/bench_load``, ``scripts/fault_test``
and the tests that kill processes.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis as redis_py

from kernel.store.redis_server import redis_server_executable

SECRET_KEY = "stack-secret-key-0123456789abcdef0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """A redis-server with AOF (``appendfsync always`` by default: an acknowledged write survives power loss)."""

    def __init__(self, workdir: Path, port: int | None = None, appendfsync: str = "always"):
        self.workdir, self.port, self.appendfsync = Path(workdir), port or free_port(), appendfsync
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisProcess":
        self.proc = subprocess.Popen(
            [redis_server_executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis_py.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except (redis_py.ConnectionError, redis_py.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        return self

    def kill(self) -> None:
        """kill -9, no shutdown save."""
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


# Simulated workers all come from 127.0.0.1: the per-client limits (kernel/limits.py) would refuse them.
SIMULATION_LIMITS = {f"MVT_LIMIT_{name}": "0" for name in (
    "ASSIGNMENTS_PER_MINUTE", "ASSIGNMENTS_PER_WORKER_PER_MINUTE", "HELD_PER_CLIENT", "ELIGIBILITY_PER_MINUTE",
    "ELIGIBILITY_PER_WORKER_PER_MINUTE", "ARRIVALS_PER_MIN")}


class ServerProcess:
    """``mvt serve`` over HTTPS with ``workers`` processes, in its own process group."""

    def __init__(self, data_dir: Path, redis_url: str | None, *, port: int | None = None, workers: int = 2,
                 max_tasks_per_worker: int = 4, allotted_minutes: int = 60,
                 open_files: tuple[int, int | None] | None = None, env: dict | None = None):
        self.data_dir, self.redis_url = Path(data_dir), redis_url
        self.port, self.workers = port or free_port(), workers
        # redis_url None: `mvt serve` starts the embedded Redis in data_dir.
        inherited = {k: v for k, v in os.environ.items() if k != "MVT_REDIS_URL"}
        self.env = {**inherited, "MVT_DATA_DIR": str(self.data_dir),
                    **({"MVT_REDIS_URL": redis_url} if redis_url else {}), "MVT_SECRET_KEY": SECRET_KEY, "MVT_MAX_TASKS_PER_WORKER": str(max_tasks_per_worker),
                    "MVT_ALLOTTED_MINUTES": str(allotted_minutes), **SIMULATION_LIMITS, **(env or {})}
        self.open_files = open_files
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _limit_files(self) -> None:
        """Apply ``open_files`` = (soft, hard) limits on open files; a hard limit of None is left as is."""
        import resource

        soft, hard = self.open_files
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard or resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    @property
    def log_path(self) -> Path:
        return self.data_dir / "serve.log"

    def start(self, timeout_s: float = 60) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody reads the server's log while it runs, and a full pipe would stall it.
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=self._limit_files if self.open_files else None)
        finally:
            log.close()
        context = ssl._create_unverified_context()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mvt serve exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", context=context, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"mvt serve did not answer /healthz within {timeout_s} s")

    def kill(self) -> None:
        """kill -9 the whole process group (the supervisor and its workers)."""
        if self.proc:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def stored_responses(r) -> int:
    """Responses stored over every loaded link; -1 while Redis cannot be reached."""
    from kernel.store import keys

    try:
        return sum(r.hlen(keys.link_responses(link)) for link in r.smembers(keys.links_index()))
    except redis_py.RedisError:
        return -1


def wait_for_stored(r, goal: int, *, timeout_s: float, stop=None) -> bool:
    """Wait until ``goal`` responses are stored; False on timeout or when ``stop`` is set."""
    deadline = time.monotonic() + timeout_s
    while stored_responses(r) < goal:
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            return False
        time.sleep(0.02)
    return True


def kill_and_restart(process: "RedisProcess | ServerProcess", pause_s: float = 0.5) -> float:
    """kill -9 ``process``, wait ``pause_s``, start it again; seconds until it answered again."""
    t0 = time.perf_counter()
    process.kill()
    time.sleep(pause_s)
    process.start()
    return time.perf_counter() - t0


def build_load_experiment(exp_dir: Path, *, n_lists: int, images_per_task: int = 8,
                          frame_counts=(1, 3, 6, 30)) -> Path:
    """Build the bundled samples at 64x64 with enough workers per image for ``n_lists`` lists."""
    from stimuli.build import build_experiment

    samples = Path(__file__).resolve().parent.parent / "stimuli" / "samples"
    n_images = sum(1 for p in samples.rglob("*.png"))
    n_links = -(-n_images // images_per_task)
    workers = -(-n_lists // (n_links * len(frame_counts)))
    build_experiment(samples, exp_dir, frame_counts=list(frame_counts), images_per_task=images_per_task,
                     workers=workers, base_url="https://127.0.0.1:1", size=64, name="load")
    return Path(exp_dir)
