"""Accuracy per duration (overall and per class) with crowdMOS confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.crowdmos import crowdmos
from analysis.intervals import wilson_interval

ACCURACY_COLUMNS = ["scope", "label", "frames", "duration_ms", "n_responses", "n_correct", "accuracy",
                    "ci_low", "ci_high", "n_workers", "n_images", "sigma_w2", "sigma_s2", "sigma_u2",
                    "wilson_low", "wilson_high"]
"""Columns of ``accuracy.csv``: ``scope`` is ``overall`` (``label`` empty) or ``class``;
``ci_low``/``ci_high`` the crowdMOS interval (workers x images, score = correct), empty when
undefined; ``sigma_*`` its variance components; ``wilson_*`` the Wilson interval treating
responses as independent, for comparison."""


def accuracy_table(responses: pd.DataFrame, *, frame_counts=None, confidence: float = 0.95,
                   ddof: float = 1, fps: float = 60) -> pd.DataFrame:
    """Accuracy per duration, overall and per class, with crowdMOS intervals.

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

    Returns
    -------
    pandas.DataFrame
        Columns `ACCURACY_COLUMNS`, overall rows first, then classes sorted by label.
    """
    grid = np.unique(np.asarray(frame_counts if frame_counts is not None else responses["frames"], dtype=np.int64))
    # Integer codes once, so that each crowdMOS call factorizes small integers, not strings.
    slim = pd.DataFrame({"label": responses["label"], "frames": responses["frames"],
                         "correct": responses["correct"].to_numpy(dtype=float),
                         "worker_id": pd.factorize(responses["worker_id"])[0],
                         "image_id": pd.factorize(responses["image_id"])[0]})
    groups = {key: g for key, g in slim.groupby(["label", "frames"], sort=True)}
    by_frames = {f: g for f, g in slim.groupby("frames", sort=True)}
    labels = sorted(responses["label"].unique())
    rows = []
    for scope, label in [("overall", "")] + [("class", lab) for lab in labels]:
        for f in grid:
            g = by_frames.get(f) if scope == "overall" else groups.get((label, f))
            row = {"scope": scope, "label": label, "frames": int(f), "duration_ms": f * 1000.0 / fps}
            if g is None or len(g) == 0:
                row.update(n_responses=0, n_correct=0, n_workers=0, n_images=0)
                rows.append(row)
                continue
            score = g["correct"].to_numpy(dtype=float)
            res = crowdmos(score, g["worker_id"].to_numpy(), g["image_id"].to_numpy(), ddof=ddof,
                           confidence=confidence)
            w = wilson_interval(int(score.sum()), score.size, confidence)
            row.update(n_responses=score.size, n_correct=int(score.sum()), accuracy=res.mean,
                       ci_low=res.ci_low, ci_high=res.ci_high, n_workers=res.n_workers, n_images=res.n_items,
                       sigma_w2=res.sigma_w2, sigma_s2=res.sigma_s2, sigma_u2=res.sigma_u2,
                       wilson_low=float(w.low), wilson_high=float(w.high))
            rows.append(row)
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
