"""``mvt status``, ``mvt pause``, ``mvt resume``: the control room (``/admin/``) in the terminal."""

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
    from app.control import flags_line, overview, standing_flags, status_table
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
            text += "\n" + flags_line(standing_flags(r))
            if not watch:
                typer.echo(text)
                return
            typer.echo(f"{CLEAR}{time.strftime('%H:%M:%S')}  (every {every:g} s; Ctrl-C stops)\n{text}")
            try:
                time.sleep(every)
            except KeyboardInterrupt:
                return


def _set_paused(experiment: str, reason: str, paused: bool) -> None:
    from app.control import experiment_links
    from kernel import control
    from kernel.errors import NotFound
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    with exit_on_error(), open_redis(Settings()) as r:
        links = experiment_links(r, experiment)
        if not links:
            raise NotFound(f"experiment {experiment!r} is not loaded; load it with `mvt load EXP_DIR`")
        control.set_paused(r, links, paused)
        control.log_action(r, "command line", "pause" if paused else "resume", experiment, reason)
        typer.echo(f"{'paused' if paused else 'reopened'} new arrivals of {experiment} ({len(links)} links)"
                   + ("; workers who hold a task can finish it" if paused else ""))


def pause(experiment: Annotated[str, typer.Argument(help="Experiment id.")],
          reason: Annotated[str, typer.Option(help="Why, for the activity log.")] = "") -> None:
    """Hold new arrivals of an experiment: nothing new is allocated, held tasks go on.

    Example: mvt pause exp1 --reason "typo in the consent text"
    """
    _set_paused(experiment, reason, True)


def resume(experiment: Annotated[str, typer.Argument(help="Experiment id.")],
           reason: Annotated[str, typer.Option(help="Why, for the activity log.")] = "") -> None:
    """Reopen new arrivals of a paused experiment.

    Example: mvt resume exp1
    """
    _set_paused(experiment, reason, False)


def register(app: typer.Typer) -> None:
    """Add ``mvt status``, ``mvt pause`` and ``mvt resume``."""
    app.command("status")(status)
    app.command("pause")(pause)
    app.command("resume")(resume)
