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


REWARD_HELP = ("Reward per task (one participant's list), e.g. 1.50: prints the cost on each platform, fees "
               "included.")
"""The builds' ``--reward`` help (`parse_reward`)."""
ARRIVALS_HELP = "Participants you expect to start a task each hour, e.g. 20: prints the time to fill every task."
"""``--arrivals-per-hour``'s help on every command that takes it (`parse_rate`, `fill_time`)."""


def parse_rate(text: str) -> float:
    """``--arrivals-per-hour``: participants expected to start a task each hour, more than 0.

    >>> parse_rate("12.5")
    12.5
    """
    try:
        value = float(str(text).strip())
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1_000_000:
        raise BuildOptionError(f"--arrivals-per-hour ({text!r}) must be a number of participants an hour above 0, "
                               "such as 20")
    return value


def fill_time(n_tasks: int, per_hour: float) -> str:
    """How long ``n_tasks`` take to be taken at ``per_hour`` arrivals an hour (each task one participant).

    >>> fill_time(336, 20)
    'Time to fill: 336 tasks at 20 participants an hour take about 16.8 hours (then the last ones need their task time).'
    >>> fill_time(6, 30)
    'Time to fill: 6 tasks at 30 participants an hour take about 12 minutes (then the last ones need their task time).'
    """
    hours = n_tasks / per_hour
    took = f"{hours:.1f} hours" if hours >= 2 else f"{hours * 60:.0f} minutes"
    return (f"Time to fill: {n_tasks} tasks at {per_hour:g} participants an hour take about {took} "
            "(then the last ones need their task time).")


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
