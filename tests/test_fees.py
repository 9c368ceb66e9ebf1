"""Platform fee rules (platforms/fees.py): the figures the create commands print, checked by hand."""

from __future__ import annotations

import doctest
from decimal import Decimal

import pytest

from platforms import fees


def test_doctests():
    from kernel import costs

    assert doctest.testmod(fees).failed == 0 and doctest.testmod(costs).failed == 0


@pytest.mark.parametrize("rule, reward, tasks, expected", [
    (fees.MTURK, "1.50", [6, 6], ("18.00", "3.60")),       # 20 %: $0.30 an assignment
    (fees.MTURK, "1.50", [42], ("63.00", "25.20")),        # 42 assignments a HIT: 40 %, $0.60 each
    (fees.MTURK, "1.50", [9, 10], ("28.50", "8.70")),      # 9 x 0.30 + 10 x 0.60
    (fees.MTURK, "0.02", [5], ("0.10", "0.05")),           # 20 % of 2 cents is under the $0.01 minimum
    (fees.PROLIFIC_ACADEMIC, "1.50", [1] * 6, ("9.00", "3.00")),   # 0.4995 → 0.50 a place
    (fees.PROLIFIC_CORPORATE, "1.50", [1] * 6, ("9.00", "3.84")),  # 0.642 → 0.64 a place
])
def test_costs(rule, reward, tasks, expected):
    rewards, fee = rule.cost(Decimal(reward), tasks)
    assert (str(rewards), str(fee)) == expected


def test_each_rule_names_its_source():
    assert fees.MTURK.describe() == ("MTurk fee 20 % of rewards, +20 % for HITs of 10 or more assignments, at least "
                                     "0.01 per assignment (https://www.mturk.com/pricing, read 2026-10-07)")
    assert fees.PROLIFIC_ACADEMIC.describe() == ("Prolific fee 33.3 % of rewards (https://www.prolific.com/pricing, "
                                                 "read 2026-09-20)")
