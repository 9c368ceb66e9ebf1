"""Screening error rates measured by simulation: how often honest and random workers are flagged.

Data come from `analysis.synthetic.synthetic_responses` (a balanced Latin-square MVT design, 10
classes, durations 1, 3, 6, 9, 15, 600 frames = 17 ms … 10 s at 60 fps, image thresholds log-normal
around 60 ms, honest workers on a logistic psychometric function with 2 % lapses). Every
assignment is its own worker (each worker does one task: the hardest case for screening); a
share of workers is made random responders (every answer right with probability 1/10). The
screen is `analysis.screening.screen_workers` with the study's guess rate, as ``mvt analyze``
runs it. Between-subjects: each worker sees all their trials at one duration (the within-subjects
data split by duration, so a task of ``images_per_task`` trials). With ``catch_trials`` = m, every
between-subjects worker of a shorter duration also answers m catch trials at the control (longest)
duration (copies of m of their assignment's control trials; a random responder's are random too),
as a between-subjects list would mix them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.screening import screen_workers
from analysis.synthetic import synthetic_responses

FRAME_COUNTS = (1, 3, 6, 9, 15, 600)
N_CLASSES = 10


@dataclass(frozen=True)
class ScreeningRates:
    """Flag rates of one design: honest and random workers flagged, and how often no rule applied."""

    design: str
    images_per_task: int
    frames: int | None
    n_honest: int
    honest_flagged: float
    n_random: int
    random_flagged: float
    no_rule_applied: float

    def row(self) -> dict:
        """The rates as a table row."""
        return {"design": self.design, "images_per_task": self.images_per_task,
                "duration_frames": "" if self.frames is None else self.frames, "honest_workers": self.n_honest,
                "honest_flagged": self.honest_flagged, "random_workers": self.n_random,
                "random_flagged": self.random_flagged, "no_rule_applied": self.no_rule_applied}


def _population(images_per_task: int, between: bool, share_random: float, rng,
                catch_trials: int = 0) -> tuple[pd.DataFrame, set]:
    gen = np.random.default_rng(rng)
    d = len(FRAME_COUNTS)
    per_task = images_per_task * d if between else images_per_task
    # enough images for several links; 2 workers per (image, duration) cell
    n_links = max(4, int(np.ceil(240 / per_task)))
    df = synthetic_responses(n_images=per_task * n_links, frame_counts=FRAME_COUNTS, n_classes=N_CLASSES,
                             workers_per_link=2, images_per_task=per_task, share_random_workers=0,
                             rng=gen.integers(2**32))
    df["worker_id"] = df["assignment_id"]
    if between:
        control = df[df["frames"] == FRAME_COUNTS[-1]].groupby("assignment_id").head(catch_trials)
        df["worker_id"] = df["assignment_id"] + "-f" + df["frames"].astype(str)
        catch = [control.assign(worker_id=control["assignment_id"] + f"-f{f}") for f in FRAME_COUNTS[:-1]
                 if catch_trials]
        df = pd.concat([df, *catch], ignore_index=True)
        df["assignment_id"] = df["worker_id"]
    workers = df["worker_id"].unique()
    random = set(gen.choice(workers, size=max(1, int(round(share_random * workers.size))), replace=False))
    mask = df["worker_id"].isin(random).to_numpy()
    df.loc[mask, "correct"] = gen.random(int(mask.sum())) < 1.0 / N_CLASSES
    return df, random


def screening_rates(images_per_task: int, *, between: bool = False, n_reps: int = 10, share_random: float = 0.2,
                    rng=0, catch_trials: int = 0) -> list[ScreeningRates]:
    """Flag rates of honest and random workers over ``n_reps`` simulated studies.

    Parameters
    ----------
    images_per_task : int
        Trials per worker (one task each).
    between : bool, optional
        Between-subjects: each worker sees one duration; rates are given per duration.
    n_reps : int, optional
        Simulated studies, default 10.
    share_random : float, optional
        Share of random responders, default 0.2.
    catch_trials : int, optional
        Between-subjects only: trials at the control duration added to every shorter-duration
        worker's task (module docstring), default 0.
    rng : int or numpy.random.Generator, optional
        Seed.

    Returns
    -------
    list of ScreeningRates
        One (within-subjects) or one per duration (between-subjects).
    """
    gen = np.random.default_rng(rng)
    rows = []
    for _ in range(n_reps):
        df, random = _population(images_per_task, between, share_random, gen, catch_trials)
        w = screen_workers(df, frame_counts=FRAME_COUNTS, guess_rate=1.0 / N_CLASSES).workers
        frames = df.groupby("worker_id")["frames"].min()
        w = w.assign(random=w["worker_id"].isin(random), frames=w["worker_id"].map(frames),
                     none=(w["control_status"].str.startswith("not applicable")
                           & w["correlation_status"].str.startswith("not applicable")
                           & w["chance_status"].str.startswith("not applicable")))
        rows.append(w[["random", "frames", "flagged", "none"]])
    all_rows = pd.concat(rows, ignore_index=True)
    groups = all_rows.groupby("frames") if between else [(None, all_rows)]
    out = []
    for frames, g in groups:
        honest, rand = g[~g["random"]], g[g["random"]]
        out.append(ScreeningRates("between-subjects" if between else "within-subjects", images_per_task,
                                  None if frames is None else int(frames), len(honest),
                                  float(honest["flagged"].mean()), len(rand), float(rand["flagged"].mean()),
                                  float(g["none"].mean())))
    return out
