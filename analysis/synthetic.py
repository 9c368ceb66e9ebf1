"""Synthetic responses tables with a known truth, for benchmarks, tests and demos."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_responses(*, n_images: int = 200, frame_counts=(1, 3, 6, 9, 15, 600), n_classes: int = 10,
                        workers_per_link: int = 7, images_per_task: int = 50, share_random_workers: float = 0.05,
                        rng=None, fps: int = 60) -> pd.DataFrame:
    """A prepared responses table from a simulated balanced MVT experiment.

    Each link holds `images_per_task` images and has ``workers_per_link x D`` lists (D durations);
    list ``l`` shows image ``m`` of the link at duration ``(l + m) mod D`` (a Latin square), so every
    (image, duration) cell gets `workers_per_link` responses. Each image has a true threshold
    (log-normal around 60 ms); honest workers answer correctly with probability
    ``g + (1 - g - 0.02) / (1 + exp(-(ln d - ln t) / 0.25))`` — a *logistic* function of log
    duration ``d`` around the image's threshold ``t``, guess rate ``g = 1 / n_classes``, lapse
    0.02 (so the cumulative-normal fit of `analysis.psychometric` is not the generating model);
    random workers always guess.

    Parameters
    ----------
    n_images : int, optional
        Number of images, default 200.
    frame_counts : sequence of int, optional
        Durations in frames, default ``(1, 3, 6, 9, 15, 600)``.
    n_classes : int, optional
        Number of classes (answer options), default 10.
    workers_per_link : int, optional
        Responses per (image, duration) cell, default 7.
    images_per_task : int, optional
        Images per link, default 50.
    share_random_workers : float, optional
        Share of workers who always guess, default 0.05.
    rng : {None, int, numpy.random.Generator}, optional
        Seed or generator.
    fps : int, optional
        Frame rate, default 60.

    Returns
    -------
    pandas.DataFrame
        Responses with the docs/interfaces.md columns plus ``timing_ok`` and ``assignment_status``
        (all complete), about ``n_images x D x workers_per_link`` rows.

    Examples
    --------
    >>> df = synthetic_responses(n_images=10, frame_counts=(1, 6), workers_per_link=2, rng=0)
    >>> len(df)
    40
    """
    rng = np.random.default_rng(rng)
    grid = np.asarray(sorted(frame_counts), dtype=np.int64)
    d = grid.size
    duration_ms = grid * 1000.0 / fps
    image = np.arange(n_images)
    label = image % n_classes
    link = image // images_per_task
    pos = image % images_per_task
    threshold_ms = np.exp(rng.normal(np.log(60), 0.6, n_images))
    n_lists = workers_per_link * d
    # One row per (image, list): list l shows the image at duration (l + pos) mod D.
    img = np.repeat(image, n_lists)
    lst = np.tile(np.arange(n_lists), n_images)
    dur = (lst + pos[img]) % d
    n_links = int(link.max()) + 1 if n_images else 0
    assignment = link[img] * n_lists + lst
    # Workers each take up to 4 assignments, never two on the same link.
    worker = (assignment % n_lists) * 1000 + (link[img] // 4)
    random_worker = rng.random(int(worker.max()) + 1 if worker.size else 0) < share_random_workers
    guess = 1.0 / n_classes
    p = guess + (1 - guess - 0.02) / (1 + np.exp(-(np.log(duration_ms[dur]) - np.log(threshold_ms[img])) / 0.25))
    p = np.where(random_worker[worker], guess, p)
    correct = rng.random(img.size) < p
    wrong_label = (label[img] + rng.integers(1, max(n_classes, 2), img.size)) % n_classes
    response = np.where(correct, label[img], wrong_label)
    classes = np.array([f"class{c:02d}" for c in range(n_classes)], dtype=object)
    link_ids = np.array([f"syn-{k + 1:03d}" for k in range(n_links)], dtype=object)
    frames = grid[dur]
    return pd.DataFrame({
        "link_id": link_ids[link[img]],
        "assignment_id": np.char.add("A", assignment.astype(str)).astype(object),
        "worker_id": np.char.add("W", worker.astype(str)).astype(object),
        "hit_id": np.char.add("H", link[img].astype(str)).astype(object),
        "trial": pos[img],
        "image_id": np.char.add("img", image[img].astype(str)).astype(object),
        "label": classes[label[img]], "frames": frames, "duration_ms": frames * 1000.0 / fps,
        "response": classes[response], "correct": correct,
        "response_time_ms": rng.integers(400, 3000, img.size).astype(float),
        "presented_frames": pd.array(frames, dtype="Int64"), "submitted_at": "2026-01-01T00:00:00.000Z",
        "timing_ok": pd.array(np.ones(img.size, bool), dtype="boolean"),
        "assignment_status": "complete",
    })
