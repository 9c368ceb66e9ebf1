"""Worker screening: which responses feed the estimates and which workers are flagged.

Responses used for estimates are those of ``complete`` assignments whose timing was not found
wrong (``timing_ok`` false: the browser measured a presented frame count that differs from the
intended one; unmeasured trials are kept), from workers who are not flagged. A worker is
flagged when

- control rule: their accuracy at the longest (control) duration is below
  `control_threshold` (default 0.6), or
- correlation rule (crowdMOS): the Pearson r between their per-duration accuracy and the
  per-duration accuracy of everybody else (leave-one-out) is below `min_r` (default 0.25), or
  undefined (fewer than two durations, or a constant profile).

Both rules look at the worker's usable trials (complete assignments, timing not wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WORKER_COLUMNS = ["worker_id", "flagged", "reason", "flag_control", "flag_correlation",
                  "control_frames", "control_n", "control_accuracy", "profile_r", "profile_n_durations",
                  "n_responses", "n_used", "n_incomplete_excluded", "n_timing_excluded",
                  "n_assignments", "n_complete_assignments", "complete_assignment_ids"]
"""Columns of ``workers.csv``, in order."""


@dataclass(frozen=True)
class ScreeningResult:
    """Outcome of `screen_workers`.

    Attributes
    ----------
    workers : pandas.DataFrame
        One row per worker, columns `WORKER_COLUMNS`: the flags (``flag_control``,
        ``flag_correlation``, ``flagged``) and ``reason`` (sentences, empty when not flagged);
        ``control_n``/``control_accuracy`` at ``control_frames``; ``profile_r`` (NaN when
        undefined) over ``profile_n_durations`` durations; response counts: all, used for
        estimates, excluded as incomplete/replaced/expired, excluded for timing;
        ``complete_assignment_ids`` space-separated.
    used : pandas.DataFrame
        The responses that feed the estimates.
    control_threshold, min_r : float
        The thresholds applied.
    """

    workers: pd.DataFrame
    used: pd.DataFrame
    control_threshold: float
    min_r: float

    def flagged_assignments(self) -> list[str]:
        """Complete assignment ids of flagged workers (what ``--replace`` marks), sorted."""
        ids = self.workers.loc[self.workers["flagged"], "complete_assignment_ids"]
        return sorted({a for text in ids for a in text.split()})

    def summary(self) -> dict[str, int]:
        """Counts for reports: workers, flagged by each rule, responses used and excluded."""
        w = self.workers
        return {
            "workers": len(w), "flagged": int(w["flagged"].sum()),
            "flag_control": int(w["flag_control"].sum()), "flag_correlation": int(w["flag_correlation"].sum()),
            "responses": int(w["n_responses"].sum()), "used": int(w["n_used"].sum()),
            "incomplete_excluded": int(w["n_incomplete_excluded"].sum()),
            "timing_excluded": int(w["n_timing_excluded"].sum()),
            "flagged_excluded": int((w["n_responses"] - w["n_used"] - w["n_incomplete_excluded"]
                                     - w["n_timing_excluded"]).sum()),
        }


def _rowwise_pearson(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r of x and y per row over the masked columns; NaN when undefined."""
    m = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = np.where(mask, x, 0).sum(axis=1) / m
        my = np.where(mask, y, 0).sum(axis=1) / m
        dx = np.where(mask, x - mx[:, None], 0)
        dy = np.where(mask, y - my[:, None], 0)
        sxx, syy = (dx**2).sum(axis=1), (dy**2).sum(axis=1)
        r = (dx * dy).sum(axis=1) / np.sqrt(sxx * syy)
    # Constant profiles (up to rounding) have no correlation.
    degenerate = (m < 2) | (sxx <= 1e-12) | (syy <= 1e-12)
    return np.where(degenerate, np.nan, np.clip(r, -1, 1)), m


def screen_workers(responses: pd.DataFrame, *, control_threshold: float = 0.6, min_r: float = 0.25,
                   frame_counts=None) -> ScreeningResult:
    """Flag workers and select the responses that feed the estimates (module docstring).

    Parameters
    ----------
    responses : pandas.DataFrame
        A prepared responses table (`analysis.responses.prepare_responses`).
    control_threshold : float, optional
        Minimum accuracy at the longest duration, default 0.6.
    min_r : float, optional
        Minimum Pearson r of the accuracy profile against everybody else's, default 0.25.
    frame_counts : sequence of int, optional
        The duration grid; the longest is the control duration. Default: frame counts present.

    Returns
    -------
    ScreeningResult

    Raises
    ------
    ValueError
        If `control_threshold` is not in [0, 1] or `min_r` not in [-1, 1].
    """
    if not 0 <= control_threshold <= 1:
        raise ValueError(f"control_threshold ({control_threshold!r}) must be a proportion in [0, 1]")
    if not -1 <= min_r <= 1:
        raise ValueError(f"min_r ({min_r!r}) must be a correlation in [-1, 1]")
    grid = np.unique(np.asarray(frame_counts if frame_counts is not None else responses["frames"], dtype=np.int64))
    complete = (responses["assignment_status"] == "complete").to_numpy()
    timing_bad = (responses["timing_ok"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    usable = complete & ~timing_bad
    codes, worker_ids = pd.factorize(responses["worker_id"], sort=True)
    n_workers = worker_ids.size

    frames = responses["frames"].to_numpy(dtype=np.int64)
    col = np.clip(np.searchsorted(grid, frames), 0, max(grid.size - 1, 0))
    on_grid = (grid[col] == frames) if grid.size else np.zeros(len(frames), bool)
    sel = usable & on_grid
    d = max(grid.size, 1)
    flat = codes[sel] * d + col[sel]
    correct = responses["correct"].to_numpy(dtype=bool)[sel]
    n = np.bincount(flat, minlength=n_workers * d).reshape(n_workers, d).astype(float)
    k = np.bincount(flat, weights=correct, minlength=n_workers * d).reshape(n_workers, d)

    with np.errstate(divide="ignore", invalid="ignore"):
        acc = k / n
        n_rest = n.sum(axis=0)[None, :] - n
        loo = (k.sum(axis=0)[None, :] - k) / n_rest
        control_acc = acc[:, -1]
    r, m = _rowwise_pearson(acc, loo, (n > 0) & (n_rest > 0))
    has_data = n.sum(axis=1) > 0
    control_n = n[:, -1].astype(np.int64)
    flag_control = has_data & (control_n > 0) & (control_acc < control_threshold)
    flag_corr = has_data & ~(r >= min_r)
    control_frames = int(grid[-1]) if grid.size else 0

    reasons = []
    for i in range(n_workers):
        parts = []
        if flag_control[i]:
            parts.append(f"control accuracy {control_acc[i]:.2f} at {control_frames} frames "
                         f"({int(k[i, -1])}/{control_n[i]}) is below {control_threshold:g}")
        if flag_corr[i]:
            if np.isnan(r[i]):
                why = ("fewer than two durations to correlate" if m[i] < 2
                       else "accuracy profile is constant, so r is undefined")
                parts.append(f"profile correlation undefined: {why}")
            else:
                parts.append(f"profile correlation r = {r[i]:.2f} is below {min_r:g}")
        reasons.append("; ".join(parts))

    def per_worker(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=n_workers)

    status = responses["assignment_status"].to_numpy()
    assignments = responses[["worker_id", "assignment_id"]].assign(complete=complete).drop_duplicates()
    n_assign = assignments.groupby("worker_id")["assignment_id"].nunique().reindex(worker_ids, fill_value=0)
    done = assignments[assignments["complete"]]
    n_done = done.groupby("worker_id")["assignment_id"].nunique().reindex(worker_ids, fill_value=0)
    done_ids = done.groupby("worker_id")["assignment_id"].agg(lambda s: " ".join(sorted(set(s)))).reindex(
        worker_ids, fill_value="")
    flagged = flag_control | flag_corr
    used_mask = usable & ~flagged[codes] if n_workers else usable
    workers = pd.DataFrame({
        "worker_id": np.asarray(worker_ids, dtype=object),
        "flagged": flagged, "reason": reasons, "flag_control": flag_control, "flag_correlation": flag_corr,
        "control_frames": control_frames, "control_n": control_n,
        "control_accuracy": np.where(control_n > 0, control_acc, np.nan),
        "profile_r": r, "profile_n_durations": m.astype(np.int64),
        "n_responses": per_worker(np.ones(len(codes), bool)),
        "n_used": per_worker(used_mask),
        "n_incomplete_excluded": per_worker(status != "complete"),
        "n_timing_excluded": per_worker(complete & timing_bad),
        "n_assignments": n_assign.to_numpy(), "n_complete_assignments": n_done.to_numpy(),
        "complete_assignment_ids": done_ids.to_numpy(dtype=object),
    }, columns=WORKER_COLUMNS)
    used = responses[used_mask].reset_index(drop=True)
    return ScreeningResult(workers=workers, used=used, control_threshold=control_threshold, min_r=min_r)
