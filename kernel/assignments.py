"""Who gets which list: allocation, the eligibility check, and completion records.

Allocation is two Lua scripts, each atomic within one hash slot (valid on Redis Cluster):

1. ``reserve.lua`` on the worker's keys: refuse a blocked worker; a link already in the
   worker's set passes (resume, or refusal below); otherwise add it unless the set already
   holds ``MVT_MAX_TASKS_PER_WORKER`` links, or (adaptive studies, whose batches regroup images
   into new links) the worker was given another link showing one of this link's images
   (``seen_link``; the link's images, a field of its meta, are passed in as this process last
   read them, and added to the worker's ``keys.worker_images`` in the same script; step 2
   refuses stale ones, and both steps run again with the images read afresh).
2. ``allocate.lua`` on the link's keys: the same assignment gets the same list; a worker who
   ever held a list of the link is refused (``seen_link``); then a never-used list, else a list
   marked for replacement, else the unfinished list idle longest if idle more than
   ``MVT_ALLOTTED_MINUTES``; else ``link_full``.

When step 2 refuses a link that step 1 had just added, the link is removed from the worker's
set again, unless the worker holds a list of it (won meanwhile by a concurrent request of
theirs: removing it then would let them exceed the cap). The set may thus briefly hold a link
the worker did not get, which can only make a concurrent request of the same worker see the
cap early: never exceed it.

Step 1 leaves in one write with the client's limits (`kernel.limits`) and two plain reads of the link's
slot: the assignment's kept answer (``keys.link_served``) and its record
(`kernel.store.fastredis.scripts_together`). An unfinished assignment of the worker whose kept answer
matches the caller's tag is answered from it after this one round trip (its activity time then written,
``ZADD XX``, not awaited, only once the reservation and the limits admitted it, so a refused request
changes nothing); any other goes on to allocate.lua, which resumes, refuses or allocates. The answer is
kept when an assignment first comes back (most never do). Two HGETs cost Redis less than the read-only
call of allocate.lua they replace (an EVALSHA costs ~5 µs before its first command), which a new
assignment paid too (docs/reliability.md, round 6). redis-py's clients (tests, tools) skip the two
reads: they would take a pooled connection each.

The hot-path functions take a ``redis.asyncio.Redis``; `completion_record` a ``redis.Redis``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson

from kernel.store import keys
from kernel import tally
from kernel.control import count_event
from kernel.errors import MVTError, UnknownAssignment
from kernel.reasons import refusal
from kernel.store.fastredis import Prepacked, both, pairs, scripts_together
from kernel.store.scripts import scripts_for


def now_ms() -> int:
    """Server time in milliseconds since the epoch."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Allocation:
    """A list given to (or resumed by) an assignment."""

    assignment_id: str
    link_id: str
    worker_id: str
    list_index: int
    new: bool
    video_ids: list[str]
    next_trial: int
    completed: bool
    completion_code: str | None
    n_trials: int
    options: list[str]
    kind: str = "mvt"
    answer: str | None = None
    """The kept answer (`allocate`'s ``keep_answer``), when the caller asked for one."""


async def _unreserve(r, link_id: str, worker_id: str, images) -> None:
    """Take ``link_id`` (and its images) out of the worker's sets again after a refusal, unless
    they hold a list of it. The images were not in the set before (reserve.lua refuses a link
    showing a seen image), so removing them forgets nothing the worker saw."""
    await r.srem(keys.worker_links(worker_id), link_id)
    if images:
        await r.srem(keys.worker_images(worker_id), *images)
    if await r.hget(keys.link_workers(link_id), worker_id) is not None:
        # A concurrent request of this worker won the link before the SREM: put it back.
        pipe = r.pipeline(transaction=False)
        pipe.sadd(keys.worker_links(worker_id), link_id)
        if images:
            pipe.sadd(keys.worker_images(worker_id), *images)
        await pipe.execute()


async def allocate(r, link_id: str, worker_id: str, assignment_id: str, hit_id: str, *,
                   cap: int, allotted_ms: int, now: int | None = None, admit=None,
                   first_trial_ms: int | None = None, answer_tag: str | None = None,
                   keep_answer: Callable[[Allocation], str] | None = None) -> Allocation:
    """Give ``assignment_id`` a list of ``link_id`` (or the one it already has).

    With no list free, the list of a holder idle for ``allotted_ms`` is taken over (expired), or
    else of one that has not answered a trial ``first_trial_ms`` (default: ``allotted_ms``) after
    its start (``MVT_FIRST_TRIAL_MINUTES``).

    ``admit``, a `kernel.limits.Admission` (its commands sent with the first scripts, then judged) or an
    awaitable such as `kernel.limits.admit_assignment` (run beside them), is sent in the same write to
    Redis as the first scripts; when it raises, nothing is allocated and the exception propagates.

    The answer kept for the assignment (``keys.link_served``): ``keep_answer(allocation)`` makes it (a
    string starting with the line ``answer_tag``) when an unfinished assignment is resumed without one, and
    it is stored; an assignment whose kept answer starts with ``answer_tag`` and whose record still shows it
    unfinished and the worker's is answered from it (the Allocation's ``answer``, without the tag line,
    ``video_ids`` and ``options`` empty) after the first round trip alone.

    Raises `WorkerBlocked`, `CapReached`, `UnknownLink`, `SeenLink`, `LinkFull`, `WrongWorker`,
    `AssignmentExpired` or `AssignmentReplaced`.
    """
    scripts = scripts_for(r)
    now = now_ms() if now is None else now
    served_key, records = keys.link_served(link_id), keys.link_assignments(link_id)
    link_keys = [keys.link_meta(link_id), keys.link_lists(link_id), keys.link_free(link_id), keys.link_slots(link_id),
                 records, keys.link_workers(link_id), keys.link_activity(link_id),
                 keys.link_replace(link_id), keys.link_unstarted(link_id), served_key]
    worker_keys = [keys.worker_links(worker_id), keys.worker_blocked(worker_id), keys.worker_images(worker_id)]
    for attempt in (1, 2):
        # The link's slot holds its images, the worker's slot the images they saw: reserve.lua checks
        # and writes the worker's side with the images kept per process (`_LINK_IMAGES`), and
        # allocate.lua, on the link's slot, answers stale_images when they are no longer the
        # link's (a reloaded link): then they are read again and both steps retried.
        raw_images = _LINK_IMAGES.get(link_id)
        if raw_images is None or attempt == 2:
            raw_images = await r.hget(keys.link_meta(link_id), "images") or ""
            if len(_LINK_IMAGES) >= 10_000:
                _LINK_IMAGES.clear()
            _LINK_IMAGES[link_id] = raw_images
        images = orjson.loads(raw_images) if raw_images else []
        reserve = (scripts.reserve, worker_keys, [link_id, cap, *images])
        link_args = [worker_id, assignment_id, hit_id, now, allotted_ms, first_trial_ms or allotted_ms, raw_images]
        kept = raw_record = None
        if attempt == 1:
            # The first write reads the assignment's kept answer and record (two plain reads, the kept
            # answer first: the record read after it is the newer) beside the reservation and the limits
            # (``admit``): a returning assignment is answered in this one round trip.
            calls = getattr(admit, "calls", None)  # a `kernel.limits.Admission`: its commands join this write
            # (only `FastRedis` and `FastRedisCluster`, which have ``fire``: redis-py's clients would send each
            # read on a pooled connection of its own, and allocate as before)
            reads = [(None, ("HGET", served_key, assignment_id), ()), (None, ("HGET", records, assignment_id), ())] \
                if hasattr(r, "fire") else []
            asked = scripts_together(r, reserve, *reads, *(calls() if calls else ()))
            if admit is None or calls:
                reserved, *admitted = await asked
                if reads:
                    kept, raw_record, *admitted = admitted
                if calls:
                    try:
                        await admit.judge(admitted)
                    except BaseException:
                        if reserved == "added":
                            await _unreserve(r, link_id, worker_id, images)
                        raise
            else:
                admitted, asked = await both(admit, asked)
                if isinstance(asked, BaseException):
                    raise asked
                reserved, *read = asked
                if reads:
                    kept, raw_record = read
                if isinstance(admitted, BaseException):
                    if reserved == "added":
                        await _unreserve(r, link_id, worker_id, images)
                    raise admitted
            for outcome in (reserved, kept, raw_record):
                if isinstance(outcome, BaseException):
                    raise outcome
        else:
            reserved = await reserve[0](keys=reserve[1], args=reserve[2])
        if reserved == "seen_image" and attempt == 1 and images:
            continue  # maybe refused for images the link no longer shows: read them and ask again
        if reserved in ("blocked", "cap_reached", "seen_image"):
            raise refusal(reserved, link=link_id, worker=worker_id, assignment=assignment_id, cap=cap)
        if kept is not None and raw_record is not None and answer_tag is not None:
            found = await _answered(r, kept, raw_record, answer_tag, link_id, worker_id, assignment_id, now)
            if found is not None:
                return found
        result = await scripts.allocate(keys=link_keys, args=link_args)
        outcome = result[0]
        if outcome != "stale_images":
            break
        if reserved == "added":
            await _unreserve(r, link_id, worker_id, images)
    else:  # reloaded twice within one request: nothing was allocated
        raise MVTError(f"link {link_id} was reloaded during this request; try again")
    if outcome == "refused":
        # seen_link: the worker holds a list of the link (maybe won just now by a concurrent
        # request of theirs), so the link stays in their set.
        if reserved == "added" and result[1] != "seen_link":
            await _unreserve(r, link_id, worker_id, images)
        raise refusal(result[1], link=link_id, worker=worker_id, assignment=assignment_id, cap=cap)
    _, index, video_ids, next_trial, done, code, n_trials, options, kind = result[:9]
    a = Allocation(assignment_id, link_id, worker_id, int(index), outcome == "new", orjson.loads(video_ids),
                   int(next_trial), bool(done), code or None, int(n_trials), orjson.loads(options), kind or "mvt")
    # Kept when the assignment first comes back, not at allocation: most never do, and an allocation that
    # kept its answer (~1.5 KB more written to Redis) cost more than a returning request saves later.
    keep = keep_answer is not None and outcome == "resume" and not a.completed and result[9] == "in_progress"
    if keep:
        a = replace(a, answer=keep_answer(a))
    if outcome == "new":
        pipe = r.pipeline(transaction=False)
        pipe.hsetnx(keys.assignment_links(), assignment_id, link_id)
        count_event(pipe, "arrivals", link_id, now)
        if result[10]:  # the control room's counts (kernel/tally.py)
            tally.allocated(pipe, result[10], link_id, assignment_id, result[11], result[12], now)
        if reserved == "seen":
            # A concurrent request of this worker may have removed the link after its own refusal.
            pipe.sadd(keys.worker_links(worker_id), link_id)
            if images:
                pipe.sadd(keys.worker_images(worker_id), *images)
        await pipe.execute()
    elif keep:  # a resume without a kept answer of this tag: kept for its next request (lost: built again)
        await _fire(r, "HSET", served_key, assignment_id, a.answer)
    if a.answer is not None:
        a = replace(a, answer=a.answer[a.answer.index("\n") + 1:])
    return a


async def _answered(r, kept: str, raw_record: str, answer_tag: str, link_id: str, worker_id: str, assignment_id: str,
              now: int) -> Allocation | None:
    """The returning assignment answered from its kept answer, or None when the kept answer is not for
    ``answer_tag`` or the record (read after it) no longer shows the worker's unfinished list.

    The reload counts as activity (``ZADD XX``: not if the list went meanwhile), written once the
    reservation and the limits admitted the request. Nobody waits for it: lost, the list is only as
    idle as it was before this request."""
    head, newline, answer = kept.partition("\n")
    if head != answer_tag or not newline:
        return None
    rec = orjson.loads(raw_record)
    if rec.get("worker") != worker_id or rec.get("status") != "in_progress" or rec.get("completed_ms"):
        return None  # allocate.lua refuses, or answers a completed task in full
    await _fire(r, "ZADD", keys.link_activity(link_id), "XX", now, assignment_id)
    return Allocation(assignment_id, link_id, worker_id, int(rec["list"]), False, [], int(rec.get("next", 0)),
                      False, None, 0, [], "", answer=answer)


async def _fire(r, *command) -> None:
    """Send ``command`` without waiting for its reply (`FastRedis.fire`; other clients await it)."""
    fire = getattr(r, "fire", None)
    if fire is not None:
        fire(*command)
    else:
        await r.execute_command(*command)


_LINK_IMAGES: dict[str, str | bytes] = {}
"""Per process: link id → its meta's ``images`` as stored ("" for none), as `allocate` last read them;
allocate.lua answers stale_images when they changed, so a stale entry costs one retry, never a
wrong check. Saves a round trip to Redis per allocation."""


@dataclass(frozen=True)
class Eligibility:
    """Whether a worker could start (or resume) a task on a link now."""

    eligible: bool
    reason: str | None


async def eligibility(r, link_id: str, worker_id: str, assignment_id: str | None = None, *,
                      cap: int, allotted_ms: int, now: int | None = None,
                      first_trial_ms: int | None = None, charge=None) -> Eligibility:
    """The landing page's check, mirroring `allocate` without changing anything (one round trip).

    Reasons: ``blocked``, ``cap_reached``, ``unknown_link``, ``seen_link`` (also: another link
    given to the worker showed one of this link's images), ``paused``, ``link_full``. A second
    round trip only when the link has images (adaptive studies) and the worker was not given it;
    a fixed design's link costs what it did.

    Nine reads (the worker's hash slot, the link's) sent in one write with ``charge`` (a
    `kernel.limits.Charge`, the client's ``ratelimit.lua``), whose refusal is raised first (`RateLimited`);
    their replies come back through one future (`kernel.store.fastredis`). The same reads as two read-only
    Lua scripts cost Redis 12.6 µs of CPU a request against 4.1 (an EVALSHA costs ~5 µs before its first
    command) and the route 5 µs more in all (in-process driver, 3 x 20,000 requests, 2026-12-06).
    """
    now = now_ms() if now is None else now
    pipe = r.pipeline(transaction=False)
    if charge is not None:
        await scripts_for(r).ratelimit(keys=charge.keys, args=charge.args, client=pipe)
    links = keys.worker_links(worker_id)
    meta, workers, free, replace, activity, unstarted, reads = _check_keys(link_id)
    pipe.exists(keys.worker_blocked(worker_id)).sismember(links, link_id).scard(links)
    prepacked = getattr(pipe, "prepacked", None)
    if prepacked is not None:  # FastRedis: the link's reads were packed once (`_check_keys`)
        prepacked(reads[0]).hget(workers, worker_id).prepacked(reads[1]).prepacked(reads[2])
        prepacked(reads[3], pairs).prepacked(reads[4], pairs)
    else:  # another client (redis-py's, in tests and tools)
        pipe.hmget(meta, "n_lists", "images", "paused").hget(workers, worker_id).llen(free).scard(replace)
        pipe.zrange(activity, 0, 0, withscores=True).zrange(unstarted, 0, 0, withscores=True)
    replies = await pipe.execute()
    if charge is not None:
        refused = charge.refusal(replies[0])
        if refused is not None:
            raise refused
    blocked, member, n_links, meta, held, n_free, n_replace, oldest, unstarted = replies[-9:]
    exists, images, paused = meta[0] is not None, meta[1], meta[2]
    if blocked:
        return Eligibility(False, "blocked")
    if not member and n_links >= cap:
        return Eligibility(False, "cap_reached")
    if not exists:
        return Eligibility(False, "unknown_link")
    if held is not None:
        if held == assignment_id:
            raw = await r.hget(keys.link_assignments(link_id), held)
            status = orjson.loads(raw)["status"] if raw else None
            if status in ("in_progress", "complete", "to_replace"):
                return Eligibility(True, None)
        return Eligibility(False, "seen_link")
    if images and not member:
        seen = await r.pipeline(transaction=False).smismember(keys.worker_images(worker_id),
                                                              *orjson.loads(images)).execute()
        if any(seen[0]):
            return Eligibility(False, "seen_link")
    if paused == "1":
        return Eligibility(False, "paused")
    if n_free or n_replace or (oldest and oldest[0][1] <= now - allotted_ms):
        return Eligibility(True, None)
    if unstarted and unstarted[0][1] <= now - (first_trial_ms or allotted_ms):
        return Eligibility(True, None)  # probably: allocate checks that it is still unanswered
    return Eligibility(False, "link_full")


def _check_keys(link_id: str) -> tuple:
    """The link's keys the check reads, and its five reads that name no worker as `Prepacked` commands, made
    once per link and process (`_CHECK_KEYS`)."""
    found = _CHECK_KEYS.get(link_id)
    if found is None:
        if len(_CHECK_KEYS) >= 10_000:
            _CHECK_KEYS.clear()
        meta, workers, free, replace, activity, unstarted = (
            keys.link_meta(link_id), keys.link_workers(link_id), keys.link_free(link_id), keys.link_replace(link_id),
            keys.link_activity(link_id), keys.link_unstarted(link_id))
        reads = (Prepacked("HMGET", meta, "n_lists", "images", "paused"), Prepacked("LLEN", free),
                 Prepacked("SCARD", replace), Prepacked("ZRANGE", activity, 0, 0, "WITHSCORES"),
                 Prepacked("ZRANGE", unstarted, 0, 0, "WITHSCORES"))
        found = _CHECK_KEYS[link_id] = (meta, workers, free, replace, activity, unstarted, reads)
    return found


_CHECK_KEYS: dict[str, tuple] = {}


def assignment_link(r, assignment_id: str) -> str | None:
    """The link an assignment id was allocated on, or None (sync client).

    The index is written after the allocation script; when that write was lost (Redis or the
    server went away in between, and the client's retry was a resume), the links are searched
    and the index repaired.
    """
    link_id = r.hget(keys.assignment_links(), assignment_id)
    if link_id is not None:
        return link_id
    links = sorted(r.smembers(keys.links_index()))
    pipe = r.pipeline(transaction=False)
    for link in links:
        pipe.hget(keys.link_assignments(link), assignment_id)
    held = [(orjson.loads(raw).get("started_ms", 0), link) for link, raw in zip(links, pipe.execute()) if raw]
    if not held:
        return None
    link_id = min(held)[1]
    r.hsetnx(keys.assignment_links(), assignment_id, link_id)
    return link_id


def assignment_record(r, assignment_id: str) -> tuple[str, dict]:
    """``(link_id, record)`` of an allocated assignment (sync client); raises `UnknownAssignment`."""
    link_id = assignment_link(r, assignment_id)
    raw = r.hget(keys.link_assignments(link_id), assignment_id) if link_id else None
    if raw is None:
        raise UnknownAssignment(f"assignment {assignment_id!r} was never given a list by this server")
    return link_id, orjson.loads(raw)


def resumed_assignment(r, assignment_id: str) -> str | None:
    """The unfinished assignment a participant resumed when they came back under ``assignment_id``
    (Prolific: a new SESSION_ID; `kernel.placement`), or None (sync client)."""
    return r.hget(keys.assignment_resumed(), assignment_id)


def completion_record(r, assignment_id: str) -> dict | None:
    """``{assignment_id, worker_id, hit_id, link_id, completion_code, completed_at}`` when the
    server recorded the assignment's completion, else None. ``completed_at`` is ISO 8601 UTC."""
    try:
        link_id, rec = assignment_record(r, assignment_id)
    except UnknownAssignment:
        return None
    if not rec.get("completed_ms"):
        return None
    return {"assignment_id": assignment_id, "worker_id": rec["worker"], "hit_id": rec["hit"], "link_id": link_id,
            "completion_code": rec["code"], "completed_at": iso_ms(rec["completed_ms"])}


def iso_ms(ms: int | float) -> str:
    """ISO 8601 UTC with milliseconds for a time in ms since the epoch."""
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
