"""Stimulus videos, checked by decoding the real files with ffmpeg."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from stimuli.build import build_experiment
from stimuli.encode import luma
from stimuli.images import fixation_frame, load_padded
from stimuli.mask import mask_rng, phase_scramble

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SAMPLES = Path(__file__).resolve().parent.parent / "stimuli" / "samples"


def decode_luma(path: Path, size: int) -> np.ndarray:
    """Every decoded frame's luma plane, shape (n_frames, size, size)."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, size * size * 3 // 2)
    return frames[:, :size * size].reshape(-1, size, size)


def frame_types(path: Path) -> list[str]:
    """Per decoded frame, ffmpeg's picture type (``I``/``P``) with ``*`` marking keyframes."""
    err = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-vf", "showinfo",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    return [t + ("*" if k == "1" else "")
            for k, t in re.findall(r"\bn:\s*\d+ .*?iskey:(\d) type:(\w)", err)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def check_video(path: Path, source: Path, image_id: str, frames: int, stim: dict) -> None:
    """Exact segments, keyframes at segment starts and luma PSNR >= 45 dB for every picture."""
    size, fix, mask_n, seed = stim["size"], stim["fixation_frames"], stim["mask_frames"], stim["seed"]
    y = decode_luma(path, size)
    assert len(y) == fix + frames + mask_n
    segments = {"fixation": (0, fix), "image": (fix, fix + frames), "mask": (fix + frames, len(y))}
    for start, stop in segments.values():
        assert all(np.array_equal(y[start], y[i]) for i in range(start, stop))
    image = load_padded(source, size)
    expected = {"fixation": fixation_frame(size), "image": image,
                "mask": phase_scramble(image, mask_rng(seed, image_id))}
    for name, (start, _) in segments.items():
        assert psnr(y[start], luma(expected[name])) >= 45, name
    assert psnr(y[fix], y[fix - 1]) < 40 and psnr(y[fix + frames], y[fix + frames - 1]) < 40
    starts = {0, fix, fix + frames}
    assert frame_types(path) == ["I*" if i in starts else "P" for i in range(len(y))]


@pytest.fixture(scope="module")
def stim(small_experiment) -> dict:
    return json.loads((small_experiment / "stimuli.json").read_text())


@pytest.mark.parametrize("frames", [1, 3, 6, 30])
def test_small_experiment_videos_decode_to_exact_segments(small_experiment, stim, frames):
    videos = [(vid, v) for vid, v in stim["videos"].items() if v["frames"] == frames]
    assert len(videos) == 16
    for vid, v in videos:
        source = SAMPLES / stim["images"][v["image_id"]]["source"]
        check_video(small_experiment / v["file"], source, v["image_id"], frames, stim)


@pytest.fixture(scope="module")
def edge_experiment(tmp_path_factory) -> tuple[Path, Path]:
    """One white-noise image (worst case for quality) and one sample; N = 1 and 600 frames,
    single-frame fixation and mask (IDR after IDR after IDR), 64 px."""
    images = tmp_path_factory.mktemp("edge-images")
    (images / "noise").mkdir()
    noise = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(images / "noise" / "white.png")
    (images / "circle").mkdir()
    (images / "circle" / "c1.png").write_bytes((SAMPLES / "circle" / "circle_1.png").read_bytes())
    exp_dir = tmp_path_factory.mktemp("edge") / "edge"
    build_experiment(images, exp_dir, frame_counts=[1, 600], images_per_task=2, workers=1,
                     base_url="http://localhost:8000", size=64, fixation_ms=16, mask_ms=20, jobs=1)
    return exp_dir, images


@pytest.mark.parametrize("image_id", ["white", "c1"])
@pytest.mark.parametrize("frames", [1, 600])
def test_single_frame_segments_and_long_durations_decode_exactly(edge_experiment, image_id, frames):
    exp_dir, images = edge_experiment
    stim = json.loads((exp_dir / "stimuli.json").read_text())
    assert stim["fixation_frames"] == 1 and stim["mask_frames"] == 1
    v = next(v for v in stim["videos"].values() if v["image_id"] == image_id and v["frames"] == frames)
    check_video(exp_dir / v["file"], images / stim["images"][image_id]["source"], image_id, frames, stim)


def test_default_fixation_and_mask_are_thirty_frames(stim):
    assert (stim["fixation_frames"], stim["mask_frames"], stim["fps"]) == (30, 30, 60)
