"""analysis.verified: forged completes are dropped when MTurk's records exist (real Redis)."""

from __future__ import annotations

import json

import pandas as pd

from analysis.verified import verify_responses
from app.store import keys


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
    v = verify_responses(table, redis, "production")
    assert v.has_platform_records
    assert v.responses.groupby("assignment_id")["verification"].first().to_dict() == {
        "A1": "verified", "A2": "verified", "A3": "rejected", "A4": "other_worker", "FORGED": "no_platform_record"}
    assert v.dropped == {"rejected": 2, "other_worker": 2, "no_platform_record": 2}
    assert sorted(set(v.kept()["assignment_id"])) == ["A1", "A2"], "default with records: verified only"
    assert len(v.kept(verified_only=False)) == 10
    assert v.summary() == ("4 of 10 responses verified by the platform; dropped 6 "
                           "(2 no_platform_record, 2 other_worker, 2 rejected)")


def test_without_platform_records_every_row_stays_unverified(redis):
    v = verify_responses(rows(("A1", "W1")), redis, "production")
    assert not v.has_platform_records and v.responses["verification"].tolist() == ["no_platform_record"] * 2
    assert len(v.kept()) == 2 and len(v.kept(verified_only=True)) == 0
    assert v.summary() == "no platform records: all 2 responses unverified, all kept"
    assert v.summary(verified_only=True) == "no platform records: all 2 responses unverified, none kept (--verified-only)"
