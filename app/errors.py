"""Domain exceptions. Library code raises them; the HTTP layer and the CLI translate them.

Each class's docstring is its meaning. ``reason`` is the machine-readable word the HTTP API
returns (see INTERFACES.md); ``status_code`` the HTTP status it maps to.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class MVTError(Exception):
    """Something the user can fix; the message says what and how."""

    reason: str = "error"
    status_code: int = 400


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """In CLI commands: turn an `MVTError` into one stderr line and exit code 1."""
    try:
        yield
    except MVTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
