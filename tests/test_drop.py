"""``mvt drop EXPERIMENT``: a dry run, then --commit removes every key and index entry of one
experiment and leaves the others as they were; on a single Redis and on a Redis Cluster."""

from __future__ import annotations

import ssl

import httpx
import pytest

from simulation.synthetic import write_experiment
from tests.test_admin import cli, do_task, store_line

pytestmark = pytest.mark.both_stores


def snapshot(r) -> dict:
    """Every ``mvt:`` key with its value (client limits excepted: they expire by themselves)."""
    read = {"hash": r.hgetall, "set": r.smembers, "list": lambda k: r.lrange(k, 0, -1),
            "zset": lambda k: r.zrange(k, 0, -1, withscores=True), "string": r.get}
    return {key: read[r.type(key)](key) for key in r.scan_iter(match="mvt:*") if not key.startswith("mvt:limit:")}


@pytest.fixture
def client(synthetic_server):
    ctx = ssl.create_default_context(cafile=str(synthetic_server.certfile))
    with httpx.Client(base_url=synthetic_server.base_url, verify=ctx, timeout=10) as c:
        yield c


def test_drop_removes_one_experiment_and_leaves_the_others(synthetic_server, client, redis, redis_url, store_kind,
                                                           tmp_path):
    pilot = write_experiment(tmp_path / "pilot", experiment_id="pilot", n_links=2, n_lists=2)
    synthetic_server.load(pilot)
    do_task(client, "W1", "A1")                            # synth: complete
    do_task(client, "W1", "P1", link="pilot-001")          # the same worker on the pilot: complete
    do_task(client, "W2", "P2", link="pilot-002", complete=False)   # in progress
    do_task(client, "W3", "P3", link="pilot-001")
    before = snapshot(redis)
    first = store_line(redis_url, store_kind)
    assert len([key for key in before if "pilot" in key]) == 25   # the "25 keys" below (3 the control room's counts)

    dry = cli(["drop", "pilot"], redis_url)
    summary = "experiment pilot: 2 links, 4 lists, 3 assignments (2 complete, 1 in_progress), 9 responses, 3 workers"
    assert (dry.exit_code, dry.output) == (0, first + f"would remove {summary}; 25 keys\n"
                                           "Dry run: nothing was removed. Export its responses first "
                                           "(mvt export FILE --experiment pilot), then add --commit.\n")
    assert snapshot(redis) == before

    done = cli(["drop", "pilot", "--commit"], redis_url)
    assert (done.exit_code, done.output) == (0, first + f"removed {summary}; 25 keys\n")
    after = snapshot(redis)
    pilot_ids = ("pilot-001", "pilot-002", "P1", "P2", "P3", str(pilot / "videos"))
    assert [key for key in after if "pilot" in key] == []
    assert [(key, value) for key, value in after.items() if any(i in str(value) for i in pilot_ids)] == []
    # Everything else is as it was, but for the pilot's entries in the shared keys.
    emptied = {"mvt:worker:{w:W2}:links", "mvt:worker:{w:W3}:links"}   # the pilot was their only link
    assert {k for k in before if "pilot" not in k} - emptied == set(after)
    counts = {k for k in before if ":per-minute:" in k or ":per-hour:" in k}   # the control room's, by link
    shared = {"mvt:{g}:links", "mvt:{g}:video-dirs", "mvt:{g}:tallies", "mvt:{g}:assignment-links", "mvt:worker:{w:W1}:links", *counts}
    assert {k: v for k, v in after.items() if k not in shared} == \
        {k: v for k, v in before.items() if "pilot" not in k and k not in shared | emptied}
    assert counts and {k: after[k] for k in counts} == \
        {k: {f: n for f, n in before[k].items() if not f.startswith("pilot-")} for k in counts}
    assert after["mvt:worker:{w:W1}:links"] == {"synth-001"}
    assert after["mvt:{g}:links"] == {"synth-001", "synth-002"}
    assert set(after["mvt:{g}:assignment-links"]) == {"A1"}

    again = cli(["drop", "pilot"], redis_url)
    assert (again.exit_code, again.output) == (1, first + "error: no experiment named 'pilot' in the store; "
                                                          "it holds synth\n")
    assert cli(["export", str(tmp_path / "r.csv")], redis_url).output == first + \
        f"wrote 3 responses to {tmp_path / 'r.csv'}\n"
