"""MTurk's ledger after the move to platforms/ledger.py: the same Redis keys, so stored runs stay valid."""

from __future__ import annotations

import json

from platforms.mturk.ledger import done_items, done_record, failed_record, record_done, record_failed


def test_records_land_in_the_keys_mturk_always_used(redis):
    record_failed(redis, "sandbox", "approve", "ASG1", "throttled", 6)
    assert json.loads(redis.hget("mvt:mturk:sandbox:failed:approve", "ASG1"))["error"] == "throttled"
    record_done(redis, "sandbox", "approve", "ASG1", token="t1")
    assert json.loads(redis.hget("mvt:mturk:sandbox:done:approve", "ASG1"))["token"] == "t1"
    assert redis.hexists("mvt:mturk:sandbox:failed:approve", "ASG1") is False
    assert sorted(redis.keys("mvt:mturk:*")) == ["mvt:mturk:sandbox:done:approve"]


def test_a_ledger_written_before_the_move_is_read_as_done(redis):
    redis.hset("mvt:mturk:production:done:bonus", "ASG9:base",
               json.dumps({"at": "2026-11-01T10:00:00+00:00", "amount": "0.50"}))
    assert done_record(redis, "production", "bonus", "ASG9:base")["amount"] == "0.50"
    assert done_items(redis, "production", "bonus") == {
        "ASG9:base": {"at": "2026-11-01T10:00:00+00:00", "amount": "0.50"}}
    assert failed_record(redis, "production", "bonus", "ASG9:base") is None
    assert done_record(redis, "sandbox", "bonus", "ASG9:base") is None
