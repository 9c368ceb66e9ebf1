"""Adaptive MVT studies: a per-image posterior over the MVT bin, a stopping rule, the next answers.

The fixed design asks every image at every duration the same number of times (7 x 6 = 42
answers in the published study). Most of those answers fall where the outcome is already
certain. An adaptive study asks in batches and spends each batch where an image's MVT bin is
still uncertain. This module is the decision, in pure numpy; ``mvt next-batch``
(`stimuli.adaptive`) turns it into links.

Model (per image)
    ``P(correct | d) = g + (1 - g - lapse) * Phi((ln d - mu) / sigma)``, the cumulative normal
    on log duration of `analysis.psychometric`, monotone in ``d``, with the study's guess rate
    ``g = 1 / answer options`` and a lapse rate (Wichmann & Hill 2001, Percept. Psychophys.
    63:1293). The parameters ``(mu, sigma, lapse)`` live on a grid (`psychometric_grid`);
    ``mu`` reaches far beyond the longest duration, so "never recognised" is inside the model.
MVT bin
    For a monotone curve every rule of `analysis.rules` (``stable``, ``first``, ``isotonic``)
    gives the same population answer: the index of the shortest duration with ``P > theta``
    (``P >= theta`` inclusive), or ``D`` ("unrecognised") when not even the longest duration is
    recognised. Each grid point therefore has one bin; the posterior over bins is the
    posterior mass of the grid points in each bin.
Posterior
    Binomial likelihood of the counts ``k`` of ``n`` per duration times a prior over the grid
    (`bin_posterior`). The prior is uniform over the grid or, better, learned from all images of
    the study by expectation-maximisation of the grid weights (`empirical_prior`; the
    nonparametric maximum-likelihood mixing distribution of Laird 1978, JASA 73:805 — empirical
    Bayes in the sense of Robbins 1956).
Stopping rule
    An image is finished when one bin holds at least ``confidence`` (0.9) of its posterior, or
    when it has as many answers as the fixed design gives it (``max_answers``, 42).
Next answers
    For every unfinished image and duration the expected reduction of the bin's entropy from
    ``block`` more answers there, ``H(bin) - E_k[H(bin | k)]`` with ``k`` from the posterior
    predictive (the Psi method of Kontsevich & Tyler 1999, Vision Res. 39:2729, with the MVT
    bin as the quantity of interest instead of the threshold). The ``answers // block``
    durations with the largest reduction each get ``block`` answers (`plan_next_answers`).

Everything is vectorised over images: ``(I, D)`` counts, ``(G, D)`` grid probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from analysis.rules import check_rule, index_from_recognition

DEFAULT_CONFIDENCE = 0.9
"""Posterior mass one bin must hold for an image to be finished (``--confidence``)."""

DEFAULT_MAX_ANSWERS = 42
"""Answers per image of the fixed design (7 workers x 6 durations): an image stops there."""


@dataclass(frozen=True)
class PsychometricGrid:
    """The parameter grid of the per-image model and each grid point's MVT bin.

    Attributes
    ----------
    duration_ms : ndarray of float, shape (D,)
        The tested durations, ascending (ms).
    guess : float
        Guess rate ``g``, 1 / answer options.
    theta : float
        Recognition threshold on the proportion correct.
    inclusive : bool
        Recognised means ``P >= theta`` instead of ``P > theta``.
    mu_log_ms, sigma_log, lapse : ndarray of float, shape (G,)
        Every grid point's parameters.
    p : ndarray of float, shape (G, D)
        ``P(correct | d)`` of every grid point at every duration.
    bins : ndarray of int, shape (G,)
        Every grid point's MVT bin, ``0 .. D-1`` or ``D`` (unrecognised).
    """

    duration_ms: np.ndarray
    guess: float
    theta: float
    inclusive: bool
    mu_log_ms: np.ndarray
    sigma_log: np.ndarray
    lapse: np.ndarray
    p: np.ndarray
    bins: np.ndarray

    @property
    def n_bins(self) -> int:
        """``D + 1``: one bin per duration and "unrecognised"."""
        return self.duration_ms.size + 1

    def uniform_prior(self) -> np.ndarray:
        """Equal weight on every grid point, shape (G,)."""
        return np.full(self.bins.size, 1.0 / self.bins.size)


def psychometric_grid(duration_ms, *, guess: float, theta: float = 0.5, inclusive: bool = False,
                      n_mu: int = 80, sigma_log=(0.15, 0.3, 0.6, 1.2),
                      lapse=(0.0, 0.05, 0.1)) -> PsychometricGrid:
    """The grid of ``(mu, sigma, lapse)`` and its MVT bins for one study's durations.

    ``mu`` runs evenly in log duration from a quarter of the shortest duration to four times
    the longest, so that images recognised below the shortest and above the longest duration
    are both representable.

    Parameters
    ----------
    duration_ms : array_like of float, shape (D,)
        The study's durations in ms, distinct and positive.
    guess : float
        Guess rate ``1 / answer options``, in [0, 1).
    theta : float, optional
        Recognition threshold, default 0.5.
    inclusive : bool, optional
        ``P >= theta`` counts as recognised.
    n_mu : int, optional
        Grid points of ``mu``, default 80.
    sigma_log : sequence of float, optional
        Slopes (natural-log ms), default ``(0.15, 0.3, 0.6, 1.2)``.
    lapse : sequence of float, optional
        Lapse rates, default ``(0, 0.05, 0.1)`` (the range `analysis.psychometric` fits).

    Returns
    -------
    PsychometricGrid

    Raises
    ------
    ValueError
        For no or non-positive durations, a guess rate outside [0, 1) or a bad theta.

    Examples
    --------
    >>> grid = psychometric_grid([16.7, 100, 10000], guess=0.1)
    >>> grid.p.shape, sorted(set(grid.bins.tolist()))
    ((960, 3), [0, 1, 2, 3])
    """
    check_rule("stable", theta)
    duration_ms = np.sort(np.asarray(duration_ms, dtype=float))
    if duration_ms.size == 0 or not np.all(duration_ms > 0):
        raise ValueError(f"duration_ms ({duration_ms.tolist()!r}) must be one or more positive durations")
    if not 0 <= guess < 1:
        raise ValueError(f"guess ({guess!r}) must be a proportion in [0, 1)")
    mu_axis = np.linspace(np.log(duration_ms[0] / 4), np.log(duration_ms[-1] * 4), n_mu)
    mu, sigma, lam = (a.ravel() for a in np.meshgrid(mu_axis, np.asarray(sigma_log, float),
                                                      np.asarray(lapse, float), indexing="ij"))
    z = (np.log(duration_ms)[None, :] - mu[:, None]) / sigma[:, None]
    p = guess + (1 - guess - lam[:, None]) * special.ndtr(z)
    rec = p >= theta if inclusive else p > theta
    bins = index_from_recognition(rec.T, "stable")
    return PsychometricGrid(duration_ms=duration_ms, guess=float(guess), theta=float(theta),
                            inclusive=inclusive, mu_log_ms=mu, sigma_log=sigma, lapse=lam,
                            p=np.clip(p, 1e-9, 1 - 1e-9), bins=np.asarray(bins, dtype=np.int64))


def _log_likelihood(grid: PsychometricGrid, k, n) -> np.ndarray:
    """Binomial log-likelihood (without the binomial coefficient) of every image at every grid point, (I, G)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    return k @ np.log(grid.p).T + (n - k) @ np.log1p(-grid.p).T


def _normalise_log(log_w: np.ndarray) -> np.ndarray:
    log_w = log_w - log_w.max(axis=-1, keepdims=True)
    w = np.exp(log_w)
    return w / w.sum(axis=-1, keepdims=True)


def empirical_prior(grid: PsychometricGrid, k, n, *, n_iter: int = 100, floor: float = 0.01) -> np.ndarray:
    """Grid weights learned from all images of a study (empirical Bayes).

    Expectation-maximisation of the mixing weights ``pi``: ``pi <- mean_i posterior_i(pi)``
    (Laird 1978), starting from uniform; the result is mixed with ``floor`` of the uniform
    prior so that no grid point is ruled out before its image has been asked.

    Parameters
    ----------
    grid : PsychometricGrid
    k, n : array_like of int, shape (I, D)
        Correct answers and answers per image and duration.
    n_iter : int, optional
        EM iterations, default 100.
    floor : float, optional
        Share of the uniform prior mixed in, default 0.01.

    Returns
    -------
    ndarray of float, shape (G,)
        Prior weights summing to 1 (uniform when there are no images).

    Examples
    --------
    >>> grid = psychometric_grid([16.7, 10000], guess=0.5, n_mu=10, sigma_log=(0.3,), lapse=(0.0,))
    >>> prior = empirical_prior(grid, [[5, 5]] * 3, [[5, 5]] * 3)
    >>> bool(prior[grid.bins == 0].sum() > 0.9)
    True
    """
    uniform = grid.uniform_prior()
    log_lik = _log_likelihood(grid, k, n)
    if log_lik.shape[0] == 0:
        return uniform
    lik = np.exp(log_lik - log_lik.max(axis=1, keepdims=True))
    pi = uniform.copy()
    for _ in range(n_iter):
        # mean_i lik_ig pi_g / sum_h lik_ih pi_h, as two matrix products
        pi = pi * (lik.T @ (1.0 / (lik @ pi))) / lik.shape[0]
    return (1 - floor) * pi + floor * uniform


@dataclass(frozen=True)
class BinPosterior:
    """Every image's posterior over its MVT bin, and whether it is finished.

    Attributes
    ----------
    weights : ndarray of float, shape (I, G)
        Posterior over the grid.
    bins : ndarray of float, shape (I, D + 1)
        Posterior probability of each bin (``D`` = unrecognised).
    n_answers : ndarray of int, shape (I,)
        Answers each image has.
    finished : ndarray of bool, shape (I,)
        The stopping rule: ``bins.max() >= confidence`` or ``n_answers >= max_answers``.
    confidence : float
    max_answers : int
    """

    weights: np.ndarray
    bins: np.ndarray
    n_answers: np.ndarray
    finished: np.ndarray
    confidence: float
    max_answers: int

    @property
    def map_bin(self) -> np.ndarray:
        """The most probable bin of every image, shape (I,): the adaptive MVT estimate."""
        return self.bins.argmax(axis=1)

    @property
    def map_probability(self) -> np.ndarray:
        """Posterior probability of the most probable bin, shape (I,)."""
        return self.bins.max(axis=1)

    @property
    def entropy_bits(self) -> np.ndarray:
        """Entropy of the bin posterior in bits, shape (I,)."""
        return _entropy_bits(self.bins)

    def credible_interval(self, mass: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed credible interval of every image's bin on the ordered scale.

        The bins are ordered by duration with "unrecognised" (``D``) after the longest. The
        low limit is the first bin whose cumulative posterior exceeds ``(1 - mass) / 2``, the
        high limit the first whose cumulative posterior reaches ``(1 + mass) / 2``
        (`analysis.bootstrap.ordered_interval` applied to posterior probabilities instead of
        bootstrap counts). The interval holds at least `mass` of the posterior and always holds
        the most probable bin (whose probability is at least ``1 / (D + 1)``, more than either
        tail for ``D < 39``).

        Returns
        -------
        low, high : ndarray of int, shape (I,)
            Bin limits, ``0 .. D``.

        Examples
        --------
        >>> post = BinPosterior(weights=np.ones((1, 1)), bins=np.array([[0.01, 0.9, 0.05, 0.04]]),
        ...                     n_answers=np.array([12]), finished=np.array([True]), confidence=0.9,
        ...                     max_answers=42)
        >>> [a.tolist() for a in post.credible_interval(0.95)]
        [[1], [3]]
        """
        from analysis.bootstrap import ordered_interval

        if not 0 < mass < 1:
            raise ValueError(f"mass ({mass!r}) must be in (0, 1)")
        # ordered_interval's last column counts undetermined draws; a posterior has none.
        return ordered_interval(np.column_stack([self.bins, np.zeros(len(self.bins))]), mass)


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)


def bin_posterior(grid: PsychometricGrid, k, n, *, prior=None, confidence: float = DEFAULT_CONFIDENCE,
                  max_answers: int = DEFAULT_MAX_ANSWERS) -> BinPosterior:
    """Posterior over the MVT bin of every image, with the stopping rule applied.

    ``w_ig ∝ prior_g * prod_d p_gd^k_id (1 - p_gd)^(n_id - k_id)``;
    ``P(bin = b | data_i) = sum_{g : bin_g = b} w_ig``.

    Parameters
    ----------
    grid : PsychometricGrid
    k, n : array_like of int, shape (I, D)
        Correct answers and answers per image and duration (durations as in `grid`).
    prior : array_like of float, shape (G,), optional
        Grid prior, default uniform (`empirical_prior` learns one from the study).
    confidence : float, optional
        Posterior mass of one bin that finishes an image, default 0.9.
    max_answers : int, optional
        Answers that finish an image whatever its posterior, default 42 (the fixed design).

    Returns
    -------
    BinPosterior

    Raises
    ------
    ValueError
        For counts of the wrong shape, ``k > n`` or negative counts, a confidence outside
        (0, 1] or max_answers < 1.

    Examples
    --------
    >>> grid = psychometric_grid([16.7, 100, 10000], guess=0.1)
    >>> post = bin_posterior(grid, [[7, 7, 7], [0, 0, 1]], [[7, 7, 7], [7, 7, 7]])
    >>> post.map_bin.tolist(), post.finished.tolist()
    ([0, 3], [True, True])
    """
    k = np.atleast_2d(np.asarray(k, dtype=np.int64))
    n = np.atleast_2d(np.asarray(n, dtype=np.int64))
    d = grid.duration_ms.size
    if k.shape != n.shape or k.shape[-1] != d:
        raise ValueError(f"k and n (shapes {k.shape}, {n.shape}) must both be (images, {d} durations)")
    if np.any(n < 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("counts must satisfy 0 <= k <= n")
    if not 0 < confidence <= 1:
        raise ValueError(f"confidence ({confidence!r}) must be in (0, 1]")
    if max_answers < 1:
        raise ValueError(f"max_answers ({max_answers!r}) must be at least 1")
    prior = grid.uniform_prior() if prior is None else np.asarray(prior, dtype=float)
    with np.errstate(divide="ignore"):
        log_w = _log_likelihood(grid, k, n) + np.log(prior)[None, :]
    weights = _normalise_log(log_w)
    onehot = np.eye(grid.n_bins)[grid.bins]
    bins = weights @ onehot
    total = n.sum(axis=1)
    finished = (bins.max(axis=1) >= confidence) | (total >= max_answers)
    return BinPosterior(weights=weights, bins=bins, n_answers=total, finished=finished,
                        confidence=float(confidence), max_answers=int(max_answers))


def expected_entropy_reduction(grid: PsychometricGrid, posterior: BinPosterior, block: int) -> np.ndarray:
    """Expected reduction of the bin entropy (bits) from ``block`` more answers at each duration.

    ``EIG_id = H(bin_i) - sum_k P_i(k | d) H(bin_i | k at d)``, with
    ``P_i(k | d) = sum_g w_ig Binom(k; block, p_gd)`` the posterior predictive.

    Parameters
    ----------
    grid : PsychometricGrid
    posterior : BinPosterior
    block : int
        Answers added at one duration, at least 1.

    Returns
    -------
    ndarray of float, shape (I, D)
        Non-negative (up to rounding) expected reductions.
    """
    if block < 1:
        raise ValueError(f"block ({block!r}) must be at least 1")
    onehot = np.eye(grid.n_bins)[grid.bins]
    h_now = posterior.entropy_bits
    ks = np.arange(block + 1)
    out = np.empty((posterior.weights.shape[0], grid.duration_ms.size))
    for j in range(grid.duration_ms.size):
        pmf = stats.binom.pmf(ks[None, :], block, grid.p[:, j][:, None])  # (G, block+1)
        expected = np.zeros(posterior.weights.shape[0])
        for kk in ks:
            joint = (posterior.weights * pmf[:, kk]) @ onehot            # (I, D+1)
            p_k = joint.sum(axis=1)
            cond = joint / np.maximum(p_k, 1e-300)[:, None]
            expected += p_k * _entropy_bits(cond)
        out[:, j] = h_now - expected
    return np.maximum(out, 0.0)


@dataclass(frozen=True)
class AnswerPlan:
    """Answers to ask per image and duration in the next batch.

    Attributes
    ----------
    counts : ndarray of int, shape (I, D)
        Answers to add; zero rows for finished images.
    gain_bits : ndarray of float, shape (I, D)
        The expected entropy reductions the choice was made from (zero for finished images).
    posterior : BinPosterior
        The posterior the plan was made from.
    """

    counts: np.ndarray
    gain_bits: np.ndarray
    posterior: BinPosterior

    @property
    def n_answers(self) -> int:
        """Answers the plan asks for in all."""
        return int(self.counts.sum())

    @property
    def n_images(self) -> int:
        """Images the plan asks about."""
        return int((self.counts.sum(axis=1) > 0).sum())


def plan_next_answers(grid: PsychometricGrid, posterior: BinPosterior, *, answers_per_image: int,
                      block: int = 2, budget: int | None = None) -> AnswerPlan:
    """Which durations each unfinished image is asked at in the next batch.

    Each unfinished image gets ``answers_per_image`` answers (fewer when it would pass
    ``max_answers``), ``block`` at each of its durations with the largest
    `expected_entropy_reduction` (a duration may get two blocks when fewer durations than
    blocks are left). With a ``budget`` (answers in all), images are served in order of their
    posterior entropy, most uncertain first, until the budget is spent.

    Parameters
    ----------
    grid : PsychometricGrid
    posterior : BinPosterior
    answers_per_image : int
        Answers per unfinished image in this batch, at least 1.
    block : int, optional
        Answers per chosen duration, default 2.
    budget : int, optional
        Most answers in all.

    Returns
    -------
    AnswerPlan
    """
    if answers_per_image < 1:
        raise ValueError(f"answers_per_image ({answers_per_image!r}) must be at least 1")
    if budget is not None and budget < 0:
        raise ValueError(f"budget ({budget!r}) must not be negative")
    n_img, d = posterior.weights.shape[0], grid.duration_ms.size
    counts = np.zeros((n_img, d), dtype=np.int64)
    gain = np.zeros((n_img, d))
    todo = np.flatnonzero(~posterior.finished)
    if todo.size:
        sub = BinPosterior(weights=posterior.weights[todo], bins=posterior.bins[todo],
                           n_answers=posterior.n_answers[todo], finished=posterior.finished[todo],
                           confidence=posterior.confidence, max_answers=posterior.max_answers)
        gain[todo] = expected_entropy_reduction(grid, sub, block)
    room = np.maximum(posterior.max_answers - posterior.n_answers, 0)
    order = todo[np.argsort(-posterior.entropy_bits[todo], kind="stable")]
    left = budget if budget is not None else np.iinfo(np.int64).max
    for i in order:
        want = int(min(answers_per_image, room[i], left))
        if want <= 0:
            continue
        ranked = np.argsort(-gain[i], kind="stable")
        j = 0
        while want > 0:
            take = min(block, want)
            counts[i, ranked[j % d]] += take
            want -= take
            left -= take
            j += 1
    return AnswerPlan(counts=counts, gain_bits=gain, posterior=posterior)


def true_bins(p_correct, *, theta: float = 0.5, inclusive: bool = False) -> np.ndarray:
    """The MVT bin of known accuracy curves (for simulations), shape (I,).

    The shortest duration recognised there and at every longer one, by the population
    proportion correct (``stable``; for monotone curves every rule agrees); ``D`` when the
    longest duration is not recognised.

    Examples
    --------
    >>> true_bins([[0.2, 0.6, 0.9], [0.1, 0.2, 0.4]]).tolist()
    [1, 3]
    """
    p = np.atleast_2d(np.asarray(p_correct, dtype=float))
    rec = p >= theta if inclusive else p > theta
    return np.asarray(index_from_recognition(rec.T, "stable"), dtype=np.int64)


@dataclass(frozen=True)
class NextBatch:
    """The decision for the next batch of a study, read from its responses so far.

    Attributes
    ----------
    wanted : dict
        ``image_id -> {frames: answers}`` to ask next (only images wanting some).
    table : pandas.DataFrame
        One row per image: ``image_id, label, n_answers, mvt_ms`` (the most probable bin:
        whole ms, empty when unrecognised), ``status`` (``ok`` / ``unrecognised``),
        ``p_mvt`` (its posterior probability), ``entropy_bits``, ``finished``,
        ``next_answers``, then ``p_f<frames>`` per duration and ``p_unrecognised``.
    plan : AnswerPlan
    flagged_workers : tuple of str
        Workers `next_batch_from_responses` left out (`screen_by_expectation`); empty from cells.
    """

    wanted: dict
    table: object
    plan: AnswerPlan
    flagged_workers: tuple = ()

    @property
    def n_finished(self) -> int:
        """Images the stopping rule has finished."""
        return int(self.plan.posterior.finished.sum())


def next_batch_from_cells(cells, image_ids, labels, frame_counts, *, n_options: int, fps: float = 60,
                          theta: float = 0.5, inclusive: bool = False,
                          confidence: float = DEFAULT_CONFIDENCE, max_answers: int = DEFAULT_MAX_ANSWERS,
                          answers_per_image: int = 6, block: int = 2, budget: int | None = None) -> NextBatch:
    """Posterior of every image from ``cells.csv`` of ``mvt analyze`` and the answers to ask next.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``image_id, frames, n, k`` per (image, duration) (``cells.csv``); images or durations
        absent count as never asked.
    image_ids, labels : sequence of str
        The study's images and their classes.
    frame_counts : sequence of int
        The design's durations in frames.
    n_options : int
        Answer options per trial (guess rate ``1 / n_options``).
    fps, theta, inclusive, confidence, max_answers, answers_per_image, block, budget
        As in `psychometric_grid`, `bin_posterior` and `plan_next_answers`.

    Returns
    -------
    NextBatch
    """
    import pandas as pd

    grid_frames = np.asarray(sorted(frame_counts), dtype=np.int64)
    ids = list(image_ids)
    row = {image_id: i for i, image_id in enumerate(ids)}
    col = {int(f): j for j, f in enumerate(grid_frames)}
    k = np.zeros((len(ids), grid_frames.size), dtype=np.int64)
    n = np.zeros_like(k)
    for image_id, frames, nn, kk in zip(cells["image_id"], cells["frames"], cells["n"], cells["k"]):
        i, j = row.get(str(image_id)), col.get(int(frames))
        if i is not None and j is not None:
            n[i, j] += int(nn)
            k[i, j] += int(kk)
    grid = psychometric_grid(grid_frames * 1000.0 / fps, guess=1.0 / n_options, theta=theta, inclusive=inclusive)
    prior = empirical_prior(grid, k, n)
    posterior = bin_posterior(grid, k, n, prior=prior, confidence=confidence, max_answers=max_answers)
    plan = plan_next_answers(grid, posterior, answers_per_image=answers_per_image, block=block, budget=budget)
    wanted = {ids[i]: {int(grid_frames[j]): int(plan.counts[i, j]) for j in np.flatnonzero(plan.counts[i])}
              for i in np.flatnonzero(plan.counts.sum(axis=1))}
    d = grid_frames.size
    shown_ms = np.floor(grid_frames * 1000.0 / fps + 0.5).astype(np.int64)
    best = posterior.map_bin
    table = pd.DataFrame({
        "image_id": ids, "label": list(labels), "n_answers": posterior.n_answers,
        "mvt_ms": pd.array(np.where(best < d, shown_ms[np.minimum(best, d - 1)], 0), dtype="Int64"),
        "status": np.where(best < d, "ok", "unrecognised"),
        "p_mvt": posterior.map_probability.round(4), "entropy_bits": posterior.entropy_bits.round(4),
        "finished": posterior.finished, "next_answers": plan.counts.sum(axis=1),
    })
    table.loc[best == d, "mvt_ms"] = pd.NA
    for j, f in enumerate(grid_frames):
        table[f"p_f{f}"] = posterior.bins[:, j].round(4)
    table["p_unrecognised"] = posterior.bins[:, d].round(4)
    return NextBatch(wanted=wanted, table=table, plan=plan)


def predicted_accuracy(grid: PsychometricGrid, posterior: BinPosterior) -> np.ndarray:
    """Posterior predictive proportion correct of every image at every duration, shape (I, D).

    ``p_id = sum_g w_ig p_gd``.
    """
    return posterior.weights @ grid.p


@dataclass(frozen=True)
class ExpectationScreening:
    """Workers right much less often than the model expects on their own trials.

    Attributes
    ----------
    n, k : ndarray of int, shape (W,)
        Each worker's trials and correct answers.
    expected : ndarray of float, shape (W,)
        ``sum_t p_t``, the expected correct answers (posterior predictive of each trial).
    z : ndarray of float, shape (W,)
        ``(k + 0.5 - expected) / sqrt(sum_t p_t (1 - p_t))`` (normal approximation of the
        Poisson-binomial, with continuity correction).
    flagged : ndarray of bool, shape (W,)
        ``z < Phi^-1(alpha)``.
    alpha : float
    """

    n: np.ndarray
    k: np.ndarray
    expected: np.ndarray
    z: np.ndarray
    flagged: np.ndarray
    alpha: float


def screen_by_expectation(p_trial, worker_codes, correct, *, n_workers: int | None = None,
                          alpha: float = 0.001) -> ExpectationScreening:
    """Flag workers whose correct answers fall far below what their trials predict.

    The fixed design's control rule reads a worker's accuracy at the longest duration,
    assuming those trials are easy (most images are recognised at 10 s). An adaptive batch
    asks the longest duration mostly of the images that may never be recognised, so honest
    workers fail it there (measured: `simulation.adaptive_screening`). This test compares each
    worker with the model instead: under the posterior predictive ``p_t`` of each of their
    trials, the number right is Poisson-binomial with mean ``sum p_t`` and variance
    ``sum p_t (1 - p_t)``; a worker is flagged when the one-sided normal-approximation p-value
    of their count is below `alpha`. A random guesser (``p = g``) on 50 trials whose predicted
    accuracy averages 0.6 sits about 8 standard deviations low.

    Parameters
    ----------
    p_trial : array_like of float, shape (T,)
        Predicted proportion correct of every trial (`predicted_accuracy` at its image and
        duration; the worker's own answers are in the posterior too, which makes the test
        slightly lenient).
    worker_codes : array_like of int, shape (T,)
        Worker index ``0 .. W-1`` of every trial.
    correct : array_like of bool, shape (T,)
    n_workers : int, optional
        W, default ``max(worker_codes) + 1``.
    alpha : float, optional
        One-sided false-alarm rate per worker under the model, default 0.001.

    Returns
    -------
    ExpectationScreening

    Examples
    --------
    >>> s = screen_by_expectation([0.9] * 20 + [0.9] * 20, [0] * 20 + [1] * 20, [True] * 20 + [False] * 18 + [True] * 2)
    >>> s.flagged.tolist()
    [False, True]
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha ({alpha!r}) must be in (0, 1)")
    p = np.asarray(p_trial, dtype=float)
    codes = np.asarray(worker_codes, dtype=np.int64)
    hit = np.asarray(correct, dtype=bool)
    if not (p.shape == codes.shape == hit.shape):
        raise ValueError(f"p_trial, worker_codes and correct (shapes {p.shape}, {codes.shape}, {hit.shape}) "
                         "must have one entry per trial")
    w = int(n_workers if n_workers is not None else (codes.max() + 1 if codes.size else 0))
    n = np.bincount(codes, minlength=w)
    k = np.bincount(codes, weights=hit, minlength=w).astype(np.int64)
    expected = np.bincount(codes, weights=p, minlength=w)
    var = np.bincount(codes, weights=p * (1 - p), minlength=w)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (k + 0.5 - expected) / np.sqrt(var), 0.0)
    return ExpectationScreening(n=n, k=k, expected=expected, z=z, flagged=z < special.ndtri(alpha), alpha=float(alpha))


@dataclass(frozen=True)
class ScreenedPosterior:
    """The posterior of every image after the model-based screening (`screened_posterior`).

    Attributes
    ----------
    grid : PsychometricGrid
    image_ids : list of str
        The images, in the order of the rows of `k`, `n` and `posterior`.
    frame_counts : ndarray of int, shape (D,)
        The durations in frames, ascending.
    k, n : ndarray of int, shape (I, D)
        Correct answers and answers of the workers kept.
    posterior : BinPosterior
        From `k` and `n` under a prior learned from them (`empirical_prior`).
    screening : ExpectationScreening
        The test of every worker with usable answers (order of `worker_ids`).
    worker_ids : ndarray of str, shape (W,)
    flagged : ndarray of bool, shape (W,)
        Left out: flagged by `screening` or by a standing flag.
    usable : pandas.DataFrame
        The usable responses (complete assignments, timing not found wrong, an image and a
        duration of the design) with ``row``/``col`` (image and duration index) and ``kept``.
    """

    grid: PsychometricGrid
    image_ids: list
    frame_counts: np.ndarray
    k: np.ndarray
    n: np.ndarray
    posterior: BinPosterior
    screening: ExpectationScreening
    worker_ids: np.ndarray
    flagged: np.ndarray
    usable: object


def screened_posterior(responses, image_ids, frame_counts, *, guess: float, fps: float = 60, theta: float = 0.5,
                       inclusive: bool = False, alpha: float = 0.001, standing=(),
                       confidence: float = DEFAULT_CONFIDENCE,
                       max_answers: int = DEFAULT_MAX_ANSWERS) -> ScreenedPosterior:
    """Every image's bin posterior from the responses, with the workers `screen_by_expectation` flags left out.

    Usable responses are those of complete assignments (or of unknown status,
    `analysis.responses.USABLE_STATUSES`) whose timing was not found wrong, at an image and a
    duration of the design (as in ``mvt analyze``). Two passes: the posterior from every usable
    answer except those of `standing` workers predicts each trial (`predicted_accuracy`); the
    workers the test flags are left out and the posterior is computed again from the rest, with
    the prior learned again. A worker's own answers are in the first posterior, which makes the
    test slightly lenient (measured rates: docs/analysis.md, "Screening in adaptive studies").

    Parameters
    ----------
    responses : pandas.DataFrame
        Prepared responses (`analysis.responses`): ``worker_id, image_id, frames, correct,
        assignment_status`` and optionally ``timing_ok``.
    image_ids : sequence of str
        The study's images.
    frame_counts : sequence of int
        The design's durations in frames.
    guess : float
        Guess rate, ``1 / answer options`` unless the analyst says otherwise.
    fps, theta, inclusive
        As in `psychometric_grid` (durations are ``frames * 1000 / fps`` ms).
    alpha : float, optional
        The test's one-sided false-alarm rate per worker, default 0.001.
    standing : collection of str, optional
        Workers flagged before (stored flags): left out of both passes.
    confidence, max_answers
        The stopping rule (`bin_posterior`).

    Returns
    -------
    ScreenedPosterior
    """
    import pandas as pd

    from analysis.responses import USABLE_STATUSES

    usable = responses["assignment_status"].isin(USABLE_STATUSES).to_numpy()
    if "timing_ok" in responses:
        usable = usable & ~(responses["timing_ok"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    ids = [str(i) for i in image_ids]
    grid_frames = np.asarray(sorted(int(f) for f in frame_counts), dtype=np.int64)
    row = pd.Index(ids).get_indexer(responses["image_id"].astype(str))
    col = pd.Index(grid_frames).get_indexer(pd.to_numeric(responses["frames"], errors="coerce").fillna(-1)
                                            .astype(np.int64))
    usable = usable & (row >= 0) & (col >= 0)
    used = responses[usable].assign(row=row[usable], col=col[usable])
    correct = used["correct"].to_numpy(dtype=bool)
    grid = psychometric_grid(grid_frames * 1000.0 / fps, guess=guess, theta=theta, inclusive=inclusive)

    def counts(mask):
        k = np.zeros((len(ids), grid_frames.size), dtype=np.int64)
        n = np.zeros_like(k)
        np.add.at(n, (used["row"].to_numpy()[mask], used["col"].to_numpy()[mask]), 1)
        np.add.at(k, (used["row"].to_numpy()[mask], used["col"].to_numpy()[mask]), correct[mask])
        return k, n

    standing_rows = used["worker_id"].astype(str).isin(set(map(str, standing))).to_numpy()
    k, n = counts(~standing_rows)
    first = bin_posterior(grid, k, n, prior=empirical_prior(grid, k, n))
    codes, workers = pd.factorize(used["worker_id"].astype(str), sort=True)
    screening = screen_by_expectation(predicted_accuracy(grid, first)[used["row"], used["col"]], codes, correct,
                                      n_workers=len(workers), alpha=alpha)
    flagged = screening.flagged | np.isin(np.asarray(workers, dtype=str), list(map(str, standing)))
    kept = ~flagged[codes]
    k, n = counts(kept)
    posterior = bin_posterior(grid, k, n, prior=empirical_prior(grid, k, n), confidence=confidence,
                              max_answers=max_answers)
    return ScreenedPosterior(grid=grid, image_ids=ids, frame_counts=grid_frames, k=k, n=n, posterior=posterior,
                             screening=screening, worker_ids=np.asarray(workers, dtype=str), flagged=flagged,
                             usable=used.assign(kept=kept))


def next_batch_from_responses(responses, image_ids, labels, frame_counts, *, n_options: int, fps: float = 60,
                              alpha: float = 0.001, **options) -> NextBatch:
    """`next_batch_from_cells` from the responses themselves, screened by `screened_posterior`.

    The workers `screen_by_expectation` flags are left out and the decision is made from the
    rest.

    Parameters
    ----------
    responses : pandas.DataFrame
        Prepared responses (`analysis.responses`): ``worker_id, image_id, frames, correct,
        assignment_status, timing_ok``.
    image_ids, labels, frame_counts, n_options, fps
        As in `next_batch_from_cells`.
    alpha : float, optional
        The screening's false-alarm rate, default 0.001.
    **options
        ``theta, inclusive, confidence, max_answers, answers_per_image, block, budget``.

    Returns
    -------
    NextBatch
        With ``flagged_workers``.
    """
    import pandas as pd

    screened = screened_posterior(responses, image_ids, frame_counts, guess=1.0 / n_options, fps=fps,
                                  theta=options.get("theta", 0.5), inclusive=options.get("inclusive", False),
                                  alpha=alpha)
    kept = screened.usable[screened.usable["kept"]]
    cells = pd.DataFrame({"image_id": kept["image_id"].astype(str), "frames": screened.frame_counts[kept["col"]],
                          "n": 1, "k": kept["correct"].to_numpy(dtype=np.int64)})
    decision = next_batch_from_cells(cells, image_ids, labels, frame_counts, n_options=n_options, fps=fps, **options)
    return NextBatch(wanted=decision.wanted, table=decision.table, plan=decision.plan,
                     flagged_workers=tuple(screened.worker_ids[screened.screening.flagged]))
