"""The crowdMOS bonus structure, the same on every platform.

A worker with at least ``min_assignments`` approved assignments (Prolific: submissions), and
not flagged by screening, gets ``per_hit`` for each of them. Among those, the top 50 % by
screening correlation get ``top50`` more per assignment and the top 10 % ``top10`` more again
(ties at the cut-off are included; at least one worker per tier when anyone has a correlation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from platforms.inputs import parse_amount
from platforms.screening import Screening
from kernel.errors import PlatformBadInput

KINDS = ("base", "top50", "top10")


@dataclass(frozen=True)
class BonusScheme:
    """The amounts per assignment (MTurk: US dollars; Prolific: the workspace currency) and the messages workers see with them."""

    per_hit: str = "0.00"
    top50: str = "0.00"
    top10: str = "0.00"
    min_assignments: int = 1
    reason_base: str = "Thank you for completing {n} of our tasks."  # any study kind, any platform
    reason_top50: str = "Extra bonus: your answers were among the most consistent half of all workers."
    reason_top10: str = "Extra bonus: your answers were among the most consistent 10% of all workers."

    def __post_init__(self):
        for kind in KINDS:
            self.amount(kind)
        if self.min_assignments < 1:
            raise PlatformBadInput(f"min_assignments ({self.min_assignments}) must be at least 1")

    def amount(self, kind: str) -> Decimal:
        """The amount per assignment of one kind of bonus."""
        return parse_amount(getattr(self, "per_hit" if kind == "base" else kind), f"{kind} bonus")


@dataclass(frozen=True)
class BonusPayment:
    """One bonus to pay: ``kind`` ∈ base, top50, top10."""

    worker_id: str
    assignment_id: str
    kind: str
    amount: Decimal
    reason: str


def top_workers(correlation: dict[str, float], fraction: float) -> set[str]:
    """Workers whose correlation is within the top ``fraction`` (ties at the cut-off included)."""
    if not correlation:
        return set()
    ranked = sorted(correlation.values(), reverse=True)
    cutoff = ranked[max(1, math.ceil(len(ranked) * fraction)) - 1]
    return {w for w, c in correlation.items() if c >= cutoff}


def plan_bonuses(approved: dict[str, list[str]], screening: Screening | None,
                 scheme: BonusScheme, *, who: str = "worker",
                 price: Callable[[Decimal], str] = lambda amount: f"${amount}",
                 ) -> tuple[list[BonusPayment], list[str]]:
    """The bonuses to pay and one line per worker explaining them.

    Parameters
    ----------
    approved : dict
        Worker id → their approved assignment ids (Prolific: submission ids).
    who : str
        What the explanation lines call a worker (``participant`` on Prolific).
    price : callable
        Formats an amount in the explanation lines (``$0.25`` on MTurk).
    """
    screening = screening or Screening()
    eligible = {w: sorted(a) for w, a in approved.items()
                if len(a) >= scheme.min_assignments and w not in screening.flagged}
    correlated = {w: screening.correlation[w] for w in eligible if w in screening.correlation}
    tiers = {"base": set(eligible), "top50": top_workers(correlated, 0.5),
             "top10": top_workers(correlated, 0.1)}
    payments, lines = [], []
    for worker_id in sorted(approved):
        n = len(approved[worker_id])
        if worker_id in screening.flagged:
            lines.append(f"{who} {worker_id}: {n} approved, flagged by screening: no bonus")
            continue
        if worker_id not in eligible:
            lines.append(f"{who} {worker_id}: {n} approved, fewer than {scheme.min_assignments}: "
                         "no bonus")
            continue
        kinds = [k for k in KINDS if worker_id in tiers[k] and scheme.amount(k) > 0]
        total = sum((scheme.amount(k) * n for k in kinds), Decimal("0.00"))
        corr = f", correlation {correlated[worker_id]:.3f}" if worker_id in correlated else ""
        lines.append(f"{who} {worker_id}: {n} approved{corr}, {' + '.join(kinds) or 'nothing'}: {price(total)}")
        reasons = {"base": scheme.reason_base.format(n=n), "top50": scheme.reason_top50,
                   "top10": scheme.reason_top10}
        for assignment_id in eligible[worker_id]:
            for kind in kinds:
                payments.append(BonusPayment(worker_id, assignment_id, kind, scheme.amount(kind),
                                             reasons[kind]))
    return payments, lines
