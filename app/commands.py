"""Commands of this part of the system (being written; see the open issue)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the ``mvt`` CLI."""
