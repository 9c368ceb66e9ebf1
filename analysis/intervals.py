"""Confidence intervals for binomial proportions (Wilson score, Clopper-Pearson exact).

Both functions are vectorised: ``k`` and ``n`` broadcast against each other, so one call
gives the intervals of every (image, duration) cell at once. Cells with ``n == 0`` get NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats


@dataclass(frozen=True)
class ProportionInterval:
    """Lower and upper limits of a confidence interval for k successes out of n.

    Attributes
    ----------
    low, high : ndarray of float
        The limits, in [0, 1]; NaN where ``n == 0``.
    method : str
        ``"wilson"`` or ``"clopper-pearson"``.
    confidence : float
        The confidence level, e.g. 0.95.
    """

    low: np.ndarray
    high: np.ndarray
    method: str
    confidence: float


def _validate(k, n, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence ({confidence!r}) must be between 0 and 1, exclusive")
    if np.any(n < 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("successes k must satisfy 0 <= k <= n for every cell")
    if np.any(k != np.round(k)) or np.any(n != np.round(n)):
        raise ValueError("successes k and trials n must be whole numbers")
    return np.broadcast_arrays(k, n)


def wilson_interval(k, n, confidence: float = 0.95) -> ProportionInterval:
    """Wilson score interval (without continuity correction) for a binomial proportion.

    Parameters
    ----------
    k : array_like of int
        Successes (correct responses) per cell.
    n : array_like of int
        Trials (responses) per cell; broadcasts against `k`.
    confidence : float, optional
        Confidence level, default 0.95.

    Returns
    -------
    ProportionInterval
        Limits with the broadcast shape of `k` and `n`; NaN where ``n == 0``.

    Raises
    ------
    ValueError
        If ``k`` is outside ``[0, n]``, not whole, or `confidence` is not in (0, 1).

    Examples
    --------
    >>> ci = wilson_interval(7, 10)
    >>> round(float(ci.low), 4), round(float(ci.high), 4)
    (0.3968, 0.8922)
    """
    k, n = _validate(k, n, confidence)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        center = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.clip(center - half, 0, 1)
    high = np.clip(center + half, 0, 1)
    return ProportionInterval(low=low, high=high, method="wilson", confidence=confidence)


def clopper_pearson_interval(k, n, confidence: float = 0.95) -> ProportionInterval:
    """Clopper-Pearson ("exact") interval for a binomial proportion, from beta quantiles.

    Parameters, return value and errors as for `wilson_interval`; here the lower limit is 0
    when ``k == 0`` and the upper limit 1 when ``k == n``.

    Examples
    --------
    >>> ci = clopper_pearson_interval(7, 10)
    >>> round(float(ci.low), 4), round(float(ci.high), 4)
    (0.3475, 0.9333)
    """
    k, n = _validate(k, n, confidence)
    alpha = 1 - confidence
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k > 0, special.betaincinv(k, n - k + 1, alpha / 2), 0.0)
        high = np.where(k < n, special.betaincinv(k + 1, n - k, 1 - alpha / 2), 1.0)
    empty = n == 0
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    return ProportionInterval(low=low, high=high, method="clopper-pearson", confidence=confidence)
