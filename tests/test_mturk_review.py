"""assignments (paged listing, stored) and review (approve/reject/hold, once) against the Stubber.

Most tests give `review` the server's completion records through its ``completion_lookup``
argument, in the shape of ``kernel.assignments.completion_record``; the last one writes them
through the server library (allocate, record, complete) and lets `review` read them itself.
"""

from __future__ import annotations

import re

import pytest

from platforms.mturk.assignments import (ReviewPolicy, completion_code_of, fetch_assignments, review,
                                        stored_assignments)
from tests.fixtures.mturk import answer_xml, assignment, http_client, record_backoff, stubbed_client
from platforms.mturk.workers import Screening
from tests.fixtures.redis import run_with_async_redis

STATUSES = ["Submitted", "Approved", "Rejected"]


def server_records(*rows):
    """A ``completion_lookup`` answering like ``kernel.assignments.completion_record``."""
    records = {a: {"assignment_id": a, "worker_id": w, "hit_id": "HIT1", "link_id": "exp1-001",
                   "completion_code": code, "completed_at": "2026-11-23T12:00:00.000Z"}
               for a, w, code in rows}
    return lambda r, assignment_id: records.get(assignment_id)


def fetch(redis, *assignments_):
    client, stubber = stubbed_client()
    stubber.add_response("list_assignments_for_hit",
                         {"Assignments": list(assignments_), "NumResults": len(assignments_)},
                         {"HITId": "HIT1", "AssignmentStatuses": STATUSES, "MaxResults": 100})
    fetch_assignments(client, redis, ["HIT1"])
    stubber.assert_no_pending_responses()


def test_completion_code_is_read_from_question_form_answers():
    assert completion_code_of(answer_xml("MVT-1234")) == "MVT-1234"
    assert completion_code_of(answer_xml(None)) is None
    assert completion_code_of("<not xml") is None


def test_assignments_pages_through_next_token_and_stores_them(redis):
    client, stubber = stubbed_client()
    stubber.add_response("list_assignments_for_hit",
                         {"Assignments": [assignment("ASG1", "AW1", "HIT1", completion_code="C1")],
                          "NextToken": "page2", "NumResults": 1},
                         {"HITId": "HIT1", "AssignmentStatuses": STATUSES, "MaxResults": 100})
    stubber.add_response("list_assignments_for_hit",
                         {"Assignments": [assignment("ASG2", "AW2", "HIT1", status="Approved")],
                          "NumResults": 1},
                         {"HITId": "HIT1", "AssignmentStatuses": STATUSES, "MaxResults": 100,
                          "NextToken": "page2"})
    stubber.add_client_error("list_assignments_for_hit", service_error_code="RequestError",
                             service_message="Hit NOHIT does not exist.", http_status_code=400)
    report = fetch_assignments(client, redis, ["HIT1", "NOHIT"])
    stubber.assert_no_pending_responses()
    assert [(o.status, o.description, o.detail) for o in report.outcomes] == [
        ("succeeded", "HIT HIT1: 2 assignments", "1 submitted, 1 approved"),
        ("failed", "list assignments of HIT NOHIT", "HIT NOHIT: Hit NOHIT does not exist. (RequestError)")]
    stored = stored_assignments(redis, "sandbox")
    assert stored["ASG1"]["completion_code"] == "C1" and stored["ASG1"]["worker_id"] == "AW1"
    assert stored["ASG2"]["status"] == "Approved"


def test_review_dry_run_decides_without_calls(redis):
    fetch(redis, assignment("ASGOK", "AW1", "HIT1", completion_code="GOOD1"),
          assignment("ASGBAD", "AW2", "HIT1", completion_code="FORGED"),
          assignment("ASGNONE", "AW3", "HIT1", completion_code="GUESS"),
          assignment("ASGFLAG", "AW4", "HIT1", completion_code="GOOD4"),
          assignment("ASGOLD", "AW5", "HIT1", status="Approved", completion_code="GOOD5"))
    lookup = server_records(("ASGOK", "AW1", "GOOD1"), ("ASGBAD", "AW2", "GOOD2"),
                            ("ASGFLAG", "AW4", "GOOD4"), ("ASGOLD", "AW5", "GOOD5"))
    client, stubber = stubbed_client()
    screening = Screening(flagged={"AW4": "low accuracy at 600 frames"})
    report = review(client, redis, screening=screening, commit=False,
                    completion_lookup=lookup)
    stubber.assert_no_pending_responses()
    got = {re.search(r"ASG\w+", o.description)[0]: (o.status, o.description) for o in report.outcomes}
    assert got["ASGOK"][0] == "planned" and got["ASGOK"][1].startswith("approve assignment ASGOK")
    assert got["ASGBAD"] == ("held", "assignment ASGBAD (worker AW2, HIT HIT1): submitted code 'FORGED' "
                                     "is not the server's")
    assert got["ASGNONE"] == ("held", "assignment ASGNONE (worker AW3, HIT HIT1): the server recorded "
                                      "no finished task for this assignment")
    assert got["ASGFLAG"] == ("held", "assignment ASGFLAG (worker AW4, HIT HIT1): worker flagged by "
                                      "screening: low accuracy at 600 frames")
    assert got["ASGOLD"][0] == "skipped"


def test_review_commit_approves_rejects_and_rerun_skips(redis):
    fetch(redis, assignment("ASGOK", "AW1", "HIT1", completion_code="GOOD1"),
          assignment("ASGBAD", "AW2", "HIT1", completion_code="FORGED"))
    lookup = server_records(("ASGOK", "AW1", "GOOD1"), ("ASGBAD", "AW2", "GOOD2"))
    policy = ReviewPolicy(mismatched="reject")
    client, stubber = stubbed_client()
    stubber.add_response("reject_assignment", {}, {"AssignmentId": "ASGBAD",
                                                   "RequesterFeedback": policy.mismatch_message})
    stubber.add_response("approve_assignment", {}, {"AssignmentId": "ASGOK"})
    report = review(client, redis, policy=policy, commit=True,
                    completion_lookup=lookup)
    stubber.assert_no_pending_responses()
    assert sorted(o.status for o in report.outcomes) == ["succeeded", "succeeded"]
    assert {a: s["status"] for a, s in stored_assignments(redis, "sandbox").items()} == {
        "ASGOK": "Approved", "ASGBAD": "Rejected"}

    # Even if the stored copy is refreshed to Submitted again, the ledger prevents a second call.
    fetch(redis, assignment("ASGOK", "AW1", "HIT1", completion_code="GOOD1"),
          assignment("ASGBAD", "AW2", "HIT1", completion_code="FORGED"))
    again = review(client, redis, policy=policy, commit=True,
                   completion_lookup=lookup)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    stubber.assert_no_pending_responses()


def test_manual_decision_overrides_and_unknown_ids_are_named(redis):
    fetch(redis, assignment("ASGBAD", "AW2", "HIT1", completion_code="FORGED"))
    client, stubber = stubbed_client()
    stubber.add_response("approve_assignment", {}, {"AssignmentId": "ASGBAD"})
    report = review(client, redis, policy=ReviewPolicy(approve=frozenset({"ASGBAD", "ASGTYPO"})),
                    commit=True, completion_lookup=server_records())
    assert [(o.status, o.detail) for o in report.outcomes] == [
        ("failed", "assignment ASGTYPO: not among the stored assignments (run `mvt mturk assignments`)"),
        ("succeeded", "")]
    stubber.assert_no_pending_responses()


def test_throttled_approval_is_recorded_failed_and_retried_on_rerun(redis, monkeypatch):
    fetch(redis, assignment("ASGOK", "AW1", "HIT1", completion_code="GOOD1"))
    lookup = server_records(("ASGOK", "AW1", "GOOD1"))
    delays = record_backoff(monkeypatch)
    client, answers = http_client(attempts=2)
    answers.throttle(2)
    first = review(client, redis, commit=True, completion_lookup=lookup)
    assert [(o.status, o.detail) for o in first.outcomes] == [
        ("failed", "assignment ASGOK: still throttled after 2 tries (ThrottlingException: Rate exceeded)")]
    assert len(delays) == 1

    dry = review(client, redis, commit=False, completion_lookup=lookup)
    assert dry.outcomes[0].status == "planned" and dry.outcomes[0].detail.startswith("retrying; last try failed")

    answers.add(200, {})
    second = review(client, redis, commit=True, completion_lookup=lookup)
    assert [o.status for o in second.outcomes] == ["succeeded"]
    assert answers.requests == [{"AssignmentId": "ASGOK"}] * 3 and answers.answers == []


def test_review_policy_refuses_contradictions():
    with pytest.raises(ValueError, match=r"\['A1'\] are both to approve and to reject"):
        ReviewPolicy(approve=frozenset({"A1"}), reject=frozenset({"A1"}))


def test_review_checks_codes_against_the_server_library(redis, redis_url, tmp_path):
    """End to end on the server side: a finished and an unfinished assignment, real records."""
    from kernel.assignments import allocate
    from studies.loader import load_experiment
    from kernel.responses import complete, record_response
    from kernel.tokens import TokenData, completion_code
    from tests.fixtures.server import write_experiment

    load_experiment(redis, write_experiment(tmp_path / "e", n_links=1, n_lists=2, n_trials=2))
    key = b"k" * 32

    async def work(r):
        done = await allocate(r, "synth-001", "AW1", "ASGDONE", "HIT1", cap=4, allotted_ms=60_000)
        await allocate(r, "synth-001", "AW2", "ASGHALF", "HIT1", cap=4, allotted_ms=60_000)
        t = TokenData("ASGDONE", "synth-001", "AW1", done.list_index)
        for trial in range(2):
            await record_response(r, t, trial, "cat", {})
        return (await complete(r, t, completion_code(key, t))).completion_code

    code = run_with_async_redis(redis_url, work)
    fetch(redis, assignment("ASGDONE", "AW1", "HIT1", completion_code=code),
          assignment("ASGHALF", "AW2", "HIT1", completion_code=code))
    client, stubber = stubbed_client()
    stubber.add_response("approve_assignment", {}, {"AssignmentId": "ASGDONE"})
    report = review(client, redis, commit=True)
    stubber.assert_no_pending_responses()
    assert sorted((o.status, o.description) for o in report.outcomes) == [
        ("held", "assignment ASGHALF (worker AW2, HIT HIT1): the server recorded no finished task "
                 "for this assignment"),
        ("succeeded", "approve assignment ASGDONE (worker AW1, HIT HIT1): completion code matches "
                      "the server's record")]
