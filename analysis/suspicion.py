"""Workers whose accuracy at the shortest duration is far above everyone else's while they take long
to answer: the trace of stepping through a downloaded stimulus file. Reported, never acted on.

Nothing a server can do stops a determined worker from saving the video their browser plays and
stepping through its frames, or from telling durations apart by file length; this flag lets an
analyst look at whom it may concern (see docs/reliability.md, "Hostile participants").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SUSPICION_COLUMNS = ["worker_id", "frames", "n_short", "k_short", "accuracy_short", "others_accuracy_short",
                     "z_short", "median_rt_ms", "others_median_rt_ms", "rt_ratio", "suspicious"]


def suspicious_workers(responses: pd.DataFrame, *, z_min: float = 3.0, rt_ratio_min: float = 1.5,
                       min_trials: int = 5) -> pd.DataFrame:
    """Flag workers far more accurate than the others at the shortest duration, and slow to answer.

    For worker *w*, among the responses at the shortest duration ``frames`` (the smallest
    ``frames`` in the table) let :math:`n_w` be their trials there and :math:`k_w` the correct ones;
    let :math:`p_{-w} = (K - k_w) / (N - n_w)` be every *other* worker's accuracy there (so a
    cheater does not raise their own baseline), clipped to :math:`[0.5/(N-n_w), 1 - 0.5/(N-n_w)]`.
    Then

    .. math::

        z_w = \\frac{k_w - n_w p_{-w}}{\\sqrt{n_w p_{-w} (1 - p_{-w})}}, \\qquad
        r_w = \\frac{\\operatorname{median}(RT_w)}{\\operatorname{median}_{v \\ne w} \\operatorname{median}(RT_v)}

    over all of a worker's trials, and the worker is ``suspicious`` when :math:`n_w \\ge`
    ``min_trials``, :math:`z_w \\ge` ``z_min`` and :math:`r_w \\ge` ``rt_ratio_min``.

    Parameters
    ----------
    responses : pandas.DataFrame
        Columns ``worker_id``, ``frames``, ``correct`` (bool) and ``response_time_ms`` (ms, may be missing).
    z_min : float
        Binomial z-score above the others' accuracy at the shortest duration.
    rt_ratio_min : float
        Median response time as a multiple of the other workers' median.
    min_trials : int
        Fewest trials at the shortest duration for a flag.

    Returns
    -------
    pandas.DataFrame
        One row per worker, columns `SUSPICION_COLUMNS`, sorted by ``z_short`` descending.

    Raises
    ------
    ValueError
        If a required column is missing.

    Examples
    --------
    >>> rows = [("W1", 1, True, 3000)] * 10 + [(w, 1, i < 2, 1000) for w in ("W2", "W3", "W4") for i in range(10)]
    >>> df = pd.DataFrame(rows, columns=["worker_id", "frames", "correct", "response_time_ms"])
    >>> top = suspicious_workers(df).iloc[0]
    >>> (top["worker_id"], float(top["z_short"]), float(top["rt_ratio"]), bool(top["suspicious"]))
    ('W1', 6.3246, 3.0, True)
    """
    missing = [c for c in ("worker_id", "frames", "correct", "response_time_ms") if c not in responses.columns]
    if missing:
        raise ValueError(f"responses lack the columns {missing} (have {list(responses.columns)})")
    if responses.empty:
        return pd.DataFrame(columns=SUSPICION_COLUMNS)
    frames = int(responses["frames"].min())
    short = responses[responses["frames"] == frames]
    n = short.groupby("worker_id")["correct"].count()
    k = short.groupby("worker_id")["correct"].sum()
    rt = responses.groupby("worker_id")["response_time_ms"].median()
    big_n, big_k = int(n.sum()), int(k.sum())
    n, k, others = n.to_dict(), k.to_dict(), dict(zip(rt.index, _others_median(rt.to_numpy(dtype=float))))
    rt = rt.to_dict()
    rows = []
    for worker in sorted(responses["worker_id"].unique()):
        n_w, k_w = int(n.get(worker, 0)), int(k.get(worker, 0))
        others_n = big_n - n_w
        p = (big_k - k_w) / others_n if others_n else math.nan
        if others_n:
            p = min(max(p, 0.5 / others_n), 1 - 0.5 / others_n)
        z = (k_w - n_w * p) / math.sqrt(n_w * p * (1 - p)) if n_w and others_n else math.nan
        others_rt = float(others.get(worker, math.nan))
        ratio = float(rt.get(worker, math.nan)) / others_rt if others_rt else math.nan
        flag = bool(n_w >= min_trials and z >= z_min and ratio >= rt_ratio_min)
        rows.append([worker, frames, n_w, k_w, k_w / n_w if n_w else math.nan, p, round(z, 4),
                     float(rt.get(worker, math.nan)), others_rt, round(ratio, 4), flag])
    table = pd.DataFrame(rows, columns=SUSPICION_COLUMNS)
    return table.sort_values("z_short", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _others_median(values: np.ndarray) -> np.ndarray:
    """For each entry of ``values``, the median of all the *other* entries, missing ones skipped
    (``pd.Series(values).drop(i).median()``; missing when there is no other entry), from one sort.

    Removing a known value ``v`` from the sorted known values ``a`` (size ``m``) leaves ``b`` with
    ``b[i] = a[i]`` below the position ``j`` of ``v`` and ``a[i + 1]`` from it; its median is
    ``b[(m - 2) // 2]`` (``m - 1`` odd) or the mean of ``b[(m - 2) // 2]`` and ``b[(m - 1) // 2]``.
    Removing a missing value leaves the median of all of ``a``.

    >>> [float(x) for x in _others_median(np.array([1.0, 5.0, np.nan, 3.0, 3.0]))]
    [3.0, 3.0, 3.0, 3.0, 3.0]
    >>> [float(x) for x in _others_median(np.array([1.0, 2.0, 4.0]))]
    [3.0, 2.5, 1.5]
    """
    known = np.sort(values[~np.isnan(values)])
    m = known.size
    out = np.full(values.shape, np.nan)
    if values.size <= 1 or m == 0:
        return out
    missing = np.isnan(values)
    out[missing] = np.median(known)
    if m > 1:
        j = np.searchsorted(known, values[~missing])
        r = m - 1
        lo, hi = (r - 1) // 2, r // 2
        low = known[lo + (lo >= j)]
        high = known[hi + (hi >= j)]
        out[~missing] = (low + high) / 2 if r % 2 == 0 else low
    return out
