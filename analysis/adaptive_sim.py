"""Adaptive against fixed designs on simulated images with a known MVT (``scripts/bench_adaptive``).

Truth (`simulated_images`): every image has its own accuracy curve, a *logistic* function of
log duration (so the model's cumulative normal of `analysis.adaptive` is not the generating
model), shaped like the published MVT distribution: a mass recognised at the shortest
duration (17 ms), a spread over log duration up to 10 s, and a share never recognised
(asymptote below theta). The shares are settings (`TruthShares`), not the published numbers.

Workers (`answer`): each answer comes from a worker with a lapse rate ``Beta(1, 19)`` (mean
0.05; a lapse is a guess) or, with probability ``share_random``, from a worker who always
guesses. The true bin is the stable rule on the honest population's proportion correct
(`analysis.adaptive.true_bins`).

`run_fixed` asks every image ``workers`` times at every duration and reads the MVT with the
stable rule (what ``mvt analyze`` does); `run_adaptive` asks a first batch, then lets
`analysis.adaptive.plan_next_answers` choose up to ``max_batches - 1`` more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.adaptive import (DEFAULT_CONFIDENCE, DEFAULT_MAX_ANSWERS, bin_posterior, empirical_prior,
                               plan_next_answers, psychometric_grid, true_bins)
from analysis.rules import mvt_index

FRAME_COUNTS = (1, 3, 6, 9, 15, 600)
FPS = 60
MEAN_LAPSE = 0.05


@dataclass(frozen=True)
class TruthShares:
    """Shares of simulated images: recognised at the shortest duration, spread, never recognised."""

    fastest: float = 0.35
    never: float = 0.15

    @property
    def spread(self) -> float:
        """The rest: thresholds log-uniform between the shortest and the longest duration."""
        return 1.0 - self.fastest - self.never


@dataclass(frozen=True)
class SimulatedImages:
    """Simulated images with known accuracy curves.

    Attributes
    ----------
    p_image : ndarray of float, shape (I, D)
        Proportion correct of a worker without lapses at every duration.
    p_true : ndarray of float, shape (I, D)
        The honest population's proportion correct (mean lapse folded in).
    true_bin : ndarray of int, shape (I,)
        The MVT bin of `p_true` under the stable rule (``D`` never recognised).
    guess : float
    duration_ms : ndarray of float, shape (D,)
    """

    p_image: np.ndarray
    p_true: np.ndarray
    true_bin: np.ndarray
    guess: float
    duration_ms: np.ndarray


def simulated_images(n_images: int, *, n_options: int = 10, frame_counts=FRAME_COUNTS,
                     shares: TruthShares = TruthShares(), rng=None) -> SimulatedImages:
    """Images whose true curves span the MVT distribution (module docstring).

    ``p = g + (a - g) / (1 + exp(-(ln d - ln t) / s))`` with slope ``s ~ U(0.1, 0.5)`` (ln ms),
    asymptote ``a ~ U(0.92, 1)``; threshold ``t`` below 17 ms (``U(4, 12)`` ms) for the fastest
    share, log-uniform in [17 ms, 10 s] for the spread, and for the never-recognised share an
    asymptote ``U(g, 0.45)``.

    Parameters
    ----------
    n_images : int
    n_options : int, optional
        Answer options per trial; guess rate ``1 / n_options``. Default 10.
    frame_counts : sequence of int, optional
        Durations in frames at 60 fps, default the published ``1 3 6 9 15 600``.
    shares : TruthShares, optional
    rng : {None, int, numpy.random.Generator}, optional

    Returns
    -------
    SimulatedImages

    Examples
    --------
    >>> sim = simulated_images(1000, rng=0)
    >>> sim.p_true.shape, bool((sim.true_bin == 6).mean() > 0.1)
    ((1000, 6), True)
    """
    rng = np.random.default_rng(rng)
    duration_ms = np.asarray(sorted(frame_counts), dtype=float) * 1000 / FPS
    g = 1.0 / n_options
    kind = rng.choice(3, size=n_images, p=[shares.fastest, shares.spread, shares.never])
    log_t = np.where(kind == 0, np.log(rng.uniform(4, 12, n_images)),
                     rng.uniform(np.log(duration_ms[0]), np.log(duration_ms[-1]), n_images))
    asymptote = np.where(kind == 2, rng.uniform(g, 0.45, n_images), rng.uniform(0.92, 1.0, n_images))
    slope = rng.uniform(0.1, 0.5, n_images)
    z = (np.log(duration_ms)[None, :] - log_t[:, None]) / slope[:, None]
    p_image = g + (asymptote[:, None] - g) / (1 + np.exp(-z))
    p_true = (1 - MEAN_LAPSE) * p_image + MEAN_LAPSE * g
    return SimulatedImages(p_image=p_image, p_true=p_true, true_bin=true_bins(p_true), guess=g,
                           duration_ms=duration_ms)


def answer(sim: SimulatedImages, counts, *, share_random: float = 0.05, rng=None) -> np.ndarray:
    """Correct answers for ``counts`` new answers per (image, duration), shape (I, D).

    Each answer's worker lapses with a rate drawn from ``Beta(1, 19)``, or always guesses
    with probability `share_random`.
    """
    rng = np.random.default_rng(rng)
    counts = np.asarray(counts, dtype=np.int64)
    i, j = np.nonzero(counts)
    reps = counts[i, j]
    i, j = np.repeat(i, reps), np.repeat(j, reps)
    lapse = rng.beta(1, 19, i.size)
    p = (1 - lapse) * sim.p_image[i, j] + lapse * sim.guess
    p = np.where(rng.random(i.size) < share_random, sim.guess, p)
    k = np.zeros(counts.shape, dtype=np.int64)
    np.add.at(k, (i, j), rng.random(i.size) < p)
    return k


@dataclass(frozen=True)
class DesignOutcome:
    """How one design did on the simulated images.

    Attributes
    ----------
    design : str
        What was asked, in words.
    answers_per_image : float
        Mean answers per image.
    batches : int
        Batches the study took.
    agreement : float
        Share of images whose estimated bin is the true bin.
    within_one : float
        Share within one bin of the truth (unrecognised is the bin after the longest duration).
    insufficient : float
        Share of images without an estimate (the rule's "insufficient").
    """

    design: str
    answers_per_image: float
    batches: int
    agreement: float
    within_one: float
    insufficient: float


def _outcome(design: str, sim: SimulatedImages, estimate, n, batches: int) -> DesignOutcome:
    d = sim.duration_ms.size
    estimate = np.asarray(estimate)
    ok = estimate <= d
    return DesignOutcome(design=design, answers_per_image=float(np.asarray(n).sum(axis=1).mean()),
                         batches=batches, agreement=float((estimate == sim.true_bin).mean()),
                         within_one=float((ok & (np.abs(estimate - sim.true_bin) <= 1)).mean()),
                         insufficient=float((~ok).mean()))


def run_fixed(sim: SimulatedImages, workers: int, *, rng=None, share_random: float = 0.05,
              posterior: bool = False) -> DesignOutcome:
    """The fixed design: ``workers`` answers per image and duration, MVT by the stable rule (what
    ``mvt analyze`` reports) or, with `posterior`, the adaptive study's estimate (the most
    probable bin under a learned prior), to separate the design's gain from the estimator's."""
    n = np.full(sim.p_true.shape, workers, dtype=np.int64)
    k = answer(sim, n, share_random=share_random, rng=rng)
    if posterior:
        grid = psychometric_grid(sim.duration_ms, guess=sim.guess)
        est = bin_posterior(grid, k, n, prior=empirical_prior(grid, k, n)).map_bin
        return _outcome(f"fixed {workers} x {sim.duration_ms.size}, most probable bin", sim, est, n, 1)
    est = mvt_index(k, n, rule="stable", theta=0.5)
    return _outcome(f"fixed {workers} x {sim.duration_ms.size}, stable rule", sim, est, n, 1)


def first_batch_counts(first: str, d: int, n_images: int) -> np.ndarray:
    """Answers per (image, duration) of a first batch named like ``all:2`` or ``coarse:2``.

    ``all:W`` asks every duration W times; ``coarse:W`` asks W times at the shortest, a middle
    and the longest duration (indices ``0, D // 2, D - 1``).
    """
    kind, _, per = first.partition(":")
    per_cell = int(per or 1)
    row = np.zeros(d, dtype=np.int64)
    if kind == "all":
        row[:] = per_cell
    elif kind == "coarse":
        row[[0, d // 2, d - 1]] = per_cell
    else:
        raise ValueError(f"first batch ({first!r}) must be all:W or coarse:W")
    return np.tile(row, (n_images, 1))


def run_adaptive(sim: SimulatedImages, *, first: str = "all:2", answers_per_batch: int = 6, block: int = 2,
                 max_batches: int = 4, confidence: float = DEFAULT_CONFIDENCE,
                 max_answers: int = DEFAULT_MAX_ANSWERS, learn_prior: bool = True, rng=None,
                 share_random: float = 0.05) -> DesignOutcome:
    """An adaptive study: the first batch, then up to ``max_batches - 1`` planned batches.

    The MVT estimate is each image's most probable bin (`analysis.adaptive.BinPosterior.map_bin`).
    With `learn_prior` the grid prior is re-learned from all images after every batch
    (`analysis.adaptive.empirical_prior`).
    """
    rng = np.random.default_rng(rng)
    grid = psychometric_grid(sim.duration_ms, guess=sim.guess)
    n = first_batch_counts(first, sim.duration_ms.size, sim.p_true.shape[0])
    k = answer(sim, n, share_random=share_random, rng=rng)
    batches = 1
    while True:
        prior = empirical_prior(grid, k, n) if learn_prior else None
        post = bin_posterior(grid, k, n, prior=prior, confidence=confidence, max_answers=max_answers)
        if batches >= max_batches or post.finished.all():
            break
        plan = plan_next_answers(grid, post, answers_per_image=answers_per_batch, block=block)
        k = k + answer(sim, plan.counts, share_random=share_random, rng=rng)
        n = n + plan.counts
        batches += 1
    words = (f"adaptive, first {first}, then {answers_per_batch}/image in blocks of {block}, "
             f"{'learned' if learn_prior else 'uniform'} prior")
    return _outcome(words, sim, post.map_bin, n, batches)
