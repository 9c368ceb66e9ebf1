"""Cost before launch: every registered platform's cost of a built design (``mvt build --reward``).

The builders (`stimuli`) may not import the platforms (README, "Layout"), so each platform puts
its estimate here when it is registered (`platforms.register_platform`, from
`platforms.base.Platform.launch_cost`) and a builder asks for all of them: a new platform's cost
line appears by registration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kernel.errors import BuildOptionError

ESTIMATES: dict[str, Callable[[Decimal, list[int]], str | None]] = {}
"""Platform name → ``estimate(reward, lists_per_link)``: its cost line, or None when it pays nothing."""


def register_estimate(name: str, estimate: Callable[[Decimal, list[int]], str | None]) -> None:
    """Let platform ``name`` state what a design costs on it."""
    ESTIMATES[name] = estimate


def parse_reward(text: str) -> Decimal:
    """``--reward``: an amount per task (one participant's list) such as ``1.50``, in the platform's currency.

    >>> parse_reward("1.5")
    Decimal('1.50')
    """
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) or value > 10_000:
        raise BuildOptionError(f"--reward ({text!r}) must be an amount per task such as 1.50 (at most two decimals, "
                               "0 to 10000)")
    return abs(value.quantize(Decimal("0.01")))


def lists_per_link(exp_dir: Path) -> list[int]:
    """The number of lists (tasks, one participant each) of every link in ``EXP_DIR/design.json``."""
    design = json.loads((Path(exp_dir) / "design.json").read_text())
    return [len(link.get("lists", [])) for link in design.get("links", [])]


def launch_costs(reward: Decimal, exp_dir: Path) -> list[str]:
    """One line per registered platform that charges: what the design built in ``exp_dir`` costs at
    ``reward`` a task (`lists_per_link`), fees included; a sentence when no platform charges."""
    lists = lists_per_link(exp_dir)
    return [line for estimate in ESTIMATES.values() if (line := estimate(reward, lists))] or [
        "Cost: no registered platform charges fees"]
