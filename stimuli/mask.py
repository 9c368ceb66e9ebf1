"""Backward masks by Fourier phase scrambling."""

from __future__ import annotations

import hashlib

import numpy as np


def mask_rng(seed: int, image_id: str) -> np.random.Generator:
    """The generator of one image's mask: seeded from the build seed and the image id.

    The id is hashed (SHA-256), so the mask does not depend on the order of images or on
    Python's per-process string hashing, and a rebuild is bit-identical.
    """
    digest = int.from_bytes(hashlib.sha256(image_id.encode()).digest()[:8], "big")
    return np.random.default_rng([seed, digest])


def phase_scramble(image: np.ndarray, rng=None) -> np.ndarray:
    """Randomise the Fourier phase of an image, keeping its amplitude spectrum.

    One random phase field is *added* to the phase of every colour channel. Adding the same
    field keeps the phase differences between channels, hence the cross-channel correlations
    of the image: the mask keeps the image's colour statistics (mean colour, per-channel
    contrast and how channels co-vary), while an independent phase per channel would
    decorrelate the channels and turn coloured structure into grey-ish chromatic noise. The
    random field is the phase of the FFT of real white noise, so it is Hermitian-symmetric and
    the result is real; its DC term is set to zero so each channel's mean is kept exactly
    (before rounding and clipping to [0, 255]).

    Parameters
    ----------
    image : (H, W) or (H, W, C) uint8 ndarray
        The frame to scramble (for stimuli: the padded image).
    rng : int, np.random.Generator or None
        Source of the random phase, passed to `np.random.default_rng`.

    Returns
    -------
    mask : uint8 ndarray, same shape as ``image``

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D or 3-D uint8 array.

    Examples
    --------
    >>> img = np.full((8, 8, 3), 100, np.uint8); img[2:6, 2:6] = 140
    >>> m = phase_scramble(img, rng=0)
    >>> m.shape, m.dtype, abs(float(m.mean()) - float(img.mean())) < 2
    ((8, 8, 3), dtype('uint8'), True)
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"image (dtype {image.dtype}, shape {image.shape}) must be a 2-D or 3-D uint8 array")
    rng = np.random.default_rng(rng)
    planes = image.astype(np.float64)
    if planes.ndim == 2:
        planes = planes[:, :, None]
    h, w = planes.shape[:2]
    phase = np.angle(np.fft.rfft2(rng.standard_normal((h, w))))
    phase[0, 0] = 0.0
    spectrum = np.fft.rfft2(planes, axes=(0, 1))
    scrambled = np.fft.irfft2(spectrum * np.exp(1j * phase)[:, :, None], s=(h, w), axes=(0, 1))
    mask = np.clip(np.rint(scrambled), 0, 255).astype(np.uint8)
    return mask.reshape(image.shape)
