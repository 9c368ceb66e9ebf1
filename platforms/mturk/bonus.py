"""Bonuses in the crowdMOS structure (`platforms.bonus`), each paid once (UniqueRequestToken + ledger)."""

from __future__ import annotations

from collections import defaultdict

from platforms.bonus import BonusScheme, plan_bonuses, top_workers
from platforms.mturk.assignments import stored_assignments
from platforms.mturk.client import environment_of
from platforms.mturk.ledger import Action, Report, execute, token
from platforms.screening import Screening, with_stored

__all__ = ["BonusScheme", "plan_bonuses", "top_workers", "approved_by_worker", "pay_bonuses"]


def approved_by_worker(r, env: str) -> dict[str, list[str]]:
    """Worker id → their assignments stored as Approved."""
    approved: dict[str, list[str]] = defaultdict(list)
    for assignment_id, summary in stored_assignments(r, env).items():
        if summary["status"] == "Approved":
            approved[summary["worker_id"]].append(assignment_id)
    return dict(approved)


def pay_bonuses(client, r, scheme: BonusScheme, *, screening: Screening | None = None,
                commit: bool) -> Report:
    """Pay the crowdMOS bonuses for the approved assignments stored by ``mvt mturk assignments``.

    Each payment's UniqueRequestToken is fixed by (worker, assignment, kind), and the ledger
    records it, so re-running never pays twice.
    """
    env = environment_of(client)
    report = Report("bonus", env, commit)
    payments, lines = plan_bonuses(approved_by_worker(r, env), with_stored(r, screening), scheme)
    report.notes.extend(lines)
    actions = []
    for p in payments:
        unique = token(env, "bonus", p.worker_id, p.assignment_id, p.kind)
        actions.append(Action(
            "bonus", f"{p.assignment_id}:{p.kind}",
            f"pay ${p.amount} {p.kind} bonus to worker {p.worker_id} for assignment {p.assignment_id}",
            "send_bonus", {"WorkerId": p.worker_id, "AssignmentId": p.assignment_id,
                           "BonusAmount": str(p.amount), "Reason": p.reason,
                           "UniqueRequestToken": unique},
            subject=f"worker {p.worker_id}, assignment {p.assignment_id}", amount=p.amount,
            info={"token": unique, "amount": str(p.amount), "worker_id": p.worker_id}))
    return execute(client, r, actions, commit=commit, report=report)
