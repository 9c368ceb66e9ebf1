"""Where the worker-facing files are: the one place that finds them.

- `STATIC_DIR`: the trial runner (ES modules, CSS, example picture), served under ``/static``;
- `TEMPLATES_DIR`: the Jinja2 pages the server renders (``/experiment.html``, preview, errors);
- `PrecompressedStatic`: how ``/static`` serves them (gzip computed once, at start);

In a source checkout they are the repository's ``static/`` folder; an
installed wheel carries it inside the package as ``app/_assets/`` (``pyproject.toml``,
``force-include``), so ``pip install`` serves the same pages.
"""

from __future__ import annotations

import gzip
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


class PrecompressedStatic(StaticFiles):
    """Starlette's ``StaticFiles`` that answers gzip clients with bytes compressed once, at start.

    Text files (`COMPRESSED_SUFFIXES`, at least `MIN_GZIP_BYTES`) are gzip-compressed (level 9)
    when the server starts; a request that accepts gzip gets those bytes with the file's own
    ``ETag``/``Last-Modified`` and ``Vary: Accept-Encoding`` (the way nginx's ``gzip_static``
    serves ``.gz`` twins), so revalidation (304) works as before. A file changed on disk since the
    start (size or mtime differ) is served as it is now, uncompressed. An MVT worker's page loads 17
    files of ``static/common``, ``static/runner`` and ``runner.css``: 74,830 bytes, 29,292 gzipped
    (measured 2026-12-06), without any per-request compression cost.
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
