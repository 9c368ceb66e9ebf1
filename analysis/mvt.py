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
from analysis.durations import duration_ms as rounded_ms
from analysis.durations import duration_ms_exact
from analysis.intervals import clopper_pearson_interval, wilson_interval
from analysis.psychometric import psychometric_fits, threshold_text
from analysis.rules import RULES, above_theta, check_rule, excess_over_theta, isotonic_fit, mvt_index

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
        (psychometric threshold, empty unless fitted) and ``threshold_status``
        (`analysis.psychometric.threshold_status`, or ``unrecognised``/``insufficient`` by the
        control policy, ``not_fitted``) and ``threshold_text`` (how a person reads it:
        ``54 ms``, ``< 100 ms`` below the shortest tested duration, ``> 10 s`` above the longest,
        `analysis.psychometric.threshold_text`).
    cells : pandas.DataFrame
        One row per (image, duration): ``image_id, label, frames, duration_ms, n, k, p,
        wilson_low, wilson_high, cp_low, cp_high, recognised, duration_ms_exact, isotonic_p,
        fitted_p`` (``duration_ms`` rounded; ``isotonic_p`` the weighted isotonic fit,
        ``fitted_p`` the psychometric fit, empty unless fitted).
    frame_counts : tuple of int
        The duration grid, ascending.
    draws : ndarray of int16, shape (I, n_bootstrap)
        Every bootstrap resample's MVT index per image (``D`` unrecognised, ``D + 1``
        insufficient); `bootstrap_table` writes them out.
    rules : pandas.DataFrame
        One row per image: status and MVT under every rule (``status_<rule>``,
        ``mvt_frames_<rule>``, ``mvt_ms_<rule>``) and the psychometric threshold, for the
        comparison of rules (``rules.csv``).
    psychometric : pandas.DataFrame
        One row per image: the fitted parameters (``guess, mu_log_ms, sigma_log, lapse``), the
        fit's own threshold ``threshold_ms_fit``, the reported ``threshold_ms`` (empty unless
        ``threshold_status`` is ``ok``, ``below_range`` or ``above_range``) and the tested range
        (``psychometric.csv``).
    guess_rate : float
        The psychometric guess rate used.
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
    draws: np.ndarray | None = None
    rules: pd.DataFrame | None = None
    psychometric: pd.DataFrame | None = None
    guess_rate: float = float("nan")

    def status_counts(self) -> dict[str, int]:
        """How many images are ``ok``, ``unrecognised`` and ``insufficient``."""
        counts = self.table["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in ("ok", "unrecognised", "insufficient")}

    def describe_rule(self) -> str:
        """One sentence naming the rule and threshold, for reports."""
        op = ">=" if self.inclusive else ">"
        words = {
            "stable": "the shortest duration recognised there and at every longer duration",
            "first": "the shortest duration recognised at all (plain first passage)",
            "isotonic": "the shortest duration whose isotonic (PAVA) fit is recognised",
        }[self.rule]
        return f"rule '{self.rule}': MVT is {words}; recognised means proportion correct {op} {self.theta:g}"

    def describe_control(self) -> str:
        """The control policy (`CONTROL_POLICY`) with this analysis' longest duration."""
        f = self.frame_counts[-1] if self.frame_counts else 0
        return CONTROL_POLICY.format(frames=f, ms=int(rounded_ms(f, self.fps)) if f else 0)


MVT_COLUMNS = ["image_id", "label", "mvt_ms", "mvt_frames", "status", "n_responses",
               "mvt_frames_ci_low", "mvt_frames_ci_high", "mvt_ms_ci_low", "mvt_ms_ci_high",
               "ci_high_unrecognised", "p_unrecognised", "p_insufficient", "mvt_ms_exact"]
"""The first columns of ``mvt.csv``. ``mvt_ms`` and ``mvt_ms_ci_*`` are whole milliseconds as
papers write them (`analysis.durations.duration_ms`: 17, 50, 100 … at 60 fps);
``mvt_frames`` and ``mvt_ms_exact`` (``frames * 1000 / fps``) are exact."""

CONTROL_POLICY = ("control policy (every rule, and the psychometric threshold): an image not recognised at the "
                  "longest duration, {frames} frames ({ms} ms), is unrecognised")
"""The control policy in one sentence, for reports (`analysis.rules`)."""


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
                 n_choices: int | None = None, fps: float = FPS, guess_rate: float | None = None) -> MVTResult:
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
        Answer options shown per trial, for the psychometric guess rate ``1 / n_choices``;
        default the number of labels present (a lower bound: pass the design's).
    fps : float, optional
        Frames per second of the videos, default 60.
    guess_rate : float, optional
        The psychometric guess rate itself, overriding `n_choices`.

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
    duration_ms = duration_ms_exact(grid, fps)
    shown_ms = rounded_ms(grid, fps)
    idx = mvt_index(k, n, rule=rule, theta=theta, inclusive=inclusive)
    ok = idx < d
    status = np.where(ok, "ok", np.where(idx == d, "unrecognised", "insufficient"))
    safe = np.minimum(idx, d - 1)
    table = images.copy()
    table["mvt_ms"] = _masked(shown_ms[safe], ok, "Int64")
    table["mvt_frames"] = _masked(grid[safe], ok, "Int64")
    table["status"] = status
    table["n_responses"] = n.sum(axis=1)

    table["mvt_ms_exact"] = _masked(duration_ms[safe], ok, "Float64")
    draws = np.zeros((len(images), 0), dtype=np.int16)
    if n_bootstrap > 0 and len(images):
        counts, draws = bootstrap_mvt(k, n, rule=rule, theta=theta, inclusive=inclusive,
                                      n_bootstrap=n_bootstrap, rng=rng, return_draws=True)
        low, high = ordered_interval(counts, confidence)
        has_ci = low >= 0
        low_ok = has_ci & (low < d)
        high_ok = has_ci & (high < d)
        table["mvt_frames_ci_low"] = _masked(grid[np.clip(low, 0, d - 1)], low_ok, "Int64")
        table["mvt_frames_ci_high"] = _masked(grid[np.clip(high, 0, d - 1)], high_ok, "Int64")
        table["mvt_ms_ci_low"] = _masked(shown_ms[np.clip(low, 0, d - 1)], low_ok, "Int64")
        table["mvt_ms_ci_high"] = _masked(shown_ms[np.clip(high, 0, d - 1)], high_ok, "Int64")
        table["ci_high_unrecognised"] = _masked(high == d, has_ci, "boolean")
        share = counts / n_bootstrap
        table["p_unrecognised"] = share[:, d]
        table["p_insufficient"] = share[:, d + 1]
        for j, f in enumerate(grid):
            table[f"p_mvt_f{f}"] = share[:, j]
    else:
        for col in ("mvt_frames_ci_low", "mvt_frames_ci_high", "mvt_ms_ci_low", "mvt_ms_ci_high"):
            table[col] = pd.array([pd.NA] * len(table), dtype="Int64")
        for col in ("p_unrecognised", "p_insufficient"):
            table[col] = pd.array([pd.NA] * len(table), dtype="Float64")
        table["ci_high_unrecognised"] = pd.array([pd.NA] * len(table), dtype="boolean")
        for f in grid:
            table[f"p_mvt_f{f}"] = pd.array([pd.NA] * len(table), dtype="Float64")
    table = table[MVT_COLUMNS + [c for c in table.columns if c not in MVT_COLUMNS]]

    guess = guess_rate if guess_rate is not None else 1.0 / (n_choices or max(2, responses["label"].nunique()))
    fits = None
    threshold = np.full(len(images), np.nan)
    t_status = np.full(len(images), "not_fitted", dtype=object)
    if psychometric and len(images):
        fits = psychometric_fits(duration_ms, k, n, guess=guess, theta=theta)
        # Control policy: a failed (or missing) control leaves no threshold, as under every rule.
        control = above_theta(excess_over_theta(k[:, -1], n[:, -1], theta), inclusive)
        t_status = np.where(n[:, -1] == 0, "insufficient", np.where(control, fits.status, "unrecognised"))
        threshold = np.where(t_status == np.asarray(fits.status), fits.threshold_ms, np.nan)
        t_status = np.where(n.sum(axis=1) == 0, "no_data", t_status).astype(object)
    table["threshold_ms"] = pd.array(threshold, dtype="Float64")
    table["threshold_status"] = t_status
    table["threshold_text"] = threshold_text(threshold, t_status, float(duration_ms[0]), float(duration_ms[-1])) \
        if len(duration_ms) else ""

    wilson = wilson_interval(k, n, confidence)
    cp = clopper_pearson_interval(k, n, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
    fitted = fits.predict(duration_ms) if fits is not None else np.full(k.shape, np.nan)
    cells = pd.DataFrame({
        "image_id": np.repeat(images["image_id"].to_numpy(), d),
        "label": np.repeat(images["label"].to_numpy(), d),
        "frames": np.tile(grid, len(images)),
        "duration_ms": np.tile(shown_ms, len(images)),
        "n": n.ravel(), "k": k.ravel(), "p": p.ravel(),
        "wilson_low": wilson.low.ravel(), "wilson_high": wilson.high.ravel(),
        "cp_low": cp.low.ravel(), "cp_high": cp.high.ravel(),
        "recognised": (above_theta(excess_over_theta(k, n, theta), inclusive) & (n > 0)).ravel(),
        "duration_ms_exact": np.tile(duration_ms, len(images)),
        "isotonic_p": isotonic_fit(k, n).ravel(), "fitted_p": fitted.ravel(),
    })
    rules = images.copy()
    for other in RULES:
        index = mvt_index(k, n, rule=other, theta=theta, inclusive=inclusive)
        rules[f"status_{other}"] = np.where(index < d, "ok", np.where(index == d, "unrecognised", "insufficient"))
        rules[f"mvt_frames_{other}"] = _masked(grid[np.minimum(index, d - 1)], index < d, "Int64")
        rules[f"mvt_ms_{other}"] = _masked(shown_ms[np.minimum(index, d - 1)], index < d, "Int64")
    rules["threshold_ms"] = table["threshold_ms"].to_numpy()
    rules["threshold_status"] = t_status
    psy = images.copy()
    if fits is not None:
        psy["guess"] = fits.guess
        psy["mu_log_ms"], psy["sigma_log"], psy["lapse"] = fits.mu_log_ms, fits.sigma_log, fits.lapse
        psy["threshold_ms_fit"] = fits.threshold_ms
    else:
        for col in ("guess", "mu_log_ms", "sigma_log", "lapse", "threshold_ms_fit"):
            psy[col] = np.nan
    psy["threshold_ms"] = table["threshold_ms"].to_numpy()
    psy["threshold_status"] = t_status
    psy["tested_min_ms"], psy["tested_max_ms"] = (duration_ms.min(), duration_ms.max()) if d else (np.nan, np.nan)
    psy["n_responses"] = n.sum(axis=1)
    return MVTResult(table=table, cells=cells, frame_counts=tuple(int(f) for f in grid), rule=rule,
                     theta=theta, inclusive=inclusive, n_bootstrap=n_bootstrap, fps=fps, draws=draws,
                     rules=rules, psychometric=psy, guess_rate=guess)
