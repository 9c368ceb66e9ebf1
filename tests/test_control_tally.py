"""The control room's counts (kernel/tally.py) against the full scan of every link, through a study's life."""

from __future__ import annotations

import asyncio

import pytest

from app.control import overview, overview_scan
from kernel import tally
from kernel.admin import mark_for_replacement
from kernel.assignments import allocate
from kernel.control import set_paused
from kernel.drop import drop, plan_drop
from kernel.errors import MVTError
from kernel.responses import complete, record_response
from kernel.store import keys
from kernel.store.fastredis import connect
from kernel.tokens import TokenData
from simulation.synthetic import write_experiment
from studies.loader import load_experiment

ALLOTTED_MIN = 10
T0 = 1_900_000_000_000
MINUTE = 60_000


def same(r, now_ms: int) -> list:
    """The overview from the counts, checked equal to the one from every link's keys; it is returned."""
    counted, scanned = overview(r, ALLOTTED_MIN, now_ms=now_ms), overview_scan(r, ALLOTTED_MIN, now_ms=now_ms)
    assert counted == scanned
    return counted


@pytest.mark.both_stores  # the counts are written from pipelines that mix hash slots
def test_the_counts_equal_the_full_scan_through_allocations_answers_expiry_replacement_reloads_and_drops(
        redis, redis_url, store_kind, tmp_path, monkeypatch):
    import app.control as figures

    monkeypatch.setattr(figures, "_RECOUNTED", [-figures.RECOUNT_S])  # this process has not recounted yet
    r = redis
    study = write_experiment(tmp_path / "study", experiment_id="study", n_links=3, n_lists=3, n_trials=3)
    pilot = write_experiment(tmp_path / "pilot", experiment_id="pilot", n_links=1, n_lists=2, n_trials=2)
    load_experiment(r, study)
    load_experiment(r, pilot)

    async def run() -> None:
        ar = await connect(redis_url)
        held: dict[str, TokenData] = {}

        async def arrive(link: str, worker: str, now: int) -> str | None:
            try:
                a = await allocate(ar, link, worker, f"A-{worker}", "H1", cap=9, allotted_ms=ALLOTTED_MIN * MINUTE,
                                   now=now, first_trial_ms=ALLOTTED_MIN * MINUTE)
            except MVTError:
                return None
            held[worker] = TokenData(a.assignment_id, link, worker, a.list_index)
            return a.assignment_id

        async def answer(worker: str, trials, now: int, finish: bool = False) -> None:
            for trial in trials:
                await record_response(ar, held[worker], trial, "cat", {"frame_log": "0-100", "dpr": 1}, now=now)
            if finish:
                await complete(ar, held[worker], "CODE", now=now + 1)

        # Arrivals on every link; some finish (task times 2 and 5 minutes), some answer part, one nothing.
        for i, link in enumerate(["study-001", "study-001", "study-001", "study-002", "study-002", "pilot-001"]):
            await arrive(link, f"W{i}", T0 + i)
        await answer("W0", range(3), T0 + 2 * MINUTE, finish=True)
        await answer("W1", range(3), T0 + 5 * MINUTE, finish=True)
        await answer("W2", [0], T0 + MINUTE)
        await answer("W3", [0, 1], T0 + 3 * MINUTE)
        await answer("W5", range(2), T0 + 4 * MINUTE, finish=True)
        await complete(ar, held["W0"], "CODE", now=T0 + 9 * MINUTE)  # a repeated completion counts once
        same(r, T0 + 6 * MINUTE)
        # Replacement of a finished task and of one in progress; a new arrival takes a marked list over.
        assert sorted(mark_for_replacement(r, ["A-W1", "A-W3", "A-W1"])) == ["A-W1", "A-W3"]
        same(r, T0 + 6 * MINUTE)
        assert await arrive("study-002", "W6", T0 + 7 * MINUTE)  # the last free list
        assert await arrive("study-002", "W7", T0 + 7 * MINUTE)  # W3's marked list
        assert await arrive("study-002", "W8", T0 + 7 * MINUTE) is None  # link full: nobody idle yet
        same(r, T0 + 7 * MINUTE)
        # Holders idle past the allotted time count as expired until the next arrival takes their list.
        [_, study] = same(r, T0 + 30 * MINUTE)
        assert (study.expired, study.to_replace, study.done) == (4, 1, 1)  # W2, W4, W6, W7; W1; W0
        assert await arrive("study-001", "W9", T0 + 31 * MINUTE)   # W1's marked list
        assert await arrive("study-001", "W10", T0 + 31 * MINUTE)  # W2's list (idle)
        assert await arrive("study-002", "W11", T0 + 31 * MINUTE)  # W4's (never answered)
        await answer("W10", range(3), T0 + 32 * MINUTE, finish=True)
        [_, study] = same(r, T0 + 33 * MINUTE)
        assert (study.done, study.to_replace, study.in_progress, study.expired) == (2, 0, 2, 2)  # W0, W10; W9, W11
        # A holder active since the last look is not idle (its known activity is brought up to date).
        await answer("W6", [0], T0 + 40 * MINUTE)
        [_, study] = same(r, T0 + 45 * MINUTE)
        assert (study.in_progress, study.expired) == (1, 3)  # W6; W7, W9, W11
        set_paused(r, ["pilot-001"], True)
        assert [e.paused for e in same(r, T0 + 45 * MINUTE)] == [True, False]
        await ar.aclose()

    asyncio.run(run())
    before = same(r, T0 + 45 * MINUTE)
    load_experiment(r, study)  # mvt load again: the counts are rebuilt, the figures stay
    assert same(r, T0 + 45 * MINUTE) == before
    drop(r, plan_drop(r, "pilot"))
    assert [e.experiment_id for e in same(r, T0 + 45 * MINUTE)] == ["study"]
    assert not r.exists(keys.experiment_tally("pilot"), keys.tally_holders("pilot"), keys.tally_task_times("pilot"))
    load_experiment(r, pilot)  # loaded again after the drop: nothing of before
    [again, _] = same(r, T0 + 45 * MINUTE)
    assert (again.done, again.in_progress, again.free, again.median_task_s) == (0, 0, 2, None)
    # A store of an earlier version has no counts: the first overview makes them.
    r.delete(keys.experiment_tally("study"))
    r.srem(keys.tally_index(), "study")
    assert same(r, T0 + 45 * MINUTE) == [again, before[1]]


def test_overview_reads_the_counts_not_every_link(redis, tmp_path, monkeypatch):
    """With its counts kept, the overview does not read a link's slots, free list or replace set."""
    import app.control as figures

    load_experiment(redis, write_experiment(tmp_path / "e", n_links=3))
    figures.overview(redis, ALLOTTED_MIN)
    monkeypatch.setattr(figures, "_link_rows", None)  # the scan's reader
    monkeypatch.setattr(tally, "recount", None)
    [e] = figures.overview(redis, ALLOTTED_MIN)
    assert (e.n_lists, e.free, len(e.links)) == (12, 12, 3)


def test_loading_a_running_experiment_again_counts_an_allocation_under_way_once(redis, redis_url, tmp_path):
    """`mvt load` of an experiment with counts (an adaptive study's next batch is loaded into the running one)
    between an allocation's script and its caller's count: counted once. It used to recount every link,
    reading the new holder, and then the caller's count added it a second time (in progress 2 of 3 lists,
    the scan 1)."""
    from dataclasses import replace

    from kernel.store.scripts import scripts_for

    exp = write_experiment(tmp_path / "s", experiment_id="s", n_links=1, n_lists=3, n_trials=2)
    load_experiment(redis, exp)

    async def run():
        ar = await connect(redis_url)
        real = scripts_for(ar)

        async def allocate_script(keys=(), args=()):
            got = await real.allocate(keys=keys, args=args)
            if got[0] == "new":
                load_experiment(redis, exp)  # the concurrent `mvt load s`
            return got
        ar._mvt_scripts = replace(real, allocate=allocate_script)
        await allocate(ar, "s-001", "W1", "A1", "H", cap=9, allotted_ms=600_000, now=T0)
        await ar.aclose()
    asyncio.run(run())
    counted = overview(redis, 10, now_ms=T0 + 1)
    assert (counted[0].in_progress, counted[0].free) == (1, 2)
    assert counted == overview_scan(redis, 10, now_ms=T0 + 1)


def test_counts_of_ended_minutes_kept_by_a_process_follow_a_drop(redis):
    """The dashboards' process keeps the counts of minutes that have ended; after `mvt drop` took an
    experiment's links out of them (or the store was flushed) it must not show the old counts again
    (a flaky 'completions in the last hour' 9 for 6 in CI came from the counts a process kept)."""
    from kernel.control import count_event, forget_links, per_minute

    now = T0 + 30 * MINUTE
    pipe = redis.pipeline(transaction=False)
    for link, when in (("s-001", now - 5 * MINUTE), ("s-001", now - 5 * MINUTE), ("t-001", now - 4 * MINUTE)):
        count_event(pipe, "completions", link, when)
    pipe.execute()
    kept: dict = {}
    before = per_minute(redis, "completions", now_ms=now, kept=kept)
    assert sum(m.get("s-001", 0) for m in before) == 2 and kept
    forget_links(redis, ["s-001"], now_ms=now)
    after = per_minute(redis, "completions", now_ms=now, kept=kept)
    assert (sum(m.get("s-001", 0) for m in after), sum(m.get("t-001", 0) for m in after)) == (0, 1)
