"""Media of a rating study: what kind each file is, and its browser-safe copy under an opaque name.

- audio (WAV, FLAC, MP3, OGG/Opus, M4A/AAC, ...) -> AAC in an MP4 audio file (``.m4a``), 48 kHz,
  192 kbit/s per channel pair: played by Chromium, Firefox and Safari alike. With
  ``loudnorm=True`` ffmpeg's EBU R128 ``loudnorm`` filter brings each file to -23 LUFS
  (true peak -1 dBTP) first.
- images (anything Pillow opens) -> PNG. PNG is lossless, so a JPEG's coding artefacts, the
  very thing an image-quality study rates, reach the worker pixel for pixel; no metadata
  (EXIF, text chunks) is copied, so none can name the algorithm.
- video -> H.264 (``yuv420p``, CRF 12, near transparent) in MP4 with the audio as AAC, ``+faststart``.

Files that cannot be read or decoded raise `stimuli.ratings_input.RatingsInputError` naming
their input line (or gold entry: `InputLine.where`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from stimuli.ratings_input import InputLine, RatingsInputError

AUDIO_EXTS = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".y4m", ".mpg", ".mpeg", ".m4v"}
OUTPUT_EXT = {"audio": "m4a", "image": "png", "video": "mp4"}
"""The served file's extension per media kind."""

_TIME_RE = re.compile(rb"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")


@dataclass(frozen=True)
class MediaFile:
    """A converted file: its path, size and duration (0 for images)."""

    path: Path
    n_bytes: int
    duration_s: float


def media_kind(item: InputLine, local: Path) -> str:
    """``audio``, ``image`` or ``video`` for a file, by extension (images: Pillow must open it)."""
    suffix = Path(item.location.split("?")[0]).suffix.lower()
    if suffix in AUDIO_EXTS:
        return "audio"
    if suffix in VIDEO_EXTS:
        return "video"
    from PIL import Image

    try:
        with Image.open(local) as im:
            im.verify()
    except Exception as exc:  # Pillow raises many types for undecodable files
        raise RatingsInputError(f"{item.where} ({item.location}): not an audio, video or image file "
                                f"Pillow or ffmpeg can read ({type(exc).__name__}: {exc})") from None
    return "image"


def fetch(item: InputLine, cache_dir: Path) -> Path:
    """The local copy of an input file: the path itself, or a URL downloaded once into ``cache_dir``."""
    if not item.is_url:
        return Path(item.location)
    cache_dir.mkdir(parents=True, exist_ok=True)
    suffix = Path(item.location.split("?")[0]).suffix.lower()[:8]
    dest = cache_dir / (hashlib.sha256(item.location.encode()).hexdigest()[:24] + suffix)
    if not dest.is_file():
        tmp = dest.with_name(dest.name + ".part")
        try:
            with urllib.request.urlopen(item.location, timeout=60) as response, tmp.open("wb") as f:
                shutil.copyfileobj(response, f)
        except OSError as exc:
            raise RatingsInputError(f"{item.where}: cannot download {item.location} ({exc})") from None
        tmp.replace(dest)
    return dest


def converted(item: InputLine, local: Path, kind: str, dest: Path, *, loudnorm: bool = False) -> tuple[MediaFile, bool]:
    """The browser-safe copy of ``local`` at ``dest``: the one an earlier build left there (its name
    hashes the input and the settings), else `convert` now; and whether it was converted now."""
    if dest.is_file() and dest.stat().st_size:
        return MediaFile(dest, dest.stat().st_size, decoded_seconds(dest) if kind != "image" else 0.0), False
    return convert(item, local, kind, dest, loudnorm=loudnorm), True


def copied(media: MediaFile, dest: Path) -> MediaFile:
    """``media`` again under the name ``dest`` (a trap's or gold trial's own opaque name); a file of
    the same size already there is kept."""
    if not (dest.is_file() and dest.stat().st_size == media.n_bytes):
        shutil.copyfile(media.path, dest)
    return MediaFile(dest, media.n_bytes, media.duration_s)


def convert(item: InputLine, local: Path, kind: str, dest: Path, *, loudnorm: bool = False) -> MediaFile:
    """Write the browser-safe copy of ``local`` to ``dest`` (atomically) and measure it.

    Raises `RatingsInputError` naming the input line when the file does not decode.
    """
    tmp = dest.with_name(f".{dest.name}.tmp")
    if kind == "image":
        from PIL import Image

        try:
            with Image.open(local) as im:
                im.load()
                mode = "RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "RGB"
                im.convert(mode).save(tmp, format="PNG", optimize=False)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise RatingsInputError(f"{item.where} ({item.location}): image does not decode "
                                    f"({type(exc).__name__}: {exc})") from None
        tmp.replace(dest)
        return MediaFile(dest, dest.stat().st_size, 0.0)
    if kind == "audio":
        codec = [*(["-af", "loudnorm=I=-23:TP=-1:LRA=11"] if loudnorm else []),
                 "-vn", "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-f", "mp4"]
    else:
        codec = ["-c:v", "libx264", "-crf", "12", "-preset", "medium", "-pix_fmt", "yuv420p",
                 "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:a", "aac", "-b:a", "192k", "-f", "mp4"]
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-xerror", "-y",
                           "-i", str(local), "-map_metadata", "-1", *codec, "-movflags", "+faststart", str(tmp)],
                          capture_output=True)
    if proc.returncode or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        message = proc.stderr.decode(errors="replace").strip().splitlines()[:1] or ["no output"]
        raise RatingsInputError(f"{item.where} ({item.location}): ffmpeg cannot decode this {kind} "
                                f"file ({message[0]})")
    duration = decoded_seconds(tmp)
    if duration <= 0:
        tmp.unlink(missing_ok=True)
        raise RatingsInputError(f"{item.where} ({item.location}): the {kind} has no decodable content")
    tmp.replace(dest)
    return MediaFile(dest, dest.stat().st_size, duration)


def decoded_seconds(path: Path) -> float:
    """Duration in seconds found by decoding the whole file with ffmpeg (0.0 when nothing decodes)."""
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-i", str(path), "-f", "null", "-"],
                          capture_output=True)
    times = _TIME_RE.findall(proc.stderr)
    if proc.returncode or not times:
        return 0.0
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)
