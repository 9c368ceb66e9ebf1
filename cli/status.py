"""``mvt status``: the control room's figures (``/admin/``) as a table in the terminal."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from kernel.errors import exit_on_error

CLEAR = "\x1b[H\x1b[2J"


def status(
    experiment: Annotated[str | None, typer.Argument(help="One experiment (default: every loaded one).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Print the table again every --every seconds until Ctrl-C.")]
    = False,
    every: Annotated[float, typer.Option(min=1, help="Seconds between tables with --watch.")] = 5.0,
) -> None:
    """Progress of loaded experiments: lists free, in progress, done, expired, to replace; arrivals and
    completions in the last hour; median task time; time to finish at the current rate.

    Example: mvt status exp1 --watch
    """
    from app.control import overview, status_table
    from kernel.errors import NotFound
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    settings = Settings()
    with exit_on_error(), open_redis(settings) as r:
        while True:
            experiments = overview(r, settings.allotted_minutes)
            if experiment is not None:
                chosen = [e for e in experiments if e.experiment_id == experiment]
                if not chosen:
                    loaded = ", ".join(e.experiment_id for e in experiments) or "none"
                    raise NotFound(f"experiment {experiment!r} is not loaded (loaded: {loaded}); load it with "
                                   "`mvt load EXP_DIR`")
                experiments = chosen
            text = status_table(experiments) if experiments else "no experiment is loaded; load one with `mvt load`"
            if not watch:
                typer.echo(text)
                return
            typer.echo(f"{CLEAR}{time.strftime('%H:%M:%S')}  (every {every:g} s; Ctrl-C stops)\n{text}")
            try:
                time.sleep(every)
            except KeyboardInterrupt:
                return


def register(app: typer.Typer) -> None:
    """Add ``mvt status``."""
    app.command("status")(status)
