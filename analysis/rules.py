"""MVT decision rules on count arrays: which duration is an image's minimum viewing time.

Everything works on count arrays of shape ``(..., D)`` — successes ``k`` and trials ``n`` per
duration, durations ascending along the last axis — so that all images (and all bootstrap
resamples) are handled by one array expression.

An MVT *index* is an integer code per image: ``0 .. D-1`` the index of the MVT duration,
``D`` when the image is not recognised at the longest duration ("unrecognised"), ``D + 1``
when a missing cell (``n == 0``) could change the answer ("insufficient"). On this ordered
scale "unrecognised" sits just above the longest duration, which is what the bootstrap
interval uses.

Control policy, the same for every rule (and for the psychometric threshold,
`analysis.psychometric`): the longest duration is the control. An image whose observed
proportion correct there is not recognised is ``unrecognised`` under every rule, whatever
the shorter durations or a fit say. Otherwise (``p = k / n``; "recognised" is
``p > theta``, or ``p >= theta`` when inclusive):

``stable`` (default)
    the shortest duration recognised there and at every longer duration.
``first``
    plain first passage: the shortest duration recognised at all.
``isotonic``
    a weighted (by ``n``) pool-adjacent-violators fit of ``p`` over duration, then the shortest
    duration whose fitted value is recognised. Responses in a missing cell would also move its
    observed neighbours' fits (pooling), so the answer is "insufficient" unless no content of
    the missing cells (with up to as many responses as the image's fullest cell) could
    change it. (Without the control policy a failed control could be pooled up into
    "recognised", e.g. 9/10 then 4/10 pools to 13/20; under the policy that image is
    unrecognised, as under the other rules.)

A missing control cell (``n == 0`` at the longest duration) makes every rule's answer
"insufficient" unless the answer is "unrecognised" anyway.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

RULES = ("stable", "first", "isotonic")


def check_rule(rule: str, theta: float) -> None:
    """Raise ValueError unless `rule` is one of `RULES` and ``0 <= theta < 1``."""
    if rule not in RULES:
        raise ValueError(f"rule ({rule!r}) must be one of {', '.join(RULES)}")
    if not 0 <= theta < 1:
        raise ValueError(f"theta ({theta!r}) must be a proportion in [0, 1)")


def theta_ratio(theta: float) -> tuple[int, int]:
    """``theta`` as a ratio of integers ``(num, den)``, so that recognition is decided exactly.

    ``k / n > theta`` becomes ``den * k > num * n``: no rounding, so a proportion equal to theta
    (e.g. 7 of 10 at theta 0.7) is never recognised under the strict rule by accident.
    """
    ratio = Fraction(theta).limit_denominator(1_000_000)
    return ratio.numerator, ratio.denominator


def excess_over_theta(k, n, theta: float) -> np.ndarray:
    """``den * k - num * n``: positive exactly when ``k / n > theta`` (int64)."""
    num, den = theta_ratio(theta)
    return den * np.asarray(k, dtype=np.int64) - num * np.asarray(n, dtype=np.int64)


def above_theta(excess: np.ndarray, inclusive: bool) -> np.ndarray:
    """Recognised cells from `excess_over_theta`: ``> 0``, or ``>= 0`` when inclusive."""
    return excess >= 0 if inclusive else excess > 0


def index_from_recognition(rec: np.ndarray, rule: str, dtype=np.int64) -> np.ndarray:
    """MVT index from recognition laid out durations first, shape (D, ...); D = unrecognised.

    Counted in bytes (a run's length, added up one duration at a time) and returned as `dtype`:
    the bootstrap's recognition arrays hold millions of cells per chunk, where picking the index
    with ``np.where`` per duration cost ~20 times as much.
    """
    d = rec.shape[0]
    count = np.uint8 if d < 255 else np.int64
    if rule == "stable":
        # d minus the length of the trailing run of recognised durations
        alive = np.array(rec[-1], dtype=bool)
        run = alive.astype(count)
        for j in range(d - 2, -1, -1):
            alive &= rec[j]
            run += alive
        return d - run.astype(dtype)
    # the first recognised duration (the length of the leading run of unrecognised ones), when the
    # last is recognised; else d
    dead = ~np.array(rec[0], dtype=bool)
    lead = dead.astype(count)
    for j in range(1, d):
        dead &= ~rec[j]
        lead += dead
    return np.maximum(lead, (~np.asarray(rec[-1], dtype=bool)).astype(count) * count(d)).astype(dtype)


def _isotonic_rec_from_excess(c: np.ndarray, inclusive: bool) -> np.ndarray:
    """Recognition per duration of the isotonic fit, from per-cell excesses ``c`` (D, ...)."""
    d = c.shape[0]
    prefix = [np.zeros(c.shape[1:], dtype=c.dtype)]
    for j in range(d):
        prefix.append(prefix[-1] + c[j])
    premin = [prefix[0]]
    for j in range(1, d):
        premin.append(np.minimum(premin[-1], prefix[j]))
    sufmin = [prefix[d]]
    for j in range(d - 1, 0, -1):
        sufmin.append(np.minimum(sufmin[-1], prefix[j]))
    sufmin.reverse()
    return np.stack([(sufmin[j] >= premin[j]) if inclusive else (sufmin[j] > premin[j]) for j in range(d)])


def isotonic_recognition(k: np.ndarray, n: np.ndarray, theta: float, inclusive: bool):
    """Whether the weighted isotonic fit exceeds theta, per duration, without fitting.

    With ``c_j = den * k_j - num * n_j`` and prefix sums ``P``, the fit at an observed ``i``
    exceeds theta iff some ``a <= i`` has ``P[b+1] - P[a] > 0`` for every ``b >= i`` (max-min
    formula), i.e. iff ``min_{b>=i} P[b+1] > min_{a<=i} P[a]``. Exact integer arithmetic.
    Returns (optimistic, pessimistic) recognition over every content of the missing cells with
    at most as many responses as the image's fullest cell. Responses there would move the fit
    of observed neighbours too (pooling), so the bounds come from the extremes: each missing
    cell all correct, or all wrong, with that many responses. The fit only grows with a cell's
    proportion correct, and with the weight of an all-correct cell (shrinks with an all-wrong
    one), so every such filling lies between the two.
    """
    d = k.shape[0]
    observed = n > 0
    num, den = theta_ratio(theta)
    # Row by row (durations are few, cells many): cheaper than accumulate along axis 0. int32
    # suffices while no partial sum can reach 2**31.
    n_max = int(np.max(n)) if n.size else 0
    dtype = np.int32 if d * max(num, den, 1) * max(n_max, 1) < 2**31 else np.int64
    c = den * k.astype(dtype) - num * n.astype(dtype)
    if observed.all():
        rec = _isotonic_rec_from_excess(c, inclusive)
        return rec, rec
    c = c.astype(np.int64)
    weight = np.maximum(n.max(axis=0), 1).astype(np.int64)
    optimistic = _isotonic_rec_from_excess(np.where(observed, c, (den - num) * weight), inclusive)
    pessimistic = _isotonic_rec_from_excess(np.where(observed, c, -num * weight), inclusive)
    return optimistic, pessimistic


def mvt_index_durations_first(k: np.ndarray, n: np.ndarray, rule: str, theta: float, inclusive: bool) -> np.ndarray:
    """`mvt_index` on arrays laid out durations first, shape (D, ...)."""
    d = k.shape[0]
    if rule == "isotonic":
        optimistic, pessimistic = isotonic_recognition(k, n, theta, inclusive)
        # Control policy: the observed longest cell decides "unrecognised". Where it is
        # recognised the fit there is too (the fit at the last duration is the largest mean of
        # a suffix), so only the last row changes; "first" then reads d for a failed control.
        last_seen = n[-1] > 0
        control = above_theta(excess_over_theta(k[-1], n[-1], theta), inclusive) & last_seen
        if optimistic is pessimistic and last_seen.all():
            optimistic = pessimistic = np.concatenate([optimistic[:-1], (optimistic[-1] & control)[None]])
        else:
            optimistic = np.concatenate([optimistic[:-1], (optimistic[-1] & (control | ~last_seen))[None]])
            pessimistic = np.concatenate([pessimistic[:-1], (pessimistic[-1] & control)[None]])
        rule = "first"  # the fit is monotone: first recognised == stable
    else:
        observed = n > 0
        pessimistic = above_theta(excess_over_theta(k, n, theta), inclusive) & observed
        optimistic = pessimistic | ~observed
    if optimistic is pessimistic:
        return index_from_recognition(optimistic, rule)
    # Every rule's answer moves monotonically with recognition, so the two extreme fillings
    # of the missing cells bound every possible answer.
    best = index_from_recognition(optimistic, rule)
    worst = index_from_recognition(pessimistic, rule)
    return np.where(best == worst, best, d + 1)


def isotonic_fit(k, n) -> np.ndarray:
    """Weighted isotonic (non-decreasing) least-squares fit of ``k / n`` along the last axis.

    Uses the max-min formula ``fit_i = max_{a<=i} min_{b>=i} mean(a..b)`` with weights ``n``,
    which equals the pool-adjacent-violators solution and vectorises over leading axes.

    Parameters
    ----------
    k, n : array_like, shape (..., D)
        Successes and trials per duration (durations ascending).

    Returns
    -------
    ndarray of float, shape (..., D)
        The fitted proportions; NaN where ``n == 0``.

    Examples
    --------
    >>> isotonic_fit([[2, 9, 6]], [[10, 10, 10]]).round(2).tolist()
    [[0.2, 0.75, 0.75]]
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    d = k.shape[-1]
    zeros = np.zeros(k.shape[:-1] + (1,))
    s = np.concatenate([zeros, np.cumsum(k, axis=-1)], axis=-1)
    w = np.concatenate([zeros, np.cumsum(n, axis=-1)], axis=-1)
    fit = np.full(k.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for a in range(d):
            mean_ab = (s[..., a + 1:] - s[..., a:a + 1]) / (w[..., a + 1:] - w[..., a:a + 1])
            suffix_min = np.fmin.accumulate(mean_ab[..., ::-1], axis=-1)[..., ::-1]
            fit[..., a:] = np.fmax(fit[..., a:], suffix_min)
    return np.where(n > 0, fit, np.nan)


def mvt_index(k, n, *, rule: str = "stable", theta: float = 0.5, inclusive: bool = False) -> np.ndarray:
    """MVT index of every row of a (..., D) count array under one decision rule.

    Parameters
    ----------
    k, n : array_like of int, shape (..., D)
        Correct responses and responses per duration, durations ascending.
    rule : {"stable", "first", "isotonic"}, optional
        The decision rule (module docstring), default ``"stable"``.
    theta : float, optional
        Recognition threshold on the proportion correct, default 0.5.
    inclusive : bool, optional
        Recognised means ``p >= theta`` instead of ``p > theta``.

    Returns
    -------
    ndarray of int, shape (...)
        ``0 .. D-1`` the MVT duration's index, ``D`` unrecognised, ``D + 1`` insufficient.

    Raises
    ------
    ValueError
        For an unknown rule or a theta outside [0, 1).

    Examples
    --------
    >>> mvt_index([[1, 4, 2, 5, 5]], [[5, 5, 5, 5, 5]]).tolist()          # stable
    [3]
    >>> mvt_index([[1, 4, 2, 5, 5]], [[5, 5, 5, 5, 5]], rule="first").tolist()
    [1]
    >>> mvt_index([[1, 4, 2, 5, 2]], [[5, 5, 5, 5, 5]]).tolist()          # unrecognised
    [5]
    >>> mvt_index([[1, 0, 4, 5, 5]], [[5, 0, 5, 5, 5]]).tolist()          # insufficient
    [6]
    """
    check_rule(rule, theta)
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    return mvt_index_durations_first(np.moveaxis(k, -1, 0), np.moveaxis(n, -1, 0), rule, theta, inclusive)
