"""Practice trials and the instructions' example, made by ``mvt build`` with the study's videos.

Practice images come from a folder of images *outside* the study set (default: the bundled
samples); an image whose file is byte-identical to a study image is never used, so practice
shows nothing a worker is later tested on. Their videos are made exactly like the study's (same
fixation, mask kind and encoder) and written to ``EXP_DIR/videos`` under opaque ids that no
link lists, so they are never allocated or recorded. The example strip (cross → picture →
mask) is drawn from the first practice image with its real mask, or from the first study image
when no practice image is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from stimuli.files import file_digest
from stimuli.images import GREY, SourceImage, fixation_frame, load_padded, scan_image_folder
from stimuli.mask import mask_rng, phase_scramble

SAMPLES = Path(__file__).resolve().parent / "samples"
EXAMPLE_PANEL_PX = 160
EXAMPLE_GAP_PX = 8
PRACTICE_MAX_FRAMES = 30


def practice_images(practice_dir: Path | str | None, study: Sequence[SourceImage], n: int,
                    rng=None) -> list[SourceImage]:
    """Up to ``n`` images of ``practice_dir`` (default: the bundled samples) not in the study set,
    alternating between classes; fewer (or none) when too few are left.

    >>> len(practice_images(None, [], 3, rng=0))
    3
    """
    if n <= 0:
        return []
    taken = {file_digest(im.path) for im in study}
    pool = [im for im in scan_image_folder(practice_dir or SAMPLES) if file_digest(im.path) not in taken]
    rng = np.random.default_rng(rng)
    by_label: dict[str, list[SourceImage]] = {}
    for im in pool:
        by_label.setdefault(im.label, []).append(im)
    labels = sorted(by_label)
    rng.shuffle(labels)
    for label in labels:
        rng.shuffle(by_label[label])
    chosen = []
    while len(chosen) < n and any(by_label.values()):
        for label in labels:
            if by_label[label] and len(chosen) < n:
                chosen.append(by_label[label].pop())
    return chosen


def practice_frames(frame_counts: Sequence[int], n: int) -> list[int]:
    """Durations of the practice trials: from easy (longest, at most half a second) to the design's
    middle one, so practice shows what is coming.

    >>> practice_frames([1, 3, 6, 9, 15, 600], 3)
    [30, 9, 30]
    """
    counts = sorted(frame_counts)
    easy = min(counts[-1], PRACTICE_MAX_FRAMES)
    middle = counts[len(counts) // 2]
    return [easy if k % 2 == 0 else middle for k in range(n)]


def example_strip(image: SourceImage, size: int, seed: int, mask_key: str) -> Image.Image:
    """The instructions' example: cross, picture and its real mask side by side on grey."""
    frame = load_padded(image.path, size)
    mask = phase_scramble(frame, mask_rng(seed, mask_key))
    panel, gap = EXAMPLE_PANEL_PX, EXAMPLE_GAP_PX
    strip = Image.new("RGB", (3 * panel + 2 * gap, panel), GREY)
    for k, part in enumerate((fixation_frame(size), frame, mask)):
        strip.paste(Image.fromarray(part).resize((panel, panel), Image.LANCZOS), (k * (panel + gap), 0))
    return strip
