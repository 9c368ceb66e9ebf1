"""Rating-study designs (crowdMOS's): which samples share a task, on which screens, in which order.

A *sample* is one (source, algorithm) pair. A *task* (one link, like an MVT image set) holds
about K samples grouped into *screens* (one sample per screen for single-stimulus designs,
all samples of one source for multiple-stimulus ones). Every sample belongs to exactly one
task, and each task has R *lists* (one per rating): the task's screens in a shuffled order,
each screen's samples shuffled. The server gives a worker at most one list of a link, so each
sample is rated exactly R times, by R different workers, and nobody rates a sample twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stimuli.design import image_sets
from stimuli.ratings_input import ANC, REF

Sample = tuple[str, str]
"""(source, algorithm)."""

SINGLE_STIMULUS = ("random", "diff-source", "dsis")


@dataclass(frozen=True)
class RatingTask:
    """One task (link): its screens, and its R lists of trials ``(screen index, sample)``."""

    screens: tuple[tuple[Sample, ...], ...]
    lists: tuple[tuple[tuple[int, Sample], ...], ...]

    @property
    def samples(self) -> list[Sample]:
        """The task's samples, screen by screen."""
        return [s for screen in self.screens for s in screen]


def plan_tasks(samples: Sequence[Sample], design: str, samples_per_task: int, ratings_per_sample: int,
               rng=None) -> list[RatingTask]:
    """Split the samples into tasks for ``design`` and give each task its R lists.

    - ``random`` (ACR, P.800): tasks of K samples drawn without replacement; the samples are
      spread so that each task's algorithm counts differ by at most one
      (`stimuli.design.image_sets` with algorithms as classes).
    - ``diff-source`` (ACR): no two samples of one source in a task. Sources are put in a random
      order ``s_0..s_{S-1}``; round ``r`` lists ``(s_i, a_{(i + r) mod A})`` for i = 0..S-1, so the
      A rounds hold every sample once and each round holds every source once, in the same order.
      A cut of K <= S consecutive samples takes the end of one round and the start of the next,
      which cannot meet, so no source repeats.
    - ``same-source`` and ``mushra`` (multiple stimulus): a screen holds all A samples of one
      source (for MUSHRA these include the hidden ``REF`` and the ``ANC``); a task holds K / A
      screens, so K must be a multiple of A.
    - ``dsis`` (DCR, P.800 Annex D): each processed sample is shown next to its source's ``REF``;
      ``REF`` itself is rated too (the null pair). Tasks as for ``random``.

    Only the last task may be smaller than K.

    Parameters
    ----------
    samples : sequence of (source, algorithm)
        Every algorithm covers the same sources (`stimuli.ratings_input` checks it).
    design : str
        ``random``, ``diff-source``, ``same-source``, ``mushra`` or ``dsis``.
    samples_per_task : int
        K, samples per task (per link).
    ratings_per_sample : int
        R, lists per task, i.e. ratings per sample.
    rng : int, np.random.Generator or None
        Passed to `np.random.default_rng`.

    Returns
    -------
    tasks : list of RatingTask

    Raises
    ------
    ValueError
        If K or R is below 1, K does not fit the design (more than the sources for
        ``diff-source``, not a multiple of the algorithms for multiple-stimulus designs), or
        MUSHRA/DSIS lack ``REF``/``ANC``.

    Examples
    --------
    >>> samples = [(s, a) for s in ("s1", "s2") for a in ("A", "B")]
    >>> tasks = plan_tasks(samples, "diff-source", 2, 3, rng=0)
    >>> [len(t.lists) for t in tasks], [sorted({s for s, _ in t.samples}) for t in tasks]
    ([3, 3], [['s1', 's2'], ['s1', 's2']])
    """
    if samples_per_task < 1:
        raise ValueError(f"--samples-per-task ({samples_per_task}) must be at least 1")
    if ratings_per_sample < 1:
        raise ValueError(f"--ratings-per-sample ({ratings_per_sample}) must be at least 1")
    if not samples:
        raise ValueError("there are no samples to rate")
    rng = np.random.default_rng(rng)
    sources = sorted({s for s, _ in samples})
    algorithms = sorted({a for _, a in samples})
    if design in ("mushra", "dsis") and REF not in algorithms:
        raise ValueError(f"--design {design} needs algorithm {REF} for every source")
    if design == "mushra" and ANC not in algorithms:
        raise ValueError(f"--design mushra needs algorithm {ANC} for every source")
    if design in ("random", "dsis"):
        screens_of = [[(s,) for s in group]
                      for group in image_sets({s: s[1] for s in samples}, samples_per_task, rng)]
    elif design == "diff-source":
        if samples_per_task > len(sources):
            raise ValueError(f"--samples-per-task ({samples_per_task}) must be at most the number of sources "
                             f"({len(sources)}) for --design diff-source: no task holds two samples of one source")
        order = [sources[i] for i in rng.permutation(len(sources))]
        algs = [algorithms[i] for i in rng.permutation(len(algorithms))]
        sequence = [(order[i], algs[(i + r) % len(algs)]) for r in range(len(algs)) for i in range(len(order))]
        screens_of = [[(s,) for s in sequence[i:i + samples_per_task]]
                      for i in range(0, len(sequence), samples_per_task)]
    elif design in ("same-source", "mushra"):
        per_source = len(algorithms)
        if samples_per_task % per_source:
            raise ValueError(f"--samples-per-task ({samples_per_task}) must be a multiple of the {per_source} "
                             f"algorithms per source for --design {design} (one screen holds all of a source)")
        per_task = samples_per_task // per_source
        order = [sources[i] for i in rng.permutation(len(sources))]
        screens_of = [[tuple((s, a) for a in algorithms) for s in order[i:i + per_task]]
                      for i in range(0, len(order), per_task)]
    else:
        raise ValueError(f"--design ({design!r}) must be one of random, diff-source, same-source, mushra, dsis")
    return [_task(screens, ratings_per_sample, rng) for screens in screens_of]


def _task(screens: list[tuple[Sample, ...]], ratings_per_sample: int, rng: np.random.Generator) -> RatingTask:
    lists = []
    for _ in range(ratings_per_sample):
        trials = []
        for k in rng.permutation(len(screens)):
            screen = screens[k]
            trials.extend((int(k), screen[j]) for j in rng.permutation(len(screen)))
        lists.append(tuple(trials))
    return RatingTask(tuple(screens), tuple(lists))
