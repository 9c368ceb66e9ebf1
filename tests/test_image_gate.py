"""Adaptive studies: no worker is given two links showing the same image (reserve.lua's image gate)."""

from __future__ import annotations

import asyncio
import json

import pytest

from kernel.assignments import allocate, eligibility
from kernel.errors import LinkFull, SeenLink
from kernel.store import keys
from studies.loader import load_experiment
from tests.fixtures.redis import run_with_async_redis
from tests.fixtures.server import write_experiment

pytestmark = pytest.mark.both_stores

CAP, ALLOTTED = 5, 60_000


def alloc(r, link, worker, asg):
    return allocate(r, link, worker, asg, "H1", cap=CAP, allotted_ms=ALLOTTED, now=1_000_000)


def check(r, link, worker, asg=None):
    return eligibility(r, link, worker, asg, cap=CAP, allotted_ms=ALLOTTED, now=1_000_000)


def adaptive_experiment(tmp_path, n_lists_b2: int = 2):
    """Three batch-1 links (images img1_*, img2_*, img3_*) and a batch-2 link showing img1_0 and img2_0."""
    exp_dir = write_experiment(tmp_path / "e", n_links=3, n_lists=2, n_trials=3)
    design = json.loads((exp_dir / "design.json").read_text())
    first = {link["link_id"]: link for link in design["links"]}
    trial_a = first["synth-001"]["lists"][0][0]
    trial_b = first["synth-002"]["lists"][0][0]
    for link in design["links"]:
        link["batch"] = 1
    design["links"].append({"link_id": "synth-b2-001", "batch": 2, "image_ids": [trial_a["image_id"], trial_b["image_id"]],
                            "lists": [[trial_a, trial_b] for _ in range(n_lists_b2)]})
    design["adaptive"] = {"batches": 2}
    (exp_dir / "design.json").write_text(json.dumps(design))
    return exp_dir


@pytest.fixture
def adaptive(redis, tmp_path):
    load_experiment(redis, adaptive_experiment(tmp_path))
    return redis


def test_a_link_showing_a_seen_image_is_refused_and_a_disjoint_one_is_not(adaptive, redis_url):
    assert json.loads(adaptive.hget(keys.link_meta("synth-b2-001"), "images")) == ["synth/img1_0", "synth/img2_0"]

    async def scenario(r):
        await alloc(r, "synth-001", "W1", "A1")
        assert await check(r, "synth-b2-001", "W1") == await check(r, "synth-b2-001", "W1", "A9")
        assert (await check(r, "synth-b2-001", "W1")).reason == "seen_link"
        with pytest.raises(SeenLink, match=r"worker W1 has already seen images of link synth-b2-001 in another "
                                           r"task of this experiment; each worker sees an image once"):
            await alloc(r, "synth-b2-001", "W1", "A2")
        assert await r.smembers(keys.worker_links("W1")) == {"synth-001"}
        # W2 saw only img3_*: the batch-2 link is theirs to take, and then links 1 and 2 are not.
        await alloc(r, "synth-003", "W2", "A3")
        assert (await check(r, "synth-b2-001", "W2")).eligible
        b2 = await alloc(r, "synth-b2-001", "W2", "A4")
        assert b2.new and (await alloc(r, "synth-b2-001", "W2", "A4")).new is False  # resume
        assert (await check(r, "synth-b2-001", "W2", "A4")).eligible
        for link in ("synth-001", "synth-002"):
            assert (await check(r, link, "W2")).reason == "seen_link"
            with pytest.raises(SeenLink):
                await alloc(r, link, "W2", f"A-{link}")
        assert await r.smembers(keys.worker_images("W2")) == {
            "synth/img3_0", "synth/img3_1", "synth/img3_2", "synth/img1_0", "synth/img2_0"}
    run_with_async_redis(redis_url, scenario)


def test_a_refused_link_leaves_no_images_behind(redis, redis_url, tmp_path):
    load_experiment(redis, adaptive_experiment(tmp_path, n_lists_b2=1))

    async def scenario(r):
        await alloc(r, "synth-b2-001", "W1", "A1")
        with pytest.raises(LinkFull):
            await alloc(r, "synth-b2-001", "W2", "A2")
        assert await r.smembers(keys.worker_images("W2")) == set()
        assert await r.smembers(keys.worker_links("W2")) == set()
        await alloc(r, "synth-001", "W2", "A3")   # img1_0 was never shown to W2
    run_with_async_redis(redis_url, scenario)


def test_racing_requests_of_one_worker_win_at_most_one_of_two_overlapping_links(adaptive, redis_url):
    async def scenario(r):
        tries = [alloc(r, link, "W1", f"A{i}") for i in range(20) for link in ("synth-001", "synth-b2-001")]
        outcomes = await asyncio.gather(*tries, return_exceptions=True)
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(won) == 1
        assert all(isinstance(o, SeenLink) for o in refused)
        assert await r.smembers(keys.worker_links("W1")) == {won[0].link_id}
        return won[0].link_id
    link = run_with_async_redis(redis_url, scenario)
    other = {"synth-001": "synth-b2-001", "synth-b2-001": "synth-001"}[link]
    assert adaptive.hkeys(keys.link_workers(link)) == ["W1"]
    assert adaptive.hlen(keys.link_workers(other)) == 0


def test_a_fixed_design_keeps_no_image_records(redis, redis_url, tmp_path):
    load_experiment(redis, write_experiment(tmp_path / "f", n_links=2, n_lists=2, n_trials=3))

    async def scenario(r):
        await alloc(r, "synth-001", "W1", "A1")
        await alloc(r, "synth-002", "W1", "A2")
        assert await r.smembers(keys.worker_images("W1")) == set()
    run_with_async_redis(redis_url, scenario)
    assert redis.hget(keys.link_meta("synth-001"), "images") is None


def test_a_link_whose_images_changed_is_gated_by_its_new_images(redis, redis_url, tmp_path):
    """`allocate` keeps a link's images per process; allocate.lua refuses stale ones, so after a
    reload changed them the gate checks the new images, never the kept ones."""
    load_experiment(redis, adaptive_experiment(tmp_path, n_lists_b2=4))

    async def scenario(r):
        await alloc(r, "synth-001", "W1", "A1")        # W1 saw img1_*
        await alloc(r, "synth-003", "W2", "A2")        # W2 saw img3_*
        await alloc(r, "synth-b2-001", "W3", "A3")     # kept: img1_0, img2_0
        await r.execute_command("HSET", keys.link_meta("synth-b2-001"), "images", json.dumps(["synth/img3_0"]))
        assert (await alloc(r, "synth-b2-001", "W4", "A4")).new    # passed with the kept images, then again
        assert await r.smembers(keys.worker_images("W4")) == {"synth/img3_0"}
        assert (await alloc(r, "synth-b2-001", "W1", "A5")).new    # img1_0 is no longer the link's
        with pytest.raises(SeenLink):
            await alloc(r, "synth-b2-001", "W2", "A6")
    run_with_async_redis(redis_url, scenario)
