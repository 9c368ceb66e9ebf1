"""crowdMOS statistics (Ribeiro, Florencio, Zhang & Seltzer, ICASSP 2011).

Scores ``x`` of workers ``i`` on items ``j`` (any subset of the workers x items matrix, each
cell possibly several times) follow ``x = mu + w_i + s_j + u`` with independent worker,
item and noise terms of variances ``sigma_w^2, sigma_s^2, sigma_u^2``. Then

- the variance of one worker's scores estimates ``sigma_s^2 + sigma_u^2`` (averaged over the
  workers with at least two scores),
- the variance of one item's scores estimates ``sigma_w^2 + sigma_u^2`` (averaged over the
  items with at least two scores),
- the variance of all scores estimates ``sigma_w^2 + sigma_s^2 + sigma_u^2``;

solving gives the three components (clipped at 0), and the variance of the overall mean is
``sigma_w^2 sum(N_i^2)/T^2 + sigma_s^2 sum(M_j^2)/T^2 + sigma_u^2/T`` (``N_i`` scores of worker
``i``, ``M_j`` of item ``j``, ``T`` in all). The interval is ``mean +- t * sqrt(Var)`` with
``min(N, M) - 1`` degrees of freedom, N and M counting the workers and items with scores.

When every worker has a single score the worker term cannot be told from noise, and only
their sum matters (``sum(N_i^2) = T``): it is estimated from the item-wise variances and put in
``sigma_u^2`` (``sigma_w^2 = 0``). Symmetrically when every item has a single score; when both,
all variance is noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class CrowdMOSResult:
    """Mean score with its crowdMOS confidence interval and variance components.

    Attributes
    ----------
    mean : float
        Mean of all scores.
    ci_low, ci_high : float
        Confidence limits; NaN when the degrees of freedom are below 1 or the variance is
        undefined.
    var_mean : float
        Estimated variance of `mean`.
    sigma_w2, sigma_s2, sigma_u2 : float
        Worker, item and noise variance components (clipped at 0).
    n_workers, n_items, n_scores : int
        Workers and items with at least one score; number of scores T.
    df : int
        Degrees of freedom of the t quantile, ``min(n_workers, n_items) - 1``.
    confidence : float
    """

    mean: float
    ci_low: float
    ci_high: float
    var_mean: float
    sigma_w2: float
    sigma_s2: float
    sigma_u2: float
    n_workers: int
    n_items: int
    n_scores: int
    df: int
    confidence: float

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.ci_high - self.ci_low) / 2


def _group_variances(codes: np.ndarray, x: np.ndarray, ddof: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-group count and variance (NaN for groups with fewer than 2 scores), two-pass."""
    counts = np.bincount(codes)
    sums = np.bincount(codes, weights=x, minlength=counts.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / counts
        ss = np.bincount(codes, weights=(x - means[codes]) ** 2, minlength=counts.size)
        var = np.where(counts >= 2, ss / (counts - ddof), np.nan)
    return counts, var


def crowdmos(scores, worker_ids, item_ids, *, ddof: float = 1, confidence: float = 0.95) -> CrowdMOSResult:
    """Mean score and crowdMOS confidence interval from workers' scores of items.

    Parameters
    ----------
    scores : array_like of float, shape (T,)
        One score per response (e.g. 1.0 correct, 0.0 wrong, or a 1–5 rating).
    worker_ids, item_ids : array_like, shape (T,)
        Who gave each score and to which item (any hashable labels).
    ddof : float, optional
        Delta degrees of freedom of every variance (worker-wise, item-wise, total), default 1.
    confidence : float, optional
        Confidence level, default 0.95.

    Returns
    -------
    CrowdMOSResult

    Raises
    ------
    ValueError
        If the three inputs differ in length, there are no scores, a score is not finite,
        or `ddof` is not in [0, 2).

    Examples
    --------
    >>> res = crowdmos([4, 5, 3, 4, 2, 3], ["a", "a", "a", "b", "b", "b"], [1, 2, 3, 1, 2, 3])
    >>> round(res.mean, 3), round(res.sigma_w2, 3), res.df
    (3.5, 0.1, 1)
    """
    x = np.asarray(scores, dtype=float)
    workers = np.asarray(worker_ids)
    items = np.asarray(item_ids)
    if not (x.shape == workers.shape == items.shape) or x.ndim != 1:
        raise ValueError(f"scores, worker_ids and item_ids must be 1-D of one length "
                         f"(got {x.shape}, {workers.shape}, {items.shape})")
    if x.size == 0:
        raise ValueError("crowdmos needs at least one score")
    if not np.all(np.isfinite(x)):
        raise ValueError("scores must be finite numbers")
    if not 0 <= ddof < 2:
        raise ValueError(f"ddof ({ddof!r}) must be in [0, 2)")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence ({confidence!r}) must be between 0 and 1, exclusive")
    w_codes = pd.factorize(workers)[0]
    s_codes = pd.factorize(items)[0]
    t = x.size
    n_i, var_w = _group_variances(w_codes, x, ddof)
    m_j, var_s = _group_variances(s_codes, x, ddof)
    mean = float(x.mean())
    total = float(np.sum((x - mean) ** 2) / (t - ddof)) if t - ddof > 0 else np.nan
    if t < 2:
        total = np.nan

    # a estimates sigma_s^2 + sigma_u^2, b estimates sigma_w^2 + sigma_u^2, total all three.
    a = float(np.nanmean(var_w)) if np.any(n_i >= 2) else None
    b = float(np.nanmean(var_s)) if np.any(m_j >= 2) else None
    if a is not None and b is not None:
        sw2, ss2, su2 = total - a, total - b, a + b - total
    elif a is None and b is not None:
        sw2, ss2, su2 = 0.0, total - b, b
    elif b is None and a is not None:
        sw2, ss2, su2 = total - a, 0.0, a
    else:
        sw2, ss2, su2 = 0.0, 0.0, total
    sw2, ss2, su2 = (max(0.0, v) if np.isfinite(v) else np.nan for v in (sw2, ss2, su2))

    var_mean = sw2 * np.sum(n_i.astype(float) ** 2) / t**2 + ss2 * np.sum(m_j.astype(float) ** 2) / t**2 + su2 / t
    df = int(min(n_i.size, m_j.size) - 1)
    if df >= 1 and np.isfinite(var_mean):
        half = stats.t.ppf(0.5 + confidence / 2, df) * np.sqrt(var_mean)
        low, high = mean - half, mean + half
    else:
        low = high = np.nan
    return CrowdMOSResult(mean=mean, ci_low=float(low), ci_high=float(high), var_mean=float(var_mean),
                          sigma_w2=float(sw2), sigma_s2=float(ss2), sigma_u2=float(su2),
                          n_workers=int(n_i.size), n_items=int(m_j.size), n_scores=int(t), df=df,
                          confidence=confidence)
