"""Minimum Viewing Time per image: decision rules, bootstrap uncertainty, psychometric fit.

Everything works on count arrays of shape ``(..., D)`` — successes ``k`` and trials ``n`` per
duration, durations ascending along the last axis — so that all images (and all bootstrap
resamples) are handled by one array expression.

An MVT *index* is an integer code per image: ``0 .. D-1`` the index of the MVT duration,
``D`` (`UNRECOGNISED`) when the image is not recognised at the longest duration, ``D + 1``
(`INSUFFICIENT`) when a missing cell (``n == 0``) could change the answer. On this ordered
scale "unrecognised" sits just above the longest duration, which is what the bootstrap
interval uses.

Rules (``p = k / n``; "recognised" is ``p > theta``, or ``p >= theta`` when inclusive):

``stable`` (default)
    the shortest duration recognised there and at every longer duration.
``first``
    the shortest duration recognised at all (the image must still be recognised at the
    longest duration, else it is unrecognised).
``isotonic``
    a weighted (by ``n``) pool-adjacent-violators fit of ``p`` over duration, then the shortest
    duration whose fitted value is recognised. A missing cell's fitted value can lie anywhere
    between its observed neighbours' fits (0 before the first, 1 after the last).
"""

from __future__ import annotations

from fractions import Fraction
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.intervals import clopper_pearson_interval, wilson_interval

RULES = ("stable", "first", "isotonic")
FPS = 60

# Bootstrap work is split into chunks of about this many (cell x resample) elements: small
# enough to stay in cache-friendly memory, fixed so that results do not depend on threads.
_CHUNK_ELEMENTS = 4_000_000


def _masked(values, keep, dtype: str) -> pd.api.extensions.ExtensionArray:
    """A nullable pandas array of `values`, missing (written as an empty CSV field) where not `keep`."""
    arr = pd.array(np.asarray(values), dtype=dtype)
    arr[~np.asarray(keep, dtype=bool)] = pd.NA
    return arr


def _check_rule(rule: str, theta: float) -> None:
    if rule not in RULES:
        raise ValueError(f"rule ({rule!r}) must be one of {', '.join(RULES)}")
    if not 0 <= theta < 1:
        raise ValueError(f"theta ({theta!r}) must be a proportion in [0, 1)")


def _theta_ratio(theta: float) -> tuple[int, int]:
    """``theta`` as a ratio of integers ``(num, den)``, so that recognition is decided exactly.

    ``k / n > theta`` becomes ``den * k > num * n``: no rounding, so a proportion equal to theta
    (e.g. 7 of 10 at theta 0.7) is never recognised under the strict rule by accident.
    """
    ratio = Fraction(theta).limit_denominator(1_000_000)
    return ratio.numerator, ratio.denominator


def _excess(k, n, theta: float) -> np.ndarray:
    """``den * k - num * n``: positive exactly when ``k / n > theta`` (int64)."""
    num, den = _theta_ratio(theta)
    return den * np.asarray(k, dtype=np.int64) - num * np.asarray(n, dtype=np.int64)


def _above(excess: np.ndarray, inclusive: bool) -> np.ndarray:
    return excess >= 0 if inclusive else excess > 0


def _index_dfirst(rec: np.ndarray, rule: str) -> np.ndarray:
    """MVT index from recognition laid out durations first, shape (D, ...); D = unrecognised."""
    d = rec.shape[0]
    if rule == "stable":
        # d minus the length of the trailing run of recognised durations
        alive = rec[-1].copy()
        index = np.where(alive, d - 1, d)
        for j in range(d - 2, -1, -1):
            alive &= rec[j]
            index[alive] = j
        return index
    index = np.full(rec.shape[1:], d, dtype=np.int64)
    for j in range(d - 1, -1, -1):
        index[rec[j]] = j
    return np.where(rec[-1], index, d)


def _isotonic_recognition_dfirst(k: np.ndarray, n: np.ndarray, theta: float, inclusive: bool):
    """Whether the weighted isotonic fit exceeds theta, per duration, without fitting.

    With ``c_j = den * k_j - num * n_j`` and prefix sums ``P``, the fit at an observed ``i``
    exceeds theta iff some ``a <= i`` has ``P[b+1] - P[a] > 0`` for every ``b >= i`` (max-min
    formula), i.e. iff ``min_{b>=i} P[b+1] > min_{a<=i} P[a]``. Exact integer arithmetic.
    Returns (optimistic, pessimistic) recognition: a missing cell's fit lies between its
    observed neighbours' fits, so it takes the next observed cell's answer at best (True when
    none follows) and the previous one's at worst (False when none precedes).
    """
    d = k.shape[0]
    observed = n > 0
    c = np.where(observed, _excess(k, n, theta), 0)
    prefix = np.zeros((d + 1,) + k.shape[1:], dtype=np.int64)
    np.cumsum(c, axis=0, out=prefix[1:])
    premin = np.minimum.accumulate(prefix[:-1], axis=0)
    sufmin = np.minimum.accumulate(prefix[:0:-1], axis=0)[::-1]
    rec = (sufmin >= premin) if inclusive else (sufmin > premin)
    optimistic = rec.copy()
    pessimistic = rec.copy()
    nxt = np.ones(k.shape[1:], dtype=bool)
    for j in range(d - 1, -1, -1):
        nxt = np.where(observed[j], rec[j], nxt)
        optimistic[j] = nxt
    prev = np.zeros(k.shape[1:], dtype=bool)
    for j in range(d):
        prev = np.where(observed[j], rec[j], prev)
        pessimistic[j] = prev
    return optimistic, pessimistic


def _mvt_index_dfirst(k: np.ndarray, n: np.ndarray, rule: str, theta: float, inclusive: bool) -> np.ndarray:
    """`mvt_index` on arrays laid out durations first, shape (D, ...)."""
    d = k.shape[0]
    if rule == "isotonic":
        optimistic, pessimistic = _isotonic_recognition_dfirst(k, n, theta, inclusive)
        rule = "first"  # the fit is monotone: first recognised == stable
    else:
        observed = n > 0
        pessimistic = _above(_excess(k, n, theta), inclusive) & observed
        optimistic = pessimistic | ~observed
    # Every rule's answer moves monotonically with recognition, so the two extreme fillings
    # of the missing cells bound every possible answer.
    best = _index_dfirst(optimistic, rule)
    worst = _index_dfirst(pessimistic, rule)
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
    _check_rule(rule, theta)
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    return _mvt_index_dfirst(np.moveaxis(k, -1, 0), np.moveaxis(n, -1, 0), rule, theta, inclusive)


def _recognition_probability(k, n, theta: float, inclusive: bool) -> np.ndarray:
    """P(a resample of the cell's n responses is recognised) = P(Binomial(n, k/n) >= c)."""
    n = np.asarray(n, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    num, den = _theta_ratio(theta)
    # c: the smallest count recognised, den * c > num * n (or >= when inclusive)
    c = -((-num * n) // den) if inclusive else (num * n) // den + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
    q = stats.binom.sf(c - 1, n, p)
    return np.where(n > 0, q, 0.0)


# Cells with at most this many responses are resampled by inverting their binomial CDF with
# one float32 uniform each (a few comparisons), larger ones by numpy's binomial sampler.
_INVERSION_MAX_N = 32

# Bounds of the psychometric scale (sigma, in natural-log duration units).
_SIGMA_BOUNDS = (0.05, 3.0)


def _resample_counts(k: np.ndarray, n: np.ndarray, n_bootstrap: int, rng) -> np.ndarray:
    """Binomial(n, k/n) draws for cells (D, I), shape (D, I, n_bootstrap)."""
    p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
    n_max = int(n.max()) if n.size else 0
    if n_max > _INVERSION_MAX_N:
        return rng.binomial(n[..., None], p[..., None], size=n.shape + (n_bootstrap,))
    u = rng.random(n.shape + (n_bootstrap,), dtype=np.float32)
    out = np.zeros(u.shape, dtype=np.int64)
    for j in range(n_max):
        cdf = np.where(j < n, stats.binom.cdf(j, n, p), 1.0).astype(np.float32)
        out += u > cdf[..., None]
    return out


def _bootstrap_chunk(k, n, rule, theta, inclusive, n_bootstrap, rng) -> np.ndarray:
    """Bootstrap counts (rows, D + 2) of one chunk of images; works durations first."""
    rows, d = k.shape
    kd, nd = k.T, n.T
    observed = nd > 0
    if rule == "isotonic":
        kb = _resample_counts(kd, nd, n_bootstrap, rng)
        nb = np.broadcast_to(nd[..., None], kb.shape)
        idx = _mvt_index_dfirst(kb, nb, rule, theta, inclusive)
    else:
        # For these rules only whether a resampled cell is recognised matters, and that is
        # Bernoulli(q) with q = P(Binomial(n, k/n) recognised): the same bootstrap, drawn directly.
        q = _recognition_probability(kd, nd, theta, inclusive).astype(np.float32)
        rec = rng.random((d, rows, n_bootstrap), dtype=np.float32) < q[..., None]
        best = _index_dfirst(rec | ~observed[..., None], rule)
        worst = _index_dfirst(rec, rule)
        idx = np.where(best == worst, best, d + 1)
    flat = (np.arange(rows)[:, None] * (d + 2) + idx).ravel()
    return np.bincount(flat, minlength=rows * (d + 2)).reshape(rows, d + 2)


def bootstrap_mvt(k, n, *, rule: str = "stable", theta: float = 0.5, inclusive: bool = False,
                  n_bootstrap: int = 1000, rng=None, n_threads: int = 2) -> np.ndarray:
    """Bootstrap distribution of the MVT index: resample each cell's responses with replacement.

    A resample of a cell with ``k`` correct out of ``n`` has ``Binomial(n, k/n)`` correct; all
    cells of all images are resampled at once, in fixed chunks (spread over threads), each
    chunk with its own generator spawned from `rng` so results depend only on the seed.

    Parameters
    ----------
    k, n : array_like of int, shape (I, D)
        Correct responses and responses per image and duration, durations ascending.
    rule, theta, inclusive
        As in `mvt_index`.
    n_bootstrap : int, optional
        Number of resamples, default 1000.
    rng : {None, int, numpy.random.Generator}, optional
        Seed or generator, passed to `numpy.random.default_rng`.
    n_threads : int, optional
        Threads to spread the chunks over (does not change results), default 2.

    Returns
    -------
    ndarray of int, shape (I, D + 2)
        Per image, how many resamples gave each MVT index (``D`` unrecognised,
        ``D + 1`` insufficient); each row sums to `n_bootstrap`.

    Examples
    --------
    >>> bootstrap_mvt([[0, 5]], [[5, 5]], n_bootstrap=10, rng=0).tolist()
    [[0, 10, 0, 0]]
    """
    _check_rule(rule, theta)
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap ({n_bootstrap!r}) must be a positive number of resamples")
    k = np.atleast_2d(np.asarray(k, dtype=np.int64))
    n = np.atleast_2d(np.asarray(n, dtype=np.int64))
    n_images, d = k.shape
    rng = np.random.default_rng(rng)
    rows = max(1, _CHUNK_ELEMENTS // (n_bootstrap * d))
    starts = list(range(0, n_images, rows))
    children = rng.spawn(len(starts))

    def run(i: int) -> np.ndarray:
        sl = slice(starts[i], starts[i] + rows)
        return _bootstrap_chunk(k[sl], n[sl], rule, theta, inclusive, n_bootstrap, children[i])

    if n_threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            parts = list(pool.map(run, range(len(starts))))
    else:
        parts = [run(i) for i in range(len(starts))]
    if not parts:
        return np.zeros((0, d + 2), dtype=np.int64)
    return np.concatenate(parts, axis=0)


def ordered_interval(counts: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of the MVT index on the ordered scale, from bootstrap counts.

    Insufficient resamples are left out; rows with none left get ``-1`` for both limits.

    Parameters
    ----------
    counts : ndarray of int, shape (I, D + 2)
        Output of `bootstrap_mvt`.
    confidence : float, optional
        Coverage, default 0.95.

    Returns
    -------
    low, high : ndarray of int, shape (I,)
        Index limits, ``0 .. D`` (``D`` = unrecognised), or ``-1`` when undefined.

    Examples
    --------
    >>> ordered_interval(np.array([[10, 80, 10, 0, 0]]))
    (array([0]), array([2]))
    """
    determined = counts[:, :-1].astype(float)
    total = determined.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        cum = np.cumsum(determined, axis=1) / total
    tail = (1 - confidence) / 2
    eps = 1e-9
    # Lower limit: the first index whose cumulative share exceeds the lower tail; upper: the
    # first index whose cumulative share reaches 1 - tail.
    low = np.argmax(cum > tail + eps, axis=1)
    high = np.argmax(cum >= 1 - tail - eps, axis=1)
    none = total[:, 0] == 0
    return np.where(none, -1, low), np.where(none, -1, high)


@dataclass(frozen=True)
class PsychometricFit:
    """Cumulative-normal fit on log duration, ``P = guess + (1 - guess - lapse) Phi((ln d - mu) / sigma)``.

    Attributes
    ----------
    mu_log_ms, sigma_log : float
        Location and scale on natural-log milliseconds.
    lapse : float
        Fitted lapse rate, in [0, `max_lapse`].
    guess : float
        Fixed guess rate, 1 / number of answer choices.
    threshold_ms : float
        Duration (ms) at which the fitted proportion correct equals theta; NaN when the fit
        never reaches it.
    converged : bool
        Whether the optimiser reported success.
    """

    mu_log_ms: float
    sigma_log: float
    lapse: float
    guess: float
    threshold_ms: float
    converged: bool


def fit_psychometric(duration_ms, k, n, *, n_choices: int, theta: float = 0.5,
                     max_lapse: float = 0.1) -> PsychometricFit:
    """Maximum-likelihood psychometric fit of one image's (or class's) accuracy profile.

    Parameters
    ----------
    duration_ms : array_like of float, shape (D,)
        Presentation durations in milliseconds (positive).
    k, n : array_like of int, shape (D,)
        Correct responses and responses per duration (cells with ``n == 0`` are ignored).
    n_choices : int
        Number of answer options; the guess rate is ``1 / n_choices``.
    theta : float, optional
        Proportion correct that defines the threshold, default 0.5.
    max_lapse : float, optional
        Upper bound of the lapse rate, default 0.1.

    Returns
    -------
    PsychometricFit

    Raises
    ------
    ValueError
        If a duration is not positive or `n_choices` < 2.

    Examples
    --------
    >>> d = np.array([16.7, 50, 100, 150, 250, 10000])
    >>> fit = fit_psychometric(d, [1, 3, 8, 10, 10, 10], [10] * 6, n_choices=10)
    >>> 40 < fit.threshold_ms < 100
    True
    """
    duration_ms = np.asarray(duration_ms, dtype=float)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(duration_ms <= 0):
        raise ValueError(f"durations ({duration_ms.tolist()!r}) must be positive milliseconds")
    if n_choices < 2:
        raise ValueError(f"n_choices ({n_choices!r}) must be at least 2")
    guess = 1.0 / n_choices
    keep = n > 0
    x, k, n = np.log(duration_ms[keep]), k[keep], n[keep]
    if x.size == 0:
        return PsychometricFit(np.nan, np.nan, np.nan, guess, np.nan, False)

    def nll(params):
        mu, log_sigma, lapse = params
        prob = guess + (1 - guess - lapse) * stats.norm.cdf((x - mu) / np.exp(log_sigma))
        prob = np.clip(prob, 1e-9, 1 - 1e-9)
        return -np.sum(k * np.log(prob) + (n - k) * np.log1p(-prob))

    # Start from the best point of the bulk grid, then polish (the likelihood is often flat
    # or multimodal, so a single local start can stop far from the maximum).
    mu0, sigma0, lapse0 = (float(v[0]) for v in _grid_search(x, k[None, :], n[None, :], guess, max_lapse))
    result = optimize.minimize(
        nll, x0=[mu0, np.log(sigma0), lapse0], method="L-BFGS-B",
        bounds=[(x.min() - 1, x.max() + 1), tuple(np.log(_SIGMA_BOUNDS)), (0.0, max_lapse)],
    )
    mu, log_sigma, lapse = result.x
    sigma = float(np.exp(log_sigma))
    threshold = float(_threshold_ms(mu, sigma, lapse, guess, theta))
    return PsychometricFit(float(mu), sigma, float(lapse), guess, threshold, bool(result.success))


def psychometric_thresholds(duration_ms, k, n, *, n_choices: int, theta: float = 0.5, max_lapse: float = 0.1,
                            n_mu: int = 160, n_sigma: int = 32, chunk: int = 512) -> np.ndarray:
    """Psychometric thresholds of many images at once, by maximum likelihood on a parameter grid.

    The same model as `fit_psychometric`; since all images share the duration grid, the
    log-likelihood of every image at every grid point ``(mu, sigma, lapse)`` is two matrix
    products. The best grid point is refined along ``mu`` by a parabola through its neighbours.

    Parameters
    ----------
    duration_ms : array_like of float, shape (D,)
        Durations in milliseconds (positive), shared by all images.
    k, n : array_like of int, shape (I, D)
        Correct responses and responses per image and duration.
    n_choices : int
        Number of answer options (guess rate ``1 / n_choices``).
    theta : float, optional
        Proportion correct that defines the threshold, default 0.5.
    max_lapse : float, optional
        Largest lapse rate on the grid, default 0.1.
    n_mu, n_sigma : int, optional
        Grid points for the location (over the log-duration range, one unit beyond each end)
        and the scale (log-spaced, 0.05 to 3), defaults 160 and 32.
    chunk : int, optional
        Images per matrix product (memory), default 512.

    Returns
    -------
    ndarray of float, shape (I,)
        Threshold in ms per image; NaN for images without responses or whose fit never
        reaches `theta`.

    Examples
    --------
    >>> d = np.array([16.7, 50, 100, 150, 250, 10000])
    >>> t = psychometric_thresholds(d, [[1, 3, 8, 10, 10, 10]], [[10] * 6], n_choices=10)
    >>> bool(40 < t[0] < 100)
    True
    """
    duration_ms = np.asarray(duration_ms, dtype=float)
    k = np.atleast_2d(np.asarray(k, dtype=float))
    n = np.atleast_2d(np.asarray(n, dtype=float))
    if np.any(duration_ms <= 0):
        raise ValueError(f"durations ({duration_ms.tolist()!r}) must be positive milliseconds")
    if n_choices < 2:
        raise ValueError(f"n_choices ({n_choices!r}) must be at least 2")
    mu, sigma, lapse = _grid_search(np.log(duration_ms), k, n, 1.0 / n_choices, max_lapse, n_mu, n_sigma, chunk)
    out = _threshold_ms(mu, sigma, lapse, 1.0 / n_choices, theta)
    return np.where(n.sum(axis=1) > 0, out, np.nan)


def _threshold_ms(mu, sigma, lapse, guess: float, theta: float):
    """Duration (ms) where ``guess + (1 - guess - lapse) Phi((ln d - mu) / sigma)`` equals theta."""
    target = (theta - guess) / (1 - guess - np.asarray(lapse, dtype=float))
    with np.errstate(invalid="ignore"):
        z = stats.norm.ppf(np.where((target > 0) & (target < 1), target, np.nan))
    return np.exp(np.asarray(mu) + np.asarray(sigma) * z)


def _grid_search(x, k, n, guess, max_lapse, n_mu=160, n_sigma=32, chunk=512):
    """Best (mu, sigma, lapse) per image on a shared grid; the log-likelihoods are matrix products."""
    mus = np.linspace(x.min() - 1, x.max() + 1, n_mu)
    sigmas = np.geomspace(_SIGMA_BOUNDS[0], _SIGMA_BOUNDS[1], n_sigma)
    lapses = np.unique(np.r_[0.0, 0.01, 0.02, 0.05, max_lapse].clip(0, max_lapse))
    mu_g, sigma_g, lapse_g = (a.ravel() for a in np.meshgrid(mus, sigmas, lapses, indexing="ij"))
    prob = guess + (1 - guess - lapse_g)[:, None] * stats.norm.cdf((x[None, :] - mu_g[:, None]) / sigma_g[:, None])
    prob = np.clip(prob, 1e-9, 1 - 1e-9)
    log_p, log_q = np.log(prob).T, np.log1p(-prob).T          # (D, G)
    shape = (n_mu, n_sigma, lapses.size)
    mu_out = np.empty(k.shape[0])
    sigma_out = np.empty(k.shape[0])
    lapse_out = np.empty(k.shape[0])
    for start in range(0, k.shape[0], chunk):
        kc, nc = k[start:start + chunk], n[start:start + chunk]
        ll = kc @ log_p + (nc - kc) @ log_q                       # (rows, G) log-likelihoods
        best = np.argmax(ll, axis=1)
        i_mu, i_sigma, i_lapse = np.unravel_index(best, shape)
        # parabolic refinement along mu through the neighbouring grid points
        rows = np.arange(len(best))
        left = ll[rows, np.ravel_multi_index((np.maximum(i_mu - 1, 0), i_sigma, i_lapse), shape)]
        right = ll[rows, np.ravel_multi_index((np.minimum(i_mu + 1, n_mu - 1), i_sigma, i_lapse), shape)]
        curvature = left - 2 * ll[rows, best] + right
        inner = (i_mu > 0) & (i_mu < n_mu - 1) & (curvature < 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(inner, 0.5 * (left - right) / curvature, 0.0)
        sl = slice(start, start + len(best))
        mu_out[sl] = mus[i_mu] + np.clip(shift, -0.5, 0.5) * (mus[1] - mus[0])
        sigma_out[sl] = sigmas[i_sigma]
        lapse_out[sl] = lapses[i_lapse]
    return mu_out, sigma_out, lapse_out


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
                 n_choices: int | None = None, fps: int = FPS) -> MVTResult:
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
    fps : int, optional
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
    _check_rule(rule, theta)
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
        "recognised": (_above(_excess(k, n, theta), inclusive) & (n > 0)).ravel(),
    })
    return MVTResult(table=table, cells=cells, frame_counts=tuple(int(f) for f in grid), rule=rule,
                     theta=theta, inclusive=inclusive, n_bootstrap=n_bootstrap)
