"""One log line per allocation, completion and refusal (``mvt serve --log-format text|json``).

Lines go to stderr; `configure` is called once per server process (`app.main.create_app`, from
``MVT_LOG_FORMAT``). Unconfigured (``off``, the library's and the tests' default) an event costs one
test of a module global.

A line is formatted here and written straight to the stream, not through `logging`: making a
``LogRecord`` and passing it through the logger, handler (and its lock) and formatter took 7.9 µs per
allocation line (text; 7.0 as JSON) against 2.9 (2.3) so (min of 7 x 20,000 lines to a file, 2026-12-06,
load 10), and every ``POST /api/assignments`` writes one. In a server the lines of one event-loop turn
leave together, in writes of whole lines of at most `CHUNK_CHARS` (so that processes sharing a pipe
do not mix within a line): 20 lines a turn to a file cost 9.1 µs a line through `logging`, 4.0
written one by one, 3.3 so (min of 7 x 20,000, load 4.4).
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import time

import orjson

FORMATS = ("off", "text", "json")
_stream = None
_json = False
_second: tuple[int, str] = (-1, "")


def _iso(created: float) -> str:
    global _second
    whole = int(created)
    if whole != _second[0]:  # strftime once a second: most lines reuse it
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int(created % 1 * 1000):03d}Z"


def configure(fmt: str) -> None:
    """Log events as ``text`` (``at event key=value …``) or ``json`` (one object per line), or not (``off``)."""
    global _stream, _json
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {FORMATS}")
    _stream, _json = (None if fmt == "off" else sys.stderr), fmt == "json"


def event(name: str, **fields) -> None:
    """Log one event (``allocation``, ``completion``, ``refusal``) with its fields.

    Inside a running event loop the line is written with the other lines of the same loop turn, in one
    ``write`` once the turn's callbacks have run (the requests answered in one turn share a system call);
    outside one, at once.
    """
    stream = _stream
    if stream is None:
        return
    now = time.time()
    if _json:
        line = orjson.dumps({"at": _iso(now), "event": name, **fields}).decode()
    else:
        line = f"{_iso(now)} {name} " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None and v != "")
    with _lock:
        if not _pending:
            try:
                asyncio.get_running_loop().call_soon(_flush)
            except RuntimeError:  # no loop: this thread writes its line itself
                _write(stream, line + "\n")
                return
        _pending.append(line)


_pending: list[str] = []
_lock = threading.Lock()  # a server process has one loop; tests and tools may log from several threads


CHUNK_CHARS = 1000
"""At most this many characters per ``write`` (at most 4,000 bytes): a write to a pipe of up to 4,096 bytes
(PIPE_BUF) is never split, so lines of processes sharing a pipe (a container's stderr) do not mix."""


def _flush() -> None:
    with _lock:
        lines = _pending[:]
        _pending.clear()
    chunk, size = [], 0
    for line in lines:
        if chunk and size + len(line) >= CHUNK_CHARS:
            _write(_stream, "\n".join(chunk) + "\n")
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        _write(_stream, "\n".join(chunk) + "\n")


def _write(stream, text: str) -> None:
    if stream is None:  # turned off meanwhile
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # a closed or broken stderr must not fail the request (as logging)
        pass


atexit.register(_flush)
