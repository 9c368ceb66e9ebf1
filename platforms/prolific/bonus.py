"""crowdMOS bonuses (`platforms.bonus`) through Prolific's bulk bonus: set up, then pay, each once.

Endpoints (https://docs.prolific.com/api-reference/bonuses/create-bonus-payments and
https://docs.prolific.com/api-reference/bonuses/pay-bonus-payments):
``POST /api/v1/submissions/bonus-payments/`` with ``study_id`` and ``csv_bonuses`` (lines
``<submission_id>,<amount>``, amounts in the study's currency) answers the bulk payment's ``id``
and ``total_amount`` (cents) without paying; ``POST /api/v1/bulk-bonus-payments/{id}/pay/``
pays it. Prolific warns that paying is **not idempotent**, so the ledger records the set-up
(``bonus-setup``) and the payment (``bonus-pay``) and each bonus paid (``bonus``, item
``<submission>:<kind>``); a payment whose answer was lost is held, not repeated, until the
experimenter checked Prolific and passes ``--retry-unknown BULK_ID``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal

from platforms.bonus import BonusPayment, BonusScheme, plan_bonuses
from platforms.ledger import Outcome, Report, done_record, failed_record, record_done, record_failed
from platforms.prolific.client import ProlificCallFailed, ProlificClient
from platforms.prolific.records import new_report, scope, select_study, stored
from platforms.screening import Screening, with_stored


def approved_by_participant(r, env: str, study_id: str) -> dict[str, list[str]]:
    """Participant id → their submissions of the study stored as APPROVED."""
    approved: dict[str, list[str]] = defaultdict(list)
    for sub_id, sub in stored(r, env, "submissions").items():
        if sub["study_id"] == study_id and sub["status"] == "APPROVED":
            approved[sub["participant_id"]].append(sub_id)
    return dict(approved)


def bonus_csv(payments: list[BonusPayment]) -> str:
    """``csv_bonuses``: one ``<submission_id>,<amount>`` line per submission (kinds summed)."""
    per_submission: dict[str, Decimal] = defaultdict(Decimal)
    for p in payments:
        per_submission[p.assignment_id] += p.amount
    return "".join(f"{sub},{amount}\n" for sub, amount in sorted(per_submission.items()))


def pay_bonuses(client: ProlificClient, r, study_id: str | None, scheme: BonusScheme, *,
                screening: Screening | None = None, commit: bool,
                retry_unknown: frozenset[str] = frozenset()) -> Report:
    """Pay the crowdMOS bonuses of the study's approved submissions not paid yet, in one bulk payment."""
    env, where = client.environment, scope(client)
    sid = select_study(r, env, study_id)["study_id"]
    report = new_report(client, "bonus", commit)
    payments, lines = plan_bonuses(approved_by_participant(r, env, sid), with_stored(r, screening), scheme,
                                   who="participant", price=str)
    report.notes.extend(lines)
    pending = []
    for p in payments:
        what = f"{p.kind} bonus {p.amount} to participant {p.worker_id} for submission {p.assignment_id}"
        done = done_record(r, where, "bonus", f"{p.assignment_id}:{p.kind}")
        if done:
            report.outcomes.append(Outcome("skipped", f"pay {what}", f"already paid {done['at']}", p.amount))
        else:
            pending.append((p, what))
    if not pending:
        return report
    csv = bonus_csv([p for p, _ in pending])
    setup_item = f"{sid}:{hashlib.sha256(csv.encode()).hexdigest()[:12]}"

    def settle(status: str, detail: str = "") -> Report:
        report.outcomes.extend(Outcome(status, f"pay {what}", detail, p.amount) for p, what in pending)
        return report

    setup = done_record(r, where, "bonus-setup", setup_item)
    bulk_id = setup["bulk_id"] if setup else None
    last_pay = failed_record(r, where, "bonus-pay", bulk_id) if bulk_id else None
    unknown = bool(last_pay and last_pay.get("unknown_outcome")) and bulk_id not in retry_unknown
    if unknown:
        return settle("held", f"bulk bonus {bulk_id}: the answer to the last payment was lost "
                              f"({last_pay['at']}), so it may have been paid; check the study's bonus "
                              f"payments on Prolific, then re-run with --retry-unknown {bulk_id} if unpaid")
    if not commit:
        return settle("planned", f"retrying; last try failed {last_pay['at']}: {last_pay['error']}"
                      if last_pay else "")
    try:
        if not setup:
            answer = client.request("POST", "/submissions/bonus-payments/",
                                    json={"study_id": sid, "csv_bonuses": csv}, subject=f"study {sid}")
            bulk_id = answer["id"]
            record_done(r, where, "bonus-setup", setup_item, bulk_id=bulk_id,
                        total_amount=answer.get("total_amount"), csv=csv)
    except ProlificCallFailed as exc:
        record_failed(r, where, "bonus-setup", setup_item, str(exc), exc.attempts)
        return settle("failed", str(exc))
    try:
        client.request("POST", f"/bulk-bonus-payments/{bulk_id}/pay/", subject=f"bulk bonus {bulk_id}")
    except ProlificCallFailed as exc:
        record_failed(r, where, "bonus-pay", bulk_id, str(exc), exc.attempts,
                      unknown_outcome=exc.unknown_outcome)
        return settle("failed", str(exc))
    record_done(r, where, "bonus-pay", bulk_id, study_id=sid)
    for p, _ in pending:
        record_done(r, where, "bonus", f"{p.assignment_id}:{p.kind}", amount=str(p.amount),
                    participant_id=p.worker_id, bulk_id=bulk_id)
    return settle("succeeded", f"bulk bonus {bulk_id}")
