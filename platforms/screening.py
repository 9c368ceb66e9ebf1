"""Per-worker screening from analysis (``workers.csv``), used by every platform's review and bonus.

A worker id here is the platform's participant id: an MTurk WorkerId, a Prolific PROLIFIC_PID.
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
