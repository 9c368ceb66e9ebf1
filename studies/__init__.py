"""Study kinds: what differs between kinds of study, behind one small interface.

A kind (`studies.base.StudyKind`) supplies its build step, what ``mvt load`` stores per link,
and the trial payload the browser gets; ``mvt analyze`` picks the kind's analysis by the
design's ``kind`` (`analysis.commands`). Allocation, gating, tokens, storage and
the recruitment platforms never look inside a kind: they carry its name (``kind`` in the
link's meta) and call the kind found here. The contract is written down in docs/contracts.md.

Importing this package is cheap: a kind imports its heavy parts (numpy, ffmpeg, pandas)
inside the methods that need them.
"""

from __future__ import annotations

from studies.base import LinkData, StudyKind
from studies.mvt import MVTKind
from studies.ratings import RatingsKind

KINDS: dict[str, StudyKind] = {kind.name: kind for kind in (MVTKind(), RatingsKind())}


def get_kind(name: str | None) -> StudyKind:
    """The kind called ``name`` (links loaded before kinds existed are ``mvt``)."""
    try:
        return KINDS[name or "mvt"]
    except KeyError:
        raise ValueError(f"study kind {name!r} is not one of {sorted(KINDS)}") from None


__all__ = ["KINDS", "LinkData", "StudyKind", "get_kind"]
