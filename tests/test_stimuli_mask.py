"""Phase-scrambled masks keep the image's luminance and colour statistics, not its content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stimuli.encode import luma
from stimuli.images import load_padded
from stimuli.mask import mask_rng, phase_scramble

SAMPLES = Path(__file__).resolve().parent.parent / "stimuli" / "samples"


def pink_noise_image(size: int = 128, seed: int = 5) -> np.ndarray:
    """A natural-like colour image: 1/f noise with correlated channels and a bright disc."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    amp = 1.0 / np.maximum(np.hypot(*np.meshgrid(f, f)), 1.0 / size)
    base = np.real(np.fft.ifft2(amp * np.exp(2j * np.pi * rng.random((size, size)))))
    base = (base - base.mean()) / base.std()
    img = np.stack([110 + 40 * base, 90 + 30 * base, 150 - 20 * base], axis=-1)
    yy, xx = np.mgrid[:size, :size]
    img[(yy - size / 3) ** 2 + (xx - size / 2) ** 2 < (size / 6) ** 2] = (230, 200, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


IMAGES = {
    "sample": lambda: load_padded(SAMPLES / "star" / "star_2.png", 128),
    "pink": pink_noise_image,
}


@pytest.mark.parametrize("name", IMAGES)
def test_mask_keeps_luminance_and_colour_statistics(name):
    image = IMAGES[name]()
    mask = phase_scramble(image, mask_rng(0, name))
    assert abs(luma(mask).mean() - luma(image).mean()) < 1.0
    img, msk = image.reshape(-1, 3).astype(float), mask.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(msk.mean(axis=0), img.mean(axis=0), atol=1.5)
    np.testing.assert_allclose(msk.std(axis=0), img.std(axis=0), rtol=0.1, atol=1.0)
    # Shared phase: how the channels co-vary survives scrambling.
    np.testing.assert_allclose(np.corrcoef(msk.T), np.corrcoef(img.T), atol=0.1)


@pytest.mark.parametrize("name", IMAGES)
def test_mask_is_not_the_image(name):
    image = IMAGES[name]()
    mask = phase_scramble(image, mask_rng(0, name))
    r = np.corrcoef(luma(image).ravel().astype(float), luma(mask).ravel().astype(float))[0, 1]
    assert abs(r) < 0.2


def test_amplitude_spectrum_is_kept():
    image = pink_noise_image()
    mask = phase_scramble(image, 1)
    f = np.fft.fftfreq(image.shape[0])
    band = np.minimum((np.hypot(*np.meshgrid(f, f)) * 32).astype(int), 16).ravel()
    for c in range(3):
        power_img = np.bincount(band, np.abs(np.fft.fft2(image[..., c].astype(float))).ravel() ** 2)
        power_msk = np.bincount(band, np.abs(np.fft.fft2(mask[..., c].astype(float))).ravel() ** 2)
        # Radially averaged power: equal up to rounding and clipping in the pixel domain.
        np.testing.assert_allclose(power_msk, power_img, rtol=0.1)


def test_mask_reproduces_from_seed_and_image_id():
    image = pink_noise_image()
    first = phase_scramble(image, mask_rng(0, "img1"))
    assert np.array_equal(first, phase_scramble(image, mask_rng(0, "img1")))
    assert not np.array_equal(first, phase_scramble(image, mask_rng(1, "img1")))
    assert not np.array_equal(first, phase_scramble(image, mask_rng(0, "img2")))


def test_grey_mask_of_grey_image():
    grey = np.full((32, 32, 3), 128, np.uint8)
    assert np.array_equal(phase_scramble(grey, 0), grey)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.float32), np.zeros(8, np.uint8)])
def test_rejects_non_image_arrays(bad):
    with pytest.raises(ValueError, match=r"must be a 2-D or 3-D uint8 array"):
        phase_scramble(bad, 0)
