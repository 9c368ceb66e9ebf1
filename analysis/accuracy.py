"""Accuracy per duration (overall, per class, per group) with crowdMOS confidence intervals.

Interval policy (`proportion_interval`), around the crowdMOS arithmetic of
`analysis.crowdmos` which is used unchanged:

- crowdMOS (score = 1 correct, 0 wrong; workers x images variance components, every variance
  with ``ddof`` = 1) gives ``mean ± t_ν · sqrt(Var(mean))`` with ``ν = min(N, M) - 1``
  degrees of freedom (N workers, M images in the cell).
- Where ``ν < 2`` or fewer than 3 workers, the variance components rest on too few workers or
  images (with ν = 1 the t quantile is 12.7; with ν = 0 there is none): the row says
  ``too few for crowdMOS`` and ``ci_low``/``ci_high`` are the Wilson score interval of the
  pooled responses instead (responses treated as independent; Clopper-Pearson beside it).
- Where the crowdMOS variance of the mean is 0 — every answer right (k = n) or every answer
  wrong (k = 0), so every variance component is 0 — crowdMOS gives a zero-width interval
  ([1, 1] for 21/21). The row uses the Wilson interval instead (``wilson: crowdMOS variance 0``),
  which has positive width for every n ≥ 1 (21/21: [0.845, 1]).
- A proportion's interval is kept in [0, 1]: a crowdMOS limit outside is clipped and the
  row says so (``ci_clipped``, ``ci_method``); the unclipped limits stay in
  ``crowdmos_low``/``crowdmos_high``. Wilson and Clopper-Pearson cannot leave [0, 1].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.crowdmos import crowdmos
from analysis.durations import duration_ms as rounded_ms
from analysis.durations import duration_ms_exact
from analysis.intervals import clopper_pearson_interval, wilson_interval

ACCURACY_COLUMNS = ["scope", "label", "frames", "duration_ms", "n_responses", "n_correct", "accuracy",
                    "ci_low", "ci_high", "n_workers", "n_images", "sigma_w2", "sigma_s2", "sigma_u2",
                    "wilson_low", "wilson_high", "ci_method", "ci_clipped", "df", "ddof", "crowdmos_low",
                    "crowdmos_high", "cp_low", "cp_high", "duration_ms_exact", "group"]
"""Columns of ``accuracy.csv``: ``scope`` is ``overall`` (``label`` empty), ``class``, or
``group`` (with ``--by``: ``group`` holds the group's value, ``label`` empty);
``ci_low``/``ci_high`` the interval chosen by the interval policy (module docstring), named by
``ci_method`` (``crowdmos``, ``crowdmos clipped to [0, 1]``, ``wilson: too few for
crowdMOS`` or ``wilson: crowdMOS variance 0``); ``df`` is ν, ``ddof`` the variances' delta degrees of freedom; ``sigma_*`` the
crowdMOS variance components; ``wilson_*`` and ``cp_*`` the Wilson and Clopper-Pearson
intervals treating responses as independent; ``duration_ms`` whole ms, ``duration_ms_exact``
exact."""

MIN_CROWDMOS_DF = 2
"""crowdMOS intervals need ν = min(workers, images) - 1 of at least this (and 3 workers)."""
MIN_CROWDMOS_WORKERS = 3


def proportion_interval(res, k: int, n: int, confidence: float = 0.95) -> dict:
    """The interval policy for one cell: crowdMOS, clipped to [0, 1], or Wilson when too few.

    Parameters
    ----------
    res : analysis.crowdmos.CrowdMOSResult
        The crowdMOS result of the cell's scores (1 correct, 0 wrong).
    k, n : int
        Correct responses and responses in the cell.
    confidence : float, optional
        Level of the Wilson and Clopper-Pearson intervals, default 0.95 (crowdMOS's own is
        in `res`).

    Returns
    -------
    dict
        ``ci_low, ci_high, ci_method, ci_clipped, df, crowdmos_low, crowdmos_high, wilson_low,
        wilson_high, cp_low, cp_high``.

    Examples
    --------
    Two workers: ν = 1, too few; the Wilson interval of 3/4 is used instead.

    >>> from analysis.crowdmos import crowdmos
    >>> res = crowdmos([1, 1, 1, 0], ["a", "a", "b", "b"], [1, 2, 1, 2])
    >>> out = proportion_interval(res, 3, 4)
    >>> out["ci_method"], round(out["ci_low"], 4), round(out["ci_high"], 4), out["df"]
    ('wilson: too few for crowdMOS', 0.3006, 0.9544, 1)

    Every answer right: crowdMOS has variance 0 (a zero-width interval); Wilson is used.

    >>> workers, images = [w for w in "abc" for _ in range(7)], [i for _ in range(3) for i in range(7)]
    >>> out = proportion_interval(crowdmos([1] * 21, workers, images), 21, 21)
    >>> out["ci_method"], round(out["ci_low"], 3), out["ci_high"]
    ('wilson: crowdMOS variance 0', 0.845, 1.0)
    """
    w = wilson_interval(k, n, confidence)
    cp = clopper_pearson_interval(k, n, confidence)
    out = {"df": res.df, "crowdmos_low": res.ci_low, "crowdmos_high": res.ci_high,
           "wilson_low": float(w.low), "wilson_high": float(w.high),
           "cp_low": float(cp.low), "cp_high": float(cp.high), "ci_clipped": False}
    if res.df < MIN_CROWDMOS_DF or res.n_workers < MIN_CROWDMOS_WORKERS or not np.isfinite(res.ci_low):
        out.update(ci_low=float(w.low), ci_high=float(w.high), ci_method="wilson: too few for crowdMOS")
        return out
    if not res.var_mean > 0:
        out.update(ci_low=float(w.low), ci_high=float(w.high), ci_method="wilson: crowdMOS variance 0")
        return out
    low, high = min(max(res.ci_low, 0.0), 1.0), min(max(res.ci_high, 0.0), 1.0)
    clipped = (low, high) != (res.ci_low, res.ci_high)
    out.update(ci_low=low, ci_high=high, ci_clipped=clipped,
               ci_method="crowdmos clipped to [0, 1]" if clipped else "crowdmos")
    return out


def accuracy_table(responses: pd.DataFrame, *, frame_counts=None, confidence: float = 0.95,
                   ddof: float = 1, fps: float = 60, by: str | None = None) -> pd.DataFrame:
    """Accuracy per duration, overall, per class and per group, with crowdMOS intervals.

    Parameters
    ----------
    responses : pandas.DataFrame
        Responses used for estimates, with ``worker_id, image_id, label, frames, correct``.
    frame_counts : sequence of int, optional
        The duration grid (durations without responses get a row with ``n_responses`` 0);
        default the frame counts present.
    confidence : float, optional
        Interval level, default 0.95.
    ddof : float, optional
        Variance normalisation passed to `analysis.crowdmos.crowdmos`, default 1.
    fps : float, optional
        Frame rate for ``duration_ms``, default 60.
    by : str, optional
        A column of `responses` (e.g. image metadata); adds ``scope = group`` rows per value.

    Returns
    -------
    pandas.DataFrame
        Columns `ACCURACY_COLUMNS`, overall rows first, then classes sorted by label, then
        groups sorted by value.
    """
    grid = np.unique(np.asarray(frame_counts if frame_counts is not None else responses["frames"], dtype=np.int64))
    # Integer codes once, so that each crowdMOS call factorizes small integers, not strings.
    slim = pd.DataFrame({"label": responses["label"], "frames": responses["frames"],
                         "correct": responses["correct"].to_numpy(dtype=float),
                         "worker_id": pd.factorize(responses["worker_id"])[0],
                         "image_id": pd.factorize(responses["image_id"])[0],
                         "group": responses[by].astype(str) if by else ""})
    groups = {key: g for key, g in slim.groupby(["label", "frames"], sort=True)}
    by_frames = {f: g for f, g in slim.groupby("frames", sort=True)}
    by_group = {key: g for key, g in slim.groupby(["group", "frames"], sort=True)} if by else {}
    labels = sorted(responses["label"].unique())
    group_values = sorted(slim["group"].unique()) if by else []
    rows = []
    scopes = [("overall", "")] + [("class", lab) for lab in labels] + [("group", v) for v in group_values]
    for scope, label in scopes:
        for f in grid:
            g = {"overall": lambda: by_frames.get(f), "class": lambda: groups.get((label, f)),
                 "group": lambda: by_group.get((label, f))}[scope]()
            row = {"scope": scope, "label": label if scope == "class" else "", "frames": int(f),
                   "duration_ms": int(rounded_ms(f, fps)), "duration_ms_exact": float(duration_ms_exact(f, fps)),
                   "group": f"{by}={label}" if scope == "group" else "", "ddof": ddof}
            if g is None or len(g) == 0:
                row.update(n_responses=0, n_correct=0, n_workers=0, n_images=0)
                rows.append(row)
                continue
            score = g["correct"].to_numpy(dtype=float)
            res = crowdmos(score, g["worker_id"].to_numpy(), g["image_id"].to_numpy(), ddof=ddof,
                           confidence=confidence)
            row.update(n_responses=score.size, n_correct=int(score.sum()), accuracy=res.mean,
                       n_workers=res.n_workers, n_images=res.n_items,
                       sigma_w2=res.sigma_w2, sigma_s2=res.sigma_s2, sigma_u2=res.sigma_u2,
                       **proportion_interval(res, int(score.sum()), score.size, confidence))
            rows.append(row)
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
