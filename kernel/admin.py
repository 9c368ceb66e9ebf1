"""Analyst actions: replace assignments, block and unblock workers, progress per link (sync client)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import redis as redis_py

from kernel import tally
from kernel.store import keys
from kernel.assignments import assignment_link
from kernel.store.scripts import scripts_for


@dataclass(frozen=True)
class LinkProgress:
    """How far one link is: lists complete, in progress, marked for replacement, never used."""

    link_id: str
    n_lists: int
    complete: int
    in_progress: int
    to_replace: int
    free: int


def mark_for_replacement(r: redis_py.Redis, assignment_ids) -> list[str]:
    """Mark assignments so that the next new worker on their link takes their list over.

    Returns the ids marked by this call; unknown ids, ids already marked, and ids whose list
    already went to someone else are left out.
    """
    marked = []
    for assignment_id in assignment_ids:
        link_id = assignment_link(r, assignment_id)
        if link_id is None:
            continue
        outcome = scripts_for(r).replace(
            keys=[keys.link_assignments(link_id), keys.link_slots(link_id), keys.link_activity(link_id),
                  keys.link_replace(link_id)],
            args=[assignment_id])
        if outcome in ("marked", "marked_finished"):
            marked.append(assignment_id)
            if experiment_id := r.hget(keys.link_meta(link_id), "experiment_id"):
                pipe = r.pipeline(transaction=False)
                tally.marked(pipe, experiment_id, link_id, assignment_id, outcome == "marked")
                pipe.execute()
    return marked


def block_workers(r: redis_py.Redis, worker_ids) -> None:
    """Block workers: they get no new list, cannot resume one, and their next response is refused.

    The block is the worker's key (read by reserve.lua, the eligibility check and completion), copied
    into ``keys.link_blocked`` of every link the worker was given, where record.lua reads it in the link's
    hash slot: a response then costs one round trip to Redis, not a read of the worker's key before the
    script (docs/reliability.md). The key is set first and reserve.lua refuses a blocked worker, so no link
    given after the copy is read can miss it; `copy_blocks` copies the blocks of stores written before 0.2.0.
    """
    for worker_id in worker_ids:
        r.set(keys.worker_blocked(worker_id), "1")
        r.sadd(keys.blocked_index(), worker_id)
        _copy_block(r, worker_id, "sadd")


def unblock_workers(r: redis_py.Redis, worker_ids) -> None:
    """Lift a block."""
    for worker_id in worker_ids:
        _copy_block(r, worker_id, "srem")
        r.delete(keys.worker_blocked(worker_id))
        r.srem(keys.blocked_index(), worker_id)


def copy_blocks(r: redis_py.Redis) -> None:
    """Copy every block into the blocked worker's links (idempotent; run at the server's start, for stores
    whose blocks were set before `block_workers` copied them)."""
    for worker_id in blocked_workers(r):
        if r.exists(keys.worker_blocked(worker_id)):
            _copy_block(r, worker_id, "sadd")


def _copy_block(r: redis_py.Redis, worker_id: str, how: str) -> None:
    """Add the worker to (``sadd``) or remove them from (``srem``) the blocked set of each of their links."""
    links = r.smembers(keys.worker_links(worker_id))
    if links:
        pipe = r.pipeline(transaction=False)
        for link_id in links:
            getattr(pipe, how)(keys.link_blocked(link_id.decode() if isinstance(link_id, bytes) else link_id),
                               worker_id)
        pipe.execute()


def blocked_workers(r: redis_py.Redis) -> list[str]:
    """Blocked worker ids, sorted."""
    return sorted(r.smembers(keys.blocked_index()))


def link_progress(r: redis_py.Redis) -> list[LinkProgress]:
    """One `LinkProgress` per loaded link, sorted by link id."""
    progress = []
    for link_id in sorted(r.smembers(keys.links_index())):
        n_lists = int(r.hget(keys.link_meta(link_id), "n_lists") or 0)
        holders = r.hgetall(keys.link_slots(link_id))
        records = r.hmget(keys.link_assignments(link_id), list(holders.values())) if holders else []
        counts = {"complete": 0, "in_progress": 0, "to_replace": 0}
        for raw in records:
            status = orjson.loads(raw)["status"] if raw else None
            if status in counts:
                counts[status] += 1
        progress.append(LinkProgress(link_id, n_lists, counts["complete"], counts["in_progress"],
                                     counts["to_replace"], int(r.llen(keys.link_free(link_id)))))
    return progress
