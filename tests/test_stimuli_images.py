"""Frames: images padded to a grey square (never stretched) and the fixation screen."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stimuli.images import GREY, fixation_frame, load_padded, scan_image_folder


@pytest.mark.parametrize(("width", "height"), [(160, 120), (120, 160), (50, 50), (401, 99)])
def test_padding_keeps_aspect_ratio_on_grey(tmp_path, width, height):
    path = tmp_path / "red.png"
    Image.new("RGB", (width, height), (255, 0, 0)).save(path)
    frame = load_padded(path, 128)
    assert frame.shape == (128, 128, 3)
    red = np.all(frame == (255, 0, 0), axis=-1)
    grey = np.all(frame == GREY, axis=-1)
    rows, cols = np.nonzero(red)
    h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert max(h, w) == 128
    assert abs((w / h) / (width / height) - 1) < 0.03  # rounding to whole pixels
    # Centred, and everything outside the (blended) image edge is exactly the background.
    assert abs((rows.min() + rows.max()) / 2 - 63.5) <= 1 and abs((cols.min() + cols.max()) / 2 - 63.5) <= 1
    assert (red | grey).mean() > 0.97


def test_transparency_is_composited_on_grey(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (40, 40), (255, 0, 0, 0)).save(path)
    assert np.all(load_padded(path, 32) == GREY)


def test_fixation_frame_is_a_dark_cross_on_the_padding_grey():
    frame = fixation_frame(128)
    assert np.all(frame[0, 0] == GREY) and np.all(frame[64, 64] == 0)
    assert np.all(frame[64, 64 - 7] == 0) and np.all(frame[64 - 7, 64] == 0)
    assert np.all(frame[70, 70] == GREY)
    assert (frame == 0).all(axis=-1).mean() < 0.02


def test_scan_lists_classes_and_ids_and_ignores_loose_and_hidden_files(tmp_path):
    for label, name in [("dog", "d1.png"), ("cat", "c1.jpg"), ("cat", "c2.png")]:
        (tmp_path / label).mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / label / name)
    (tmp_path / "LICENSE").write_text("CC0")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    images = scan_image_folder(tmp_path)
    assert [(i.image_id, i.label, i.source) for i in images] == [
        ("c1", "cat", "cat/c1.jpg"), ("c2", "cat", "cat/c2.png"), ("d1", "dog", "dog/d1.png")]
