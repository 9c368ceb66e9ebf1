"""Psychometric function fits: a threshold duration as another MVT estimate.

Model (cumulative normal on log duration): ``P(correct | d) = guess + (1 - guess - lapse) *
Phi((ln d - mu) / sigma)`` with ``Phi`` the standard normal CDF, the guess rate fixed at
``1 / number of answer options shown per trial`` (overridable: ``mvt analyze --guess-rate``),
the lapse rate fitted in ``[0, max_lapse]``. Three free parameters per image (mu, sigma,
lapse), fitted by maximum likelihood on the binomial counts.

The threshold is the duration where the fitted ``P`` equals theta:
``exp(mu + sigma * Phi^-1((theta - guess) / (1 - guess - lapse)))``; it is undefined (NaN)
when theta is not strictly between ``guess`` and ``1 - lapse``. A threshold outside the
tested durations is an extrapolation and is flagged (`threshold_status`), not dropped.

`psychometric_fits` fits every image at once on a parameter grid (all parameters);
`psychometric_thresholds` returns only the thresholds; `fit_psychometric` fits one profile and
polishes with L-BFGS-B.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

# Bounds of the psychometric scale (sigma, in natural-log duration units).
_SIGMA_BOUNDS = (0.05, 3.0)


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
                            n_mu: int = 160, n_sigma: int = 32, chunk: int = 16) -> np.ndarray:
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
        Distinct count profiles per matrix product, default 16: each product and its
        log-likelihoods stay in the processor's cache (the fit is bound by memory, not arithmetic).
        Does not change results.

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
    fits = psychometric_fits(duration_ms, k, n, guess=1.0 / n_choices, theta=theta, max_lapse=max_lapse,
                             n_mu=n_mu, n_sigma=n_sigma, chunk=chunk)
    return fits.threshold_ms


@dataclass(frozen=True)
class PsychometricFits:
    """Grid maximum-likelihood fits of many images (`psychometric_fits`).

    Attributes
    ----------
    mu_log_ms, sigma_log, lapse, threshold_ms : ndarray of float, shape (I,)
        As in `PsychometricFit`; NaN for images without responses.
    status : ndarray of str, shape (I,)
        `threshold_status` of each threshold: ``ok``, ``below_range``, ``above_range``,
        ``not_reached`` or ``no_data``.
    guess : float
        The fixed guess rate.
    """

    mu_log_ms: np.ndarray
    sigma_log: np.ndarray
    lapse: np.ndarray
    threshold_ms: np.ndarray
    status: np.ndarray
    guess: float

    def predict(self, duration_ms) -> np.ndarray:
        """Fitted proportion correct of every image at `duration_ms`, shape (I, len(duration_ms))."""
        x = np.log(np.asarray(duration_ms, dtype=float))[None, :]
        z = (x - self.mu_log_ms[:, None]) / self.sigma_log[:, None]
        return self.guess + (1 - self.guess - self.lapse[:, None]) * stats.norm.cdf(z)


def threshold_status(threshold_ms, min_ms: float, max_ms: float, has_data=True) -> np.ndarray:
    """Where a threshold lies relative to the tested durations ``[min_ms, max_ms]``.

    ``below_range`` / ``above_range`` (an extrapolation: the data do not pin it down),
    ``not_reached`` (NaN: the fit never crosses theta), ``no_data`` (no responses), else ``ok``.

    Examples
    --------
    >>> threshold_status([10.0, 60.0, 20000.0, np.nan], 17, 10000).tolist()
    ['below_range', 'ok', 'above_range', 'not_reached']
    """
    t = np.asarray(threshold_ms, dtype=float)
    has_data = np.broadcast_to(np.asarray(has_data, dtype=bool), t.shape)
    out = np.where(np.isnan(t), "not_reached",
                   np.where(t < min_ms, "below_range", np.where(t > max_ms, "above_range", "ok")))
    return np.where(has_data, out, "no_data").astype(object)


def format_ms(ms: float) -> str:
    """A duration as a person reads it: whole seconds as ``10 s``, else whole ms (``100 ms``).

    >>> format_ms(100.0), format_ms(10000.0), format_ms(16.667)
    ('100 ms', '10 s', '17 ms')
    """
    whole = int(np.floor(ms + 0.5))
    return f"{whole // 1000} s" if whole >= 1000 and whole % 1000 == 0 else f"{whole} ms"


def threshold_text(threshold_ms, status, min_ms: float, max_ms: float) -> np.ndarray:
    """How a threshold is reported: ``54 ms`` inside the tested durations, ``< 100 ms`` below the
    shortest, ``> 10 s`` above the longest (an extrapolation is a bound, not a value), else empty.

    Examples
    --------
    >>> threshold_text([54.2, 31.0, 20000.0, np.nan], ["ok", "below_range", "above_range", "unrecognised"],
    ...                100, 10000).tolist()
    ['54 ms', '< 100 ms', '> 10 s', '']
    """
    t = np.asarray(threshold_ms, dtype=float)
    status = np.asarray(status, dtype=object)
    return np.array([format_ms(v) if s == "ok" and np.isfinite(v) else f"< {format_ms(min_ms)}" if s == "below_range"
                     else f"> {format_ms(max_ms)}" if s == "above_range" else "" for v, s in zip(t, status)],
                    dtype=object)


def censored_median(threshold_ms, status, min_ms: float, max_ms: float) -> str:
    """The median of thresholds some of which are censored at the tested range, as text.

    A threshold below the shortest tested duration counts as "somewhere below ``min_ms``", one
    above the longest as "somewhere above ``max_ms``" (`threshold_status` ``below_range`` /
    ``above_range``); others (unrecognised, not reached) are left out. Censored values are put
    at the bound and the median taken; if a middle order statistic is censored the median is only
    a bound: ``< x`` (the true median is below the one computed with values raised to ``min_ms``),
    ``> x`` likewise. Empty text when there is no threshold.

    Examples
    --------
    >>> censored_median([30, 40, 150, 200, 50], ["below_range", "below_range", "ok", "ok", "below_range"], 100, 10000)
    '< 100 ms'
    >>> censored_median([30, 150, 200], ["below_range", "ok", "ok"], 100, 10000)
    '150 ms'
    """
    t = np.asarray(threshold_ms, dtype=float)
    status = np.asarray(status, dtype=object)
    keep = ((status == "ok") & np.isfinite(t)) | (status == "below_range") | (status == "above_range")
    if not keep.any():
        return ""
    rank = np.where(status[keep] == "below_range", -np.inf, np.where(status[keep] == "above_range", np.inf, t[keep]))
    ordered = np.sort(rank)
    n = ordered.size
    middle = ordered[[(n - 1) // 2, n // 2]]
    value = float(np.median(np.clip(ordered, min_ms, max_ms)))
    if np.isneginf(middle).any() and np.isposinf(middle).any():
        return f"between < {format_ms(min_ms)} and > {format_ms(max_ms)}"
    if np.isneginf(middle).any():
        return f"< {format_ms(value)}"
    if np.isposinf(middle).any():
        return f"> {format_ms(value)}"
    return format_ms(value)


def psychometric_fits(duration_ms, k, n, *, guess: float, theta: float = 0.5, max_lapse: float = 0.1,
                      n_mu: int = 160, n_sigma: int = 32, chunk: int = 16) -> PsychometricFits:
    """Fitted parameters and thresholds of many images at once (grid maximum likelihood).

    Parameters
    ----------
    duration_ms, k, n, theta, max_lapse, n_mu, n_sigma, chunk
        As in `psychometric_thresholds` (durations shared by all images; counts (I, D)).
    guess : float
        Guess rate in (0, 1), usually 1 / number of options shown per trial.

    Returns
    -------
    PsychometricFits

    Examples
    --------
    >>> d = np.array([16.7, 50, 100, 150, 250, 10000])
    >>> fits = psychometric_fits(d, [[1, 3, 8, 10, 10, 10], [0, 0, 0, 0, 0, 9]], [[10] * 6] * 2, guess=0.1)
    >>> fits.status.tolist()
    ['ok', 'ok']
    """
    duration_ms = np.asarray(duration_ms, dtype=float)
    k = np.atleast_2d(np.asarray(k, dtype=float))
    n = np.atleast_2d(np.asarray(n, dtype=float))
    if np.any(duration_ms <= 0):
        raise ValueError(f"durations ({duration_ms.tolist()!r}) must be positive milliseconds")
    if not 0 < guess < 1:
        raise ValueError(f"guess ({guess!r}) must be a rate in (0, 1)")
    has_data = n.sum(axis=1) > 0
    if k.shape[0] == 0:
        empty = np.zeros(0)
        return PsychometricFits(empty, empty, empty, empty, np.zeros(0, dtype=object), guess)
    mu, sigma, lapse = _grid_search(np.log(duration_ms), k, n, guess, max_lapse, n_mu, n_sigma, chunk)
    threshold = np.where(has_data, _threshold_ms(mu, sigma, lapse, guess, theta), np.nan)
    nan = np.where(has_data, 1.0, np.nan)
    return PsychometricFits(mu * nan, sigma * nan, lapse * nan, threshold,
                            threshold_status(threshold, duration_ms.min(), duration_ms.max(), has_data), guess)


def _threshold_ms(mu, sigma, lapse, guess: float, theta: float):
    """Duration (ms) where ``guess + (1 - guess - lapse) Phi((ln d - mu) / sigma)`` equals theta."""
    target = (theta - guess) / (1 - guess - np.asarray(lapse, dtype=float))
    with np.errstate(invalid="ignore"):
        z = stats.norm.ppf(np.where((target > 0) & (target < 1), target, np.nan))
    return np.exp(np.asarray(mu) + np.asarray(sigma) * z)


def _grid_search(x, k, n, guess, max_lapse, n_mu=160, n_sigma=32, chunk=16, n_threads=2):
    """Best (mu, sigma, lapse) per image on a shared grid; the log-likelihoods are matrix products.

    The distinct count profiles are cut into chunks of `chunk` rows, spread over `n_threads` threads,
    each product computed by one BLAS thread: a chunk's (rows, G) log-likelihoods then stay in cache
    (512-row chunks on two BLAS threads spent ~2 s of CPU on a million responses writing and reading
    100 MB arrays, 16-row ones ~0.9 s), and many small products on a multi-threaded BLAS spin while
    another process holds a core. The last chunk ends at the last row (overlapping the one before),
    so every profile is computed by a product of the same shape: the same numbers whatever the
    number of images, chunks or threads (a one-row product takes another BLAS path).
    """
    mus = np.linspace(x.min() - 1, x.max() + 1, n_mu)
    sigmas = np.geomspace(_SIGMA_BOUNDS[0], _SIGMA_BOUNDS[1], n_sigma)
    lapses = np.unique(np.r_[0.0, 0.01, 0.02, 0.05, max_lapse].clip(0, max_lapse))
    mu_g, sigma_g, lapse_g = (a.ravel() for a in np.meshgrid(mus, sigmas, lapses, indexing="ij"))
    prob = guess + (1 - guess - lapse_g)[:, None] * stats.norm.cdf((x[None, :] - mu_g[:, None]) / sigma_g[:, None])
    prob = np.clip(prob, 1e-9, 1 - 1e-9)
    log_p, log_q = np.log(prob).T, np.log1p(-prob).T          # (D, G)
    shape = (n_mu, n_sigma, lapses.size)
    # Images with the same counts have the same fit: each distinct (k, n) row is fitted once.
    counts, inverse = np.unique(np.hstack([k, n]), axis=0, return_inverse=True)
    k, n = counts[:, :k.shape[1]], counts[:, k.shape[1]:]
    n_rows = k.shape[0]
    mu_out = np.empty(n_rows)
    sigma_out = np.empty(n_rows)
    lapse_out = np.empty(n_rows)
    chunk = min(chunk, n_rows)
    starts = [min(start, n_rows - chunk) for start in range(0, n_rows, chunk)]

    def fit(part: list[int]) -> None:
        # the (rows, G) products go into buffers allocated once per thread
        ll = np.empty((chunk, log_p.shape[1]))
        q = np.empty_like(ll)
        rows = np.arange(chunk)
        for start in part:
            kc, nc = k[start:start + chunk], n[start:start + chunk]
            np.matmul(kc, log_p, out=ll)
            np.add(ll, np.matmul(nc - kc, log_q, out=q), out=ll)      # (rows, G) log-likelihoods
            best = np.argmax(ll, axis=1)
            i_mu, i_sigma, i_lapse = np.unravel_index(best, shape)
            # parabolic refinement along mu through the neighbouring grid points
            left = ll[rows, np.ravel_multi_index((np.maximum(i_mu - 1, 0), i_sigma, i_lapse), shape)]
            right = ll[rows, np.ravel_multi_index((np.minimum(i_mu + 1, n_mu - 1), i_sigma, i_lapse), shape)]
            curvature = left - 2 * ll[rows, best] + right
            inner = (i_mu > 0) & (i_mu < n_mu - 1) & (curvature < 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                shift = np.where(inner, 0.5 * (left - right) / curvature, 0.0)
            sl = slice(start, start + chunk)
            mu_out[sl] = mus[i_mu] + np.clip(shift, -0.5, 0.5) * (mus[1] - mus[0])
            sigma_out[sl] = sigmas[i_sigma]
            lapse_out[sl] = lapses[i_lapse]

    parts = [starts[i::n_threads] for i in range(max(1, min(n_threads, len(starts))))]
    with threadpool_limits(1, user_api="blas"):
        if len(parts) > 1:
            with ThreadPoolExecutor(max_workers=len(parts)) as pool:
                list(pool.map(fit, parts))
        else:
            fit(parts[0])
    inverse = inverse.ravel()
    return mu_out[inverse], sigma_out[inverse], lapse_out[inverse]
