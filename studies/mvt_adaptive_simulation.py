"""A whole adaptive MVT study through the real server: batch, analyse, next batch, load, again.

`simulate_adaptive` runs simulated workers (`simulation.workers`) on the loaded batch, analyses
every batch's responses so far (`analysis.adaptive_analysis`, as ``mvt analyze`` does an
adaptive study) into ``cells.csv``, exports them (``mvt export``) and lets ``mvt next-batch --responses``'s
library function decide and append the next batch (`studies.mvt_adaptive.next_batch_of`), loads it (`studies.loader`) and starts again. The
same worker ids come back in every batch, so the image gate is exercised; `repeated_images`
counts, from the store's allocation records, every image a worker was given twice.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernel.store import keys
from simulation.workers import GroundTruth, WorkerModel, recognition_answers, simulate_async


@dataclass(frozen=True)
class BatchRun:
    """One batch of the simulated study: its links, lists and what the workers did."""

    batch: int
    n_links: int
    n_lists: int
    completed: int
    acknowledged: int
    refusals: dict
    errors: dict


@dataclass(frozen=True)
class AdaptiveRun:
    """A simulated adaptive study.

    ``repeated_images`` is the number of (worker, image) pairs given more than once over all
    batches (must be 0); ``answers_per_image`` the mean stored responses per image;
    ``finished`` how many images the stopping rule had finished when the run ended.
    """

    batches: tuple[BatchRun, ...]
    n_responses: int
    repeated_images: int
    workers_with_several_tasks: int
    answers_per_image: float
    n_images: int
    finished: int

    def summary(self) -> dict:
        """JSON-ready."""
        return {"batches": [b.__dict__ for b in self.batches], "responses": self.n_responses,
                "repeated_images": self.repeated_images,
                "workers_with_several_tasks": self.workers_with_several_tasks,
                "answers_per_image": round(self.answers_per_image, 2), "images": self.n_images,
                "finished_images": self.finished}


def repeated_images(r, exp_dir: Path) -> tuple[int, int]:
    """``(repeats, workers with several tasks)`` from the store's allocation records.

    Every assignment ever given (whatever its status) counts as the worker having seen the
    images of its list (``design.json``).
    """
    design = json.loads((Path(exp_dir) / "design.json").read_text())
    seen: dict[str, Counter] = {}
    tasks: Counter = Counter()
    for link in design["links"]:
        records = r.hgetall(keys.link_assignments(link["link_id"]))
        for raw in records.values():
            rec = json.loads(raw)
            tasks[rec["worker"]] += 1
            for trial in link["lists"][int(rec["list"])]:
                seen.setdefault(rec["worker"], Counter())[trial["image_id"]] += 1
    repeats = sum(c - 1 for per in seen.values() for c in per.values() if c > 1)
    return repeats, sum(1 for n in tasks.values() if n > 1)


def _cells(r, exp_dir: Path, results_dir: Path) -> int:
    """Analyse every batch's responses so far as ``mvt analyze`` does an adaptive study
    (`analysis.adaptive_analysis`) into ``results_dir`` (``cells.csv``, ``batches.csv`` …)."""
    from analysis.adaptive_analysis import analyze_adaptive, write_adaptive_outputs
    from analysis.responses import read_responses_redis

    design = json.loads((exp_dir / "design.json").read_text())
    responses = read_responses_redis(r, experiments=[design["experiment_id"]])
    write_adaptive_outputs(analyze_adaptive(responses, design, source="redis"), results_dir)
    return len(responses)


def simulate_adaptive(r, base_url: str, exp_dir: Path, results_dir: Path, *, n_batches: int = 3,
                      workers_per_list: float = 1.5, concurrency: int = 20, model: WorkerModel = WorkerModel(),
                      truth: GroundTruth | None = None, answers_per_image: int = 6, budget: int | None = None,
                      confidence: float = 0.9, rng=None, verify: bool = False) -> AdaptiveRun:
    """Run an adaptive study of ``n_batches`` batches (fewer when every image finishes first).

    Parameters
    ----------
    r : redis.Redis
        The server's store (sync client), for loading batches and reading responses.
    base_url : str
        The running server.
    exp_dir : Path
        Built with ``mvt build … --adaptive`` and loaded (batch 1).
    results_dir : Path
        Where each round's ``cells.csv`` goes (``results_dir/batch-B``).
    n_batches : int
        Batches to run, at least 1.
    workers_per_list : float
        New simulated workers per list of a batch; from batch 2 on, batch 1's workers come back
        first (the image gate refuses them links showing an image they saw).
    concurrency, model, verify
        As in `simulation.workers.simulate_async`.
    truth : GroundTruth, optional
        Default drawn per image (`simulation.workers.draw_truth`).
    answers_per_image, budget, confidence
        As in ``mvt next-batch``.
    rng : seed or numpy Generator

    Returns
    -------
    AdaptiveRun
    """
    from studies.loader import load_experiment
    from studies.mvt_adaptive import next_batch_of

    if n_batches < 1:
        raise ValueError(f"n_batches ({n_batches}) must be at least 1")
    rng = np.random.default_rng(rng)
    exp_dir, results_dir = Path(exp_dir), Path(results_dir)
    answers = recognition_answers(exp_dir, model=model, rng=rng, truth=truth)
    experiment_id = json.loads((exp_dir / "design.json").read_text())["experiment_id"]
    runs, finished, n_first = [], 0, 0
    for batch in range(1, n_batches + 1):
        if batch > 1:
            from kernel.export import write_csv

            done_dir = results_dir / f"batch-{batch - 1}"
            _cells(r, exp_dir, done_dir)
            # As an experimenter would: `mvt export` then `mvt next-batch --responses` (model screening).
            write_csv(r, done_dir / "responses.csv", [experiment_id])
            outcome = next_batch_of(exp_dir, None, responses=done_dir / "responses.csv",
                                    answers_per_image=answers_per_image, budget=budget, confidence=confidence)
            finished = outcome.n_finished
            if outcome.batch is None:
                break
            load_experiment(r, exp_dir)
        design = json.loads((exp_dir / "design.json").read_text())
        links = [link for link in design["links"] if int(link.get("batch", 1)) == batch]
        n_lists = sum(len(link["lists"]) for link in links)
        n_fresh = max(1, int(np.ceil(n_lists * workers_per_list)))
        # Batch 1's workers come back first (the image gate decides what they may take), then
        # new workers fill the rest.
        crowds = [("B1W", n_first)] if batch > 1 else []
        crowds.append((f"B{batch}W", n_fresh))
        n_first = n_first if batch > 1 else n_fresh
        totals = {"completed": 0, "acknowledged": 0, "refusals": Counter(), "errors": Counter()}
        for prefix, n_workers in crowds:
            result = asyncio.run(simulate_async(base_url, exp_dir, n_workers=n_workers, concurrency=concurrency,
                                                model=model, rng=rng, answers=answers, verify=verify,
                                                worker_prefix=prefix))
            totals["completed"] += result.completed
            totals["acknowledged"] += result.acknowledged
            totals["refusals"].update(result.refusals)
            totals["errors"].update(result.errors)
        runs.append(BatchRun(batch=batch, n_links=len(links), n_lists=n_lists, completed=totals["completed"],
                             acknowledged=totals["acknowledged"], refusals=dict(totals["refusals"]),
                             errors=dict(totals["errors"])))
    n_responses = _cells(r, exp_dir, results_dir / "final")
    repeats, several = repeated_images(r, exp_dir)
    n_images = len(json.loads((exp_dir / "stimuli.json").read_text())["images"])
    return AdaptiveRun(batches=tuple(runs), n_responses=n_responses, repeated_images=repeats, workers_with_several_tasks=several,
                       answers_per_image=n_responses / n_images, n_images=n_images, finished=finished)
