"""Durations as people write them: frame counts to milliseconds, rounded and exact.

The MVT literature writes presentation times at 60 Hz as 17, 50, 100, 150, 250 and 10000 ms
(1, 3, 6, 9, 15 and 600 frames). `duration_ms` gives that rounded value, which every table
and figure a person reads shows; `duration_ms_exact` gives ``frames * 1000 / fps`` (16.6667 …),
which the CSVs keep beside it (``mvt_ms_exact``, ``duration_ms_exact``) with the frame count.
"""

from __future__ import annotations

import numpy as np


def duration_ms_exact(frames, fps: float):
    """``frames * 1000 / fps`` in milliseconds (float, or array of floats).

    Examples
    --------
    >>> round(float(duration_ms_exact(1, 60)), 4)
    16.6667
    """
    if not fps > 0:
        raise ValueError(f"fps ({fps!r}) must be a positive frame rate")
    return np.asarray(frames, dtype=float) * 1000.0 / fps


def duration_ms(frames, fps: float):
    """Milliseconds rounded half up to a whole number, as the MVT literature writes them.

    Half up (``floor(x + 0.5)``), not Python's round-half-to-even, so that e.g. 2.5 frames'
    worth never rounds down by accident.

    Parameters
    ----------
    frames : int or array_like of int
        Frame counts.
    fps : float
        Frames per second (positive).

    Returns
    -------
    int64 or ndarray of int64

    Examples
    --------
    >>> duration_ms([1, 3, 6, 9, 15, 600], 60).tolist()
    [17, 50, 100, 150, 250, 10000]
    >>> duration_ms([1, 3], 144).tolist()
    [7, 21]
    """
    return np.floor(duration_ms_exact(frames, fps) + 0.5).astype(np.int64)


def duration_label(frames: int, fps: float) -> str:
    """``"17 ms"`` for 1 frame at 60 fps: the rounded value, for figure ticks and report text."""
    return f"{int(duration_ms(frames, fps))} ms"
