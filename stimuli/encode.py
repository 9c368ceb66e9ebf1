"""H.264 encoding by segment reuse: each picture is encoded once, every duration is spliced.

A stimulus video is three still pictures, each held for some frames: the fixation screen, the
image and its mask. With B-frames off and one reference frame, x264 encodes a repeated
picture as an IDR followed by P-frames in which every macroblock is P_Skip: zero motion, no
residual and (with equal references and no coefficients) no deblocking, so each such P-frame
is an exact copy of its reference, whatever the picture. Its bytes depend only on its
``frame_num`` (the position after the IDR, modulo ``MaxFrameNum``) and on the encoder
settings, which are the same for every encode of a build (the SPS and PPS are checked to be
byte-identical). So:

* `SkipFrames` encodes a flat grey picture once per build and keeps the P access units;
* `encode_stills` encodes each picture as a single IDR (one x264 call per image for both
  the image and its mask);
* `splice` makes "picture for K frames" = its IDR + the first K-1 skip access units, and a
  video is fixation + image + mask segments back to back.

Every picture starts on an IDR, so the image is exactly as good at N = 1 as at N = 600. The
tests decode real files and compare every frame.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import imageio_ffmpeg
import numpy as np

from kernel.errors import EncodeError
from stimuli import h264

# BT.709 (the colour space x264 is told to signal in the VUI), limited range.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


def rgb_to_yuv420(frame: np.ndarray) -> bytes:
    """Convert an RGB frame to planar 8-bit YUV 4:2:0 (BT.709, limited range).

    Chroma is the mean of each 2x2 block. Doing this in numpy, not in ffmpeg, makes the
    reference luma for quality checks exactly the one the encoder was given.

    Parameters
    ----------
    frame : (H, W, 3) uint8 ndarray
        H and W even.

    Returns
    -------
    data : bytes
        Y plane, then U and V planes (``H * W * 3 // 2`` bytes).
    """
    y, u, v = _yuv_planes(frame)
    return y.tobytes() + u.tobytes() + v.tobytes()


def luma(frame: np.ndarray) -> np.ndarray:
    """The limited-range BT.709 luma plane (uint8) the encoder receives for an RGB frame."""
    return _yuv_planes(frame)[0]


def _yuv_planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = frame.shape[:2]
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or h % 2 or w % 2:
        raise ValueError(f"frame (shape {frame.shape}, dtype {frame.dtype}) must be even-sized RGB uint8")
    rgb = frame.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ey = _KR * r + _KG * g + _KB * b
    y = 16.0 + 219.0 * ey
    cb = 128.0 + 224.0 * (b - ey) / (2 * (1 - _KB))
    cr = 128.0 + 224.0 * (r - ey) / (2 * (1 - _KR))

    def sub(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def to8(c: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(c), 0, 255).astype(np.uint8)

    return to8(y), to8(sub(cb)), to8(sub(cr))


@dataclass(frozen=True)
class EncoderSettings:
    """x264 settings shared by every encode of one build (they fix the SPS/PPS).

    ``qp`` is the P-frame quantiser; x264 codes IDRs about 3 steps finer (luma PSNR about
    49.5 dB even for white noise, the worst case). ``preset`` only
    trades encode time for bytes: each picture is encoded once.
    """

    size: int = 512
    fps: int = 60
    qp: int = 16
    preset: str = "medium"

    def ffmpeg_args(self, n_frames: int, every_frame_idr: bool) -> list[str]:
        """The ffmpeg command reading raw YUV frames on stdin and writing Annex B H.264."""
        args = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{self.size}x{self.size}",
            "-r", str(self.fps), "-i", "-", "-frames:v", str(n_frames),
            "-c:v", "libx264", "-preset", self.preset, "-profile:v", "high", "-pix_fmt", "yuv420p",
            "-bf", "0", "-refs", "1", "-qp", str(self.qp), "-threads", "1",
            # Colour signalling via x264 itself: ffmpeg's own colour options would make it
            # convert the (already converted) input.
            "-x264-params", "keyint=infinite:scenecut=0:open-gop=0:range=tv:colorprim=bt709"
                            ":transfer=bt709:colormatrix=bt709",
        ]
        if every_frame_idr:
            args += ["-force_key_frames", "expr:1", "-forced-idr", "1"]
        return args + ["-f", "h264", "-"]


def _x264(frames: list[np.ndarray], settings: EncoderSettings, every_frame_idr: bool) -> list[list[bytes]]:
    raw = b"".join(rgb_to_yuv420(f) for f in frames)
    proc = subprocess.run(settings.ffmpeg_args(len(frames), every_frame_idr), input=raw,
                          capture_output=True)
    if proc.returncode:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise EncodeError(f"ffmpeg/x264 failed (exit {proc.returncode}): {tail[0]}")
    units = h264.split_access_units(proc.stdout)
    if len(units) != len(frames):
        raise EncodeError(f"x264 returned {len(units)} pictures for {len(frames)} frames")
    return units


def _parameter_sets(unit: list[bytes]) -> tuple[bytes, bytes]:
    sps = [n for n in unit if h264.nal_type(n) == h264.NAL_SPS]
    pps = [n for n in unit if h264.nal_type(n) == h264.NAL_PPS]
    if len(sps) != 1 or len(pps) != 1:
        raise EncodeError("an IDR access unit from x264 lacks its SPS/PPS")
    return sps[0], pps[0]


class SkipFrames:
    """The content-independent all-skip P access units of one build's encoder settings.

    Encodes one grey picture repeated over ``MaxFrameNum`` + 1 frames and keeps the P access
    units, indexed by ``frame_num``; `segment` then serves any length by cycling them, as the
    frame number wraps in a real stream. On creation it proves, by decoding, that the units
    copy a white-noise picture exactly.
    """

    def __init__(self, settings: EncoderSettings) -> None:
        self.settings = settings
        grey = np.full((settings.size, settings.size, 3), 128, np.uint8)
        n_frames = 17  # x264's MaxFrameNum is 16 for these settings; re-run if it is not
        while True:
            run = _x264([grey] * n_frames, settings, every_frame_idr=False)
            self.sps, self.pps = _parameter_sets(run[0])
            info = h264.parse_sps(self.sps)
            self.max_frame_num = 1 << info.log2_max_frame_num
            if n_frames > self.max_frame_num:
                break
            n_frames = self.max_frame_num + 1
        if info.pic_order_cnt_type != 2 or info.max_num_ref_frames != 1:
            raise EncodeError(
                f"x264 chose picture order type {info.pic_order_cnt_type} and "
                f"{info.max_num_ref_frames} reference frames; segment reuse needs 2 and 1")
        by_frame_num: dict[int, list[bytes]] = {}
        for unit in run[1:]:
            header = h264.parse_slice_header(unit[-1], info)
            if header.nal_type != h264.NAL_SLICE or header.slice_type != 0 or len(unit) != 1:
                raise EncodeError("x264 did not code a repeated picture as single-slice P-frames")
            by_frame_num[header.frame_num] = unit
        if len(by_frame_num) != self.max_frame_num:
            raise EncodeError("x264's repeated-picture run does not cover every frame_num")
        self.units = by_frame_num
        self.info = info
        self._check_copies_exactly()

    def _check_copies_exactly(self) -> None:
        """Decode a noise IDR plus every skip unit once: every frame must equal the first.

        Guards against an x264 build that codes the repeated grey picture with anything but
        P_Skip (the reuse would then add residual or motion to other pictures).
        """
        size = self.settings.size
        noise = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
        units = self.segment(self.encode_stills([noise])[0], self.max_frame_num + 1)
        proc = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-f", "h264", "-i", "-",
             "-f", "framecrc", "-"],
            input=b"".join(h264.annex_b(u) for u in units), capture_output=True)
        crcs = [line.rsplit(b",", 1)[-1] for line in proc.stdout.splitlines()
                if line and not line.startswith(b"#")]
        if proc.returncode or len(crcs) != len(units) or len(set(crcs)) != 1:
            raise EncodeError("x264's repeated-picture P-frames do not copy their reference "
                              "exactly; segment reuse is not possible with this ffmpeg")

    def _check_parameter_sets(self, unit: list[bytes]) -> None:
        if _parameter_sets(unit) != (self.sps, self.pps):
            raise EncodeError("x264 wrote different SPS/PPS for equal settings; segments cannot be spliced")

    def segment(self, idr: list[bytes], n_frames: int) -> list[list[bytes]]:
        """A still picture for ``n_frames`` frames: its IDR access unit, then skip P-frames."""
        if n_frames < 1:
            raise ValueError(f"n_frames ({n_frames}) must be at least 1")
        self._check_parameter_sets(idr)
        return [idr] + [self.units[k % self.max_frame_num] for k in range(1, n_frames)]

    def encode_stills(self, frames: list[np.ndarray]) -> list[list[bytes]]:
        """Encode each RGB frame as one IDR access unit (one x264 run for all of them).

        Consecutive IDRs get alternating ``idr_pic_id`` (0, 1, 0, ...), as H.264 requires of
        IDR pictures that follow each other directly; `splice` callers rely on that.
        """
        units = _x264(frames, self.settings, every_frame_idr=True)
        for i, unit in enumerate(units):
            header = h264.parse_slice_header(unit[-1], self.info)
            if header.nal_type != h264.NAL_IDR or header.idr_pic_id != i % 2:
                raise EncodeError(f"x264 did not code still {i} as an IDR with idr_pic_id {i % 2}")
            self._check_parameter_sets(unit)
        return units


def splice(skips: SkipFrames, segments: list[tuple[list[bytes], int]]) -> list[list[bytes]]:
    """Access units of a video made of still segments ``[(idr_unit, n_frames), ...]``.

    Neighbouring segments must use IDRs with different ``idr_pic_id`` when the first one is a
    single frame (the builder alternates fixation 1, image 0, mask 1).
    """
    units: list[list[bytes]] = []
    for idr, n_frames in segments:
        units += skips.segment(idr, n_frames)
    return units
