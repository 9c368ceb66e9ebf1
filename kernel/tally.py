"""Per-experiment list counts for the control room, kept as lists change hands (never a scan of links).

The control room's overview (``app.control.overview``) reads, per experiment, one hash of counts
(``keys.experiment_tally``), the unfinished holders that may have gone idle (``keys.tally_holders``)
and the last task times (``keys.tally_task_times``) instead of every link's free list, slots,
activity and replace set: O(experiments) keys, not O(links).

Each link script stays in its link's hash slot (Redis Cluster), so it cannot write these
experiment-wide keys itself: it says what changed (allocate.lua: the experiment, where the list
came from and whose it was; complete.lua: whether an unfinished holder finished, its start;
replace.lua: whether the marked list's holder was unfinished) and its caller adds the change to the
pipeline it sends anyway (allocation's, completion's) with the functions below. Per link ``L``
the hash holds ``L|n`` lists, ``L|h`` lists handed out (= the link's slots), ``L|u`` unfinished
holders (= its activity zset) and ``L|r`` lists marked for replacement (= its replace set), so that

    free = n − h,   done = h − u − r,   in progress = u − idle,   expired = idle

as the scan computes them (``app.control.overview_scan``). An unfinished holder idle for longer than
the allotted time (``idle``) is found from ``keys.tally_holders``: its scores are the last activity
known here (the allocation); only holders whose known activity is that old are checked against
their link's activity zset (one ZSCORE each), and their score brought up to date, so a recompute
checks each active holder about once per allotted time.

`recount` rebuilds an experiment's counts from its links when it has none: its first ``mvt load``, or
the overview's first look at a store loaded before 0.5 (`recount_untallied`). A recount is not atomic
with the allocations it reads (their callers count them afterwards), so it is never run on an experiment
that already has counts: loading more links into one (an adaptive study's next batch) counts each new
link with `add_link` before its keys exist. `forget` removes the counts (``mvt drop``).

A change is lost when its caller never sends its pipeline: the server process dies, or its connection to
Redis fails or stalls, between the script and the pipeline (the client's retry resumes the assignment,
counting nothing). The link's unfinished count then stays one too high (`idle_holders` removes the
holder it no longer finds, but not the count) until the experiment is dropped and loaded again.
"""

from __future__ import annotations

import secrets

import orjson

from kernel.store import keys

TASK_TIMES = 1000
"""Completed tasks' times kept per experiment (the median task time is theirs)."""
CHECK_IDLE = 5000
"""Holders checked against their link per read at most (more idle-looking holders: the rest count as idle)."""


def allocated(pipe, experiment_id: str, link_id: str, assignment_id: str, source: str, before: str,
              now_ms: int) -> None:
    """Count a new list handed out (allocate.lua's "new"): from the free list (``source`` "free"), from a
    list marked for replacement ("replace") or taken over from an idle holder ``before`` ("expire")."""
    tally, holders = keys.experiment_tally(experiment_id), keys.tally_holders(experiment_id)
    if source == "free":
        pipe.hincrby(tally, f"{link_id}|h", 1)
    elif source == "replace":
        pipe.hincrby(tally, f"{link_id}|r", -1)
    if source != "expire":
        pipe.hincrby(tally, f"{link_id}|u", 1)
    if before and source == "expire":
        pipe.zrem(holders, f"{link_id}:{before}")
    pipe.zadd(holders, {f"{link_id}:{assignment_id}": now_ms})


def completed(pipe, experiment_id: str, link_id: str, assignment_id: str, unfinished: bool, task_s: float) -> None:
    """Count a task completed for the first time (complete.lua); ``unfinished``: its holder still held the
    list (not marked for replacement before finishing)."""
    if unfinished:
        pipe.hincrby(keys.experiment_tally(experiment_id), f"{link_id}|u", -1)
        pipe.zrem(keys.tally_holders(experiment_id), f"{link_id}:{assignment_id}")
    pipe.lpush(keys.tally_task_times(experiment_id), f"{link_id}:{assignment_id}:{task_s:.3f}")
    pipe.ltrim(keys.tally_task_times(experiment_id), 0, TASK_TIMES - 1)


def marked(pipe, experiment_id: str, link_id: str, assignment_id: str, unfinished: bool) -> None:
    """Count a list marked for replacement (replace.lua's "marked" or "marked_finished")."""
    tally = keys.experiment_tally(experiment_id)
    pipe.hincrby(tally, f"{link_id}|r", 1)
    if unfinished:
        pipe.hincrby(tally, f"{link_id}|u", -1)
        pipe.zrem(keys.tally_holders(experiment_id), f"{link_id}:{assignment_id}")


def paused(pipe, experiment_id: str, link_id: str, is_paused: bool) -> None:
    """Note a link paused or reopened (`kernel.control.set_paused`)."""
    if is_paused:
        pipe.hset(keys.experiment_tally(experiment_id), f"{link_id}|p", "1")
    else:
        pipe.hdel(keys.experiment_tally(experiment_id), f"{link_id}|p")


def add_link(r, experiment_id: str, kind: str, link_id: str, n_lists: int) -> None:
    """Count a link about to be (re)loaded into an experiment that has counts: ``n_lists`` lists, none
    handed out, unfinished or to replace (a link is reloaded only while it has no assignments). Called
    before the link's keys are written, so no allocation on it can be counted first."""
    tally = keys.experiment_tally(experiment_id)
    pipe = r.pipeline(transaction=False)
    pipe.hset(tally, mapping={"kind": kind, "epoch": secrets.token_hex(8), f"{link_id}|n": n_lists,
                              f"{link_id}|h": 0, f"{link_id}|u": 0, f"{link_id}|r": 0})
    pipe.hdel(tally, f"{link_id}|p")
    pipe.execute()


def is_tallied(r, experiment_id: str) -> bool:
    """Whether the experiment has counts (`recount` or `add_link` made them)."""
    return bool(r.sismember(keys.tally_index(), experiment_id))


def recount_untallied(r) -> list[str]:
    """`recount` every loaded experiment that has no counts (a store loaded before 0.5); those recounted."""
    tallied = r.smembers(keys.tally_index())
    missing = sorted(set(_links_of(r)) - set(tallied))
    for experiment in missing:
        recount(r, experiment)
    return missing


def _links_of(r) -> dict[str, list[tuple[str, dict]]]:
    """Experiment id → its loaded links with their meta's experiment_id, kind, n_lists, paused."""
    links = sorted(r.smembers(keys.links_index()))
    pipe = r.pipeline(transaction=False)
    for link in links:
        pipe.hmget(keys.link_meta(link), ["experiment_id", "kind", "n_lists", "paused"])
    out: dict[str, list[tuple[str, dict]]] = {}
    for link, (experiment, kind, n_lists, is_paused) in zip(links, pipe.execute()):
        if experiment:
            out.setdefault(experiment, []).append(
                (link, {"kind": kind or "mvt", "n_lists": int(n_lists or 0), "paused": is_paused == "1"}))
    return out


def recount(r, experiment_id: str | None = None) -> list[str]:
    """Rebuild the counts of ``experiment_id`` (None: of every loaded experiment) from its links' keys
    (a scan of every link and record: for ``mvt load``, not for a page); the experiments recounted.
    Experiments no longer loaded lose their counts."""
    by_experiment = _links_of(r)
    chosen = [experiment_id] if experiment_id is not None else sorted(by_experiment)
    for experiment in chosen:
        links = by_experiment.get(experiment, [])
        pipe = r.pipeline(transaction=False)
        for link, _ in links:
            pipe.hlen(keys.link_slots(link))
            pipe.zrange(keys.link_activity(link), 0, -1, withscores=True)
            pipe.scard(keys.link_replace(link))
            pipe.hgetall(keys.link_assignments(link))
        replies = pipe.execute()
        tally: dict[str, str | int] = {}
        holders: dict[str, float] = {}
        times: list[tuple[int, str]] = []
        for i, (link, meta) in enumerate(links):
            handed_out, activity, to_replace, records = replies[4 * i:4 * i + 4]
            tally.update({f"{link}|n": meta["n_lists"], f"{link}|h": handed_out, f"{link}|u": len(activity),
                          f"{link}|r": to_replace})
            if meta["paused"]:
                tally[f"{link}|p"] = "1"
            holders.update({f"{link}:{a}": score for a, score in activity})
            for assignment, raw in records.items():
                rec = orjson.loads(raw)
                if rec.get("completed_ms") and rec.get("started_ms"):
                    times.append((rec["completed_ms"], f"{link}:{assignment}:"
                                  f"{(rec['completed_ms'] - rec['started_ms']) / 1000:.3f}"))
        pipe = r.pipeline(transaction=True)
        names = _keys(experiment)
        pipe.delete(*names)
        if links:
            pipe.hset(names[0], mapping={"kind": links[0][1]["kind"], "epoch": secrets.token_hex(8), **tally})
            if holders:
                pipe.zadd(names[1], holders)
            newest = [entry for _, entry in sorted(times, reverse=True)[:TASK_TIMES]]
            if newest:
                pipe.rpush(names[2], *newest)
            pipe.sadd(keys.tally_index(), experiment)
        else:
            pipe.srem(keys.tally_index(), experiment)
        pipe.execute()
    return chosen


def _keys(experiment_id: str) -> tuple[str, str, str]:
    """An experiment's counts, holders and task times."""
    return (keys.experiment_tally(experiment_id), keys.tally_holders(experiment_id),
            keys.tally_task_times(experiment_id))


def forget(r, experiment_id: str) -> None:
    """Remove an experiment's counts (``mvt drop``)."""
    pipe = r.pipeline(transaction=True)
    pipe.delete(*_keys(experiment_id))
    pipe.srem(keys.tally_index(), experiment_id)
    pipe.execute()


def idle_holders(r, experiment_id: str, idle_before: int) -> dict[str, int]:
    """Link id → its unfinished holders last active before ``idle_before`` (ms), for one experiment.

    Only holders whose last activity known here is that old are checked against their link's activity
    (a bounded read, at most `CHECK_IDLE`); those active since get their score brought up to date,
    those gone (a change lost with a killed process) are removed."""
    holders = keys.tally_holders(experiment_id)
    suspects = r.zrangebyscore(holders, "-inf", f"({idle_before}", start=0, num=CHECK_IDLE)
    if not suspects:
        return {}
    pipe = r.pipeline(transaction=False)
    for member in suspects:
        link, _, assignment = member.partition(":")
        pipe.zscore(keys.link_activity(link), assignment)
    scores = pipe.execute()
    idle: dict[str, int] = {}
    fresh, gone = {}, []
    for member, score in zip(suspects, scores):
        if score is None:
            gone.append(member)
        elif score >= idle_before:
            fresh[member] = score
        else:
            link = member.partition(":")[0]
            idle[link] = idle.get(link, 0) + 1
    if len(suspects) == CHECK_IDLE:  # not all checked: the rest count as idle
        for member in r.zrangebyscore(holders, "-inf", f"({idle_before}", start=CHECK_IDLE, num=-1):
            link = member.partition(":")[0]
            idle[link] = idle.get(link, 0) + 1
    if fresh or gone:
        pipe = r.pipeline(transaction=False)
        if fresh:
            pipe.zadd(holders, fresh, xx=True)
        if gone:
            pipe.zrem(holders, *gone)
        pipe.execute()
    return idle
