"""Minimum Viewing Time of every image: estimates, per-cell intervals, bootstrap, thresholds.

`estimate_mvt` counts the responses per (image, duration), applies the decision rule
(`analysis.rules`), the bootstrap (`analysis.bootstrap`) and optionally the psychometric fit
(`analysis.psychometric`), and returns an `MVTResult` whose ``table`` is ``mvt.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.bootstrap import bootstrap_mvt, ordered_interval
from analysis.intervals import clopper_pearson_interval, wilson_interval
from analysis.psychometric import psychometric_thresholds
from analysis.rules import above_theta, check_rule, excess_over_theta, mvt_index

FPS = 60


def _masked(values, keep, dtype: str) -> pd.api.extensions.ExtensionArray:
    """A nullable pandas array of `values`, missing (written as an empty CSV field) where not `keep`."""
    arr = pd.array(np.asarray(values), dtype=dtype)
    arr[~np.asarray(keep, dtype=bool)] = pd.NA
    return arr

@dataclass(frozen=True)
class MVTResult:
    """MVT estimates of every image, with per-cell intervals and the bootstrap distribution.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per image, the columns of ``mvt.csv`` (see `MVT_COLUMNS`):
        ``image_id, label, mvt_ms, mvt_frames, status, n_responses`` (status ``ok``,
        ``unrecognised`` or ``insufficient``; ``mvt_*`` empty unless ``ok``),
        ``mvt_frames_ci_low, mvt_frames_ci_high, mvt_ms_ci_low, mvt_ms_ci_high`` (95 %
        bootstrap interval on the ordered duration scale; a high limit of "unrecognised" is
        empty with ``ci_high_unrecognised`` true), ``p_unrecognised, p_insufficient`` and
        ``p_mvt_f<frames>`` for each duration (bootstrap probabilities), ``threshold_ms``
        (psychometric threshold, empty unless fitted).
    cells : pandas.DataFrame
        One row per (image, duration): ``image_id, label, frames, duration_ms, n, k, p,
        wilson_low, wilson_high, cp_low, cp_high, recognised``.
    frame_counts : tuple of int
        The duration grid, ascending.
    fps : float
        Frames per second that turned frame counts into milliseconds.
    rule : str
    theta : float
    inclusive : bool
    n_bootstrap : int
    """

    table: pd.DataFrame
    cells: pd.DataFrame
    frame_counts: tuple[int, ...]
    rule: str
    theta: float
    inclusive: bool
    n_bootstrap: int
    fps: float = FPS

    def status_counts(self) -> dict[str, int]:
        """How many images are ``ok``, ``unrecognised`` and ``insufficient``."""
        counts = self.table["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in ("ok", "unrecognised", "insufficient")}

    def describe_rule(self) -> str:
        """One sentence naming the rule and threshold, for reports."""
        op = ">=" if self.inclusive else ">"
        words = {
            "stable": "the shortest duration recognised there and at every longer duration",
            "first": "the shortest duration recognised at all (and at the longest)",
            "isotonic": "the shortest duration whose isotonic (PAVA) fit is recognised",
        }[self.rule]
        return f"rule '{self.rule}': MVT is {words}; recognised means proportion correct {op} {self.theta:g}"


MVT_COLUMNS = ["image_id", "label", "mvt_ms", "mvt_frames", "status", "n_responses",
               "mvt_frames_ci_low", "mvt_frames_ci_high", "mvt_ms_ci_low", "mvt_ms_ci_high",
               "ci_high_unrecognised", "p_unrecognised", "p_insufficient"]


def count_cells(responses: pd.DataFrame, frame_counts=None):
    """Correct responses and responses per (image, duration), as dense arrays.

    Parameters
    ----------
    responses : pandas.DataFrame
        Columns ``image_id, label, frames, correct`` (one row per response).
    frame_counts : sequence of int, optional
        The duration grid; default the frame counts present in `responses`. Responses at
        other frame counts are ignored.

    Returns
    -------
    images : pandas.DataFrame
        ``image_id, label`` in the order of the arrays' rows (sorted by image id).
    frame_counts : ndarray of int, shape (D,)
    k, n : ndarray of int, shape (I, D)
    """
    grid = np.unique(np.asarray(frame_counts if frame_counts is not None else responses["frames"],
                                dtype=np.int64))
    frames = responses["frames"].to_numpy(dtype=np.int64)
    col = np.searchsorted(grid, frames)
    on_grid = (col < grid.size) & (grid[np.minimum(col, grid.size - 1)] == frames)
    codes, uniques = pd.factorize(responses["image_id"], sort=True)
    labels = responses.groupby("image_id", sort=True)["label"].first().reindex(uniques)
    flat = codes[on_grid] * grid.size + col[on_grid]
    size = uniques.size * grid.size
    n = np.bincount(flat, minlength=size).reshape(uniques.size, grid.size)
    correct = responses["correct"].to_numpy(dtype=bool)[on_grid]
    k = np.bincount(flat, weights=correct, minlength=size).reshape(uniques.size, grid.size)
    images = pd.DataFrame({"image_id": np.asarray(uniques, dtype=object),
                           "label": labels.to_numpy(dtype=object)})
    return images, grid, k.astype(np.int64), n


def estimate_mvt(responses: pd.DataFrame, *, frame_counts=None, rule: str = "stable",
                 theta: float = 0.5, inclusive: bool = False, n_bootstrap: int = 1000, rng=None,
                 confidence: float = 0.95, psychometric: bool = False,
                 n_choices: int | None = None, fps: float = FPS) -> MVTResult:
    """MVT of every image in a (screened) responses table, with bootstrap uncertainty.

    Parameters
    ----------
    responses : pandas.DataFrame
        One row per response with ``image_id, label, frames, correct``.
    frame_counts : sequence of int, optional
        The design's duration grid (so that a duration nobody answered shows as missing);
        default the frame counts present.
    rule, theta, inclusive
        As in `mvt_index`.
    n_bootstrap : int, optional
        Bootstrap resamples, default 1000; 0 skips the bootstrap (CI columns empty).
    rng : {None, int, numpy.random.Generator}, optional
        Seed or generator for the bootstrap.
    confidence : float, optional
        Level of the per-cell intervals and the bootstrap interval, default 0.95.
    psychometric : bool, optional
        Also fit a psychometric function per image (``threshold_ms`` column).
    n_choices : int, optional
        Answer options for the psychometric guess rate; default the number of labels.
    fps : float, optional
        Frames per second of the videos, default 60.

    Returns
    -------
    MVTResult

    Examples
    --------
    >>> df = pd.DataFrame({"image_id": ["a"] * 4, "label": ["cat"] * 4,
    ...                    "frames": [1, 1, 6, 6], "correct": [False, False, True, True]})
    >>> row = estimate_mvt(df, rng=0).table.iloc[0]
    >>> int(row["mvt_frames"]), row["status"]
    (6, 'ok')
    """
    check_rule(rule, theta)
    images, grid, k, n = count_cells(responses, frame_counts)
    d = grid.size
    duration_ms = grid * 1000.0 / fps
    idx = mvt_index(k, n, rule=rule, theta=theta, inclusive=inclusive)
    ok = idx < d
    status = np.where(ok, "ok", np.where(idx == d, "unrecognised", "insufficient"))
    safe = np.minimum(idx, d - 1)
    table = images.copy()
    table["mvt_ms"] = _masked(duration_ms[safe], ok, "Float64")
    table["mvt_frames"] = _masked(grid[safe], ok, "Int64")
    table["status"] = status
    table["n_responses"] = n.sum(axis=1)

    if n_bootstrap > 0 and len(images):
        counts = bootstrap_mvt(k, n, rule=rule, theta=theta, inclusive=inclusive,
                               n_bootstrap=n_bootstrap, rng=rng)
        low, high = ordered_interval(counts, confidence)
        has_ci = low >= 0
        low_ok = has_ci & (low < d)
        high_ok = has_ci & (high < d)
        table["mvt_frames_ci_low"] = _masked(grid[np.clip(low, 0, d - 1)], low_ok, "Int64")
        table["mvt_frames_ci_high"] = _masked(grid[np.clip(high, 0, d - 1)], high_ok, "Int64")
        table["mvt_ms_ci_low"] = _masked(duration_ms[np.clip(low, 0, d - 1)], low_ok, "Float64")
        table["mvt_ms_ci_high"] = _masked(duration_ms[np.clip(high, 0, d - 1)], high_ok, "Float64")
        table["ci_high_unrecognised"] = _masked(high == d, has_ci, "boolean")
        share = counts / n_bootstrap
        table["p_unrecognised"] = share[:, d]
        table["p_insufficient"] = share[:, d + 1]
        for j, f in enumerate(grid):
            table[f"p_mvt_f{f}"] = share[:, j]
    else:
        for col in ("mvt_frames_ci_low", "mvt_frames_ci_high"):
            table[col] = pd.array([pd.NA] * len(table), dtype="Int64")
        for col in ("mvt_ms_ci_low", "mvt_ms_ci_high", "p_unrecognised", "p_insufficient"):
            table[col] = pd.array([pd.NA] * len(table), dtype="Float64")
        table["ci_high_unrecognised"] = pd.array([pd.NA] * len(table), dtype="boolean")
        for f in grid:
            table[f"p_mvt_f{f}"] = pd.array([pd.NA] * len(table), dtype="Float64")

    thresholds = np.full(len(images), np.nan)
    if psychometric and len(images):
        choices = n_choices or max(2, responses["label"].nunique())
        thresholds = psychometric_thresholds(duration_ms, k, n, n_choices=choices, theta=theta)
    table["threshold_ms"] = pd.array(thresholds, dtype="Float64")

    wilson = wilson_interval(k, n, confidence)
    cp = clopper_pearson_interval(k, n, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
    cells = pd.DataFrame({
        "image_id": np.repeat(images["image_id"].to_numpy(), d),
        "label": np.repeat(images["label"].to_numpy(), d),
        "frames": np.tile(grid, len(images)),
        "duration_ms": np.tile(duration_ms, len(images)),
        "n": n.ravel(), "k": k.ravel(), "p": p.ravel(),
        "wilson_low": wilson.low.ravel(), "wilson_high": wilson.high.ravel(),
        "cp_low": cp.low.ravel(), "cp_high": cp.high.ravel(),
        "recognised": (above_theta(excess_over_theta(k, n, theta), inclusive) & (n > 0)).ravel(),
    })
    return MVTResult(table=table, cells=cells, frame_counts=tuple(int(f) for f in grid), rule=rule,
                     theta=theta, inclusive=inclusive, n_bootstrap=n_bootstrap, fps=fps)
