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


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Hosts that name the machine a browser runs on: a worker's browser never reaches the server there."""
PLACEHOLDER_HOSTS = ("host", "hostname", "your-host", "server")
"""Words the docs write where the server's name goes (``https://HOST:8443``), never a real host."""


def checked_base_url(base_url: str) -> str:
    """``--base-url`` without a trailing slash, checked for what workers' browsers can open.

    ``https://host[:port][/path]``; ``http://`` only on this machine (`LOOPBACK_HOSTS`, for a local
    try: MTurk and Prolific need HTTPS, and ``mvt serve`` serves it). `base_url_warning` says what is
    allowed but probably a mistake.

    Raises
    ------
    BuildOptionError
        If it is no http(s) URL, keeps the docs' placeholder (``HOST``, ``PORT``), names the listening
        address ``0.0.0.0``, or is ``http://`` to another machine.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BuildOptionError(f"--base-url ({base_url!r}) must be an https URL like https://mvt.example.org:8443")
    host = parts.hostname or ""
    try:
        parts.port
    except ValueError:
        raise BuildOptionError(f"--base-url ({base_url!r}): the port must be a number like 8443 (the one "
                               "mvt serve --port listens on)") from None
    if host in PLACEHOLDER_HOSTS:
        raise BuildOptionError(f"--base-url ({base_url!r}) still holds the placeholder {parts.hostname.upper()}: "
                               "give the name or address workers reach this server at, e.g. "
                               "https://mvt.example.org:8443")
    if host in ("0.0.0.0", "::"):
        raise BuildOptionError(f"--base-url ({base_url!r}) names {host}, the address a server listens on, not one "
                               "a browser can open: give the name or address workers reach this server at")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise BuildOptionError(f"--base-url ({base_url!r}) must use https://: MTurk and Prolific show only HTTPS "
                               "pages, and mvt serve serves HTTPS (behind a proxy, give the proxy's https URL)")
    return base_url.rstrip("/")


def base_url_warning(base_url: str) -> str | None:
    """A warning for a `checked_base_url` that is allowed but reaches no worker (this machine's own
    address), else None."""
    parts = urlsplit(base_url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    return (f"warning: --base-url {base_url} is this machine's own address: workers' browsers cannot reach it "
            "(fine for trying the study here); build again with the name or address workers reach before "
            "publishing links.csv")


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
