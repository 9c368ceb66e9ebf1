"""Which responses the recruitment platform confirms: rows ``verified`` or ``unverified``, and why.

Anyone can call the API with invented worker and assignment ids and answer every trial, so a
``complete`` assignment on the server proves nothing about who did it. The platform's own record
does. Each registered platform says which assignments its records speak for
(`platforms.base.Platform.confirmed`, gathered by `platforms.confirmed_records` and handed in by
the CLI): MTurk's assignments stored by ``mvt mturk assignments`` (``Submitted``/``Approved``
confirm), Prolific's submissions stored by ``mvt prolific submissions`` (``APPROVED``/``AWAITING
REVIEW``), and a URL-parameter panel, which has no API, by the server's own completion record.
An assignment is confirmed when its record says ``confirmed`` **for the same worker id**.

``--verified-only`` semantics (for ``mvt analyze``): when platform records exist (at least one),
keep only ``verified`` rows, by default; with no records (data gathered without platform access)
every row stays and is marked ``unverified``, and ``--verified-only`` then keeps nothing and says
so. ``--no-verified-only`` keeps every row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

REASONS = ("no_platform_record", "other_worker", "rejected", "not_submitted")
"""Why a row is unverified: no platform has such an assignment; it has it for another worker id;
it was rejected; any other status (e.g. Returned, Abandoned)."""


@dataclass(frozen=True)
class Verification:
    """Responses marked ``verified`` (bool column) and ``verification`` (``verified`` or a reason)."""

    responses: pd.DataFrame
    has_platform_records: bool
    dropped: dict[str, int] = field(default_factory=dict)

    def kept(self, verified_only: bool | None = None) -> pd.DataFrame:
        """The rows analysis should use: only verified ones when ``verified_only`` (default: when
        platform records exist)."""
        only = self.has_platform_records if verified_only is None else verified_only
        return self.responses[self.responses["verified"]] if only else self.responses

    def summary(self, verified_only: bool | None = None) -> str:
        """One line for the analysis report: how many rows were dropped, and why."""
        only = self.has_platform_records if verified_only is None else verified_only
        n = len(self.responses)
        n_ok = int(self.responses["verified"].sum())
        if not self.has_platform_records:
            head = f"no platform records: all {n} responses unverified"
            return head + (", none kept (--verified-only)" if only else ", all kept")
        if not only:
            return f"{n_ok} of {n} responses verified by the platform; all kept (--no-verified-only)"
        why = ", ".join(f"{count} {reason}" for reason, count in sorted(self.dropped.items())) or "none"
        return f"{n_ok} of {n} responses verified by the platform; dropped {n - n_ok} ({why})"


def verify_responses(responses: pd.DataFrame, records: dict[str, dict]) -> Verification:
    """Mark each response row by the platform record of its assignment.

    Parameters
    ----------
    responses : pandas.DataFrame
        Needs ``assignment_id`` and ``worker_id`` (as from ``kernel.export.iter_response_rows``).
    records : dict
        ``{assignment_id: {"worker_id": …, "status": "confirmed" | "rejected" | "other"}}``, the
        platforms' records (`platforms.confirmed_records`).

    Returns
    -------
    Verification
        ``responses`` with columns ``verified`` (bool) and ``verification`` added; ``dropped``
        counts rows per reason.
    """
    missing = [c for c in ("assignment_id", "worker_id") if c not in responses.columns]
    if missing:
        raise ValueError(f"responses lack the columns {missing} (have {list(responses.columns)})")
    ids = sorted(set(responses["assignment_id"].astype(str)))
    found = {a: records[a] for a in ids if a in records}

    def why(assignment_id: str, worker_id: str) -> str:
        rec = found.get(assignment_id)
        if rec is None:
            return "no_platform_record"
        if rec.get("worker_id") != worker_id:
            return "other_worker"
        status = rec.get("status")
        if status == "confirmed":
            return "verified"
        return "rejected" if status == "rejected" else "not_submitted"

    out = responses.copy()
    out["verification"] = [why(str(a), str(w)) for a, w in zip(out["assignment_id"], out["worker_id"])]
    out["verified"] = out["verification"] == "verified"
    dropped = Counter(v for v in out["verification"] if v != "verified")
    return Verification(out, bool(records), dict(dropped))
