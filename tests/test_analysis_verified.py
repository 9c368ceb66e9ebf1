"""analysis.verified with the registered platforms' records: forged completes are dropped when records exist (real Redis)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd

from analysis.verified import verify_responses
from kernel.store import keys
from platforms import confirmed_records

PRODUCTION = SimpleNamespace(mturk_sandbox=False)


def verify(table, redis):
    return verify_responses(table, confirmed_records(redis, table, PRODUCTION))


def rows(*pairs, trials=2):
    return pd.DataFrame([{"assignment_id": a, "worker_id": w, "trial": t, "correct": True}
                         for a, w in pairs for t in range(trials)])


def store(redis, env, assignment_id, worker_id, status):
    redis.hset(keys.mturk_assignments(env), assignment_id, json.dumps(
        {"assignment_id": assignment_id, "worker_id": worker_id, "hit_id": "H", "status": status}))


def test_forged_and_foreign_assignments_are_dropped(redis):
    store(redis, "production", "A1", "W1", "Submitted")
    store(redis, "production", "A2", "W2", "Approved")
    store(redis, "production", "A3", "W3", "Rejected")
    store(redis, "production", "A4", "REAL", "Submitted")
    store(redis, "sandbox", "FORGED", "X1", "Approved")      # another environment's record does not count
    table = rows(("A1", "W1"), ("A2", "W2"), ("A3", "W3"), ("A4", "THIEF"), ("FORGED", "X1"))
    v = verify(table, redis)
    assert v.has_platform_records
    assert v.responses.groupby("assignment_id")["verification"].first().to_dict() == {
        "A1": "verified", "A2": "verified", "A3": "rejected", "A4": "other_worker", "FORGED": "no_platform_record"}
    assert v.dropped == {"rejected": 2, "other_worker": 2, "no_platform_record": 2}
    assert sorted(set(v.kept()["assignment_id"])) == ["A1", "A2"], "default with records: verified only"
    assert len(v.kept(verified_only=False)) == 10
    assert v.summary() == ("4 of 10 responses verified by the platform; dropped 6 "
                           "(2 no_platform_record, 2 other_worker, 2 rejected)")


def test_without_platform_records_every_row_stays_unverified(redis):
    v = verify(rows(("A1", "W1")), redis)
    assert not v.has_platform_records and v.responses["verification"].tolist() == ["no_platform_record"] * 2
    assert len(v.kept()) == 2 and len(v.kept(verified_only=True)) == 0
    assert v.summary() == "no platform records: all 2 responses unverified, all kept"
    assert v.summary(verified_only=True) == "no platform records: all 2 responses unverified, none kept (--verified-only)"


def test_prolific_submissions_confirm_sessions_of_their_participant(redis):
    def submission(session, participant, status, env="test"):
        redis.hset(keys.platform_records("prolific", env, "submissions"), session, json.dumps(
            {"submission_id": session, "participant_id": participant, "study_id": "S", "status": status}))

    submission("S1", "P1", "AWAITING REVIEW")
    submission("S2", "P2", "APPROVED", env="production")
    submission("S3", "P3", "REJECTED")
    submission("S4", "P4", "RETURNED")
    table = rows(("S1", "P1"), ("S2", "P2"), ("S3", "P3"), ("S4", "P4"), ("S5", "P5"), ("S1", "OTHER"), trials=1)
    v = verify(table, redis)
    assert v.responses["verification"].tolist() == ["verified", "verified", "rejected", "not_submitted",
                                                   "no_platform_record", "other_worker"]


def test_a_panel_participant_is_confirmed_by_the_servers_completion_record_beside_mturk_records(redis):
    """A panel has no API: once MTurk records exist, its completed assignments still count."""
    store(redis, "production", "A1", "W1", "Submitted")
    table = rows(("A1", "W1"), ("panel-abc", "P1"), ("panel-def", "P2"), trials=1)
    table["assignment_status"] = ["complete", "complete", "in_progress"]
    v = verify(table, redis)
    assert v.responses["verification"].tolist() == ["verified", "verified", "not_submitted"]


def test_mvt_analyze_drops_forged_completes_when_platform_records_exist(redis, redis_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from kernel.assignments import allocate
    from cli import cli
    from studies.loader import load_experiment
    from kernel.responses import complete, record_response
    from tests.fixtures.server import measured
    from kernel.tokens import TokenData
    from tests.fixtures.redis import run_with_async_redis
    from tests.fixtures.server import write_experiment

    exp_dir = write_experiment(tmp_path / "exp", n_links=1, n_lists=4, n_trials=4, frame_counts=(1, 6))
    load_experiment(redis, exp_dir)
    lists = json.loads((exp_dir / "design.json").read_text())["links"][0]["lists"]

    async def scenario(r):
        for worker in ("W1", "W2", "W3", "FORGER"):
            a = await allocate(r, "synth-001", worker, f"A-{worker}", "H1", cap=4, allotted_ms=3_600_000)
            token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
            for t, trial in enumerate(lists[a.list_index]):
                await record_response(r, token, t, trial["label"], measured(trial["frames"]))
            await complete(r, token, f"code-{worker}")

    run_with_async_redis(redis_url, scenario)
    for worker in ("W1", "W2", "W3"):           # MTurk lists only the real workers' submissions
        store(redis, "sandbox", f"A-{worker}", worker, "Submitted")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "out"), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "12 of 16 responses verified by the platform; dropped 4 (4 no_platform_record)" in result.output
    workers = pd.read_csv(tmp_path / "out" / "workers.csv")
    assert sorted(workers["worker_id"]) == ["W1", "W2", "W3"]
    everything = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "all"), "--bootstrap", "0", "--all-work"])
    assert everything.exit_code == 0, everything.output
    assert sorted(pd.read_csv(tmp_path / "all" / "workers.csv")["worker_id"]) == ["FORGER", "W1", "W2", "W3"]
