"""The balanced design: disjoint class-balanced image sets, Latin-square video lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trial:
    """One trial of a list: an image shown for ``frames`` frames."""

    image_id: str
    label: str
    frames: int


def image_sets(labels: dict[str, str], images_per_task: int, rng=None) -> list[list[str]]:
    """Split images into disjoint, class-balanced sets of ``images_per_task``.

    Images are shuffled within each class, then ordered so that every class keeps pace with its
    share along the sequence: position t (1-based) takes the next image of the class furthest
    behind t * n_c / N (n_c its images, N all; ties to the first class in sorted order), and the
    sequence is cut into sets. Every prefix then stays near each class's share (within 1.08
    images over 20,000 random folders of up to 12 classes), each set holds it within two images
    (tests/test_design.py), and with classes of equal size each set's class counts differ by at
    most one. Small classes are spread over the sets rather than bunched (the rule used before,
    one fixed position per image, put three one-image classes into the same set).

    Parameters
    ----------
    labels : dict
        ``image_id -> class label``.
    images_per_task : int
        Images per set (one set per link).
    rng : int, np.random.Generator or None
        Passed to `np.random.default_rng`.

    Returns
    -------
    sets : list of list of str
        Image ids; sets in order, each sorted as the balancing order placed them.

    Raises
    ------
    ValueError
        If ``images_per_task`` < 1 or there are no images.

    Examples
    --------
    >>> labels = {"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c"}
    >>> [len(s) for s in image_sets(labels, 2, rng=0)]
    [2, 2, 1]
    """
    if images_per_task < 1:
        raise ValueError(f"images_per_task ({images_per_task}) must be at least 1")
    if not labels:
        raise ValueError("there are no images to split into sets")
    rng = np.random.default_rng(rng)
    by_class: dict[str, list[str]] = defaultdict(list)
    for image_id in sorted(labels):
        by_class[labels[image_id]].append(image_id)
    classes = sorted(by_class)
    queues = [[by_class[label][i] for i in rng.permutation(len(by_class[label]))] for label in classes]
    sizes = np.array([len(q) for q in queues], dtype=np.int64)
    total = int(sizes.sum())
    placed = np.zeros(len(classes), dtype=np.int64)
    ordered = []
    for t in range(1, total + 1):
        # The class furthest behind its share t * n_c / N (scaled by N to stay in integers);
        # ties go to the first class, so equal classes take turns.
        c = int(np.argmax(t * sizes - placed * total))
        ordered.append(queues[c][placed[c]])
        placed[c] += 1
    return [ordered[i:i + images_per_task] for i in range(0, len(ordered), images_per_task)]


def latin_square_lists(image_ids: Sequence[str], labels: dict[str, str],
                       frame_counts: Sequence[int], workers: int, rng=None) -> list[list[Trial]]:
    """The W x D trial lists of one image set.

    For each of the ``workers`` blocks the images are put in a random order i = 0..n-1 and
    list j = 0..D-1 of the block shows image i for ``frame_counts[(i + j) % D]`` frames. So
    each list holds every image once, its durations are balanced (counts differ by at most
    one), and across the W x D lists every image appears exactly W times at each duration.
    Each list's trial order is shuffled.

    Parameters
    ----------
    image_ids : sequence of str
        The set's images.
    labels : dict
        ``image_id -> class label``.
    frame_counts : sequence of int
        The D durations in frames.
    workers : int
        W, how many workers see each (image, duration) pair.
    rng : int, np.random.Generator or None
        Passed to `np.random.default_rng`.

    Returns
    -------
    lists : list of list of Trial
        ``workers * len(frame_counts)`` lists, block by block.

    Raises
    ------
    ValueError
        If ``workers`` < 1, ``frame_counts`` is empty or ``image_ids`` is empty.

    Examples
    --------
    >>> lists = latin_square_lists(["x", "y"], {"x": "a", "y": "b"}, [1, 6], workers=1, rng=0)
    >>> sorted((t.image_id, t.frames) for t in lists[0] + lists[1])
    [('x', 1), ('x', 6), ('y', 1), ('y', 6)]
    """
    if workers < 1:
        raise ValueError(f"workers ({workers}) must be at least 1")
    if not frame_counts:
        raise ValueError("frame_counts is empty")
    if not image_ids:
        raise ValueError("image_ids is empty")
    rng = np.random.default_rng(rng)
    d = len(frame_counts)
    lists = []
    for _ in range(workers):
        order = [image_ids[i] for i in rng.permutation(len(image_ids))]
        for j in range(d):
            trials = [Trial(image_id, labels[image_id], frame_counts[(i + j) % d])
                      for i, image_id in enumerate(order)]
            lists.append([trials[i] for i in rng.permutation(len(trials))])
    return lists
