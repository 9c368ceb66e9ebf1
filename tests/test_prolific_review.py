"""Review and bonus decisions: finished on the server → approve; else hold with the reason; never pay twice."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from platforms.bonus import BonusScheme
from platforms.prolific.bonus import pay_bonuses
from platforms.prolific.client import ProlificBadInput, ProlificClient
from platforms.prolific.records import store
from platforms.prolific.submissions import ReviewPolicy, check_submission, fetch_submissions, review
from tests.fixtures.prolific_fake import TOKEN, prolific_fake  # noqa: F401
from tests.fixtures.redis import run_with_async_redis

P1, P2 = "a" * 24, "b" * 24


def setup(fake, r, code="DONE1"):
    client = ProlificClient(TOKEN, fake.url, sleep=lambda s: None)
    study_id = fake.new_id()
    fake.studies[study_id] = {"id": study_id, "status": "ACTIVE"}
    store(r, "test", "studies", study_id, {"study_id": study_id, "completion_code": code})
    return client, study_id


@pytest.mark.parametrize("record, code, why", [
    (None, "DONE1", "the server recorded no finished task for session S1"),
    ({"worker_id": P2}, "DONE1", f"the server recorded participant {P2} for this session"),
    ({"worker_id": P1}, "NOCODE", "entered code 'NOCODE' is not the study's completion code"),
    ({"worker_id": P1}, "DONE1", None),
])
def test_check_submission(record, code, why):
    sub = {"submission_id": "S1", "participant_id": P1, "study_code": code}
    assert check_submission(sub, record, "DONE1") == why


@pytest.mark.parametrize("kwargs, message", [
    ({"reject": frozenset({"S1"})}, r"rejection category \(None\) must be one of Prolific's: TOO_QUICKLY"),
    ({"reject": frozenset({"S1"}), "category": "NO_DATA", "message": "too short"},
     r"rejection message \(9 characters\) must have at least 100 characters \(Prolific's rule\)"),
    ({"approve": frozenset({"S1"}), "request_return": frozenset({"S1"})},
     r"submissions \['S1'\] are given more than one decision"),
])
def test_review_policy_refuses_bad_decisions(kwargs, message):
    with pytest.raises(ProlificBadInput, match=message):
        ReviewPolicy(**kwargs)


def test_review_against_the_server_library(prolific_fake, redis, redis_url, tmp_path):
    """A session the server saw finish is approved; one it saw start only is held."""
    from kernel.assignments import allocate
    from studies.loader import load_experiment
    from kernel.responses import complete, record_response
    from kernel.tokens import TokenData, completion_code
    from tests.fixtures.server import write_experiment

    load_experiment(redis, write_experiment(tmp_path / "e", n_links=1, n_lists=2, n_trials=2))
    client, study_id = setup(prolific_fake, redis)
    done_id = prolific_fake.add_submission(study_id, P1, study_code="DONE1")
    half_id = prolific_fake.add_submission(study_id, P2, study_code="DONE1")

    async def work(r):  # SESSION_ID is the assignment id, PROLIFIC_PID the worker id
        got = await allocate(r, "synth-001", P1, done_id, "", cap=4, allotted_ms=60_000)
        await allocate(r, "synth-001", P2, half_id, "", cap=4, allotted_ms=60_000)
        t = TokenData(done_id, "synth-001", P1, got.list_index)
        for trial in range(2):
            await record_response(r, t, trial, "cat", {})
        await complete(r, t, completion_code(b"k" * 32, t))

    run_with_async_redis(redis_url, work)
    fetch_submissions(client, redis, study_id)
    report = review(client, redis, study_id, commit=True)
    assert [(o.status, o.description) for o in report.outcomes] == [
        ("held", f"submission {half_id} (participant {P2}): the server recorded no finished task for "
                 f"session {half_id}"),
        ("succeeded", f"approve submission {done_id} (participant {P1}): session finished on the server")]
    assert prolific_fake.submissions[done_id]["status"] == "APPROVED"
    assert prolific_fake.submissions[half_id]["status"] == "AWAITING REVIEW"


@pytest.mark.parametrize("first_status, decision", [
    ("RETURNED", ("succeeded", "approve submission {second} (participant {p}): session finished on the server "
                               "(resuming session {first})")),
    ("AWAITING REVIEW", ("held", "submission {second} (participant {p}): the task was finished under the "
                                 "participant's earlier session {first}, submitted too")),
])
def test_a_participant_who_resumed_under_a_new_session_is_matched_to_their_finished_task(
        prolific_fake, redis, redis_url, tmp_path, first_status, decision):  # noqa: F811
    """Returned on Prolific, taken again (a new SESSION_ID), finished the resumed list: that submission is approved."""
    from kernel.placement import place
    from kernel.responses import complete, record_response
    from kernel.settings import Settings
    from kernel.tokens import TokenData, completion_code
    from studies.loader import load_experiment
    from tests.fixtures.server import write_experiment

    load_experiment(redis, write_experiment(tmp_path / "e", n_links=1, n_lists=2, n_trials=2))
    client, study_id = setup(prolific_fake, redis)
    first = prolific_fake.add_submission(study_id, P1, status=first_status, study_code=None)
    second = prolific_fake.add_submission(study_id, P1, study_code="DONE1")
    settings = Settings(secret_key="k" * 32)

    async def work(r):
        got = await place(r, settings, "synth", P1, first, study_id)
        again = await place(r, settings, "synth", P1, second, study_id)  # back under a new session
        assert (again.assignment_id, again.list_index) == (first, got.list_index)
        t = TokenData(first, got.link_id, P1, got.list_index)
        for trial in range(2):
            await record_response(r, t, trial, "cat", {})
        await complete(r, t, completion_code(b"k" * 32, t))

    run_with_async_redis(redis_url, work)
    fetch_submissions(client, redis, study_id)
    outcomes = [(o.status, o.description) for o in review(client, redis, study_id, commit=True).outcomes]
    status, text = decision
    assert (status, text.format(first=first, second=second, p=P1)) in outcomes
    assert prolific_fake.submissions[second]["status"] == ("APPROVED" if status == "succeeded" else "AWAITING REVIEW")


def test_reject_sends_the_category_and_message(prolific_fake, redis):
    client, study_id = setup(prolific_fake, redis)
    sub = prolific_fake.add_submission(study_id, P1, study_code="DONE1")
    fetch_submissions(client, redis, study_id)
    policy = ReviewPolicy(reject=frozenset({sub}), category="NO_CODE")
    report = review(client, redis, study_id, policy=policy, commit=True, completion_lookup=lambda r, s: None)
    assert [(o.status, o.description) for o in report.outcomes] == [
        ("succeeded", f"reject submission {sub} (participant {P1}): manual decision (NO_CODE)")]
    assert prolific_fake.submissions[sub]["status"] == "REJECTED"


def test_bonus_pay_with_lost_answer_is_held_not_repeated(prolific_fake, redis, monkeypatch):
    client, study_id = setup(prolific_fake, redis)
    sub = prolific_fake.add_submission(study_id, P1, status="APPROVED")
    fetch_submissions(client, redis, study_id)
    real_request = client.request

    def lose_pay_answer(method, path, **kwargs):
        answer = real_request(method, path, **kwargs)
        if path.endswith("/pay/"):
            from platforms.prolific.client import ProlificCallFailed
            raise ProlificCallFailed(f"{kwargs['subject']}: no answer from Prolific after 1 tries (ReadTimeout)",
                                     unknown_outcome=True)
        return answer

    monkeypatch.setattr(client, "request", lose_pay_answer)
    scheme = BonusScheme(per_hit="0.40")
    first = pay_bonuses(client, redis, study_id, scheme, commit=True)
    assert [o.status for o in first.outcomes] == ["failed"]
    (bulk_id,) = prolific_fake.bulk_bonuses
    again = pay_bonuses(client, redis, study_id, scheme, commit=True)
    assert [(o.status, o.detail) for o in again.outcomes] == [(
        "held", f"bulk bonus {bulk_id}: the answer to the last payment was lost "
                f"({json.loads(redis.hget('mvt:prolific:test:failed:bonus-pay', bulk_id))['at']}), so it may "
                f"have been paid; check the study's bonus payments on Prolific, then re-run with "
                f"--retry-unknown {bulk_id} if unpaid")]
    assert prolific_fake.paid == [(bulk_id, sub, Decimal("0.40"))]
    monkeypatch.setattr(client, "request", real_request)
    forced = pay_bonuses(client, redis, study_id, scheme, commit=True, retry_unknown=frozenset({bulk_id}))
    assert [o.status for o in forced.outcomes] == ["succeeded"]
    assert len(prolific_fake.paid) == 2 and len(prolific_fake.bulk_bonuses) == 1
