"""Recruitment platforms: how participants arrive, how they finish, and the platform's operations.

One subpackage per platform (`platforms.mturk`, `platforms.prolific`); their operations share
`platforms.ledger` (never twice), `platforms.cli` (session and printout), `platforms.bonus` and
`platforms.screening`. Each platform implements `platforms.base.Platform`
(see docs/contracts.md). May import `app` (settings, errors, the store) and `analysis`
(screening results for review and bonuses); the server imports only `platforms.base` and the
registry, never a platform's operations.
"""
