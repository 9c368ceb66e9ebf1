"""What every platform's command group shares: the session, the report printout, id options.

``mvt mturk …`` and ``mvt prolific …`` print the same lines: the target first, one line per
outcome (``would``, ``done``, ``skip``, ``FAILED``, ``HOLD``), then one summary line; exit code
1 when something failed. Imports stay light: this module is loaded by ``mvt --help``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from platforms.base import DEFAULT_LISTING

if TYPE_CHECKING:
    from platforms.ledger import Report

_LISTING = None


def use_listing(listing) -> None:
    """How the commands that list a study read an experiment folder's title and description:
    ``listing(source)`` with ``.title`` and ``.description`` (None: not given). The CLI, the composition
    root, passes `studies.loader.listing` (platforms do not import study kinds)."""
    global _LISTING
    _LISTING = listing


def listed(source, title: str | None, description: str | None) -> tuple[str, str]:
    """The title and description to list ``source``'s study under: the command's options, else the
    study's (`use_listing`), else `platforms.base.DEFAULT_LISTING`."""
    found = _LISTING(source) if _LISTING is not None and (title is None or description is None) else None
    return (title or (found and found.title) or DEFAULT_LISTING[0],
            description or (found and found.description) or DEFAULT_LISTING[1])


LISTING_HELP = ("{} the platform lists the study under (default: the study file's, as the worker page shows it, "
                "else the study kind's).")
"""``--title``/``--name`` and ``--description`` help of the commands that list a study (`studies.loader.listing`)."""

CommitOption = Annotated[bool, typer.Option("--commit", help="Do it (without: only show what would be done).")]
WorkersCsvOption = Annotated[Path | None, typer.Option(
    "--workers", exists=True, dir_okay=False,
    help="Screening from `mvt analyze`: workers.csv (worker_id, flagged, reasons, correlation).")]

LABEL = {"planned": "would", "succeeded": "done", "skipped": "skip", "failed": "FAILED", "held": "HOLD"}


def dollars(amount: Decimal) -> str:
    """``$1.50``: how MTurk amounts are shown."""
    return f"${amount}"


@contextlib.contextmanager
def session(connect: Callable[[Any], Any], describe: Callable[[Any], str]) -> Iterator[tuple[Any, Any]]:
    """``(client, r)``: the platform client and the Redis client.

    ``connect(settings)`` makes the client; ``describe(client)`` is the first line printed (which
    platform and environment). A domain error or bad setting becomes one stderr line, exit 1.
    The store must exist and hold an experiment: the ledger and the server's records live there,
    so a command run elsewhere refuses instead of starting an empty store.
    """
    from kernel.errors import MVTError
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    try:
        settings = Settings()
        client = connect(settings)
        typer.echo(describe(client))
        with open_redis(settings, existing=True) as r:
            yield client, r
    except (MVTError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def print_report(report: Report, *, money: bool = False,
                 price: Callable[[Decimal], str] = dollars) -> None:
    """Each outcome on a line, then the summary; exits 1 when something failed."""
    for note in report.notes:
        typer.echo(note)
    for o in report.outcomes:
        detail = f" — {o.detail}" if o.detail else ""
        typer.echo(f"{LABEL[o.status]:>6}  {o.description}{detail}")
    n = {s: len(report.having(s)) for s in LABEL}
    held = f", {n['held']} held for your decision" if n["held"] else ""
    if not report.committed:
        cost = f" ({price(report.total('planned'))})" if money else ""
        typer.echo(f"Dry run: {n['planned']} to do{cost}, {n['skipped']} skipped (already done)"
                   f"{held}, {n['failed']} failed. Nothing was changed on {report.platform}; "
                   "add --commit to do it.")
    else:
        paid = f" ({price(report.total('succeeded'))})" if money else ""
        typer.echo(f"Summary: {n['succeeded']} succeeded{paid}, {n['skipped']} skipped "
                   f"(already done), {n['failed']} failed{held}.")
    if n["failed"]:
        typer.echo(f"Re-run the same command to retry the {n['failed']} failed "
                   "(nothing already done is repeated).")
        raise typer.Exit(1)


def given_ids(ids: list[str] | None, ids_file: Path | None, flagged_from: Path | None = None, *,
               what: str = "worker") -> list[str]:
    """Ids given as arguments, in a file (one per line or a ``worker_id`` column), or flagged
    in a workers.csv; at least one is needed."""
    from platforms.inputs import read_ids
    from platforms.screening import Screening

    found = list(ids or [])
    if ids_file:
        found += read_ids(ids_file, "worker_id")
    if flagged_from:
        found += sorted(Screening.from_csv(flagged_from).flagged)
    if not found:
        raise typer.BadParameter(f"give {what} ids, --workers-file, or --flagged-from")
    return found
