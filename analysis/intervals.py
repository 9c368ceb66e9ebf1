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
    # The Wilson interval contains p exactly; min/max only undo round-off at p = 0 and p = 1.
    low = np.clip(np.minimum(center - half, p), 0, 1)
    high = np.clip(np.maximum(center + half, p), 0, 1)
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


def bounded_mean_interval(mean, n, lower: float, upper: float, confidence: float = 0.95) -> ProportionInterval:
    """Wilson score interval for the mean of ``n`` scores bounded by ``[lower, upper]``.

    The fallback of rating intervals where crowdMOS or Student t has nothing to work with (every
    score equal, so the variance is 0, or ν < 2). The mean is rescaled to ``p = (mean - lower) /
    (upper - lower)`` in [0, 1] and given the Wilson score interval for ``n`` trials:
    ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``, mapped back to the scale. Among
    variables on [0, 1] with mean p the two-point (Bernoulli) one has the largest variance,
    p(1-p), so this interval is at least as wide as a normal interval with the true variance:
    conservative, never outside the scale, and of positive width for every ``n >= 1`` (at the
    ceiling, ``p = 1``, the lower limit is ``n / (n + z²)``). Scores are treated as independent.

    Parameters
    ----------
    mean : array_like of float
        Mean scores, within ``[lower, upper]``.
    n : array_like of int
        Number of scores behind each mean (>= 1); broadcasts against `mean`.
    lower, upper : float
        The scale's lowest and highest point (1 and 5 for ACR, 0 and 100 for MUSHRA).
    confidence : float, optional
        Confidence level, default 0.95.

    Returns
    -------
    ProportionInterval
        Limits on the scale (method ``"wilson on the rescaled mean"``); NaN where ``n == 0``.

    Raises
    ------
    ValueError
        If ``upper <= lower``, a mean lies outside the scale, ``n`` is negative or `confidence`
        is not in (0, 1).

    Examples
    --------
    Twenty ratings of 5 on a 1–5 scale:

    >>> ci = bounded_mean_interval(5.0, 20, 1, 5)
    >>> round(float(ci.low), 2), float(ci.high)
    (4.36, 5.0)
    """
    mean = np.asarray(mean, dtype=float)
    n = np.asarray(n, dtype=float)
    if not upper > lower:
        raise ValueError(f"the scale's upper bound ({upper!r}) must exceed its lower bound ({lower!r})")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence ({confidence!r}) must be between 0 and 1, exclusive")
    if np.any(n < 0):
        raise ValueError("the number of scores n must not be negative")
    span = upper - lower
    p = (mean - lower) / span
    if np.any((p < -1e-12) | (p > 1 + 1e-12)):
        raise ValueError(f"every mean must lie on the scale [{lower:g}, {upper:g}]")
    p = np.clip(p, 0, 1)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / n
        center = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        # the interval contains p exactly; min/max only undo round-off at the scale's ends
        low = np.where(n > 0, lower + span * np.clip(np.minimum(center - half, p), 0, 1), np.nan)
        high = np.where(n > 0, lower + span * np.clip(np.maximum(center + half, p), 0, 1), np.nan)
    return ProportionInterval(low=low, high=high, method="wilson on the rescaled mean", confidence=confidence)
