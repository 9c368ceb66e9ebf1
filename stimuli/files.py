"""What every build (``mvt build``, ``mvt build-ratings``) does with its options and files: the
experiment id from the folder, the base URL, ``links.csv``, atomic writes (a reader never sees
half a file; a crashed build leaves only a ``.tmp-`` file the next run removes) and content
digests."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from urllib.parse import urlsplit

from kernel import csvsafe
from kernel.errors import BuildOptionError
from kernel.ids import ID_CHARS, is_id


def experiment_id(exp_dir: Path, name: str | None) -> str:
    """``name``, else the folder name of ``exp_dir``; `BuildOptionError` unless it is a valid id."""
    value = name if name is not None else exp_dir.resolve().name
    if not is_id(value):
        source = "--name" if name is not None else f"the folder name of EXP_DIR ({str(exp_dir)!r})"
        raise BuildOptionError(f"experiment id {value!r} from {source} must match {ID_CHARS}; choose one with --name")
    return value


def checked_base_url(base_url: str) -> str:
    """``--base-url`` without a trailing slash; `BuildOptionError` unless it is ``http(s)://host[:port][/path]``."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BuildOptionError(f"--base-url ({base_url!r}) must be an http(s) URL like https://host:8443")
    return base_url.rstrip("/")


def links_csv(base_url: str, link_ids) -> str:
    """``links.csv`` for MTurk's Publish Batch: the header ``HIT_Link``, then one experiment URL per link."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["HIT_Link"])
    for link_id in link_ids:
        writer.writerow([f"{base_url}/experiment.html?link={link_id}"])
    return out.getvalue()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to a temporary name beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
