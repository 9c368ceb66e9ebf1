"""Recruitment platforms: how participants arrive, how they finish, and the platform's operations.

One subpackage or module per platform (`platforms.mturk`, `platforms.prolific`,
`platforms.panel`); each implements
`platforms.base.Platform` (see docs/contracts.md). Their operations share `platforms.ledger`
(never twice), `platforms.cli` (session and printout), `platforms.bonus` and
`platforms.screening`. May import `kernel` (settings, errors, ids, the store, admin) and
`analysis` (screening results for review and bonuses). The server (`app`) uses only the
`Platform` interface from `PLATFORMS`: it includes each platform's router and reads its words; a
platform's operations are imported by its commands.
"""

from __future__ import annotations

from kernel.costs import register_estimate
from platforms.base import Arrival, ArrivalError, Finished, Platform
from platforms.mturk.platform import MTurkPlatform
from platforms.panel import PanelPlatform
from platforms.prolific.platform import ProlificPlatform

PLATFORMS: dict[str, Platform] = {}


def register_platform(platform: Platform) -> Platform:
    """Add ``platform`` to `PLATFORMS` (a plug-in's module calls this when imported, see
    `kernel.plugins`); its routes, words and commands then appear by registration alone."""
    if platform.name in PLATFORMS and type(PLATFORMS[platform.name]) is not type(platform):
        raise ValueError(f"platform name {platform.name!r} is taken by {type(PLATFORMS[platform.name]).__name__}")
    PLATFORMS[platform.name] = platform
    register_estimate(platform.name, platform.launch_cost)
    return platform


def preview_ids() -> frozenset[str]:
    """Assignment ids that mean "only looking" on some platform (nothing is allocated for them)."""
    return frozenset().union(*(platform.preview_ids for platform in PLATFORMS.values()))


def confirmed_records(r, responses, settings) -> dict[str, dict]:
    """Every registered platform's `Platform.confirmed` records, merged (for `analysis.verified`)."""
    out: dict[str, dict] = {}
    for platform in PLATFORMS.values():
        out.update(platform.confirmed(r, responses, settings))
    return out


for _platform in (MTurkPlatform(), ProlificPlatform(), PanelPlatform()):
    register_platform(_platform)

__all__ = ["PLATFORMS", "Arrival", "ArrivalError", "Finished", "Platform", "confirmed_records", "preview_ids",
           "register_platform"]
