"""The ``mvt`` command line: a thin layer over library functions.

Each part of the system registers its own commands from its ``commands`` module.
"""

from __future__ import annotations

import typer

from analysis import commands as analysis_commands
from platforms.mturk import commands as mturk_commands
from platforms.prolific import commands as prolific_commands
from app import commands as server_commands
from simulation.commands import simulate_command
from stimuli import commands as stimuli_commands

cli = typer.Typer(
    name="mvt",
    help="Minimum Viewing Time experiments: build stimuli, serve them, analyse responses.",
    no_args_is_help=True,
    add_completion=False,
)

stimuli_commands.register(cli)
server_commands.register(cli)
analysis_commands.register(cli)
mturk_commands.register(cli)
prolific_commands.register(cli)
cli.command("simulate")(simulate_command)


def main() -> None:
    """Entry point of the ``mvt`` console script."""
    cli()


if __name__ == "__main__":
    main()
