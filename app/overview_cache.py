"""One overview for every dashboard, server process and server: computed once per interval, shared in Redis.

The control room's overview (`app.control.overview`) costs tens of ms of Python on a large study.
Computed in a serving process, it holds the GIL that process's event loop needs, and workers'
requests wait (measured: 10 dashboards raised the hot routes' p99 by 36–71 % when each process
computed its own). So it is computed once per interval for all of them and kept in Redis
(``keys.control_overview``): by `Publisher`, a thread of ``mvt serve --workers N``'s supervisor
process, which serves no requests, while a dashboard is open (``keys.control_watched``); and,
where no publisher runs (one worker process, or an app served otherwise), by the first serving
process that finds the shared copy too old and wins ``keys.control_overview_lock`` (SET NX).
The interval is `INTERVAL_S`, or longer for a slow computation, so that it takes at most
`CPU_SHARE` of one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import threading
import time
from decimal import Decimal

import orjson

from app.control import QUALITY_S, ExperimentStatus, LinkCell, Spend, overview
from kernel.store import keys

INTERVAL_S = 3.0
"""The dashboards poll every 3 s (`app.routes.control.REFRESH_MS`): a newer overview would not be seen."""
CPU_SHARE = 0.02
GRACE_S = 2.0
"""How much older than its interval a shared overview may be before a serving process computes one
itself: the publisher's time to compute the next (it may be slower than usual)."""
LOCK_S = 30
KEEP_S = 120
WATCHED_S = 15
"""A dashboard's poll keeps the publisher computing for this long."""
CHECK_S = 0.5
NICE = 10
"""The publisher thread's niceness: the serving processes come first."""
_DECIMALS = frozenset(f.name for f in dataclasses.fields(Spend) if f.type in ("Decimal", "Decimal | None"))

log = logging.getLogger("mvt.control")


@dataclasses.dataclass(frozen=True)
class Shared:
    """An overview with when it was computed (ms since the epoch) and the CPU time that took (s)."""

    at_ms: int
    took_s: float
    experiments: list[ExperimentStatus]
    digest: str = ""
    """A hash of the experiments' figures: a process whose copy has the same keeps its objects and its
    rendered section when a newer overview says the same (`same_figures`)."""

    @property
    def interval_s(self) -> float:
        """How long this overview stands before the next is computed."""
        return max(INTERVAL_S, self.took_s / CPU_SHARE)

    def age_s(self, now_ms: int | None = None) -> float:
        """Seconds since it was computed."""
        return ((int(time.time() * 1000) if now_ms is None else now_ms) - self.at_ms) / 1000

    def overdue(self, grace_s: float = 0.0) -> bool:
        """Its interval (and ``grace_s`` more) has passed: the next one is due."""
        return self.age_s() >= self.interval_s + grace_s


def _plain(e: ExperimentStatus) -> dict:
    """An experiment's fields as a dict (``dataclasses.asdict`` deep-copies: 6 ms instead of 0.3 for 1000 links)."""
    return {**vars(e), "links": [vars(c) for c in e.links], "spend": [vars(s) for s in e.spend]}


def encode(shared: Shared) -> bytes:
    """The JSON kept in ``keys.control_overview`` (amounts as strings), with the figures' digest in its head."""
    experiments = orjson.dumps([_plain(e) for e in shared.experiments], default=str)
    digest = hashlib.blake2b(experiments, digest_size=8).hexdigest()
    return orjson.dumps({"at_ms": shared.at_ms, "took_s": shared.took_s, "digest": digest,
                         "experiments": orjson.Fragment(experiments)})


def decode(raw: bytes | str) -> Shared:
    """`encode`'s JSON as a `Shared` overview."""
    data = orjson.loads(raw)
    experiments = []
    for e in data["experiments"]:
        e["links"] = [LinkCell(**c) for c in e["links"]]
        e["spend"] = [Spend(**{k: (Decimal(v) if k in _DECIMALS and v is not None else v) for k, v in s.items()})
                      for s in e["spend"]]
        e["timing"] = {dimension: [tuple(row) for row in rows] for dimension, rows in e["timing"].items()}
        experiments.append(ExperimentStatus(**e))
    return Shared(int(data["at_ms"]), float(data["took_s"]), experiments, str(data.get("digest") or ""))


_HEAD = re.compile(rb'^\{"at_ms":(\d+),"took_s":([0-9.e-]+),(?:"digest":"([0-9a-f]*)",)?')


def shared_head(r) -> tuple[int, float, str] | None:
    """When the shared overview was computed, what it took and its figures' digest, from the head of its
    JSON alone (`encode` writes them first), so that a process whose copy is that one or says the same,
    or the publisher deciding whether one is due, reads no more of it. None: no shared overview."""
    head = r.execute_command("GETRANGE", keys.control_overview(), 0, 120)
    found = _HEAD.match(head.encode() if isinstance(head, str) else head or b"")
    return (int(found.group(1)), float(found.group(2)), (found.group(3) or b"").decode()) if found else None


def same_figures(mine: Shared | None, head: tuple[int, float, str] | None) -> Shared | None:
    """``mine`` with the shared overview's time when that one says the same (its head: `shared_head`),
    keeping ``mine``'s objects, so that its section is not decoded and rendered again (a quiet study, or
    workers answering, changes nothing for minutes); else None."""
    if mine is None or head is None:
        return None
    if head[0] == mine.at_ms:
        return mine
    if head[2] and head[2] == mine.digest:
        return dataclasses.replace(mine, at_ms=head[0], took_s=head[1])
    return None


def read(r) -> Shared | None:
    """The shared overview, or None when there is none (or it cannot be read: it is computed again)."""
    raw = r.get(keys.control_overview())
    if raw is None:
        return None
    try:
        return decode(raw)
    except (ValueError, KeyError, TypeError):
        return None


def compute(r, allotted_minutes: int) -> Shared:
    """A new overview (not shared), with the CPU time it took this thread (wall time would stretch the
    interval whenever other processes load the machine)."""
    at_ms, started = int(time.time() * 1000), time.thread_time()
    experiments = overview(r, allotted_minutes, now_ms=at_ms, quality_max_age_s=QUALITY_S)
    return Shared(at_ms, time.thread_time() - started, experiments)


def compute_and_share(r, allotted_minutes: int) -> Shared | None:
    """Compute a new overview and share it, unless another process is computing one (None)."""
    if not r.set(keys.control_overview_lock(), "1", nx=True, ex=LOCK_S):
        return None
    try:
        shared = compute(r, allotted_minutes)
        raw = encode(shared)
        r.set(keys.control_overview(), raw, ex=KEEP_S)
        return dataclasses.replace(shared, digest=_HEAD.match(raw).group(3).decode())
    finally:
        r.delete(keys.control_overview_lock())


def forget(r) -> None:
    """Drop the shared overview (after an action: the next look computes one that shows it)."""
    r.delete(keys.control_overview())


def mark_watched(r) -> None:
    """A dashboard is open: keep the publisher computing for `WATCHED_S`."""
    r.set(keys.control_watched(), "1", ex=WATCHED_S)


class Publisher:
    """Keeps the shared overview fresh while a dashboard is open, from a process that serves no requests
    (``mvt serve --workers N``'s supervisor). ``start()``; ``stop()`` ends the thread."""

    def __init__(self, url: str, allotted_minutes: int):
        self.url, self.allotted_minutes = url, allotted_minutes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mvt-overview", daemon=True)

    def start(self) -> Publisher:
        """Start the thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (waits for a computation in progress, at most a few seconds)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from kernel.store.connect import client_from_url

        # On a machine of few cores the computation takes CPU from the serving processes: it yields
        # to them (Linux's nice applies to this thread alone).
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        r = None
        while not self._stop.wait(CHECK_S):
            try:
                r = r or client_from_url(self.url)
                if not r.exists(keys.control_watched()):
                    continue
                head = shared_head(r)
                if head is None or Shared(head[0], head[1], []).overdue():
                    compute_and_share(r, self.allotted_minutes)
            except Exception as exc:  # noqa: BLE001 - a Redis restart or a bad record must not end the thread
                log.warning("control room overview not computed: %s", exc)
                r = None
                self._stop.wait(2.0)
