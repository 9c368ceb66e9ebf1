"""Per-client limits on new allocations and on eligibility questions, kept in Redis.

Anyone can invent worker and assignment ids, so a single client could otherwise take every list
of a study in a minute and hold them for the allotted time. The limits are per client address
(the ASGI scope's client: the peer, or behind a proxy in ``MVT_TRUSTED_PROXIES`` /
``--forwarded-allow-ips`` the rightmost untrusted ``X-Forwarded-For`` entry, `app.serve.proxy_options`) and per (address, worker id), in Redis so that
every server process and host shares them. One script (``ratelimit.lua``) checks them all and
charges them only together; it runs in the same write to Redis as the allocation's first script,
so a request costs no extra round trip.

=============================  ===================  ==========================================  =============
limit (``MVT_…``)              per                  default                                     a lab of 30
=============================  ===================  ==========================================  =============
LIMIT_ASSIGNMENTS_PER_MINUTE   client               60 a minute, bucket of 120                  30 starts +
                               (address)            (``POST /api/assignments``, new or resume)  60 reloads
LIMIT_ASSIGNMENTS_PER_WORKER   client + worker id   10 a minute, bucket of 20                   a few reloads
_PER_MINUTE
LIMIT_HELD_PER_CLIENT          client               100 assignments holding a list at once      30
                                                    (charged as long as the list is held: until
                                                    completed, expired or replaced)
LIMIT_ELIGIBILITY_PER_MINUTE   client               600 a minute, bucket of 1,200               HIT browsing
LIMIT_ELIGIBILITY_PER_WORKER   client + worker id   60 a minute, bucket of 120
_PER_MINUTE
=============================  ===================  ==========================================  =============

Every bucket holds two minutes' worth. 0 turns a limit off. A refused request gets
`RateLimited` (429, ``Retry-After``) and changes nothing.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import orjson

from kernel.errors import RateLimited
from kernel.settings import Settings
from kernel.store import keys
from kernel.store.fastredis import scripts_together
from kernel.store.scripts import scripts_for

UNKNOWN_CLIENT = "unknown"
HELD_FULL_WAIT_MS = 60_000
"""Retry-After of a client at its held cap: its holds end only when it completes or they expire."""
IN_FLIGHT_MS = 60_000
"""A held assignment without a record yet is an allocation in flight for this long, then forgotten."""


def client_ip(scope) -> str:
    """The client address of an ASGI ``scope`` (after uvicorn's ``--proxy-headers`` rewrite)."""
    client = scope.get("client")
    return client[0] if client and client[0] else UNKNOWN_CLIENT


def _buckets(ip: str, name: str, worker_id: str, per_minute: int, per_worker_per_minute: int):
    found = []
    if per_minute:
        found.append((keys.limit_bucket(ip, name), per_minute))
    if per_worker_per_minute:
        found.append((keys.limit_worker_bucket(ip, name, worker_id), per_worker_per_minute))
    return found


@dataclass(frozen=True)
class Charge:
    """One ``ratelimit.lua`` call: its keys and arguments, and how to read its reply. A caller may queue it in
    its own write to Redis (`kernel.assignments.eligibility` with the check it charges for, `Admission` with
    an allocation's first scripts)."""

    keys: list
    args: list
    n_buckets: int
    held: int
    what: str
    whose: str

    def call(self, r) -> tuple:
        """``(script, keys, args)``, as `kernel.store.fastredis.scripts_together` takes a script call."""
        return scripts_for(r).ratelimit, self.keys, self.args

    def refusal(self, reply) -> RateLimited | None:
        """None when the reply admits the request, else the `RateLimited` to raise."""
        wait_ms, which = reply
        if int(wait_ms) == 0:
            return None
        retry_after_s = max(1, math.ceil(int(wait_ms) / 1000))
        if int(which) > self.n_buckets:
            message = (f"this address already holds {self.held} unfinished tasks, the most one address may hold; "
                       f"try again in {retry_after_s} s")
        else:
            message = f"too many {self.what} {self.whose}; try again in {retry_after_s} s"
        return RateLimited(message, retry_after_s)


def _charge(ip: str, buckets, held: int, member: str, now_ms: int, what: str,
            whose: str = "from this address") -> Charge | None:
    hold = bool(held and member)
    if not buckets and not hold:
        return None
    keys_ = [k for k, _ in buckets] + ([keys.limit_held(ip)] if hold else [])
    # each bucket holds two minutes' worth (ratelimit.lua): its refill per minute says it all
    args = [now_ms, member if hold else "", held, HELD_FULL_WAIT_MS, *(per_minute for _, per_minute in buckets)]
    return Charge(keys_, args, len(buckets), held, what, whose)


async def _judge(r, ip: str, charge: Charge, reply, hold_ms: tuple[int, int], now_ms: int) -> None:
    """Raise `RateLimited` when ratelimit.lua's ``reply`` to ``charge`` refused (asking again once the
    client's ended holds are forgotten, when its held cap refused)."""
    if int(reply[0]) and int(reply[1]) > charge.n_buckets and await _forget_ended_holds(r, ip, now_ms, *hold_ms):
        reply = await scripts_for(r).ratelimit(keys=charge.keys, args=charge.args)
    refused = charge.refusal(reply)
    if refused is not None:
        raise refused


async def _admit(r, ip: str, buckets, held: int, member: str, hold_ms: tuple[int, int], now_ms: int,
                 what: str, whose: str = "from this address") -> None:
    charge = _charge(ip, buckets, held, member, now_ms, what, whose)
    if charge is not None:
        await _judge(r, ip, charge, await scripts_for(r).ratelimit(keys=charge.keys, args=charge.args), hold_ms,
                     now_ms)


async def admit_assignment(r, settings: Settings, ip: str, worker_id: str, assignment_id: str,
                           now_ms: int) -> None:
    """Charge a ``POST /api/assignments`` to its client and hold ``assignment_id``; raises `RateLimited`."""
    buckets = _buckets(ip, "assignments", worker_id, settings.limit_assignments_per_minute,
                       settings.limit_assignments_per_worker_per_minute)
    await _admit(r, ip, buckets, settings.limit_held_per_client, assignment_id,
                 (settings.allotted_minutes * 60_000, settings.first_trial_minutes * 60_000), now_ms, "task requests")


async def admit_arrival(r, settings: Settings, experiment_id: str, now_ms: int) -> None:
    """Charge a new participant placed in ``experiment_id`` (through `admit_participant`) to the experiment's
    bucket, shared by every address (``MVT_LIMIT_ARRIVALS_PER_MIN``); raises `RateLimited`.

    Per-address limits slow one address; this bounds how fast any number of addresses can take an
    experiment's lists with invented participant ids.
    """
    if settings.limit_arrivals_per_min:
        await _admit(r, experiment_id, [(keys.limit_arrivals(experiment_id), settings.limit_arrivals_per_min)],
                     0, "", (0, 0), now_ms, "participants arriving", "at this study right now")


async def admit_participant(r, settings: Settings, ip: str, worker_id: str, assignment_id: str, now_ms: int, *,
                            experiment_id: str | None = None, link_id: str | None = None) -> None:
    """Charge a request that may place a participant: to its client (`admit_assignment`) and, when
    ``assignment_id`` has no list yet, to the arrivals of its experiment (`admit_arrival`), named
    or read from ``link_id``'s meta. Every platform's way in (MTurk's ``POST /api/assignments``,
    the Prolific and panel pages) goes through here; raises `RateLimited` and then holds nothing.
    """
    admission = Admission(r, settings, ip, worker_id, assignment_id, now_ms, experiment_id, link_id)
    await admission.judge(await scripts_together(r, *admission.calls()))


class Admission:
    """`admit_participant` in two halves, so that its first commands ride in the caller's write to Redis
    (`kernel.assignments.allocate` sends them with its own, `scripts_together`): `calls` to send, then
    `judge` of their replies, which raises `RateLimited` (and asks more of Redis only for an arrival or a
    client at its held cap). The same checks and charges, without an asyncio task of their own: the
    request's task awaits every reply (a task per concurrent step, with its WeakSet entry, was ~7 % of a
    returning assignment's server CPU in a profile of ``scripts/bench_server``, 2026-12-06)."""

    def __init__(self, r, settings: Settings, ip: str, worker_id: str, assignment_id: str, now_ms: int,
                 experiment_id: str | None = None, link_id: str | None = None):
        self.r, self.settings, self.ip, self.assignment_id, self.now_ms = r, settings, ip, assignment_id, now_ms
        self.experiment_id, self.link_id = experiment_id, link_id
        self.buckets = _buckets(ip, "assignments", worker_id, settings.limit_assignments_per_minute,
                                settings.limit_assignments_per_worker_per_minute)
        self.charge = _charge(ip, self.buckets, settings.limit_held_per_client, assignment_id, now_ms,
                              "task requests")

    def calls(self) -> list:
        """The commands to send: ratelimit.lua's call, and with an arrivals limit the reads that tell a new
        participant (``(None, command, ())``, as `scripts_together` takes them)."""
        found = [self.charge.call(self.r)] if self.charge is not None else []
        if self.settings.limit_arrivals_per_min:
            found.append((None, ("HGET", keys.assignment_links(), self.assignment_id), ()))
            if self.experiment_id is None:
                found.append((None, ("HGET", keys.link_meta(self.link_id), "experiment_id"), ()))
        return found

    async def judge(self, replies: list) -> None:
        """Raise `RateLimited` (or a reply's exception) unless the replies to `calls` admit the request."""
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        s = self.settings
        if self.charge is not None:
            await _judge(self.r, self.ip, self.charge, replies[0],
                         (s.allotted_minutes * 60_000, s.first_trial_minutes * 60_000), self.now_ms)
        if not s.limit_arrivals_per_min:
            return
        found = replies[1 if self.charge is not None else 0:]
        experiment = self.experiment_id or found[1]
        if found[0] is None and experiment:  # an unknown link names no experiment: refused later as such
            try:
                await admit_arrival(self.r, s, experiment.decode() if isinstance(experiment, bytes) else experiment,
                                    self.now_ms)
            except RateLimited:
                await release(self.r, s, self.ip, self.assignment_id)
                raise


def eligibility_charge(settings: Settings, ip: str, worker_id: str, now_ms: int) -> Charge | None:
    """The charge of a ``GET /api/eligibility`` to its client (None: its limits are off), for
    `kernel.assignments.eligibility` to send with the check."""
    buckets = _buckets(ip, "eligibility", worker_id, settings.limit_eligibility_per_minute,
                       settings.limit_eligibility_per_worker_per_minute)
    return _charge(ip, buckets, 0, "", now_ms, "eligibility checks")


async def admit_eligibility(r, settings: Settings, ip: str, worker_id: str, now_ms: int) -> None:
    """Charge a ``GET /api/eligibility`` to its client; raises `RateLimited`."""
    charge = eligibility_charge(settings, ip, worker_id, now_ms)
    if charge is not None:
        refused = charge.refusal(await scripts_for(r).ratelimit(keys=charge.keys, args=charge.args))
        if refused is not None:
            raise refused


def holds_a_list(record: dict | None, activity_ms, now_ms: int, allotted_ms: int, first_trial_ms: int) -> bool:
    """Whether an assignment (its ``record`` in ``keys.link_assignments``, its last activity in
    ``keys.link_activity``) still keeps a list from others: unfinished, active within the allotted
    time, and, before its first answer, started within the first-trial time."""
    if record is None or record.get("completed_ms") or record.get("status") not in ("in_progress", "to_replace"):
        return False
    if activity_ms is None or float(activity_ms) <= now_ms - allotted_ms:
        return False
    return bool(record.get("n_done")) or record.get("started_ms", now_ms) > now_ms - first_trial_ms


async def _forget_ended_holds(r, ip: str, now_ms: int, allotted_ms: int, first_trial_ms: int) -> int:
    """Remove from the client's held set the assignments that no longer hold a list; how many.

    The held set forgets nothing with time (a list kept alive by answers stays charged to its
    client); this is run when the client reaches its cap, so its cost falls on that client.
    """
    held = await r.execute_command("ZRANGE", keys.limit_held(ip), 0, -1, "WITHSCORES")
    # RESP2 answers member, score, member, …; RESP3 [member, score] pairs
    pairs = [tuple(p) for p in held] if held and isinstance(held[0], (list, tuple)) else list(zip(held[::2], held[1::2]))
    if not pairs:
        return 0
    members = [m.decode() if isinstance(m, bytes) else m for m, _ in pairs]
    links = await r.execute_command("HMGET", keys.assignment_links(), *members)
    lookups = []
    for member, link in zip(members, links):
        if link:
            link = link.decode() if isinstance(link, bytes) else link
            lookups += [("HGET", keys.link_assignments(link), member), ("ZSCORE", keys.link_activity(link), member)]
    found = await asyncio.gather(*(r.execute_command(*command) for command in lookups))
    records = iter(found)
    ended = []
    for (member, admitted_ms), link in zip(zip(members, (float(s) for _, s in pairs)), links):
        if not link:
            if admitted_ms <= now_ms - IN_FLIGHT_MS:
                ended.append(member)
            continue
        raw, activity = next(records), next(records)
        if not holds_a_list(orjson.loads(raw) if raw else None, activity, now_ms, allotted_ms, first_trial_ms):
            ended.append(member)
    if ended:
        await r.execute_command("ZREM", keys.limit_held(ip), *ended)
    return len(ended)


async def release(r, settings: Settings, ip: str, assignment_id: str) -> None:
    """The client no longer holds ``assignment_id`` (completed, refused, or a finished one resumed)."""
    if settings.limit_held_per_client:
        await r.execute_command("ZREM", keys.limit_held(ip), assignment_id)
