"""Participant ids given to a platform command: checked against the platform's pattern."""

from __future__ import annotations

import re


def checked_ids(ids: list[str], pattern: re.Pattern, error: type[Exception], what: str,
                looks_like: str) -> list[str]:
    """The ids, de-duplicated in order; a malformed one raises ``error``, e.g.
    ``worker id 'X' is not an MTurk worker id (A followed by capital letters and digits)``."""
    for value in ids:
        if not pattern.match(value):
            raise error(f"{what} id {value!r} is not {looks_like}")
    return list(dict.fromkeys(ids))
