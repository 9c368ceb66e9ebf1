"""Where the worker-facing files are: the one place that finds them.

- `STATIC_DIR`: the trial runner (ES modules, CSS, example picture), served under ``/static``;
- `TEMPLATES_DIR`: the Jinja2 pages the server renders (``/experiment.html``, preview, errors);
- `PrecompressedStatic`: how ``/static`` serves them (gzip computed once, at start);
- `asset_url`: a page's URL of a file of ``/static`` with its content's version (``?v=``), which
  `PrecompressedStatic` lets browsers keep for a year;

In a source checkout they are the repository's ``static/`` folder; an
installed wheel carries it inside the package as ``app/_assets/`` (``pyproject.toml``,
``force-include``), so ``pip install`` serves the same pages.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

from app.service import accepts_gzip

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_assets"


def _asset_dir(name: str) -> Path:
    bundled = _BUNDLED / name
    return bundled if bundled.is_dir() else _PACKAGE.parent / name


STATIC_DIR = _asset_dir("static")
TEMPLATES_DIR = _PACKAGE / "templates"


IMMUTABLE = "public, max-age=31536000, immutable"
"""``Cache-Control`` of a ``/static`` file asked for with its current version (``?v=``, `asset_url`)."""


@functools.lru_cache(maxsize=512)
def _version(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def content_version(path: Path, stat_result: os.stat_result | None = None) -> str | None:
    """The first 16 hex digits of the SHA-256 of the file's content (None when it is missing);
    computed again when its size or mtime changes."""
    try:
        info = stat_result or path.stat()
    except OSError:
        return None
    return _version(os.path.realpath(path), info.st_mtime_ns, info.st_size)


def asset_url(url: str) -> str:
    """``/static/<file>`` with ``?v=<content version>``, for the pages' entry files (stylesheets and
    the session module; the modules they import keep plain URLs, as a module imported under two
    URLs would run twice). A changed file gets a new URL, so the old one may be cached for good.
    Other URLs, and files not in `STATIC_DIR` (a plug-in kind's), are returned unchanged."""
    if not url.startswith("/static/"):
        return url
    version = content_version(STATIC_DIR / url.removeprefix("/static/"))
    return f"{url}?v={version}" if version else url


class PrecompressedStatic(StaticFiles):
    """Starlette's ``StaticFiles`` that answers gzip clients with bytes compressed once, at start.

    Text files (`COMPRESSED_SUFFIXES`, at least `MIN_GZIP_BYTES`) are gzip-compressed (level 9)
    when the server starts; a request that accepts gzip gets those bytes with the file's own
    ``ETag``/``Last-Modified`` and ``Vary: Accept-Encoding`` (the way nginx's ``gzip_static``
    serves ``.gz`` twins), so revalidation (304) works as before. A file changed on disk since the
    start (size or mtime differ) is served as it is now, uncompressed. An MVT worker's page loads 17
    files of ``static/common``, ``static/runner`` and ``runner.css``: 74,830 bytes, 29,292 gzipped
    (measured 2026-12-06), without any per-request compression cost.

    A request whose ``v`` is the file's current `content_version` (the URLs `asset_url` writes in
    the pages) is answered with ``Cache-Control`` `IMMUTABLE`: browsers keep it a year without
    revalidating. Any other request (no ``v``, an old one) is answered as before.
    """

    COMPRESSED_SUFFIXES = (".js", ".css", ".html", ".svg", ".json", ".txt", ".mjs")
    MIN_GZIP_BYTES = 512

    def __init__(self, *, directory, **kwargs):
        super().__init__(directory=directory, **kwargs)
        self.gzipped: dict[str, tuple[bytes, float, int]] = {}
        root = Path(directory)
        if root.is_dir():
            for path in root.rglob("*"):
                if path.suffix in self.COMPRESSED_SUFFIXES and path.is_file():
                    data, info = path.read_bytes(), path.stat()
                    if len(data) >= self.MIN_GZIP_BYTES:
                        self.gzipped[os.path.realpath(path)] = (gzip.compress(data, 9, mtime=0), info.st_mtime,
                                                                info.st_size)

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> Response:
        """The file (or 304) as StaticFiles answers it; its precompressed bytes for a gzip client."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        query = scope.get("query_string", b"")
        if b"v=" in query:
            asked = next((v for k, _, v in (p.partition(b"=") for p in query.split(b"&")) if k == b"v"), None)
            if asked and asked.decode("latin-1") == content_version(Path(full_path), stat_result):
                response.headers["cache-control"] = IMMUTABLE
        found = self.gzipped.get(os.path.realpath(full_path)) if isinstance(response, FileResponse) else None
        if found is None or (found[1], found[2]) != (stat_result.st_mtime, stat_result.st_size):
            return response
        accept = next((v for k, v in scope["headers"] if k == b"accept-encoding"), None)
        if not accepts_gzip(accept):
            response.headers["vary"] = "Accept-Encoding"
            return response
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        headers.update({"content-encoding": "gzip", "vary": "Accept-Encoding"})
        return Response(found[0], status_code, headers=headers)  # uvicorn sends no body to a HEAD
