"""Fixed against adaptive on the real lists, with worker screening: flag rates and agreement.

Offline (no server): the lists are the real ones (`stimuli.design` for the fixed design and for
an adaptive study's first batch, `stimuli.batches.batch_links` for later batches planned by
`analysis.adaptive`), each list answered by its own simulated worker: a share of random workers
who always guess, the rest honest with a lapse rate ``Beta(1, 19)`` (`analysis.adaptive_sim`).

Screening: `analysis.screening.screen_workers` (what ``mvt analyze`` applies to a fixed design)
and the model-based `analysis.adaptive.screen_by_expectation` through
`analysis.adaptive_analysis.analyze_adaptive` (what ``mvt analyze`` applies to an adaptive study,
and ``mvt next-batch --responses`` before planning each batch). Reported per design: the share of
random workers flagged (sensitivity), of honest workers flagged (false alarms), of workers the
control rule applied to, the agreement with the true MVT bin of the two pipelines (the stable
rule on the responses the rules keep; the most probable bin of ``analyze_adaptive``) and the
coverage of the true bin by ``analyze_adaptive``'s 95 % credible interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.adaptive import plan_next_answers, psychometric_grid, screened_posterior
from analysis.adaptive_analysis import analyze_adaptive
from analysis.adaptive_sim import SimulatedImages
from analysis.rules import mvt_index
from analysis.screening import screen_workers
from stimuli import design
from stimuli.batches import batch_links


@dataclass(frozen=True)
class ScreeningOutcome:
    """Flag rates and agreement of one design's simulated workers and answers."""

    design: str
    n_workers: int
    answers_per_image: float
    batches: int
    random_flagged: float
    honest_flagged: float
    control_applied: float
    random_flagged_model: float
    honest_flagged_model: float
    agreement_rule: float
    agreement_model: float
    coverage_model: float = float("nan")


class _Crowd:
    """Answers lists with new simulated workers; keeps the responses, the links (a design.json) and who was random."""

    def __init__(self, sim: SimulatedImages, frame_counts, share_random: float, rng, n_options: int):
        self.sim, self.rng, self.share_random = sim, rng, share_random
        self.frame_counts = np.asarray(frame_counts, dtype=np.int64)
        self.col = {int(f): j for j, f in enumerate(frame_counts)}
        self.grid = psychometric_grid(sim.duration_ms, guess=sim.guess)
        self.rows: list[tuple] = []
        self.random: dict[str, bool] = {}
        self.design = {"frame_counts": [int(f) for f in frame_counts], "fps": 60,
                       "classes": [f"class{c:02d}" for c in range(n_options)], "links": []}

    def answer(self, lists, row_of: dict[str, int], batch: int = 1) -> None:
        """Answer every list of one link, each list by a new worker."""
        link_id = f"sim-b{batch}-{len(self.design['links']) + 1:04d}"
        self.design["links"].append({"link_id": link_id, "batch": batch, "lists": [
            [{"image_id": t.image_id, "label": t.label, "frames": int(t.frames)} for t in trials] for trials in lists]})
        for trials in lists:
            worker = f"W{len(self.random)}"
            is_random = bool(self.rng.random() < self.share_random)
            self.random[worker] = is_random
            lapse = self.rng.beta(1, 19)
            for t in trials:
                i, j = row_of[t.image_id], self.col[t.frames]
                p = self.sim.guess if is_random else (1 - lapse) * self.sim.p_image[i, j] + lapse * self.sim.guess
                self.rows.append((link_id, worker, i, j, t.image_id, t.label, int(t.frames),
                                  bool(self.rng.random() < p)))

    def frame(self) -> pd.DataFrame:
        """The responses so far, prepared as `analysis.responses` gives them."""
        df = pd.DataFrame(self.rows, columns=["link_id", "worker_id", "row", "col", "image_id", "label", "frames",
                                              "correct"])
        df["assignment_id"] = "A" + df["worker_id"]
        df["assignment_status"] = "complete"
        df["timing_ok"] = pd.array([True] * len(df), dtype="boolean")
        return df

    def counts(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        n = np.zeros(self.sim.p_true.shape, dtype=np.int64)
        k = np.zeros_like(n)
        np.add.at(n, (df["row"].to_numpy(), df["col"].to_numpy()), 1)
        np.add.at(k, (df["row"].to_numpy(), df["col"].to_numpy()), df["correct"].to_numpy(dtype=np.int64))
        return k, n

    def image_ids(self) -> list[str]:
        return [f"img{i:05d}" for i in range(self.sim.p_true.shape[0])]

    def outcome(self, words: str, batches: int) -> ScreeningOutcome:
        df = self.frame()
        screening = screen_workers(df, frame_counts=self.frame_counts)
        workers = screening.workers.set_index("worker_id")
        is_random = pd.Series(self.random).reindex(workers.index).to_numpy(dtype=bool)
        k_used, n_used = self.counts(screening.used)
        rule = mvt_index(k_used, n_used, rule="stable", theta=0.5)
        result = analyze_adaptive(df, self.design)
        # analyze_adaptive's rows are the design's images, sorted: the simulation's order.
        assert list(result.mvt["image_id"]) == self.image_ids()
        model_flags = result.workers.set_index("worker_id")["flagged"].reindex(workers.index).to_numpy(dtype=bool)
        low, high = result.screened.posterior.credible_interval()
        truth = self.sim.true_bin
        return ScreeningOutcome(
            design=words, n_workers=len(workers), answers_per_image=len(df) / truth.size, batches=batches,
            random_flagged=float(workers["flagged"].to_numpy()[is_random].mean()) if is_random.any() else float("nan"),
            honest_flagged=float(workers["flagged"].to_numpy()[~is_random].mean()),
            control_applied=float((workers["control_status"] == "applied").mean()),
            random_flagged_model=float(model_flags[is_random].mean()) if is_random.any() else float("nan"),
            honest_flagged_model=float(model_flags[~is_random].mean()),
            agreement_rule=float((rule == truth).mean()),
            agreement_model=float((result.screened.posterior.map_bin == truth).mean()),
            coverage_model=float(((low <= truth) & (truth <= high)).mean()))


def _labels(sim: SimulatedImages, n_options: int) -> dict[str, str]:
    return {f"img{i:05d}": f"class{i % n_options:02d}" for i in range(sim.p_true.shape[0])}


def fixed_screening(sim: SimulatedImages, frame_counts, *, workers: int = 7, images_per_task: int = 50,
                    n_options: int = 10, share_random: float = 0.05, rng=None) -> ScreeningOutcome:
    """The fixed design's lists (Latin squares, ``workers`` per image and duration), screened."""
    rng = np.random.default_rng(rng)
    labels = _labels(sim, n_options)
    row_of = {image_id: i for i, image_id in enumerate(labels)}
    crowd = _Crowd(sim, frame_counts, share_random, rng, n_options)
    for ids in design.image_sets(labels, images_per_task, rng):
        crowd.answer(design.latin_square_lists(ids, labels, list(frame_counts), workers, rng), row_of)
    return crowd.outcome(f"fixed {workers} x {len(frame_counts)}", 1)


def adaptive_screening(sim: SimulatedImages, frame_counts, *, first_workers: int = 2, answers_per_batch: int = 6,
                       max_batches: int = 4, images_per_task: int = 50, n_options: int = 10,
                       share_random: float = 0.05, rng=None) -> ScreeningOutcome:
    """An adaptive study's lists (batch 1 Latin squares, then batches planned from the model-screened
    posterior, as ``mvt next-batch --responses`` does), screened together."""
    rng = np.random.default_rng(rng)
    labels = _labels(sim, n_options)
    ids_all = list(labels)
    row_of = {image_id: i for i, image_id in enumerate(ids_all)}
    crowd = _Crowd(sim, frame_counts, share_random, rng, n_options)
    for ids in design.image_sets(labels, images_per_task, rng):
        crowd.answer(design.latin_square_lists(ids, labels, list(frame_counts), first_workers, rng), row_of)
    batches = 1
    while batches < max_batches:
        post = screened_posterior(crowd.frame(), ids_all, frame_counts, guess=sim.guess).posterior
        plan = plan_next_answers(crowd.grid, post, answers_per_image=answers_per_batch)
        wanted = {ids_all[i]: {int(frame_counts[j]): int(plan.counts[i, j]) for j in np.flatnonzero(plan.counts[i])}
                  for i in np.flatnonzero(plan.counts.sum(axis=1))}
        if not wanted:
            break
        batches += 1
        for lists in batch_links(wanted, labels, images_per_task, rng):
            crowd.answer(lists, row_of, batch=batches)
    return crowd.outcome(f"adaptive, first {first_workers} x {len(frame_counts)}, then {answers_per_batch}/image",
                         batches)
