"""A small auto-pipelining asyncio Redis client for the request hot paths.

redis-py's asyncio client costs ~100 µs of CPU per round trip (pool locking, per-command
machinery), more than everything else in a request. This client keeps one connection per
server process, writes every command as soon as it is issued and matches replies to waiting
futures in order (hiredis parses them), so concurrent requests share round trips. It offers the
subset of the ``redis.asyncio.Redis`` interface the hot paths use: ``register_script``,
``pipeline``, and a few commands. Errors are redis-py's exception classes, so the app's error
handling is the same. Admin and CLI code use redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError


#: A Redis that cannot be reached within this time gets a 503 rather than a hanging request.
CONNECT_TIMEOUT_S = 5.0


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
    """One command in RESP."""
    encoded = [_encode(arg) for arg in args]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(d), d) for d in encoded)


class _Protocol(asyncio.Protocol):
    def __init__(self, client: FastRedis):
        self.client = client
        self.reader = hiredis.Reader(encoding="utf-8", errors="strict")
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        self.reader.feed(data)
        waiting = self.client._waiting
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.transport.close()
                self.client._fail(RedisConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            future = waiting.popleft()
            if not future.done():
                if isinstance(reply, hiredis.ReplyError):
                    message = str(reply)
                    exc = NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
                    future.set_exception(exc)
                else:
                    future.set_result(reply)

    def connection_lost(self, exc):
        self.client._lost(self)


class FastRedis:
    """Auto-pipelining client for ``redis://``, ``rediss://`` and ``unix://`` URLs (password, db)."""

    def __init__(self, url: str):
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

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        factory = lambda: _Protocol(self)  # noqa: E731
        try:
            if self.path:
                connecting = loop.create_unix_connection(factory, self.path)
            else:
                connecting = loop.create_connection(factory, self.host, self.port, ssl=self.ssl_context)
            _, protocol = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc or 'timed out'}") from None
        self._protocol = protocol
        setup = []
        if self.password:
            setup.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            setup.append(("SELECT", self.db))
        # Queued before anything else can be, so every later command runs authenticated, in the db.
        try:
            for future in self._send([pack(*command) for command in setup], protocol):
                await future
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

    def _send(self, packed: list[bytes], protocol: _Protocol) -> list[asyncio.Future]:
        # Commands issued during one event-loop turn leave in one write (one system call).
        if protocol is not self._protocol:
            # Lost since the caller got it: queued, its futures would take a new connection's replies.
            raise RedisConnectionError("the connection to Redis was lost")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in packed]
        self._waiting.extend(futures)
        if not self._outgoing:
            loop.call_soon(self._flush)
        self._outgoing.extend(packed)
        return futures

    def _flush(self) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        protocol = self._protocol
        if data and protocol is not None and not protocol.transport.is_closing():
            protocol.transport.write(data)

    def _fail(self, exc: Exception) -> None:
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(exc)

    def _lost(self, protocol: _Protocol) -> None:
        if self._protocol is not None and self._protocol is not protocol:
            return  # an earlier connection, dropped before this one was made: its commands failed then
        self._protocol = None
        self._outgoing = []
        self._fail(RedisConnectionError("the connection to Redis was lost"))

    async def execute_many(self, commands: list[tuple]) -> list:
        """Send several commands at once; their replies in order (exceptions raised)."""
        protocol = self._protocol or await self._ensure()
        futures = self._send([pack(*c) for c in commands], protocol)
        return [await f for f in futures]

    async def execute_command(self, *args):
        """One command's reply."""
        protocol = self._protocol or await self._ensure()
        return await self._send([pack(*args)], protocol)[0]

    async def ping(self) -> bool:
        """True when Redis answers."""
        return await self.execute_command("PING") == "PONG"

    async def hget(self, key: str, field: str):
        """HGET."""
        return await self.execute_command("HGET", key, field)

    async def srem(self, key: str, *members) -> int:
        """SREM."""
        return await self.execute_command("SREM", key, *members)

    async def smembers(self, key: str) -> set:
        """SMEMBERS as a set."""
        return set(await self.execute_command("SMEMBERS", key))

    def register_script(self, source: str) -> _Script:
        """A script called by EVALSHA (loaded on NOSCRIPT)."""
        return _Script(self, source)

    def pipeline(self, transaction: bool = False) -> _Pipeline:
        """Commands sent together, without MULTI."""
        return _Pipeline(self)

    async def aclose(self) -> None:
        """Close the connection."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


class _Script:
    def __init__(self, client: FastRedis, source: str):
        self.client, self.source = client, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys=(), args=()):
        try:
            return await self.client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.client.execute_command("SCRIPT", "LOAD", self.source)
            return await self.client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class _Pipeline:
    """The pipeline methods the hot paths use, with redis-py's reply conversions."""

    def __init__(self, client: FastRedis):
        self.client, self.commands, self.convert = client, [], []

    def _add(self, convert, *command):
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

    def sadd(self, key, *members):
        return self._add(None, "SADD", key, *members)

    def llen(self, key):
        return self._add(None, "LLEN", key)

    def zrange(self, key, start, end, withscores=False):
        if not withscores:
            return self._add(None, "ZRANGE", key, start, end)
        pairs = lambda flat: [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]  # noqa: E731
        return self._add(pairs, "ZRANGE", key, start, end, "WITHSCORES")

    async def execute(self) -> list:
        replies = await self.client.execute_many(self.commands)
        return [c(reply) if c else reply for c, reply in zip(self.convert, replies)]
