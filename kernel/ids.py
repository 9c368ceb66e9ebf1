"""The one id rule: link, worker, assignment, HIT and experiment ids.

Ids match ``[A-Za-z0-9_-]{1,64}``: safe in URLs, Redis keys (no ``{``, ``}`` or ``:``),
tokens (no ``.``) and file names. Every check of an id, in Python or in a page, derives from
`ID_CHARS` here (a test holds the landing layout's copy to it).
"""

from __future__ import annotations

import re

ID_CHARS = "[A-Za-z0-9_-]{1,64}"
ID_PATTERN = f"^{ID_CHARS}$"
ID_RE = re.compile(ID_CHARS)


def is_id(value: object) -> bool:
    """True when ``value`` is a string that follows the id rule."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None
