"""The ``mvt`` command line: a thin layer over library functions.

Each part of the system registers its own commands from its ``commands`` module; each study
kind its build command and each recruitment platform its operations. Command modules import their heavy libraries (numpy, pandas,
boto3, uvicorn) inside the commands, so ``mvt --help`` starts fast (tests/test_cli.py).
"""

from __future__ import annotations

import typer

from analysis import commands as analysis_commands
from platforms import PLATFORMS
from app import commands as server_commands
from simulation.commands import simulate_command
from studies import KINDS

cli = typer.Typer(
    name="mvt",
    help="Minimum Viewing Time experiments: build stimuli, serve them, analyse responses.",
    no_args_is_help=True,
    add_completion=False,
)

for kind in KINDS.values():
    kind.register_commands(cli)
server_commands.register(cli)
analysis_commands.register(cli)
for platform in PLATFORMS.values():
    platform.register_commands(cli)
cli.command("simulate")(simulate_command)


def main() -> None:
    """Entry point of the ``mvt`` console script."""
    cli()


if __name__ == "__main__":
    main()
