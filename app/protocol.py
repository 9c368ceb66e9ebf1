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
has been reading (or idle) longest, which under a slowloris is the attacker's, not a worker's
request that is read in milliseconds.
"""

from __future__ import annotations

import resource

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
SPARE_FILES = 64
"""Descriptors kept free for Redis, logs, video files and connections still in their TLS handshake."""


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


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` closing connections whose request is not read in time or whose headers are too large.

    Costs per request one ``loop.time()`` and four Python calls: deadlines are checked by one timer
    per process sweeping the connections every `SWEEP_S`, not by a timer per request, so a request
    may take up to ``MVT_READ_TIMEOUT_S`` + `SWEEP_S` to be cut off.
    """

    read_timeout_s: float | None = None
    """Seconds a request may take to arrive; ``MVT_READ_TIMEOUT_S`` unless set on a subclass."""
    max_open: int | None = None
    """`open_connections_cap` of ``MVT_MAX_CONNECTIONS`` unless set on a subclass."""
    SWEEP_S = 0.5
    _sweeping: dict = {}  # event loop -> its sweep timer (one per process in practice)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.read_timeout_s is None or cls.max_open is None:
            from kernel.settings import Settings

            settings = Settings()
            cls.read_timeout_s = cls.read_timeout_s or settings.read_timeout_s
            cls.max_open = cls.max_open or open_connections_cap(settings.max_connections)
        self._reading_since: float | None = None  # None: no request being read
        self._in_headers, self._header_bytes = False, 0

    def connection_made(self, transport) -> None:
        if len(self.connections) >= self.max_open:
            self._evict_slowest()
        super().connection_made(transport)
        self._reading_since = self.loop.time()
        if self.loop not in self._sweeping:
            self._sweeping[self.loop] = self.loop.call_later(self.SWEEP_S, self._sweep, self.loop, self.connections)

    def _evict_slowest(self) -> None:
        idle = [c for c in self.connections if c.cycle is None or c.cycle.response_complete]
        if idle:
            victim = min(idle, key=lambda c: c._reading_since or 0.0)
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

    def on_message_complete(self) -> None:
        self._reading_since = None  # read in full: answering it (a video to a slow phone) has no deadline here
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
