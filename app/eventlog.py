"""One log line per allocation, completion and refusal (``mvt serve --log-format text|json``).

Lines go to stderr; `configure` is called once per server process (`app.main.create_app`, from
``MVT_LOG_FORMAT``). Unconfigured (``off``, the library's and the tests' default) an event costs one
test of a module global.

A line is formatted here and written straight to the stream, not through `logging`: making a
``LogRecord`` and passing it through the logger, handler (and its lock) and formatter took 7.9 µs per
allocation line (text; 7.0 as JSON) against 2.9 (2.3) so (min of 7 x 20,000 lines to a file, 2026-12-06,
load 10), and every
``POST /api/assignments`` writes one. Each line is one ``write`` of a whole line, so lines of
concurrent processes do not interleave within a line.
"""

from __future__ import annotations

import sys
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
    """Log one event (``allocation``, ``completion``, ``refusal``) with its fields."""
    stream = _stream
    if stream is None:
        return
    now = time.time()
    if _json:
        line = orjson.dumps({"at": _iso(now), "event": name, **fields}).decode()
    else:
        line = f"{_iso(now)} {name} " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None and v != "")
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):  # a closed or broken stderr must not fail the request (as logging)
        pass
