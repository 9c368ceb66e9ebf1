"""Recruitment platforms: how participants arrive, how they finish, and the platform's operations.

One subpackage per platform (`platforms.mturk`); each implements `platforms.base.Platform`
(see docs/contracts.md). May import `app` (settings, errors, the store) and `analysis`
(screening results for review and bonuses); the server imports only `platforms.base` and the
registry, never a platform's operations.
"""
