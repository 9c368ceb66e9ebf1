"""Does worker screening still work in an adaptive study? Flag rates, fixed against adaptive.

Offline (no server): the lists are the real ones (`stimuli.design` for the fixed design and for
an adaptive study's first batch, `stimuli.batches.batch_links` for later batches planned by
`analysis.adaptive`), each list answered by its own simulated worker: a share of random workers
who always guess, the rest honest with a lapse rate ``Beta(1, 19)`` (`analysis.adaptive_sim`).
`analysis.screening.screen_workers` then runs on the pooled responses as ``mvt analyze`` does.
Reported: the share of random workers flagged (sensitivity), of honest workers flagged (false
alarms), and of workers the control rule applied to; the same two rates for the model-based
test `analysis.adaptive.screen_by_expectation` (alpha 0.001) on the same workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.adaptive import (bin_posterior, empirical_prior, plan_next_answers, predicted_accuracy,
                               psychometric_grid, screen_by_expectation)
from analysis.adaptive_sim import SimulatedImages
from analysis.screening import screen_workers
from stimuli import design
from stimuli.batches import batch_links


@dataclass(frozen=True)
class ScreeningOutcome:
    """Flag rates of one design's simulated workers."""

    design: str
    n_workers: int
    random_flagged: float
    honest_flagged: float
    control_applied: float
    random_flagged_model: float
    honest_flagged_model: float


class _Crowd:
    """Answers lists with new simulated workers; keeps the responses and who was random."""

    def __init__(self, sim: SimulatedImages, frame_counts, share_random: float, rng):
        self.sim, self.rng, self.share_random = sim, rng, share_random
        self.col = {int(f): j for j, f in enumerate(frame_counts)}
        self.rows: list[tuple] = []
        self.random: dict[str, bool] = {}

    def answer(self, lists, row_of: dict[str, int]) -> np.ndarray:
        """Answer every list; returns the correct counts added per (image, duration)."""
        k = np.zeros(self.sim.p_true.shape, dtype=np.int64)
        for trials in lists:
            worker = f"W{len(self.random)}"
            is_random = bool(self.rng.random() < self.share_random)
            self.random[worker] = is_random
            lapse = self.rng.beta(1, 19)
            for t in trials:
                i, j = row_of[t.image_id], self.col[t.frames]
                p = self.sim.guess if is_random else (1 - lapse) * self.sim.p_image[i, j] + lapse * self.sim.guess
                correct = bool(self.rng.random() < p)
                k[i, j] += correct
                self.rows.append((worker, f"A{worker}", t.image_id, t.label, t.frames, correct))
        return k

    def outcome(self, words: str, frame_counts) -> ScreeningOutcome:
        df = pd.DataFrame(self.rows, columns=["worker_id", "assignment_id", "image_id", "label", "frames", "correct"])
        df["assignment_status"] = "complete"
        df["timing_ok"] = pd.array([True] * len(df), dtype="boolean")
        workers = screen_workers(df, frame_counts=frame_counts).workers.set_index("worker_id")
        is_random = pd.Series(self.random).reindex(workers.index).to_numpy(dtype=bool)
        # The model-based test on the same responses: posterior of every image from all answers.
        row = df["image_id"].str[3:].astype(int).to_numpy()
        col = df["frames"].map(self.col).to_numpy()
        shape = self.sim.p_true.shape
        n = np.zeros(shape, dtype=np.int64)
        k = np.zeros(shape, dtype=np.int64)
        np.add.at(n, (row, col), 1)
        np.add.at(k, (row, col), df["correct"].to_numpy(dtype=np.int64))
        grid = psychometric_grid(self.sim.duration_ms, guess=self.sim.guess)
        post = bin_posterior(grid, k, n, prior=empirical_prior(grid, k, n))
        codes = pd.Index(workers.index).get_indexer(df["worker_id"])
        model = screen_by_expectation(predicted_accuracy(grid, post)[row, col], codes, df["correct"].to_numpy(),
                                      n_workers=len(workers))
        return ScreeningOutcome(
            design=words, n_workers=len(workers),
            random_flagged=float(workers["flagged"].to_numpy()[is_random].mean()) if is_random.any() else float("nan"),
            honest_flagged=float(workers["flagged"].to_numpy()[~is_random].mean()),
            control_applied=float((workers["control_status"] == "applied").mean()),
            random_flagged_model=float(model.flagged[is_random].mean()) if is_random.any() else float("nan"),
            honest_flagged_model=float(model.flagged[~is_random].mean()))


def _labels(sim: SimulatedImages, n_options: int) -> dict[str, str]:
    return {f"img{i:05d}": f"class{i % n_options:02d}" for i in range(sim.p_true.shape[0])}


def fixed_screening(sim: SimulatedImages, frame_counts, *, workers: int = 7, images_per_task: int = 50,
                    n_options: int = 10, share_random: float = 0.05, rng=None) -> ScreeningOutcome:
    """The fixed design's lists (Latin squares, ``workers`` per image and duration), screened."""
    rng = np.random.default_rng(rng)
    labels = _labels(sim, n_options)
    row_of = {image_id: i for i, image_id in enumerate(labels)}
    crowd = _Crowd(sim, frame_counts, share_random, rng)
    for ids in design.image_sets(labels, images_per_task, rng):
        crowd.answer(design.latin_square_lists(ids, labels, list(frame_counts), workers, rng), row_of)
    return crowd.outcome(f"fixed {workers} x {len(frame_counts)}", frame_counts)


def adaptive_screening(sim: SimulatedImages, frame_counts, *, first_workers: int = 2, answers_per_batch: int = 6,
                       max_batches: int = 4, images_per_task: int = 50, n_options: int = 10,
                       share_random: float = 0.05, rng=None) -> ScreeningOutcome:
    """An adaptive study's lists (batch 1 Latin squares, then planned batches), screened together."""
    rng = np.random.default_rng(rng)
    labels = _labels(sim, n_options)
    ids_all = list(labels)
    row_of = {image_id: i for i, image_id in enumerate(ids_all)}
    crowd = _Crowd(sim, frame_counts, share_random, rng)
    grid = psychometric_grid(sim.duration_ms, guess=sim.guess)
    n = np.zeros(sim.p_true.shape, dtype=np.int64)
    k = np.zeros_like(n)
    for ids in design.image_sets(labels, images_per_task, rng):
        lists = design.latin_square_lists(ids, labels, list(frame_counts), first_workers, rng)
        k += crowd.answer(lists, row_of)
        for trials in lists:
            for t in trials:
                n[row_of[t.image_id], crowd.col[t.frames]] += 1
    for _ in range(max_batches - 1):
        post = bin_posterior(grid, k, n, prior=empirical_prior(grid, k, n))
        plan = plan_next_answers(grid, post, answers_per_image=answers_per_batch)
        wanted = {ids_all[i]: {int(frame_counts[j]): int(plan.counts[i, j]) for j in np.flatnonzero(plan.counts[i])}
                  for i in np.flatnonzero(plan.counts.sum(axis=1))}
        if not wanted:
            break
        for lists in batch_links(wanted, labels, images_per_task, rng):
            k += crowd.answer(lists, row_of)
        n += plan.counts
    return crowd.outcome(f"adaptive, first {first_workers} x {len(frame_counts)}, then {answers_per_batch}/image",
                         frame_counts)
