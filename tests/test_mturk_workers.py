"""block/unblock (MTurk and our block list together) and notify (batches of 100, once each)."""

from __future__ import annotations

import pytest

from tests.fixtures.mturk import stubbed_client
from platforms.mturk.workers import Screening, block_workers, notify_workers, unblock_workers
from kernel.admin import blocked_workers
from kernel.errors import MTurkBadInput


def test_block_dry_run_changes_nothing(redis):
    client, stubber = stubbed_client()
    report = block_workers(client, redis, ["AW1"], reason="random answers", commit=False)
    stubber.assert_no_pending_responses()
    assert [(o.status, o.description) for o in report.outcomes] == [("planned", "block worker AW1")]
    assert blocked_workers(redis) == []


def test_block_then_unblock_on_mturk_and_server_each_once(redis):
    client, stubber = stubbed_client()
    stubber.add_response("create_worker_block", {}, {"WorkerId": "AW1", "Reason": "random answers"})
    stubber.add_client_error("create_worker_block", service_error_code="RequestError", http_status_code=400,
                             service_message="Worker AWGONE does not exist.",
                             expected_params={"WorkerId": "AWGONE", "Reason": "random answers"})
    report = block_workers(client, redis, ["AW1", "AWGONE", "AW1"], reason="random answers",
                           commit=True)
    assert [(o.status, o.detail) for o in report.outcomes] == [
        ("succeeded", ""), ("failed", "worker AWGONE: Worker AWGONE does not exist. (RequestError)")]
    assert blocked_workers(redis) == ["AW1"]

    again = block_workers(client, redis, ["AW1"], reason="random answers", commit=True)
    assert [o.status for o in again.outcomes] == ["skipped"]

    stubber.add_response("delete_worker_block", {}, {"WorkerId": "AW1"})
    unblocked = unblock_workers(client, redis, ["AW1"], commit=True)
    assert [o.status for o in unblocked.outcomes] == ["succeeded"]
    assert blocked_workers(redis) == []

    # Unblocking lifts the "already blocked" record, so the worker can be blocked again.
    stubber.add_response("create_worker_block", {}, {"WorkerId": "AW1", "Reason": "again"})
    reblocked = block_workers(client, redis, ["AW1"], reason="again", commit=True)
    assert [o.status for o in reblocked.outcomes] == ["succeeded"]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("bad", ["aw1", "W123", "A1 B", ""])
def test_malformed_worker_ids_are_named(redis, bad):
    client, _ = stubbed_client()
    with pytest.raises(MTurkBadInput, match=f"worker id {bad!r} is not an MTurk worker id"):
        block_workers(client, redis, [bad], reason="x", commit=False)


def test_notify_sends_batches_of_100_and_each_worker_once(redis):
    workers = [f"AW{k:03d}" for k in range(150)]
    client, stubber = stubbed_client()
    stubber.add_response("notify_workers", {"NotifyWorkersFailureStatuses": [
        {"NotifyWorkersFailureCode": "HardFailure", "NotifyWorkersFailureMessage": "Worker not found",
         "WorkerId": "AW007"}]},
        {"Subject": "New HITs", "MessageText": "Hello", "WorkerIds": workers[:100]})
    stubber.add_response("notify_workers", {"NotifyWorkersFailureStatuses": []},
                         {"Subject": "New HITs", "MessageText": "Hello", "WorkerIds": workers[100:]})
    report = notify_workers(client, redis, workers, subject="New HITs", message="Hello", commit=True)
    stubber.assert_no_pending_responses()
    assert len(report.having("succeeded")) == 149
    assert [(o.description, o.detail) for o in report.having("failed")] == [
        ("notify worker AW007", "worker AW007: Worker not found (HardFailure)")]

    stubber.add_response("notify_workers", {"NotifyWorkersFailureStatuses": []},
                         {"Subject": "New HITs", "MessageText": "Hello", "WorkerIds": ["AW007"]})
    again = notify_workers(client, redis, workers, subject="New HITs", message="Hello", commit=True)
    assert len(again.having("skipped")) == 149 and len(again.having("succeeded")) == 1
    stubber.assert_no_pending_responses()


def test_screening_reads_analysis_workers_csv(tmp_path):
    import pandas as pd

    from analysis.analyze import _write_csv
    from analysis.screening import WORKER_COLUMNS

    rows = [{"worker_id": "AW1", "flagged": True, "reason": "random answers", "profile_r": 0.1},
            {"worker_id": "AW2", "flagged": False, "reason": "", "profile_r": 0.8},
            {"worker_id": "AW3", "flagged": False, "reason": "", "profile_r": float("nan")}]
    _write_csv(pd.DataFrame(rows).reindex(columns=WORKER_COLUMNS), tmp_path / "workers.csv")
    screening = Screening.from_csv(tmp_path / "workers.csv")
    assert screening.flagged == {"AW1": "random answers"}
    assert screening.correlation == {"AW1": 0.1, "AW2": 0.8}


def test_screening_reads_the_short_column_names_too(tmp_path):
    path = tmp_path / "workers.csv"
    path.write_text("worker_id,flagged,reasons,correlation\nAW1,1,slow,0.5\nAW2,0,,\n")
    screening = Screening.from_csv(path)
    assert (screening.flagged, screening.correlation) == ({"AW1": "slow"}, {"AW1": 0.5})
