"""crowdMOS bonuses: who gets what, the total before paying, one token per payment, never twice."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from platforms.mturk.bonus import BonusScheme, pay_bonuses, plan_bonuses, top_workers
from platforms.mturk.ledger import token
from tests.fixtures.mturk import stubbed_client
from platforms.mturk.workers import Screening
from kernel.store import keys

SCHEME = BonusScheme(per_hit="0.10", top50="0.05", top10="0.10", min_assignments=2)


def approved(**n_by_worker):
    return {w: [f"ASG{w}{k}" for k in range(n)] for w, n in n_by_worker.items()}


def store_approved(redis, **n_by_worker):
    for worker_id, assignment_ids in approved(**n_by_worker).items():
        for a in assignment_ids:
            redis.hset(keys.mturk_assignments("sandbox"), a, json.dumps(
                {"assignment_id": a, "worker_id": worker_id, "hit_id": "HIT1", "status": "Approved"}))


def test_crowdmos_structure_amounts():
    screening = Screening(flagged={"AW5": "random answers"},
                          correlation={"AW1": 0.9, "AW2": 0.8, "AW3": 0.5, "AW4": 0.95, "AW5": 0.99})
    payments, lines = plan_bonuses(approved(AW1=3, AW2=3, AW3=3, AW4=1, AW5=2, AW6=2), screening, SCHEME)
    per_worker = {}
    for p in payments:
        per_worker[p.worker_id] = per_worker.get(p.worker_id, Decimal(0)) + p.amount
    # AW4 has too few approved, AW5 is flagged; AW1 top 10 %, AW1 and AW2 top 50 % of 3.
    assert per_worker == {"AW1": Decimal("0.75"), "AW2": Decimal("0.45"), "AW3": Decimal("0.30"),
                          "AW6": Decimal("0.20")}
    assert sum(per_worker.values()) == Decimal("1.70")
    assert {(p.kind) for p in payments if p.worker_id == "AW1"} == {"base", "top50", "top10"}
    assert lines[0] == "worker AW1: 3 approved, correlation 0.900, base + top50 + top10: $0.75"
    assert "worker AW4: 1 approved, fewer than 2: no bonus" in lines
    assert "worker AW5: 2 approved, flagged by screening: no bonus" in lines


@pytest.mark.parametrize("fraction, expected", [(0.5, {"A", "B", "C"}), (0.1, {"A"}), (1.0, {"A", "B", "C", "D"})])
def test_top_workers_include_ties_at_the_cutoff(fraction, expected):
    assert top_workers({"A": 0.9, "B": 0.7, "C": 0.7, "D": 0.1}, fraction) == expected


def test_bonus_dry_run_states_total_and_calls_nothing(redis):
    store_approved(redis, AW1=2, AW2=2)
    client, stubber = stubbed_client()
    report = pay_bonuses(client, redis, SCHEME, screening=Screening(correlation={"AW1": 0.9, "AW2": 0.1}),
                         commit=False)
    stubber.assert_no_pending_responses()
    # AW1: 2 x (0.10 + 0.05 + 0.10); AW2: 2 x 0.10
    assert report.total("planned") == Decimal("0.70")
    assert len(report.having("planned")) == 8


def test_bonus_commit_sends_one_token_per_worker_assignment_kind_and_never_twice(redis):
    store_approved(redis, AW1=2)
    scheme = BonusScheme(per_hit="0.25", top50="0.10", min_assignments=2, reason_base="Thanks for {n} HITs.")
    screening = Screening(correlation={"AW1": 0.9})
    client, stubber = stubbed_client()
    for a in ("ASGAW10", "ASGAW11"):
        for kind, amount, reason in (("base", "0.25", "Thanks for 2 HITs."), ("top50", "0.10", scheme.reason_top50)):
            stubber.add_response("send_bonus", {}, {
                "WorkerId": "AW1", "AssignmentId": a, "BonusAmount": amount, "Reason": reason,
                "UniqueRequestToken": token("sandbox", "bonus", "AW1", a, kind)})
    report = pay_bonuses(client, redis, scheme, screening=screening, commit=True)
    stubber.assert_no_pending_responses()
    assert report.total("succeeded") == Decimal("0.70")
    assert len({json.loads(v)["token"] for v in redis.hvals(keys.platform_done("mturk", "sandbox", "bonus"))}) == 4

    again = pay_bonuses(client, redis, scheme, screening=screening, commit=True)
    assert [o.status for o in again.outcomes] == ["skipped"] * 4
    assert again.total("skipped") == Decimal("0.70")
    stubber.assert_no_pending_responses()


def test_bonus_whose_token_mturk_already_processed_counts_as_paid(redis):
    store_approved(redis, AW1=1)
    client, stubber = stubbed_client()
    stubber.add_client_error("send_bonus", service_error_code="RequestError", http_status_code=400,
                             service_message='The idempotency token "mvt-abc" has already been processed. (1)')
    report = pay_bonuses(client, redis, BonusScheme(per_hit="0.50"), commit=True)
    assert [(o.status, o.detail) for o in report.outcomes] == [
        ("succeeded", "MTurk had already done it (same UniqueRequestToken)")]
    again = pay_bonuses(client, redis, BonusScheme(per_hit="0.50"), commit=True)
    assert [o.status for o in again.outcomes] == ["skipped"]
    stubber.assert_no_pending_responses()


def test_bad_amount_is_refused_with_its_value():
    from kernel.errors import PlatformBadInput

    with pytest.raises(PlatformBadInput, match=r"top50 bonus \('0.055'\) must be a non-negative amount with at most two decimals"):
        BonusScheme(per_hit="0.10", top50="0.055")
