"""What the control room keeps in Redis: per-minute arrivals and completions, paused links, the activity log.

The counts are written by the paths that already write (allocation adds to the pipeline it sends
anyway; completion sends one more pipeline, once per task), so the ``/admin/`` page and
``mvt status`` read at most `WINDOW_MINUTES` small hashes instead of scanning responses. Pausing
sets ``paused`` in each link's meta hash, which ``allocate.lua`` reads in the same call that would
hand out a list, so a paused link never gives out a new one while assignments already held resume.
Keys: ``kernel/store/keys.py`` ("Control room section").
"""

from __future__ import annotations

import time

import orjson

from kernel import tally
from kernel.store import keys

EVENTS = ("arrivals", "completions", "refusals")
"""Counted per minute. ``refusals`` count per ``<link>:<reason>`` field (a link id holds no ``:``)."""
MINUTE_TTL_S = 2 * 3600
HOUR_TTL_S = 25 * 3600
WINDOW_MINUTES = 60
WINDOW_HOURS = 24
LOG_LENGTH = 500
SIGNIN_WINDOW_S = 60


def minute_of(ms: int) -> int:
    """The minute (ms since the epoch // 60000) holding time ``ms``."""
    return int(ms) // 60_000


def hour_of(ms: int) -> int:
    """The hour (ms since the epoch // 3600000) holding time ``ms``."""
    return int(ms) // 3_600_000


def count_event(pipe, event: str, link_id: str, now_ms: int) -> None:
    """Add one ``event`` of ``link_id`` at ``now_ms`` to the pipeline ``pipe`` (sync, async or fast)."""
    for key, ttl_s in ((keys.minute_counts(event, minute_of(now_ms)), MINUTE_TTL_S),
                       (keys.hour_counts(event, hour_of(now_ms)), HOUR_TTL_S)):
        pipe.hincrby(key, link_id, 1)
        pipe.expire(key, ttl_s)


SETTLED_MS = 5_000
"""A period is read once and kept (`per_minute`'s ``kept``) when it ended this long ago: a request counted
with a time just before its end may arrive a little later."""


def _periods(r, names: list[str], settled: int, kept: dict | None) -> list[dict[str, int]]:
    """Field → count of each hash in ``names``; with ``kept`` (a dict the caller keeps), the first ``settled``
    (periods that have ended) are read whole once and kept there, and afterwards only their number of
    fields (HLEN) is asked: an ended period gains no field, so a different number means ``mvt drop`` (or a
    flushed store) took some away and the hash is read again."""
    known = [name for i, name in enumerate(names) if kept is not None and i < settled and name in kept]
    if known:
        pipe = r.pipeline(transaction=False)
        for name in known:
            pipe.hlen(name)
        for name, n_fields in zip(known, pipe.execute()):
            if n_fields != len(kept[name]):
                del kept[name]
    wanted = [name for i, name in enumerate(names) if kept is None or i >= settled or name not in kept]
    pipe = r.pipeline(transaction=False)
    for name in wanted:
        pipe.hgetall(name)
    read = dict(zip(wanted, pipe.execute() if wanted else []))
    out = []
    for i, name in enumerate(names):
        counts = kept[name] if name not in read else {field: int(n) for field, n in read[name].items()}
        if kept is not None and i < settled and name in read:
            if len(kept) > 4 * (WINDOW_MINUTES + WINDOW_HOURS) * len(EVENTS):
                kept.clear()
            kept[name] = counts
        out.append(counts)
    return out


def per_minute(r, event: str, now_ms: int | None = None, minutes: int = WINDOW_MINUTES,
               kept: dict | None = None) -> list[dict[str, int]]:
    """Link id → count of ``event`` for each of the last ``minutes`` minutes, oldest first (sync client);
    ``kept``: a dict in which minutes that have ended are kept between calls (`_periods`)."""
    return _last(r, keys.minute_counts, minute_of, event, now_ms, minutes, kept)


def per_hour(r, event: str, now_ms: int | None = None, hours: int = WINDOW_HOURS,
             kept: dict | None = None) -> list[dict[str, int]]:
    """Link id → count of ``event`` for each of the last ``hours`` hours, oldest first (sync client);
    ``kept`` as for `per_minute`."""
    return _last(r, keys.hour_counts, hour_of, event, now_ms, hours, kept)


def _last(r, key_of, period_of, event: str, now_ms: int | None, n: int, kept: dict | None) -> list[dict[str, int]]:
    # The last n periods (period_of: ms -> period number; key_of: the event's hash of a period), oldest first.
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    last, settled = period_of(now_ms), period_of(now_ms - SETTLED_MS)
    first = last - n + 1
    return _periods(r, [key_of(event, p) for p in range(first, last + 1)], settled - first, kept)


def forget_links(r, link_ids, now_ms: int | None = None) -> None:
    """Take ``link_ids`` out of every count that may still live (2 h of minutes, 25 h of hours):
    ``mvt drop`` leaves nothing of an experiment behind (sync client)."""
    drop = set(link_ids)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    minute, hour = minute_of(now_ms), hour_of(now_ms)
    names = [keys.minute_counts(event, m) for event in EVENTS for m in range(minute - MINUTE_TTL_S // 60, minute + 1)]
    names += [keys.hour_counts(event, h) for event in EVENTS for h in range(hour - HOUR_TTL_S // 3600, hour + 1)]
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.hkeys(name)
    stale = [(name, [f for f in fields if f.split(":", 1)[0] in drop]) for name, fields in zip(names, pipe.execute())]
    pipe = r.pipeline(transaction=False)
    for name, fields in stale:
        if fields:
            pipe.hdel(name, *fields)
    pipe.execute()


def set_paused(r, link_ids, paused: bool) -> None:
    """Hold (``paused=True``) or reopen new arrivals on ``link_ids``; returning assignments are not affected."""
    link_ids = list(link_ids)
    pipe = r.pipeline(transaction=False)
    for link_id in link_ids:
        pipe.hget(keys.link_meta(link_id), "experiment_id")
    experiments = pipe.execute()
    pipe = r.pipeline(transaction=False)
    for link_id, experiment_id in zip(link_ids, experiments):
        if paused:
            pipe.hset(keys.link_meta(link_id), "paused", "1")
        else:
            pipe.hdel(keys.link_meta(link_id), "paused")
        if experiment_id:
            tally.paused(pipe, experiment_id, link_id, paused)
    pipe.execute()


def log_action(r, who: str, action: str, target: str, why: str = "", now_ms: int | None = None) -> dict:
    """Record one action of the control room (newest first, the last `LOG_LENGTH` kept); the record."""
    entry = {"at_ms": int(time.time() * 1000) if now_ms is None else now_ms, "who": who, "action": action,
             "target": target, "why": why}
    pipe = r.pipeline(transaction=False)
    pipe.lpush(keys.control_log(), orjson.dumps(entry))
    pipe.ltrim(keys.control_log(), 0, LOG_LENGTH - 1)
    pipe.execute()
    return entry


def activity(r, limit: int = 50) -> list[dict]:
    """The latest ``limit`` actions, newest first."""
    return [orjson.loads(raw) for raw in r.lrange(keys.control_log(), 0, limit - 1)]


def signin_allowed(r, ip: str, per_minute: int) -> bool:
    """Count one sign-in attempt of client ``ip``; False once it made more than ``per_minute`` this minute."""
    pipe = r.pipeline(transaction=False)
    # SET NX EX starts the window (EXPIRE's NX needs Redis 7; the embedded server is 6.2).
    pipe.set(keys.signin_attempts(ip), 0, ex=SIGNIN_WINDOW_S, nx=True)
    pipe.incr(keys.signin_attempts(ip))
    _, attempts = pipe.execute()
    return int(attempts) <= per_minute
