"""Atomicity proven by racing: many concurrent HTTPS clients against the real server, exact counts."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter

import httpx
import pytest

from kernel import admin
from kernel.responses import decode_response
from kernel.store import keys
from studies.loader import load_experiment
from tests.fixtures.server import write_experiment

pytestmark = pytest.mark.both_stores


@pytest.fixture(scope="module")
def race_experiment(tmp_path_factory):
    """Link race-001 has 42 lists; links race-002..race-011 have 3 lists each."""
    exp = write_experiment(tmp_path_factory.mktemp("race") / "big", experiment_id="race", n_links=1, n_lists=42,
                           n_trials=2)
    small = write_experiment(tmp_path_factory.mktemp("race") / "small", experiment_id="rsmall", n_links=10,
                             n_lists=3, n_trials=2)
    return exp, small


@pytest.fixture
def server(synthetic_server, race_experiment):
    for exp in race_experiment:
        load_experiment(synthetic_server.redis, exp)
    return synthetic_server


def race(server, requests):
    """POST every (path, json) at once, each on its own connection; return the responses in order."""
    ctx = ssl.create_default_context(cafile=str(server.certfile))

    async def main():
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=len(requests))
        async with httpx.AsyncClient(base_url=server.base_url, verify=ctx, timeout=60, limits=limits) as client:
            gate = asyncio.Event()

            async def one(path, body):
                await gate.wait()
                return await client.post(path, json=body)
            tasks = [asyncio.create_task(one(path, body)) for path, body in requests]
            await asyncio.sleep(0.05)
            gate.set()
            return await asyncio.gather(*tasks)
    return asyncio.run(main())


def assignment(link, worker, asg):
    return "/api/assignments", {"link": link, "worker_id": worker, "assignment_id": asg, "hit_id": "H"}


def test_300_workers_race_for_42_lists(server):
    responses = race(server, [assignment("race-001", f"W{i}", f"A{i}") for i in range(300)])
    won = [r.json() for r in responses if r.status_code == 200]
    lost = [r.json() for r in responses if r.status_code != 200]
    assert len(won) == 42 and len(lost) == 258
    assert {r["reason"] for r in lost} == {"link_full"}
    slots = server.redis.hgetall(keys.link_slots("race-001"))
    assert len(set(slots)) == 42 and len(set(slots.values())) == 42
    assert {w["assignment_id"] for w in won} == set(slots.values())
    workers = server.redis.hgetall(keys.link_workers("race-001"))
    assert len(workers) == 42
    assert all(not server.redis.sismember(keys.worker_links(f"W{i}"), "race-001")
               for i in range(300) if f"W{i}" not in workers)


def test_one_worker_racing_on_ten_links_gets_exactly_the_cap(server):
    cap = server.settings.max_tasks_per_worker
    responses = race(server, [assignment(f"rsmall-{k:03d}", "W1", f"A{k}") for k in range(1, 11)])
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: cap, 409: 10 - cap}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"cap_reached"}
    assert server.redis.scard(keys.worker_links("W1")) == cap


def test_one_assignment_racing_with_itself_gets_one_list(server):
    responses = race(server, [assignment("race-001", "W1", "A1")] * 40)
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["assignment_token"] for r in responses}) == 1
    assert server.redis.llen(keys.link_free("race-001")) == 41


def test_one_worker_racing_with_many_assignments_on_one_link_gets_one(server):
    responses = race(server, [assignment("race-001", "W1", f"A{i}") for i in range(30)])
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 29}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"seen_link"}


def _fill(server, link, n):
    responses = race(server, [assignment(link, f"F{i}", f"FA{i}") for i in range(n)])
    assert {r.status_code for r in responses} == {200}
    return {r.json()["assignment_id"]: int(r.json()["assignment_token"].split(".")[3]) for r in responses}


def test_replacement_race_gives_each_marked_list_to_exactly_one_new_worker(server):
    held = _fill(server, "race-001", 42)
    marked = sorted(held)[:5]
    assert admin.mark_for_replacement(server.redis, marked) == marked
    responses = race(server, [assignment("race-001", f"N{i}", f"NA{i}") for i in range(60)])
    won = [r.json() for r in responses if r.status_code == 200]
    assert len(won) == 5
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"link_full"}
    assert sorted(int(w["assignment_token"].split(".")[3]) for w in won) == sorted(held[a] for a in marked)
    old = race(server, [assignment("race-001", f"F{a[2:]}", a) for a in marked])
    assert {r.json()["reason"] for r in old} == {"replaced"}


def test_expiry_race_gives_each_idle_list_to_exactly_one_new_worker(server):
    held = _fill(server, "race-001", 42)
    idle = sorted(held)[:3]
    for a in idle:  # idle since the epoch: long past MVT_ALLOTTED_MINUTES
        server.redis.zadd(keys.link_activity("race-001"), {a: 0})
    responses = race(server, [assignment("race-001", f"N{i}", f"NA{i}") for i in range(60)])
    won = [r.json() for r in responses if r.status_code == 200]
    assert sorted(int(w["assignment_token"].split(".")[3]) for w in won) == sorted(held[a] for a in idle)
    assert Counter(r.status_code for r in responses) == {200: 3, 409: 57}
    old = race(server, [assignment("race-001", f"F{a[2:]}", a) for a in idle])
    assert {r.json()["reason"] for r in old} == {"expired"}


def test_responses_race_first_write_wins(server):
    token = race(server, [assignment("race-001", "W1", "A1")])[0].json()["assignment_token"]
    answers = ["cat", "dog"] * 20
    responses = race(server, [("/api/responses", {"assignment_token": token, "trial": 0, "response": a})
                              for a in answers])
    assert Counter(r.json()["duplicate"] for r in responses) == {True: 39, False: 1}
    stored = server.redis.hget(keys.link_responses("race-001"), "A1:0")
    first = next(a for a, r in zip(answers, responses) if not r.json()["duplicate"])
    assert decode_response(stored, 0)["response"] == first
