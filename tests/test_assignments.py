"""Allocation, eligibility, responses and completion at the library level, on a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from kernel import admin, export
from kernel.store import keys
from kernel.assignments import allocate, completion_record, eligibility
from kernel.errors import (AssignmentExpired, AssignmentReplaced, BadTrial, CapReached, Incomplete, LinkFull,
                        SeenLink, UnknownLink, WorkerBlocked, WrongWorker)
from studies.loader import load_experiment
from kernel.responses import complete, record_response
from kernel.tokens import TokenData, completion_code
from tests.fixtures.redis import run_with_async_redis
from tests.fixtures.server import write_experiment

pytestmark = pytest.mark.both_stores

KEY = b"k" * 32
CAP, ALLOTTED = 2, 60_000


def alloc(r, link, worker, asg, now=1_000_000):
    return allocate(r, link, worker, asg, "H1", cap=CAP, allotted_ms=ALLOTTED, now=now)


def token(a):
    return TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)


@pytest.fixture
def exp(redis, tmp_path):
    load_experiment(redis, write_experiment(tmp_path / "e", n_links=3, n_lists=2, n_trials=3))
    return redis


def test_lists_are_handed_out_once_then_the_link_is_full(exp, redis_url):
    async def scenario(r):
        a = await alloc(r, "synth-001", "W1", "A1")
        b = await alloc(r, "synth-001", "W2", "A2")
        assert {a.list_index, b.list_index} == {0, 1} and a.new and b.new
        again = await alloc(r, "synth-001", "W1", "A1")
        assert (again.list_index, again.new, again.next_trial) == (a.list_index, False, 0)
        with pytest.raises(LinkFull, match=r"every list of link synth-001 is taken"):
            await alloc(r, "synth-001", "W3", "A3")
        with pytest.raises(SeenLink, match=r"worker W1 has already seen the images of link synth-001"):
            await alloc(r, "synth-001", "W1", "A9")
        with pytest.raises(WrongWorker, match=r"assignment A1 belongs to another worker"):
            await alloc(r, "synth-001", "W2", "A1")
        with pytest.raises(UnknownLink, match=r"link 'nope' is not part of any loaded experiment"):
            await alloc(r, "nope", "W5", "A5")
        assert await r.smembers(keys.worker_links("W3")) == set()  # refused: not counted
        assert await r.smembers(keys.worker_links("W5")) == set()
    run_with_async_redis(redis_url, scenario)


def test_cap_and_block(exp, redis_url):
    async def scenario(r):
        await alloc(r, "synth-001", "W1", "A1")
        await alloc(r, "synth-002", "W1", "A2")
        with pytest.raises(CapReached, match=r"worker W1 has already done the maximum of 2 tasks"):
            await alloc(r, "synth-003", "W1", "A3")
        assert (await eligibility(r, "synth-003", "W1", cap=CAP, allotted_ms=ALLOTTED)).reason == "cap_reached"
        assert (await eligibility(r, "synth-001", "W1", "A1", cap=CAP, allotted_ms=ALLOTTED)).eligible
        assert (await eligibility(r, "synth-001", "W1", cap=CAP, allotted_ms=ALLOTTED)).reason == "seen_link"
        admin.block_workers(exp, ["W1"])
        with pytest.raises(WorkerBlocked, match=r"worker W1 is blocked"):
            await alloc(r, "synth-001", "W1", "A1")
        assert (await eligibility(r, "synth-001", "W1", cap=CAP, allotted_ms=ALLOTTED)).reason == "blocked"
        admin.unblock_workers(exp, ["W1"])
        assert (await alloc(r, "synth-001", "W1", "A1")).assignment_id == "A1"
    run_with_async_redis(redis_url, scenario)


def test_a_block_reaches_the_next_response_also_when_set_before_links_carried_it(exp, redis_url):
    async def scenario(r):
        t = token(await alloc(r, "synth-001", "W1", "A1"))
        await record_response(r, t, 0, "cat", {})
        exp.set(keys.worker_blocked("W1"), "1")  # as a store written before 0.2.0 holds a block
        exp.sadd(keys.blocked_index(), "W1")
        admin.copy_blocks(exp)  # the server's start
        with pytest.raises(WorkerBlocked, match=r"^worker W1 is blocked from this experiment$"):
            await record_response(r, t, 1, "cat", {})
        admin.unblock_workers(exp, ["W1"])
        assert (await record_response(r, t, 1, "cat", {})).next_trial == 2
        admin.block_workers(exp, ["W1"])
        with pytest.raises(WorkerBlocked):
            await record_response(r, t, 2, "cat", {})
    run_with_async_redis(redis_url, scenario)


def test_expired_slot_is_taken_over_and_the_old_worker_refused(exp, redis_url):
    async def scenario(r):
        a = await alloc(r, "synth-001", "W1", "A1", now=0)
        await alloc(r, "synth-001", "W2", "A2", now=50_000)
        assert (await eligibility(r, "synth-001", "W3", cap=CAP, allotted_ms=ALLOTTED, now=59_999)).reason == "link_full"
        assert (await eligibility(r, "synth-001", "W3", cap=CAP, allotted_ms=ALLOTTED, now=60_000)).eligible
        c = await alloc(r, "synth-001", "W3", "A3", now=60_000)
        assert c.list_index == a.list_index
        with pytest.raises(AssignmentExpired, match=r"assignment A1 was idle too long"):
            await alloc(r, "synth-001", "W1", "A1", now=60_001)
        with pytest.raises(AssignmentExpired):
            await record_response(r, token(a), 0, "cat", {})
        with pytest.raises(SeenLink):
            await alloc(r, "synth-001", "W1", "A7", now=60_001)
    run_with_async_redis(redis_url, scenario)


def test_responses_resume_complete_replace_and_export(exp, redis_url):
    async def scenario(r):
        a = await alloc(r, "synth-001", "W1", "A1")
        t = token(a)
        times = ",".join(f"{i}:{i * 1000 / 60:.1f}" for i in range(101))
        rec = await record_response(r, t, 1, "dog", {"frame_log": "0-100", "frame_times": times,
                                                     "timing_source": "rvfc"})
        assert (rec.duplicate, rec.next_trial) == (False, 0)
        rec = await record_response(r, t, 0, "dog", {"frame_log": "0-29,31-100"})
        assert (rec.duplicate, rec.next_trial, rec.timing_ok) == (False, 2, False)
        dup = await record_response(r, t, 0, "cat", {})
        assert (dup.duplicate, dup.next_trial, dup.timing_ok) == (True, 2, False)
        assert (await alloc(r, "synth-001", "W1", "A1")).next_trial == 2
        with pytest.raises(BadTrial, match="trial 3 does not exist"):
            await record_response(r, t, 3, "cat", {})
        with pytest.raises(Incomplete, match="only 2 of 3 trials are recorded"):
            await complete(r, t, completion_code(KEY, t))
        await record_response(r, t, 2, "cat", {"hidden_during_video": True, "frame_log": "0-100"})
        done = await complete(r, t, completion_code(KEY, t))
        assert done.completion_code == completion_code(KEY, t) and done.n_trials == 3
        assert (await complete(r, t, "other")).completion_code == done.completion_code
        return a
    a = run_with_async_redis(redis_url, scenario)
    record = completion_record(exp, "A1")
    assert record["completion_code"] == completion_code(KEY, token(a)) and record["worker_id"] == "W1"
    rows = list(export.iter_response_rows(exp))
    assert [(x["trial"], x["response"], x["correct"], x["presented_frames"], x["timing_ok"]) for x in rows] == [
        (0, "dog", False, rows[0]["frames"] - 1, False),
        (1, "dog", True, rows[1]["frames"], True),
        (2, "cat", True, rows[2]["frames"], False),
    ]
    assert rows[0]["assignment_status"] == "complete"
    assert [p.__dict__ for p in admin.link_progress(exp)][0] == {
        "link_id": "synth-001", "n_lists": 2, "complete": 1, "in_progress": 0, "to_replace": 0, "free": 1}
    assert admin.mark_for_replacement(exp, ["A1", "nope"]) == ["A1"]
    assert admin.mark_for_replacement(exp, ["A1"]) == []

    async def takeover(r):
        await alloc(r, "synth-001", "W2", "A2")
        b = await alloc(r, "synth-001", "W3", "A3")
        assert b.list_index == a.list_index
        with pytest.raises(AssignmentReplaced):
            await alloc(r, "synth-001", "W1", "A1")
    run_with_async_redis(redis_url, takeover)
    assert {x["assignment_status"] for x in export.iter_response_rows(exp)} == {"replaced"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_histories_never_show_a_worker_an_image_twice(redis, redis_url, tmp_path, seed):
    """Random allocations, reloads, replacements and expiries; the invariants hold after each step."""
    import json
    import random

    load_experiment(redis, write_experiment(tmp_path / "e", n_links=4, n_lists=3, n_trials=3))
    rng = random.Random(seed)
    links = [f"synth-{k:03d}" for k in range(1, 5)]
    workers = [f"W{i}" for i in range(10)]

    def images_of(link, index):
        return {json.loads(redis.hget(keys.link_answers(link), f"{index}:{t}"))[2] for t in range(3)}

    async def scenario(r):
        now, issued = 0, []
        for step in range(300):
            now += rng.choice([1_000, 10_000, 30_000])
            action = rng.random()
            if action < 0.7 or not issued:
                worker, link = rng.choice(workers), rng.choice(links)
                asg = rng.choice([a for w, lk, a in issued if w == worker and lk == link] or [f"A{step}"])
                try:
                    a = await allocate(r, link, worker, asg, "H", cap=CAP, allotted_ms=ALLOTTED, now=now)
                    if a.new:
                        issued.append((worker, link, asg))
                except (LinkFull, SeenLink, CapReached, AssignmentExpired, AssignmentReplaced):
                    pass
            elif action < 0.85:
                admin.mark_for_replacement(exp_client, [rng.choice(issued)[2]])
            else:
                worker, link, asg = rng.choice(issued)
                try:
                    await record_response(r, TokenData(asg, link, worker, json.loads(
                        redis.hget(keys.link_assignments(link), asg))["list"]), rng.randrange(3), "cat", {}, now=now)
                except (AssignmentExpired, AssignmentReplaced):
                    pass
            for worker in workers:
                held = [(lk, json.loads(redis.hget(keys.link_assignments(lk), a))["list"])
                        for w, lk, a in issued if w == worker]
                seen = [img for lk, index in held for img in images_of(lk, index)]
                assert len(seen) == len(set(seen)), (step, worker, held)
                assert len({lk for lk, _ in held}) == len(held) <= CAP
            for link in links:
                holders = redis.hgetall(keys.link_slots(link))
                assert len(set(holders.values())) == len(holders) <= 3
                assert redis.llen(keys.link_free(link)) + len(holders) == 3
        return issued

    exp_client = redis
    issued = run_with_async_redis(redis_url, scenario)
    assert len(issued) > 10


@pytest.mark.parametrize("a_assignment, refused", [("A1", SeenLink), ("AX", WrongWorker)])
def test_a_refused_concurrent_request_does_not_drop_a_link_the_worker_holds(exp, redis_url, a_assignment, refused):
    """Request A (reserved first) is refused after request B of the same worker won the link.

    A's clean-up must not take the link out of the worker's set, or the worker could exceed
    the cap: A reserves ("added"), B reserves ("seen"), B allocates and finishes, then A is
    refused (``seen_link``; ``wrong_worker`` for another worker's assignment id) and removes
    its reservation.
    """
    from dataclasses import replace

    from kernel.store.scripts import scripts_for

    async def scenario(r):
        await alloc(r, "synth-001", "W9", "AX")
        real = scripts_for(r)
        a_reserved, b_done = asyncio.Event(), asyncio.Event()
        w1_links = keys.worker_links("W1")

        async def allocate_script(keys=(), args=()):
            if args[1] == a_assignment:  # A's calls on the link (the first is sent beside its reservation)
                while "synth-001" not in await r.smembers(w1_links):  # A's reservation is in
                    await asyncio.sleep(0.01)
                a_reserved.set()
                await b_done.wait()
            return await real.allocate(keys=keys, args=args)
        r._mvt_scripts = replace(real, allocate=allocate_script)

        async def b():
            await a_reserved.wait()  # after A's reservation (a fixed pause raced a slow Redis)
            won = await alloc(r, "synth-001", "W1", "A2")
            b_done.set()
            return won
        a_result, b_result = await asyncio.gather(alloc(r, "synth-001", "W1", a_assignment), b(),
                                                  return_exceptions=True)
        assert isinstance(a_result, refused) and b_result.assignment_id == "A2"
        assert await r.smembers(keys.worker_links("W1")) == {"synth-001"}
        await alloc(r, "synth-002", "W1", "A3")
        with pytest.raises(CapReached):  # W1 holds two links: the cap (2) is reached
            await alloc(r, "synth-003", "W1", "A4")
    run_with_async_redis(redis_url, scenario)


def test_an_assignment_whose_link_index_write_was_lost_is_still_found(exp, redis_url):
    """The Lua allocation succeeded but the follow-up write (assignment → link) failed, e.g. Redis
    went away: the client retries (a resume), finishes, and the completion record and
    ``mvt replace`` must still find the assignment."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def scenario(r):
        real_pipeline = r.pipeline

        class Failing:
            def __getattr__(self, name):
                return lambda *a, **k: self

            async def execute(self):
                raise RedisConnectionError("the connection to Redis was lost")
        r.pipeline = lambda transaction=True: Failing()
        with pytest.raises(RedisConnectionError):
            await alloc(r, "synth-001", "W1", "A1")
        r.pipeline = real_pipeline
        a = await alloc(r, "synth-001", "W1", "A1")
        assert not a.new
        for trial in range(3):
            await record_response(r, token(a), trial, "cat", {})
        await complete(r, token(a), completion_code(KEY, token(a)))
        return a
    a = run_with_async_redis(redis_url, scenario)
    record = completion_record(exp, "A1")
    assert record is not None and record["completion_code"] == completion_code(KEY, token(a))
    assert admin.mark_for_replacement(exp, ["A1"]) == ["A1"]
