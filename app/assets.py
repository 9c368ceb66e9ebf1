"""Where the worker-facing files are: the one place that finds them.

- `STATIC_DIR`: the trial runner (ES modules, CSS, example picture), served under ``/static``;
- `TEMPLATES_DIR`: the Jinja2 pages the server renders (``/experiment.html``, preview, errors);

In a source checkout they are the repository's ``static/`` folder; an
installed wheel carries it inside the package as ``app/_assets/`` (``pyproject.toml``,
``force-include``), so ``pip install`` serves the same pages.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_assets"


def _asset_dir(name: str) -> Path:
    bundled = _BUNDLED / name
    return bundled if bundled.is_dir() else _PACKAGE.parent / name


STATIC_DIR = _asset_dir("static")
TEMPLATES_DIR = _PACKAGE / "templates"
