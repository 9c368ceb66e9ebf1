"""The requester account: balance, and totals from our bookkeeping."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from platforms.mturk.assignments import stored_assignments
from platforms.mturk.client import call, environment_of
from platforms.mturk.hits import our_hits
from platforms.mturk.ledger import done_items


@dataclass(frozen=True)
class AccountSummary:
    """Balance (US dollars, as MTurk reports them) and what our bookkeeping holds."""

    environment: str
    available: str
    on_hold: str | None
    n_hits: int
    assignments: dict[str, int] = field(default_factory=dict)
    n_bonuses: int = 0
    bonus_total: Decimal = Decimal("0.00")
    n_blocked: int = 0


def account_summary(client, r) -> AccountSummary:
    """The account balance (``get_account_balance``) and our totals in this environment."""
    env = environment_of(client)
    balance = call(client, "get_account_balance", {}, subject="account balance")
    bonuses = done_items(r, env, "bonus")
    statuses = Counter(a["status"] for a in stored_assignments(r, env).values())
    return AccountSummary(
        environment=env, available=balance.get("AvailableBalance", "?"),
        on_hold=balance.get("OnHoldBalance"), n_hits=len(our_hits(r, env)),
        assignments=dict(sorted(statuses.items())), n_bonuses=len(bonuses),
        bonus_total=sum((Decimal(b["amount"]) for b in bonuses.values() if "amount" in b),
                        Decimal("0.00")),
        n_blocked=len(done_items(r, env, "block")))
