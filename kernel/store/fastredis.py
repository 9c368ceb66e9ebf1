"""A small auto-pipelining asyncio Redis client for the request hot paths.

redis-py's asyncio client costs ~100 µs of CPU per round trip (pool locking, per-command
machinery), more than everything else in a request. This client keeps one connection per
server process, writes every command as soon as it is issued and matches replies to waiting
futures in order (hiredis parses them), so concurrent requests share round trips. It offers the
subset of the ``redis.asyncio.Redis`` interface the hot paths use: ``register_script``,
``pipeline`` (scripts included, as redis-py's ``script(keys, args, client=pipe)``; one future for
a pipeline's replies), and a few commands. Errors are redis-py's exception classes, so the app's error
handling is the same. Admin and CLI code use redis-py.

redis.asyncio was measured to cost 5–7x more CPU per request than this client; that is why the
hot path keeps its own (``scripts/bench_server`` reports the server's CPU per request).

Every command has a deadline (``MVT_REDIS_TIMEOUT_S``): a connection with commands outstanding
that receives nothing for that long is declared stalled, its commands fail with redis-py's
``TimeoutError`` (the app answers 503) and the next command opens a new connection. The check
is a timer ticking eight times per timeout, not a timer per command, so it costs nothing per
request.

With ``MVT_REDIS_WAIT_REPLICAS`` every script is followed by ``WAIT`` on the same connection (WAIT
covers that connection's writes), and Redis runs nothing else of that connection while a WAIT
blocks. A master without its replicas would then hold every queued command for one WAIT timeout
each (the k-th request waited k seconds, issue 24). So a write first asks the master how many
replicas it has (``ROLE``, trusted for `REPLICA_CHECK_S`) and is refused at once without one
(`NoReplica`, 503), and a WAIT that falls short drops the connection, so the commands queued
behind it fail at once instead of waiting their turn; none of them was acknowledged, and every
script is idempotent, so clients retry. Reads are not refused.

`FastRedisCluster` speaks the Cluster protocol with one `FastRedis` per master: the slot map
comes from ``CLUSTER SLOTS``, ``MOVED`` updates it (and refreshes the whole map), ``ASK`` is
followed once with ``ASKING``, scripts are loaded on the node that answered ``NOSCRIPT``, and a
pipeline is split by node and its parts sent concurrently. `connect` picks the client: any
node of a cluster named in the URL gives a `FastRedisCluster` (detected with ``CLUSTER INFO``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import deque
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.crc import key_slot
from redis.exceptions import ClusterError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: A Redis that cannot be reached within this time gets a 503 rather than a hanging request.
CONNECT_TIMEOUT_S = 5.0
#: The default of ``MVT_REDIS_TIMEOUT_S``.
DEFAULT_TIMEOUT_S = 2.0
REPLICA_CHECK_S = 1.0
"""How long a master's count of replicas (``ROLE``) is trusted before a write asks again."""
_TICKS_PER_TIMEOUT = 8


class NoReplica(RedisTimeoutError):
    """A master has fewer replicas than ``MVT_REDIS_WAIT_REPLICAS``: writes are refused (503) until one is back."""


class ConnectFailed(RedisConnectionError):
    """No connection could be made: nothing was sent, so the command may be sent elsewhere."""


def _encode(arg) -> bytes:
    kind = type(arg)
    if kind is str:
        return arg.encode()
    if kind is bytes:
        return arg
    if kind is int or kind is float:
        return repr(arg).encode()
    raise TypeError(f"cannot send {kind.__name__} to Redis")


def pack(*args) -> bytes:
    """One command in RESP (str, bytes, int or float arguments; anything else is a ``TypeError``).

    hiredis' C encoder gives the bytes this module's Python encoder gave, at 1.5 against 6.9 µs for
    a script call of 8 arguments (2026-12-06, load 8); eligibility sends ten commands a request.
    """
    return hiredis.pack_command(args)


class Prepacked(tuple):
    """A command sent many times as it is (a link's reads in the eligibility check, `_Pipeline.prepacked`):
    its RESP bytes are made once, when it is built, instead of at every send (hiredis packs a short command
    in ~1.2 µs; the check's five link reads took 6 of its ~50 µs of app CPU). A tuple like any other command,
    so a cluster routes it by its key and a resend packs it afresh."""

    def __new__(cls, *args):
        self = super().__new__(cls, args)
        self.raw = hiredis.pack_command(args)
        return self


def _packed(command: tuple) -> bytes:
    return command.raw if type(command) is Prepacked else hiredis.pack_command(command)


async def both(first, second) -> tuple:
    """The outcomes (result or exception) of awaitables ``first`` and ``second`` run concurrently, as
    ``asyncio.gather(first, second, return_exceptions=True)`` gives them, with one task (for ``first``)
    instead of gather's two and its gathering future. The hot routes run a limit's script beside
    their own Redis work this way; the commands of both leave in one write either way (`FastRedis`)."""
    task = asyncio.ensure_future(first)
    try:
        outcome = await second
    except Exception as exc:  # noqa: BLE001 - handed back, as gather would
        outcome = exc
    except BaseException:  # cancelled: as gather, cancel the other too (or read its outcome, if it has one)
        task.cancel()
        task.add_done_callback(_read)
        raise
    try:
        return await task, outcome
    except Exception as exc:  # noqa: BLE001
        return exc, outcome


def _read(future: asyncio.Future) -> None:
    """Mark a future's outcome as read (its exception is nobody's to raise)."""
    if not future.cancelled():
        future.exception()


def _error(reply: hiredis.ReplyError) -> ResponseError:
    message = str(reply)
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)


class _Batch:
    """The replies of ``n`` commands sent together, resolving one future with their list (an error reply as
    its exception) instead of a future per command: a 9-command pipeline took 15.9–19.5 against 19.6–25.6 µs
    of client CPU (uvloop, 50 at a time, min of 7 x 5,000, 3 alternating runs, 2026-12-06, load 11)."""

    __slots__ = ("future", "n", "replies")

    def __init__(self, future: asyncio.Future, n: int):
        self.future, self.n, self.replies = future, n, []


async def scripts_together(r, *calls) -> list:
    """The outcomes (result or exception, in order) of ``(script, keys, args)`` calls sent in one write;
    a call ``(None, command, ())`` is a plain command (a tuple such as ``("HGET", key, field)``).

    Each script stays atomic on its own keys; they need not share a hash slot (on a cluster they are
    sent to their nodes concurrently). `FastRedis` sends them without a task each
    (`FastRedis.evalsha_many`); any other client runs them as ``asyncio.gather`` would.
    """
    many = getattr(r, "evalsha_many", None)
    if many is not None and all(script is None or isinstance(script, _Script) for script, _, _ in calls):
        return await many(calls)
    return list(await asyncio.gather(*(script(keys=k, args=a) if script is not None else r.execute_command(*k)
                                       for script, k, a in calls), return_exceptions=True))


class _Protocol(asyncio.Protocol):
    def __init__(self, client: FastRedis):
        self.client = client
        self.reader = hiredis.Reader(encoding="utf-8", errors="strict")
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        client = self.client
        if client._protocol is not self:
            return  # a connection declared stalled: its commands have failed already
        client._received += 1
        self.reader.feed(data)
        waiting = client._waiting
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.transport.close()
                self.client._fail(RedisConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            head = waiting[0]
            if type(head) is _Batch:  # one of several commands sent together: collected, then one future resolved
                head.replies.append(_error(reply) if isinstance(reply, hiredis.ReplyError) else reply)
                if len(head.replies) == head.n:
                    waiting.popleft()
                    if not head.future.done():
                        head.future.set_result(head.replies)
                continue
            waiting.popleft()
            if not head.done():
                if isinstance(reply, hiredis.ReplyError):
                    head.set_exception(_error(reply))
                else:
                    head.set_result(reply)

    def connection_lost(self, exc):
        self.client._lost(self)


def _raised(replies: list) -> list:
    """``replies``, after raising the first that is an exception."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


class _Commands:
    """The commands the hot paths use, over ``execute_command`` (one node, or routed by slot)."""

    async def hget(self, key: str, field: str):
        """HGET."""
        return await self.execute_command("HGET", key, field)

    async def srem(self, key: str, *members) -> int:
        """SREM."""
        return await self.execute_command("SREM", key, *members)

    async def smembers(self, key: str) -> set:
        """SMEMBERS as a set."""
        return set(await self.execute_command("SMEMBERS", key))

    async def execute_many(self, commands: list[tuple]) -> list:
        """Send several commands at once (split by node on a cluster); their replies in order (the first
        error raised)."""
        return _raised(await self.execute_settled(commands))

    def register_script(self, source: str) -> _Script:
        """A script called by EVALSHA on its keys' node (loaded there on NOSCRIPT)."""
        return _Script(self, source)

    def pipeline(self, transaction: bool = False) -> _Pipeline:
        """Commands sent together without MULTI (split by node on a cluster)."""
        return _Pipeline(self)


class FastRedis(_Commands):
    """Auto-pipelining client for ``redis://``, ``rediss://`` and ``unix://`` URLs (password, db)."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S, wait_replicas: int = 0):
        self.url, self.timeout_s, self.wait_replicas = url, timeout_s, wait_replicas
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.scheme = parts.scheme
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"Redis URL scheme {parts.scheme!r} must be redis, rediss or unix")
        self.path = parts.path if parts.scheme == "unix" else None
        self.host, self.port = parts.hostname or "localhost", parts.port or 6379
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        db = query.get("db", [None])[0]
        if db is None and parts.scheme != "unix" and parts.path.strip("/"):
            db = parts.path.strip("/")
        self.db = int(db or 0)
        self.ssl_context = None
        if parts.scheme == "rediss":
            # The redis-py URL options for TLS: ssl_ca_certs=PATH, ssl_cert_reqs=none|optional|required.
            self.ssl_context = ssl.create_default_context(cafile=query.get("ssl_ca_certs", [None])[0])
            if query.get("ssl_cert_reqs", ["required"])[0] in ("none", "optional"):
                self.ssl_context.check_hostname = False
                self.ssl_context.verify_mode = ssl.CERT_NONE
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future | None = None
        self._waiting: deque[asyncio.Future] = deque()
        self._outgoing: list[bytes] = []
        self._received = 0
        self._watch: asyncio.TimerHandle | None = None
        self._replicas: int | None = None  # as ROLE last said (None: not a master, or not asked yet)
        self._replicas_at = float("-inf")
        self._role: asyncio.Future | None = None

    def _tick(self, protocol: _Protocol, seen: int, quiet: int) -> None:
        if protocol is not self._protocol:
            return
        quiet = quiet + 1 if self._waiting and self._received == seen else 0
        if quiet >= _TICKS_PER_TIMEOUT:
            self._stalled(protocol)
            return
        self._watch = asyncio.get_running_loop().call_later(
            self.timeout_s / _TICKS_PER_TIMEOUT, self._tick, protocol, self._received, quiet)

    def _stalled(self, protocol: _Protocol) -> None:
        self._protocol, self._outgoing = None, []
        self._fail(RedisTimeoutError(f"Redis at {self.where} sent nothing for {self.timeout_s:g} s "
                                     "(MVT_REDIS_TIMEOUT_S); the connection was dropped"))
        protocol.transport.abort()

    @property
    def where(self) -> str:
        """The server's address, without credentials."""
        return self.path or f"{self.host}:{self.port}"

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        factory = lambda: _Protocol(self)  # noqa: E731
        try:
            if self.path:
                connecting = loop.create_unix_connection(factory, self.path)
            else:
                connecting = loop.create_connection(factory, self.host, self.port, ssl=self.ssl_context)
            _, protocol = await asyncio.wait_for(connecting, min(CONNECT_TIMEOUT_S, self.timeout_s))
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to Redis at {self.where}: {exc or 'timed out'}") from None
        self._protocol = protocol
        self._tick(protocol, self._received, 0)
        setup = []
        if self.password:
            setup.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            setup.append(("SELECT", self.db))
        # Queued before anything else can be, so every later command runs authenticated, in the db.
        try:
            _raised(await self._send_batch([pack(*command) for command in setup], protocol))
        except Exception:
            # Not kept: every later command would fail (NOAUTH) on it; the next one reconnects.
            self._lost(protocol)
            protocol.transport.close()
            raise
        return protocol

    async def _ensure(self) -> _Protocol:
        if self._protocol is not None:
            return self._protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    def _queue(self, waiter, packed, protocol: _Protocol) -> None:
        # Commands issued during one event-loop turn leave in one write (one system call).
        if protocol is not self._protocol:
            # Lost since the caller got it: queued, its waiter would take a new connection's replies.
            raise RedisConnectionError("the connection to Redis was lost")
        self._waiting.append(waiter)
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.extend(packed)

    def _flush(self) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        protocol = self._protocol
        if data and protocol is not None and not protocol.transport.is_closing():
            protocol.transport.write(data)

    def _send(self, packed: bytes, protocol: _Protocol) -> asyncio.Future:
        # One command; the future of its reply.
        future = asyncio.get_running_loop().create_future()
        self._queue(future, (packed,), protocol)
        return future

    def _send_batch(self, packed: list[bytes], protocol: _Protocol) -> asyncio.Future:
        # Several commands; one future for the list of their replies (`_Batch`).
        future = asyncio.get_running_loop().create_future()
        if not packed:  # a batch of none would wait forever at the head of the queue, taking every reply
            future.set_result([])
        else:
            self._queue(_Batch(future, len(packed)), packed, protocol)
        return future

    def _fail(self, exc: Exception) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if type(future) is _Batch:
                future = future.future
            if not future.done():
                future.set_exception(exc)

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is not protocol:
            return  # an earlier connection (dropped, or declared stalled): its commands failed then
        self._protocol = None
        self._outgoing = []
        self._fail(RedisConnectionError("the connection to Redis was lost"))

    async def execute_settled(self, commands: list[tuple]) -> list:
        """Send several commands at once; their replies in order, an error reply as its exception (a lost or
        stalled connection raises for all)."""
        if not commands:
            return []
        protocol = self._protocol or await self._ensure()
        return await self._send_batch([_packed(c) for c in commands], protocol)

    async def execute_command(self, *args):
        """One command's reply."""
        protocol = self._protocol or await self._ensure()
        return await self._send(pack(*args), protocol)

    async def execute_asking(self, *args):
        """One command's reply, the command sent after ``ASKING`` in one write (a cluster's ASK redirect)."""
        return (await self.execute_many([("ASKING",), args]))[1]

    def fire(self, *args) -> None:
        """Send one command whose reply nobody waits for (it leaves with this loop turn's write); for
        writes that may be lost without harm, e.g. a returning assignment's activity time."""
        protocol = self._protocol
        if self.wait_replicas:  # acknowledged by the replicas as every other write is (`wait_for_replicas`)
            asyncio.ensure_future(self._write_and_wait(args)).add_done_callback(_read)
        elif protocol is None:
            asyncio.ensure_future(self.execute_command(*args)).add_done_callback(_read)
        else:
            self._send(pack(*args), protocol).add_done_callback(_read)

    async def _write_and_wait(self, args) -> None:
        await self.execute_command(*args)
        await self.wait_for_replicas()

    async def evalsha_many(self, calls) -> list:
        """`scripts_together` on one node: every EVALSHA in one write, the replies (or their exceptions) in
        order; a script the server did not know is loaded and run again alone (it had not run)."""
        if self.wait_replicas:  # each script is followed by its WAIT (`evalsha`)
            return list(await asyncio.gather(*(self.evalsha(s, k, a) if s is not None else self.execute_command(*k)
                                               for s, k, a in calls), return_exceptions=True))
        protocol = self._protocol or await self._ensure()
        try:  # one future for the batch (`_Batch`); an error reply comes back as its exception
            replies = await self._send_batch([pack("EVALSHA", s.sha, len(k), *k, *a) if s is not None else pack(*k)
                                              for s, k, a in calls], protocol)
        except (RedisConnectionError, RedisTimeoutError) as exc:  # lost or stalled: every call failed
            return [exc] * len(calls)
        for i, ((script, k, a), reply) in enumerate(zip(calls, replies)):
            if isinstance(reply, NoScriptError):  # only EVALSHA is answered so
                try:
                    replies[i] = await self.evalsha(script, k, a)
                except Exception as exc:  # noqa: BLE001 - handed back, as gather would
                    replies[i] = exc
        return replies

    async def evalsha(self, script: _Script, keys, args, asking: bool = False):
        """Run ``script`` by EVALSHA, loading it on NOSCRIPT (``asking``: after ASKING, in a cluster).

        With ``wait_replicas``, refused before it runs (`NoReplica`) while the master lacks replicas."""
        if self.wait_replicas:
            sentence = await self.degraded()
            if sentence:
                raise NoReplica(sentence)
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        send = self.execute_asking if asking else self.execute_command
        try:
            reply = await send(*command)
        except NoScriptError:
            await self.execute_command("SCRIPT", "LOAD", script.source)
            reply = await send(*command)
        if self.wait_replicas:
            await self.wait_for_replicas()
        return reply

    async def wait_for_replicas(self) -> None:
        """``WAIT``: return once ``wait_replicas`` replicas hold every write sent on this connection so far.

        Raises redis-py's ``TimeoutError`` when fewer acknowledge within half the command timeout
        (the write is then not acknowledged to the client, which retries; every script is idempotent).
        """
        # learnt while this script ran: a WAIT now would block its connection for nothing
        short = self._replicas is not None and self._replicas < self.wait_replicas
        sentence = await self.degraded() if short else None
        if sentence:
            raise NoReplica(sentence)
        protocol = self._protocol
        acked = await self.execute_command("WAIT", self.wait_replicas, int(self.timeout_s * 500))
        if acked < self.wait_replicas:
            # Every command queued behind on this connection would wait for its own WAIT in turn: drop it
            # (they fail now, unacknowledged) and refuse writes until ROLE shows the replicas again.
            self._replicas, self._replicas_at = acked, asyncio.get_running_loop().time()
            if protocol is not None and protocol is self._protocol:
                self._lost(protocol)
                protocol.transport.abort()
            raise RedisTimeoutError(f"only {acked} of {self.wait_replicas} replicas of {self.where} acknowledged "
                                    "the write (MVT_REDIS_WAIT_REPLICAS)")

    async def degraded(self) -> str | None:
        """Why writes are refused (this master has fewer replicas than ``wait_replicas``), or None.

        Asks ``ROLE`` (it never blocks) when the last answer is older than `REPLICA_CHECK_S`; concurrent
        callers share one question.
        """
        if not self.wait_replicas:
            return None
        loop = asyncio.get_running_loop()
        if loop.time() - self._replicas_at >= REPLICA_CHECK_S:
            if self._role is None:
                self._role = asyncio.ensure_future(self.execute_command("ROLE"))
            try:
                role = await asyncio.shield(self._role)
            finally:
                if self._role is not None and self._role.done():
                    self._role = None
            self._replicas = len(role[2]) if role[0] == "master" else None
            self._replicas_at = loop.time()
        if self._replicas is None or self._replicas >= self.wait_replicas:
            return None
        return (f"the Redis master at {self.where} has {self._replicas} of the {self.wait_replicas} replicas "
                "MVT_REDIS_WAIT_REPLICAS asks for: writes are refused until a replica is back")

    async def ping(self) -> bool:
        """True when Redis answers."""
        return await self.execute_command("PING") == "PONG"

    async def aclose(self) -> None:
        """Close the connection."""
        if self._watch is not None:
            self._watch.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


class _Script:
    def __init__(self, client: FastRedis, source: str):
        self.client, self.source = client, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys=(), args=(), client=None):
        """The script's reply; with ``client`` a pipeline of this client, queued there (returns the pipeline),
        as redis-py's scripts do."""
        if client is not None:
            return client.script(self, keys, args)
        return await self.client.evalsha(self, keys, args)


class _Pipeline:
    """The pipeline methods the hot paths use, with redis-py's reply conversions."""

    def __init__(self, client):
        self.client, self.commands, self.convert = client, [], []
        self.scripts: dict[int, tuple] = {}  # index -> (script, keys, args) of the EVALSHA queued there

    def script(self, script: _Script, keys, args):
        """Queue ``script`` (EVALSHA; loaded and run again on its own if the node answers NOSCRIPT)."""
        self.scripts[len(self.commands)] = (script, keys, args)
        return self._add(None, "EVALSHA", script.sha, len(keys), *keys, *args)

    def _add(self, convert, *command):
        self.commands.append(command)
        self.convert.append(convert)
        return self

    def prepacked(self, command: Prepacked, convert=None):
        """Queue a `Prepacked` command (``convert``: a function of its reply, e.g. `pairs`)."""
        self.commands.append(command)
        self.convert.append(convert)
        return self

    def exists(self, key):
        return self._add(None, "EXISTS", key)

    def sismember(self, key, member):
        return self._add(bool, "SISMEMBER", key, member)

    def scard(self, key):
        return self._add(None, "SCARD", key)

    def hget(self, key, field):
        return self._add(None, "HGET", key, field)

    def hsetnx(self, key, field, value):
        return self._add(bool, "HSETNX", key, field, value)

    def hdel(self, key, *fields):
        return self._add(None, "HDEL", key, *fields)

    def sadd(self, key, *members):
        return self._add(None, "SADD", key, *members)

    def llen(self, key):
        return self._add(None, "LLEN", key)

    def hmget(self, key, *fields):
        return self._add(None, "HMGET", key, *fields)

    def smismember(self, key, *members):
        return self._add(lambda flags: [bool(f) for f in flags], "SMISMEMBER", key, *members)
    def hincrby(self, key, field, amount=1):
        return self._add(None, "HINCRBY", key, field, amount)

    def expire(self, key, seconds):
        return self._add(bool, "EXPIRE", key, seconds)

    def zrange(self, key, start, end, withscores=False):
        if not withscores:
            return self._add(None, "ZRANGE", key, start, end)
        return self._add(pairs, "ZRANGE", key, start, end, "WITHSCORES")

    # the control room's counts (kernel/tally.py)
    def zadd(self, key, mapping: dict):
        return self._add(None, "ZADD", key, *(x for member, score in mapping.items() for x in (score, member)))

    def zrem(self, key, *members):
        return self._add(None, "ZREM", key, *members)

    def lpush(self, key, *values):
        return self._add(None, "LPUSH", key, *values)

    def ltrim(self, key, start, end):
        return self._add(bool, "LTRIM", key, start, end)

    async def execute(self) -> list:
        client, scripts = self.client, self.scripts
        if not scripts:
            replies = await client.execute_many(self.commands)
        elif client.wait_replicas:  # each script followed by its WAIT (`FastRedis.evalsha`); still one write
            replies = await asyncio.gather(*(client.evalsha(*scripts[i]) if i in scripts else client.execute_command(*c)
                                             for i, c in enumerate(self.commands)))
        else:
            replies = await client.execute_settled(self.commands)
            for i, (script, keys, args) in scripts.items():
                if isinstance(replies[i], NoScriptError):  # not run: load it and run it alone
                    replies[i] = await client.evalsha(script, keys, args)
            _raised(replies)
        return [c(reply) if c else reply for c, reply in zip(self.convert, replies)]


def pairs(flat: list) -> list[tuple]:
    """A ``ZRANGE … WITHSCORES`` reply (RESP2: member, score, …) as (member, score) pairs, as redis-py gives it."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


_KEYLESS = frozenset({"PING", "SCRIPT", "CLUSTER", "INFO", "ECHO", "CLIENT", "CONFIG", "TIME"})
_MAX_REDIRECTS = 5


def command_slot(args: tuple) -> int | None:
    """The hash slot of a command's first key, None for commands without keys."""
    name = args[0].upper() if type(args[0]) is str else args[0].decode().upper()
    if name in ("EVALSHA", "EVAL"):
        return key_slot(_encode(args[3])) if int(args[2]) else None
    if name in _KEYLESS or len(args) < 2:
        return None
    return key_slot(_encode(args[1]))


class FastRedisCluster(_Commands):
    """`FastRedis` for Redis Cluster: one connection per master, commands routed by hash slot."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S, seed: FastRedis | None = None,
                 wait_replicas: int = 0):
        self.url, self.timeout_s, self.wait_replicas = url, timeout_s, wait_replicas
        parts = urlsplit(url)
        self._netloc_auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        self._scheme, self._query = parts.scheme, parts.query
        seed = seed or FastRedis(url, timeout_s, wait_replicas)
        self.nodes: dict[str, FastRedis] = {f"{seed.host}:{seed.port}": seed}
        self.slots: list[FastRedis | None] = [None] * 16384
        self._refreshing: asyncio.Future | None = None
        self.refreshes = 0

    def node(self, address: str) -> FastRedis:
        """The client of the node at ``host:port`` (made on first use)."""
        found = self.nodes.get(address)
        if found is None:
            query = f"?{self._query}" if self._query else ""
            found = self.nodes[address] = FastRedis(f"{self._scheme}://{self._netloc_auth}{address}{query}",
                                                    self.timeout_s, self.wait_replicas)
        return found

    async def refresh(self) -> None:
        """Reload the slot map from the first node that answers ``CLUSTER SLOTS`` (one at a time)."""
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._load_slots())
        try:
            await asyncio.shield(self._refreshing)
        finally:
            if self._refreshing is not None and self._refreshing.done():
                self._refreshing = None

    async def _refresh_later(self) -> None:
        # After a MOVED: other slots probably moved too. A failure here is met again by the next command.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, ClusterError):
            await self.refresh()

    async def _load_slots(self) -> None:
        problems = []
        for address, client in list(self.nodes.items()):
            try:
                ranges = await client.execute_command("CLUSTER", "SLOTS")
            except (RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
                problems.append(f"{address}: {exc}")
                continue
            slots = [None] * 16384
            for start, end, master, *_ in ranges:
                host = master[0] or client.host
                slots[start:end + 1] = [self.node(f"{host}:{master[1]}")] * (end - start + 1)
            self.slots = slots
            self.refreshes += 1
            return
        raise ConnectFailed(f"no node of the Redis Cluster answered CLUSTER SLOTS: {'; '.join(problems)}")

    async def _for_slot(self, slot: int | None) -> FastRedis:
        if slot is None:
            return next((n for n in self.slots if n is not None), None) or next(iter(self.nodes.values()))
        node = self.slots[slot]
        if node is None:
            await self.refresh()
            node = self.slots[slot]
            if node is None:
                raise ClusterError(f"hash slot {slot} is not served by any node of the Redis Cluster")
        return node

    async def _routed(self, slot: int | None, call):
        """``await call(node, asking)`` on the slot's node, following MOVED/ASK and riding out failovers."""
        node, asking = await self._for_slot(slot), False
        for attempt in range(_MAX_REDIRECTS + 1):
            try:
                return await call(node, asking)
            except ResponseError as exc:
                kind, _, rest = str(exc).partition(" ")
                if kind == "MOVED":
                    moved_slot, address = rest.split()
                    node, asking = self.node(address), False
                    self.slots[int(moved_slot)] = node
                    asyncio.ensure_future(self._refresh_later())
                elif kind == "ASK":
                    node, asking = self.node(rest.split()[1]), True
                elif kind in ("TRYAGAIN", "CLUSTERDOWN"):
                    await asyncio.sleep(0.05 * (attempt + 1))
                    node, asking = await self._for_slot(slot), False
                else:
                    raise
            except ConnectFailed:
                # The node is gone (killed master): a replica takes its slots after the failover.
                await asyncio.sleep(0.05 * attempt)
                await self.refresh()
                node, asking = await self._for_slot(slot), False
        raise ClusterError(f"the Redis Cluster kept redirecting hash slot {slot} ({_MAX_REDIRECTS} times)")

    async def execute_command(self, *args):
        """One command's reply, from the node serving its key."""
        return await self._routed(command_slot(args), lambda node, asking: (
            node.execute_asking if asking else node.execute_command)(*args))

    def fire(self, *args) -> None:
        """`FastRedis.fire` on the node serving the command's key (a task: the slot may need routing)."""
        asyncio.ensure_future(self._fired(args)).add_done_callback(_read)

    async def _fired(self, args) -> None:
        node = await self._for_slot(command_slot(args))
        if node.wait_replicas:
            await node._write_and_wait(args)
        else:
            await self.execute_command(*args)

    async def evalsha(self, script: _Script, keys, args):
        """Run ``script`` on the node serving ``keys`` (all in one slot), loading it there if needed."""
        slot = key_slot(_encode(keys[0])) if keys else None
        return await self._routed(slot, lambda node, asking: node.evalsha(script, keys, args, asking))

    async def execute_settled(self, commands: list[tuple]) -> list:
        """The commands split by node and sent concurrently; replies in order, an error reply as its exception."""
        groups: dict[FastRedis, list[int]] = {}
        for i, command in enumerate(commands):
            groups.setdefault(await self._for_slot(command_slot(command)), []).append(i)
        replies = [None] * len(commands)

        async def run(node, indices):
            try:
                got = await node.execute_settled([commands[i] for i in indices])
            except ConnectFailed:
                got = [None] * len(indices)
                for j, i in enumerate(indices):
                    got[j] = await self._resent(commands[i])
            for i, reply in zip(indices, got):
                if isinstance(reply, ResponseError) and str(reply).startswith(("MOVED", "ASK", "TRYAGAIN",
                                                                               "CLUSTERDOWN")):
                    reply = await self._resent(commands[i])
                replies[i] = reply

        if len(groups) == 1:
            await run(*next(iter(groups.items())))
        else:
            await asyncio.gather(*(run(node, indices) for node, indices in groups.items()))
        return replies

    async def _resent(self, command: tuple):
        # An error reply stays a reply, as in the batch it came from: a script's NOSCRIPT on the node a
        # MOVED led to is then loaded by the pipeline (`_Pipeline.execute`) instead of failing it all.
        try:
            return await self.execute_command(*command)
        except ResponseError as exc:
            return exc

    async def ping(self) -> bool:
        """True when every master answers."""
        if all(n is None for n in self.slots):
            await self.refresh()
        masters = {n for n in self.slots if n is not None}
        return all(await asyncio.gather(*(m.ping() for m in masters)))

    async def degraded(self) -> str | None:
        """Why writes to some masters are refused (`FastRedis.degraded`), or None."""
        masters = {n for n in self.slots if n is not None}
        sentences = [s for s in await asyncio.gather(*(m.degraded() for m in masters)) if s]
        return "; ".join(sorted(sentences)) or None

    async def aclose(self) -> None:
        """Close every node's connection."""
        for client in self.nodes.values():
            await client.aclose()


async def connect(url: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                  wait_replicas: int = 0) -> FastRedis | FastRedisCluster:
    """The hot-path client for ``url``: a `FastRedisCluster` when it names a node of a cluster.

    ``wait_replicas`` > 0: every script's writes are acknowledged by that many replicas (``WAIT``)
    before the script's reply is returned.

    Raises redis-py's ``ConnectionError`` when Redis cannot be reached.
    """
    client = FastRedis(url, timeout_s, wait_replicas)
    if client.path:
        return client
    db, client.db = client.db, 0  # a cluster refuses SELECT: ask before choosing the database
    try:
        info = await client.execute_command("CLUSTER", "INFO")
    except ResponseError:
        info = "cluster_enabled:0"  # "cluster support disabled": a single Redis
    if "cluster_enabled:0" in info:
        if db:
            await client.aclose()
            client.db = db
        return client
    if db:
        await client.aclose()
        raise ValueError(f"Redis URL {url!r} names database {db}; a Redis Cluster has only database 0")
    cluster = FastRedisCluster(url, timeout_s, seed=client, wait_replicas=wait_replicas)
    await cluster.refresh()
    return cluster
