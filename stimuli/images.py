"""Reading an ImageFolder (``<class>/<image>``) and turning images into square video frames."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kernel.errors import ImageFolderError

#: Background of every frame (image padding, fixation screen), RGB.
GREY = (128, 128, 128)


@dataclass(frozen=True)
class SourceImage:
    """One image of the folder: its id (file stem), class label and path."""

    image_id: str
    label: str
    path: Path

    @property
    def source(self) -> str:
        """The path relative to the image folder, ``<class>/<file name>``."""
        return f"{self.label}/{self.path.name}"


def _visible(entries) -> list[os.DirEntry]:
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def scan_image_folder(image_dir: str | os.PathLike) -> list[SourceImage]:
    """List and check the images of an ImageFolder.

    Every sub-folder is a class and every visible file in it must be a readable image; files
    directly in ``image_dir`` (a README, a LICENSE) and hidden entries are ignored.

    Parameters
    ----------
    image_dir : path
        Folder of class folders.

    Returns
    -------
    images : list of SourceImage
        Sorted by class, then file name.

    Raises
    ------
    ImageFolderError
        The folder is missing or has no class folders, a class folder has no images, a file is
        not a readable image, or two files share a name (image ids must be unique); every such
        problem of the folder is named in the one message.
    """
    root = Path(image_dir)
    if not root.is_dir():
        raise ImageFolderError(f"image folder {str(root)!r} does not exist or is not a folder")
    try:
        with os.scandir(root) as it:
            classes = [e for e in _visible(it) if e.is_dir()]
    except OSError as exc:
        raise ImageFolderError(f"cannot read image folder {str(root)!r}: {exc.strerror}") from None
    if not classes:
        raise ImageFolderError(
            f"image folder {str(root)!r} has no class folders (expected <class>/<image> files)")
    images: list[SourceImage] = []
    seen: dict[str, Path] = {}
    problems: list[str] = []  # every bad input, so one run lists them all
    for cls in classes:
        with os.scandir(cls.path) as it:
            entries = _visible(it)
        if not entries:
            problems.append(f"class folder {str(Path(cls.path))!r} has no images")
        for entry in entries:
            path = Path(entry.path)
            try:
                check_image(path)
            except ImageFolderError as exc:
                problems.append(str(exc))
                continue
            image_id = path.stem
            if image_id in seen:
                problems.append(f"duplicate image name {image_id!r}: {str(seen[image_id])!r} and {str(path)!r}"
                                " (image ids are file names without extension and must be unique)")
                continue
            seen[image_id] = path
            images.append(SourceImage(image_id=image_id, label=cls.name, path=path))
    if len(problems) == 1:
        raise ImageFolderError(problems[0])
    if problems:
        raise ImageFolderError(f"image folder {str(root)!r} has {len(problems)} problems: " + "; ".join(problems))
    return images


def check_image(path: Path) -> None:
    """Raise `ImageFolderError` unless ``path`` is a file PIL can decode completely.

    JPEGs are decoded at reduced scale (``draft``), which still reads the whole file, so a
    truncated file is caught here rather than half-way through a build.
    """
    if path.is_symlink() and not path.exists():
        raise ImageFolderError(f"{str(path)!r} is a broken link")
    if not path.is_file():
        raise ImageFolderError(f"{str(path)!r} is not an image file")
    with _readable(path):
        with Image.open(path) as im:
            im.draft("RGB", (64, 64))
            im.load()


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    try:
        yield
    except PermissionError:
        raise ImageFolderError(f"{str(path)!r} is not readable (permission denied)") from None
    except UnidentifiedImageError:
        raise ImageFolderError(f"{str(path)!r} is not an image (unknown file format)") from None
    except Exception as exc:  # PIL raises many types for broken or foreign files
        detail = str(exc).split(" (")[0] if isinstance(exc, OSError) and str(exc) else type(exc).__name__
        raise ImageFolderError(f"{str(path)!r} is not a readable image ({detail})") from None


def load_padded(path: str | os.PathLike, size: int) -> np.ndarray:
    """Load an image as RGB and fit it into a ``size`` x ``size`` grey square.

    The aspect ratio is kept (the longer side becomes ``size``, never stretched), the image is
    centred on `GREY`, EXIF orientation is applied and transparency is composited onto grey.

    Parameters
    ----------
    path : path
        Image file.
    size : int
        Side of the square in pixels.

    Returns
    -------
    frame : (size, size, 3) uint8 ndarray

    Examples
    --------
    >>> from pathlib import Path
    >>> load_padded(Path(__file__).parent / "samples/circle/circle_1.png", 64).shape
    (64, 64, 3)
    """
    with _readable(Path(path)), Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            im = Image.new("RGB", rgba.size, GREY)
            im.paste(rgba, mask=rgba.getchannel("A"))
        else:
            im = im.convert("RGB")
        w, h = im.size
        scale = size / max(w, h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        if (new_w, new_h) != (w, h):
            im = im.resize((new_w, new_h), Image.LANCZOS)
        canvas = Image.new("RGB", (size, size), GREY)
        canvas.paste(im, ((size - new_w) // 2, (size - new_h) // 2))
        return np.asarray(canvas, dtype=np.uint8).copy()


def fixation_frame(size: int) -> np.ndarray:
    """The fixation screen: `GREY` with a black cross in the centre.

    The cross spans 1/16 of ``size`` each way from the centre, arms ``size // 128`` pixels thick
    (at least 2).

    Returns
    -------
    frame : (size, size, 3) uint8 ndarray
    """
    frame = np.full((size, size, 3), GREY, dtype=np.uint8)
    half_len = max(2, size // 16)
    half_w = max(1, size // 256)
    c = size // 2
    frame[c - half_w:c + half_w, c - half_len:c + half_len] = 0
    frame[c - half_len:c + half_len, c - half_w:c + half_w] = 0
    return frame
