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

from kernel import export
from studies.adaptive import AdaptiveMVTKind
from studies.base import LinkData, StudyKind
from studies.mvt import MVTKind
from studies.ratings import RatingsKind

KINDS: dict[str, StudyKind] = {}


def register_kind(kind: StudyKind) -> StudyKind:
    """Add ``kind`` to `KINDS` (a plug-in's module calls this when imported, see `kernel.plugins`):
    its build command, page, analysis, simulated answers and export columns (`kernel.export.register_export`)
    then work by registration alone."""
    if kind.name in KINDS and type(KINDS[kind.name]) is not type(kind):
        raise ValueError(f"study kind name {kind.name!r} is taken by {type(KINDS[kind.name]).__name__}")
    export.register_export(kind, default=not KINDS)  # the first (MVT): links stored before kinds existed
    KINDS[kind.name] = kind
    return kind


def kind_of(design: dict | None) -> StudyKind:
    """The kind of a built experiment's ``design.json`` (``kind``; absent: adaptive MVT for an
    adaptive design, else MVT; no design: MVT)."""
    design = design or {}
    return get_kind(design.get("kind") or (AdaptiveMVTKind.name if AdaptiveMVTKind.describes(design) else None))


def media_types() -> dict[str, str]:
    """Extension → content type of every registered kind's media (what ``/videos/`` serves)."""
    out: dict[str, str] = {}
    for kind in KINDS.values():
        out.update(kind.media_types)
    return out


for _kind in (MVTKind(), AdaptiveMVTKind(), RatingsKind()):
    register_kind(_kind)


def get_kind(name: str | None) -> StudyKind:
    """The kind called ``name`` (links loaded before kinds existed are ``mvt``)."""
    try:
        return KINDS[name or "mvt"]
    except KeyError:
        raise ValueError(f"study kind {name!r} is not one of {sorted(KINDS)}") from None


__all__ = ["KINDS", "LinkData", "StudyKind", "get_kind", "kind_of", "media_types", "register_kind"]
