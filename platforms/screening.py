"""Per-worker screening from analysis (``workers.csv`` and the flags stored in Redis), used by every
platform's review and bonus.

A worker id here is the platform's participant id: an MTurk WorkerId, a Prolific PROLIFIC_PID.
Review and bonus read the standing flags ``mvt analyze`` stored (`kernel.flags`) whether or not a
``--workers`` file is given (`with_stored`), so a worker flagged by an earlier analysis is held and
gets no bonus even when a later workers.csv no longer lists them as flagged; ``mvt unflag`` clears one.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from kernel.csvsafe import restore
from kernel.errors import PlatformBadInput

_TRUE = {"1", "true", "yes", "y", "t"}


@dataclass
class Screening:
    """Per-worker screening from analysis's workers.csv (``worker_id, flagged, reason,
    profile_r``; ``reasons`` and ``correlation`` are read too): ``flagged`` maps flagged workers
    to their reasons; ``correlation`` holds each worker's correlation with the others (where
    analysis computed one)."""

    flagged: dict[str, str] = field(default_factory=dict)
    correlation: dict[str, float] = field(default_factory=dict)

    def flag_reasons(self, worker_id: str) -> str | None:
        """The reasons the worker was flagged ("" if none given), or None when not flagged."""
        return self.flagged.get(worker_id)

    @classmethod
    def from_csv(cls, path: Path) -> Screening:
        """Read analysis's workers.csv."""
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if "worker_id" not in (reader.fieldnames or []):
                raise PlatformBadInput(f"{path} has no worker_id column (columns: {reader.fieldnames})")
            screening = cls()
            for row in reader:
                worker_id = restore(row["worker_id"].strip())
                if (row.get("flagged") or "").strip().lower() in _TRUE:
                    screening.flagged[worker_id] = (row.get("reason") or row.get("reasons") or "").strip()
                text = (row.get("profile_r") or row.get("correlation") or "").strip()
                if text:
                    try:
                        value = float(text)
                    except ValueError:
                        raise PlatformBadInput(f"{path}: correlation ({text!r}) of worker {worker_id} "
                                            "is not a number") from None
                    if not math.isnan(value):
                        screening.correlation[worker_id] = value
        return screening


def with_stored(r, screening: Screening | None) -> Screening:
    """`screening` (or an empty one) plus every standing flag stored in Redis by ``mvt analyze``.

    A worker flagged in both keeps the workers.csv reason; one flagged only in the store gets the
    stored reason and the analysis run that flagged them.
    """
    from kernel.flags import stored_flags

    merged = Screening(flagged=dict(screening.flagged) if screening else {},
                       correlation=dict(screening.correlation) if screening else {})
    for worker_id, flag in stored_flags(r).items():
        merged.flagged.setdefault(worker_id, f"{flag.get('reason') or 'no reason recorded'} "
                                             f"(stored flag, analysis run {flag.get('run', '?')})")
    return merged
