"""Recruitment platforms: how participants arrive, how they finish, and the platform's operations.

One subpackage per platform (`platforms.mturk`, `platforms.prolific`); each implements
`platforms.base.Platform` (see docs/contracts.md). Their operations share `platforms.ledger`
(never twice), `platforms.cli` (session and printout), `platforms.bonus` and
`platforms.screening`. May import `app` (settings, errors, ids, the store, admin) and
`analysis` (screening results for review and bonuses). The server's pages use only the
`Platform` interface from `PLATFORMS`; a platform's operations are imported by its commands.
"""

from __future__ import annotations

from platforms.base import Arrival, ArrivalError, Platform
from platforms.mturk.platform import MTurkPlatform
from platforms.prolific.platform import ProlificPlatform

PLATFORMS: dict[str, Platform] = {platform.name: platform for platform in (MTurkPlatform(), ProlificPlatform())}

__all__ = ["PLATFORMS", "Arrival", "ArrivalError", "Platform"]
