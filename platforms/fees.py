"""What a platform charges on top of the rewards, so that costs are stated before launch.

Each rule says where it comes from and when that page was read: fees change, so the commands
print the rule with the figure, and the page is the authority.

- **MTurk** (https://www.mturk.com/pricing, as transcribed on 2026-10-07): a 20 % fee on the
  reward and on bonuses; HITs with 10 or more assignments pay another 20 % on the reward; the
  minimum fee is $0.01 per assignment or bonus payment. (Masters and premium qualifications cost
  more; mvt does not ask for them.) The same page notes that Mechanical Turk announced it closes on
  2026-09-30: check that the marketplace still takes work before planning on it.
- **Prolific** (https://www.prolific.com/pricing, as transcribed on 2026-09-20): a platform fee of
  33.3 % of participant rewards for academic and non-profit accounts, 42.8 % for corporate ones;
  participants must be paid at least £6.00 / $8.00 an hour (£9.00 / $12.00 recommended).

Amounts are `decimal.Decimal`; a fee is computed per assignment and rounded half up to the cent
(the pages state rates, not their rounding; invoices may differ by cents).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class FeeRule:
    """A platform's fee on rewards: ``rate``, plus ``large_task_rate`` for tasks of at least
    ``large_task_assignments`` assignments, at least ``minimum`` per assignment; ``source`` and
    ``read_on`` say where the rule was read."""

    platform: str
    rate: Decimal
    source: str
    read_on: str
    large_task_rate: Decimal = Decimal(0)
    large_task_assignments: int | None = None
    minimum: Decimal = Decimal(0)

    def fee_per_assignment(self, reward: Decimal, assignments_per_task: int = 1) -> Decimal:
        """The fee on one assignment's ``reward`` in a task (HIT) of ``assignments_per_task`` assignments."""
        rate = self.rate
        if self.large_task_assignments is not None and assignments_per_task >= self.large_task_assignments:
            rate += self.large_task_rate
        return max(self.minimum, (reward * rate).quantize(CENT, rounding=ROUND_HALF_UP))

    def cost(self, reward: Decimal, tasks: list[int]) -> tuple[Decimal, Decimal]:
        """``(rewards, fees)`` of paying ``reward`` for every assignment of tasks with these assignment counts.

        >>> rewards, fees = MTURK.cost(Decimal("1.50"), [6, 6])
        >>> (str(rewards), str(fees))
        ('18.00', '3.60')
        >>> str(MTURK.cost(Decimal("1.50"), [42])[1])
        '25.20'
        """
        rewards = sum((reward * n for n in tasks), Decimal(0)).quantize(CENT)
        fees = sum((self.fee_per_assignment(reward, n) * n for n in tasks), Decimal(0)).quantize(CENT)
        return rewards, fees

    def describe(self) -> str:
        """The rule in one phrase, with its source."""
        extra = (f", +{percent(self.large_task_rate)} % for HITs of {self.large_task_assignments} or more "
                 "assignments" if self.large_task_assignments is not None else "")
        floor = f", at least {self.minimum} per assignment" if self.minimum else ""
        return f"{self.platform} fee {percent(self.rate)} % of rewards{extra}{floor} ({self.source}, read {self.read_on})"


def percent(rate: Decimal) -> str:
    """``Decimal("0.333")`` → ``"33.3"``."""
    return f"{(rate * 100).normalize():f}"


MTURK = FeeRule("MTurk", Decimal("0.20"), "https://www.mturk.com/pricing", "2026-10-07",
                large_task_rate=Decimal("0.20"), large_task_assignments=10, minimum=CENT)
PROLIFIC_ACADEMIC = FeeRule("Prolific", Decimal("0.333"), "https://www.prolific.com/pricing", "2026-09-20")
PROLIFIC_CORPORATE = FeeRule("Prolific", Decimal("0.428"), "https://www.prolific.com/pricing", "2026-09-20")
PROLIFIC_MIN_HOURLY = "£6.00 / $8.00"
"""Prolific's minimum participant pay per hour (https://www.prolific.com/pricing)."""


def cost_note(rule: FeeRule, reward: Decimal, tasks: list[int], price, where: str = "") -> str:
    """One line for a command's report: rewards, the fee and the total for these tasks, and the rule
    (``where``, e.g. `` on MTurk``, follows the word Cost)."""
    rewards, fees = rule.cost(reward, tasks)
    return f"Cost{where}: rewards {price(rewards)} + fee {price(fees)} = {price(rewards + fees)}; {rule.describe()}."
