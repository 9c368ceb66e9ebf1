"""uvicorn's httptools protocol with a read deadline and a header size limit, against slow clients.

uvicorn times out idle keep-alive connections but not a request being read: a client that
sends its headers one byte at a time (slowloris) holds a connection, and a file descriptor,
for as long as it likes, and httptools accepts headers of any size. Here every request, headers
and body, must arrive within ``MVT_READ_TIMEOUT_S`` of its first byte (or of the TLS handshake),
and its headers within `MAX_HEADER_BYTES`; otherwise the connection is closed.

Closing slow connections is not enough when they outnumber the file descriptors: on ``EMFILE``
libuv accepts and at once closes whatever waits in the backlog, normal requests included. So a
process holds at most `open_connections_cap` connections (``MVT_MAX_CONNECTIONS``, and some
descriptors below the open-file limit); a new connection beyond it closes the connection that
has been waiting longest — for its TLS handshake, for its request to arrive, or idle — which
under a slowloris or a handshake flood is the attacker's, not a worker's request that is read in
milliseconds.

TLS: the event loop's own TLS wrapping hands a connection to the protocol only once its handshake
is done, and waits 60 s for it, so connections that never finish a handshake were invisible to
both guards (500 of them and 256 open files: no honest request served). With `GuardedConfig`
the listening socket is plain TCP and the protocol starts TLS itself (``loop.start_tls``, the same
TLS code): a connection counts from its first byte, its handshake must finish within
``MVT_HANDSHAKE_TIMEOUT_S``, and it can be evicted while still shaking hands.
"""

from __future__ import annotations

import asyncio
import os
import resource

import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
SPARE_FILES = 64
"""Descriptors kept free for Redis, logs, video files and connections still in their TLS handshake."""


UNAVAILABLE_BODY = (b'{"detail":"the server is busy right now; try again in a few seconds",'
                    b'"reason":"server_busy"}')


async def json_service_unavailable(scope, receive, send) -> None:
    """uvicorn's answer when a process is over ``limit_concurrency``, as every other 503 of the
    server: JSON with a reason and ``Retry-After`` (uvicorn's own is plain text without it)."""
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(UNAVAILABLE_BODY)),
                            (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": UNAVAILABLE_BODY, "more_body": False})


# uvicorn's protocol looks this name up in its module on every refused request.
httptools_impl.service_unavailable = json_service_unavailable


class GuardedConfig(uvicorn.Config):
    """A uvicorn ``Config`` whose TLS is started by `GuardedHttpToolsProtocol` on each connection
    (``tls_context``) rather than by the listening socket (``ssl`` stays None), so that connections
    still in their handshake are under the guard's deadline and budget.

    ``supervisor_pid``, when set (``mvt serve --workers N``), is the process the workers die with:
    each worker asks the kernel for SIGTERM when its parent dies, so a kill -9 of the supervisor
    frees the port instead of leaving workers that hold it and answer 503 forever.
    """

    supervisor_pid: int | None = None

    def load(self) -> None:
        """uvicorn's ``load``, then the TLS context moved from ``ssl`` to ``tls_context``; in a worker
        process, bound to die with `supervisor_pid`."""
        super().load()
        self.tls_context, self.ssl = self.ssl, None
        if self.supervisor_pid is not None and os.getpid() != self.supervisor_pid:
            die_with_parent(self.supervisor_pid)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux ``PR_SET_PDEATHSIG``);
    if ``parent_pid`` is already gone, exit now. Elsewhere nothing is done."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def open_connections_cap(max_connections: int) -> int:
    """Connections one process may hold: ``max_connections``, or fewer under a low open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(16, min(max_connections, soft - SPARE_FILES))


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (as nginx's ``worker_rlimit_nofile``); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class _Handshake(asyncio.Protocol):
    """The raw connection's protocol while its TLS handshake runs: hands every byte to the TLS layer
    ``tls`` and notes that the client spoke (a client that never sends a ClientHello is evicted
    first). Registered in ``handshaking`` (raw transport → this) until the handshake ends; the TLS
    layer then talks to the transport directly."""

    def __init__(self, tls, handshaking: dict, raw, since: float):
        self.tls, self.handshaking, self.raw, self.since, self.spoke = tls, handshaking, raw, since, False
        handshaking[raw] = self

    def data_received(self, data: bytes) -> None:
        self.spoke = True
        view = memoryview(data)
        while view:
            buf = self.tls.get_buffer(len(view))
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            self.tls.buffer_updated(n)
            view = view[n:]

    def eof_received(self):
        return self.tls.eof_received()

    def connection_lost(self, exc) -> None:
        self.handshaking.pop(self.raw, None)
        self.tls.connection_lost(exc)

    def pause_writing(self) -> None:
        self.tls.pause_writing()

    def resume_writing(self) -> None:
        self.tls.resume_writing()

    def ended(self, done) -> None:
        """The handshake's waiter is done: succeeded (the TLS layer takes the transport over) or failed."""
        self.handshaking.pop(self.raw, None)
        if done.cancelled() or done.exception() is not None:
            return  # failed or timed out: the TLS layer closes the connection
        if not self.raw.is_closing():
            self.raw.set_protocol(self.tls)

    def evict(self) -> None:
        """Close the connection at once (it is taking a place another needs)."""
        self.handshaking.pop(self.raw, None)
        self.raw.abort()


def _tls_protocol_class(loop):
    """The event loop's own TLS protocol: uvloop's (Cython) on uvloop, else asyncio's."""
    if type(loop).__module__.startswith("uvloop"):
        from uvloop.loop import SSLProtocol
    else:
        from asyncio.sslproto import SSLProtocol
    return SSLProtocol


class _HeadersWithBody:
    """The transport as one answer's cycle sees it: the status line and headers are held until the
    first body write and sent with it, one TLS record and one ``send`` instead of two (uvicorn
    writes them separately; sending was ~23 % of the returning route's CPU in issue 25's profile).
    Measured with ``scripts/bench_server --compare``: the null route's CPU per request x0.77–0.91
    (2026-12-06, 3 rounds, docs/reliability.md).

    Every ``http.response.body`` message writes (an empty body too), and ``close`` sends what is
    held, so nothing waits longer than the app's first body message. ``100 Continue`` is not held.
    """

    __slots__ = ("transport", "held")

    def __init__(self, transport):
        self.transport, self.held = transport, None

    def write(self, data) -> None:
        if self.held is None:  # the cycle's first write: its headers (or an interim 100 Continue)
            if data.startswith(b"HTTP/1.1 100 "):
                self.transport.write(data)
                return
            self.held = data
            return
        if self.held:
            data, self.held = self.held + data, b""
        self.transport.write(data)

    def close(self) -> None:
        if self.held:
            self.transport.write(self.held)
            self.held = b""
        self.transport.close()

    def __getattr__(self, name):
        return getattr(self.transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` closing connections whose request is not read in time or whose headers are too large.

    Costs per request one ``loop.time()`` and four Python calls: deadlines are checked by one timer
    per process sweeping the connections every `SWEEP_S`, not by a timer per request, so a request
    may take up to ``MVT_READ_TIMEOUT_S`` + `SWEEP_S` to be cut off.
    """

    read_timeout_s: float | None = None
    """Seconds a request may take to arrive; ``MVT_READ_TIMEOUT_S`` unless set on a subclass."""
    handshake_timeout_s: float | None = None
    """Seconds a TLS handshake may take; ``MVT_HANDSHAKE_TIMEOUT_S`` unless set on a subclass."""
    max_open: int | None = None
    """`open_connections_cap` of ``MVT_MAX_CONNECTIONS`` unless set on a subclass."""
    SWEEP_S = 0.5
    _sweeping: dict = {}  # event loop -> its sweep timer (one per process in practice)
    _handshakes: dict = {}  # event loop -> {raw transport: its _Handshake}, until the TLS handshake ends
    _arriving: dict = {}  # event loop -> {protocol: loop time accepted} until its connection_made runs

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.read_timeout_s is None or cls.max_open is None or cls.handshake_timeout_s is None:
            from kernel.settings import Settings

            settings = Settings()
            cls.read_timeout_s = cls.read_timeout_s or settings.read_timeout_s
            cls.handshake_timeout_s = cls.handshake_timeout_s or settings.handshake_timeout_s
            cls.max_open = cls.max_open or open_connections_cap(settings.max_connections)
        self._reading_since: float | None = None  # None: no request being read
        self._idle_since = 0.0  # when the last request was read (a kept-alive connection's wait)
        self._in_headers, self._header_bytes = False, 0
        self._tls_context = getattr(self.config, "tls_context", None)
        self._handshaking = self._handshakes.setdefault(self.loop, {})
        # Counted from the accept: the loop calls this factory as it accepts, and connection_made only
        # later, so making room here keeps the descriptors of an accept burst within the budget.
        self._arrivals = self._arriving.setdefault(self.loop, {})
        self._make_room()
        self._arrivals[self] = self.loop.time()

    def connection_made(self, transport) -> None:
        self._arrivals.pop(self, None)
        if self._tls_context is not None:
            # A raw TCP connection: TLS started under the deadline, evictable while it shakes hands.
            self._tls_context, context = None, self._tls_context
            self._start_tls(transport, context)
            return
        super().connection_made(transport)
        self._reading_since = self.loop.time()
        if self.loop not in self._sweeping:
            self._sweeping[self.loop] = self.loop.call_later(self.SWEEP_S, self._sweep, self.loop, self.connections)

    def _start_tls(self, raw, context) -> None:
        """Put the event loop's own TLS layer between ``raw`` and this protocol, as the loop does for a
        TLS server (and ``loop.start_tls``), but now, under `handshake_timeout_s`: it calls
        connection_made with the TLS transport once the handshake is done."""
        waiter = self.loop.create_future()
        tls = _tls_protocol_class(self.loop)(self.loop, self, context, waiter, server_side=True,
                                             ssl_handshake_timeout=self.handshake_timeout_s)
        shim = _Handshake(tls, self._handshaking, raw, self.loop.time())
        waiter.add_done_callback(shim.ended)
        raw.set_protocol(shim)
        tls.connection_made(raw)

    def _make_room(self) -> None:
        """Close the connection waiting longest (handshake, request or idle) when the budget is full."""
        if len(self.connections) + len(self._handshaking) + len(self._arrivals) < self.max_open:
            return
        stale = [c for c, since in self._arrivals.items() if since < self.loop.time() - 1.0]
        for c in stale:  # connection_made runs in the loop's next pass; one that never did is gone
            self._arrivals.pop(c, None)
        # a handshake whose client has not said a word first, then whoever has waited longest
        silent = [shim for shim in self._handshaking.values() if not shim.spoke]
        if silent:
            min(silent, key=lambda shim: shim.since).evict()
            return
        waiting = [(c._idle_since if c._reading_since is None else c._reading_since, c) for c in self.connections
                   if c.cycle is None or c.cycle.response_complete]
        waiting += [(shim.since, shim) for shim in self._handshaking.values()]
        if not waiting:
            return
        _, victim = min(waiting, key=lambda item: item[0])
        if isinstance(victim, _Handshake):
            victim.evict()
        else:
            victim.transport.close()
            self.connections.discard(victim)

    @classmethod
    def _sweep(cls, loop, connections) -> None:
        too_old = loop.time() - cls.read_timeout_s
        for c in [c for c in connections if c._reading_since is not None and c._reading_since < too_old]:
            if not c.transport.is_closing():
                c.transport.close()
        cls._sweeping[loop] = loop.call_later(cls.SWEEP_S, cls._sweep, loop, connections)

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if self._reading_since is None and (cycle is None or cycle.response_complete):
            self._reading_since = self.loop.time()  # the next request on a kept-alive connection
        if self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self.transport.close()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._in_headers, self._header_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()
        self.cycle.transport = _HeadersWithBody(self.transport)

    def on_message_complete(self) -> None:
        self._reading_since = None  # read in full: answering it (a video to a slow phone) has no deadline here
        self._idle_since = self.loop.time()
        super().on_message_complete()

    told_to_retry = 0
    """Requests answered 503 by `shutdown` in this process (``mvt serve`` says how many on exit)."""

    def shutdown(self) -> None:
        """At Ctrl-C: a request still arriving (nothing answered yet) gets 503 with ``Retry-After``
        at once, so the browser's retry reaches the server after its restart; requests read in
        full are answered within uvicorn's ``timeout_graceful_shutdown``."""
        cycle = self.cycle
        if cycle is None or cycle.response_started or cycle.response_complete or not cycle.more_body:
            super().shutdown()
            return
        body = b'{"detail":"the server is restarting; retry in a few seconds","reason":"unavailable"}'
        self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                             b"retry-after: 2\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(body), body))
        cycle.response_started = cycle.response_complete = cycle.disconnected = True  # the app's answer is dropped
        cycle.message_event.set()  # its receive() now returns http.disconnect
        type(self).told_to_retry += 1
        self.transport.close()
