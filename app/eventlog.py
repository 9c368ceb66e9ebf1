"""One log line per allocation, completion and refusal (``mvt serve --log-format text|json``).

Lines go to stderr through the ``mvt.events`` logger; `configure` is called once per server process
(`app.main.create_app`, from ``MVT_LOG_FORMAT``). Unconfigured (``off``, the library's and the tests'
default) an event costs one ``isEnabledFor`` check.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

log = logging.getLogger("mvt.events")
FORMATS = ("off", "text", "json")


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps({"at": _iso(record.created), "event": record.msg, **record.fields}).decode()


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in record.fields.items() if v is not None and v != "")
        return f"{_iso(record.created)} {record.msg} {fields}"


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def configure(fmt: str) -> None:
    """Log events as ``text`` (``at event key=value …``) or ``json`` (one object per line), or not (``off``)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {FORMATS}")
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.propagate = False
    if fmt == "off":
        log.setLevel(logging.CRITICAL + 1)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text())
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def event(name: str, **fields) -> None:
    """Log one event (``allocation``, ``completion``, ``refusal``) with its fields.

    The record is made and handled directly: ``log.info`` would first walk the stack for the caller's
    file and line (``findCaller``), which no format prints, on every allocation.
    """
    if log.isEnabledFor(logging.INFO):
        log.handle(log.makeRecord(log.name, logging.INFO, "", 0, name, None, None, extra={"fields": fields}))
