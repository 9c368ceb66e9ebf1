"""Bootstrap uncertainty of the MVT: resample every (image, duration) cell, apply the rule.

A resample of a cell with ``k`` correct of ``n`` responses has ``Binomial(n, k/n)`` correct.
All cells of all images are resampled at once, laid out durations first so that each rule is
a handful of whole-array operations; see `bootstrap_mvt`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import stats

from analysis.rules import check_rule, index_from_recognition, mvt_index_durations_first, theta_ratio

# Bootstrap work is split into chunks of about this many (cell x resample) elements: small
# enough to stay in cache-friendly memory, fixed so that results do not depend on threads.
_CHUNK_ELEMENTS = 4_000_000


def _recognition_probability(k, n, theta: float, inclusive: bool) -> np.ndarray:
    """P(a resample of the cell's n responses is recognised) = P(Binomial(n, k/n) >= c)."""
    n = np.asarray(n, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    num, den = theta_ratio(theta)
    # c: the smallest count recognised, den * c > num * n (or >= when inclusive)
    c = -((-num * n) // den) if inclusive else (num * n) // den + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
    q = stats.binom.sf(c - 1, n, p)
    return np.where(n > 0, q, 0.0)


# Cells with at most this many responses are resampled by inverting their binomial CDF with
# one float32 uniform each (a few comparisons), larger ones by numpy's binomial sampler.
_INVERSION_MAX_N = 32


def _resample_counts(k: np.ndarray, n: np.ndarray, n_bootstrap: int, rng) -> np.ndarray:
    """Binomial(n, k/n) draws for cells (D, I), shape (D, I, n_bootstrap)."""
    p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
    n_max = int(n.max()) if n.size else 0
    if n_max > _INVERSION_MAX_N:
        return rng.binomial(n[..., None], p[..., None], size=n.shape + (n_bootstrap,))
    u = rng.random(n.shape + (n_bootstrap,), dtype=np.float32)
    out = np.zeros(u.shape, dtype=np.int16)
    for j in range(n_max):
        cdf = np.where(j < n, stats.binom.cdf(j, n, p), 1.0).astype(np.float32)
        out += u > cdf[..., None]
    return out


def _bootstrap_chunk(k, n, rule, theta, inclusive, n_bootstrap, rng) -> np.ndarray:
    """Bootstrap MVT indices (rows, n_bootstrap) of one chunk of images; works durations first."""
    rows, d = k.shape
    kd, nd = k.T, n.T
    observed = nd > 0
    if rule == "isotonic":
        kb = _resample_counts(kd, nd, n_bootstrap, rng)
        nb = np.broadcast_to(nd[..., None].astype(kb.dtype), kb.shape)
        idx = mvt_index_durations_first(kb, nb, rule, theta, inclusive)
    else:
        # For these rules only whether a resampled cell is recognised matters, and that is
        # Bernoulli(q) with q = P(Binomial(n, k/n) recognised): the same bootstrap, drawn directly.
        q = _recognition_probability(kd, nd, theta, inclusive).astype(np.float32)
        rec = rng.random((d, rows, n_bootstrap), dtype=np.float32) < q[..., None]
        if observed.all():
            idx = index_from_recognition(rec, rule, np.int16)
        else:
            best = index_from_recognition(rec | ~observed[..., None], rule, np.int16)
            worst = index_from_recognition(rec, rule, np.int16)
            idx = np.where(best == worst, best, d + 1)
    return idx.astype(np.int16)


def bootstrap_mvt(k, n, *, rule: str = "stable", theta: float = 0.5, inclusive: bool = False,
                  n_bootstrap: int = 1000, rng=None, n_threads: int = 2, return_draws: bool = False):
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
    return_draws : bool, optional
        Also return every resample's MVT index per image.

    Returns
    -------
    counts : ndarray of int, shape (I, D + 2)
        Per image, how many resamples gave each MVT index (``D`` unrecognised,
        ``D + 1`` insufficient); each row sums to `n_bootstrap`.
    draws : ndarray of int16, shape (I, n_bootstrap)
        Only with `return_draws`: the MVT index of every image in every resample. Resample
        ``b`` of all images together is one bootstrap replicate of the whole study (cells are
        resampled independently), so statistics over images, such as the MVT histogram, get
        their bootstrap distribution from the columns.

    Examples
    --------
    >>> bootstrap_mvt([[0, 5]], [[5, 5]], n_bootstrap=10, rng=0).tolist()
    [[0, 10, 0, 0]]
    """
    check_rule(rule, theta)
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
    draws = np.concatenate(parts, axis=0) if parts else np.zeros((0, n_bootstrap), dtype=np.int16)
    flat = (np.arange(n_images)[:, None] * (d + 2) + draws).ravel()
    counts = np.bincount(flat, minlength=n_images * (d + 2)).reshape(n_images, d + 2)
    return (counts, draws) if return_draws else counts


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
