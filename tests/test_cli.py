"""The ``mvt`` command starts fast: help must not wait for numpy, pandas, boto3 or uvicorn."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "scipy", "boto3", "botocore", "uvicorn", "matplotlib", "aiohttp", "fastapi")


@pytest.mark.parametrize("command", [[], ["build"], ["analyze"], ["serve"], ["mturk"], ["prolific"], ["status"]])
def test_help_imports_no_heavy_library(command):
    # What makes help slow is importing these (before the lazy imports `mvt --help` took ~130x a
    # bare python); which modules a run loaded is exact, a wall-clock bound on a shared box is not.
    # The time itself is measured by scripts/bench_help.
    code = (
        "import sys\n"
        f"sys.argv = ['mvt', *{command!r}, '--help']\n"
        "from cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "Usage" in out
    assert out.strip().splitlines()[-1] == "LOADED="



def _all_commands():
    from typer.main import get_command

    from cli import cli

    def walk(command, path):
        yield path, command
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    return list(walk(get_command(cli), []))


@pytest.mark.parametrize("path, command", _all_commands(), ids=[" ".join(p) or "mvt" for p, _ in _all_commands()])
def test_help_shows_every_word_and_flags_as_flags(path, command):
    from typer.testing import CliRunner

    from cli import cli

    shown = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split()).replace("- ", "-")  # the wrapper may break a line after a hyphen
    assert "<bool>" not in text
    assert "%%" not in text  # click prints help as written: "%%" is not a percent sign there
    for param in command.params:
        words = " ".join((getattr(param, "help", None) or "").split()).replace("- ", "-")
        assert words in text, f"mvt {' '.join(path)} --help lost words of {param.name}: {words!r}"
        if getattr(param, "is_flag", False) and param.secondary_opts:
            assert f"{param.opts[0]} / {param.secondary_opts[0]}" in text


def test_words_in_square_brackets_survive():
    from typer.testing import CliRunner

    from cli import cli

    shown = " ".join(CliRunner().invoke(cli, ["build-ratings", "--help"], env={"COLUMNS": "100"}).output.split())
    assert "TOML study file with a [ratings] table." in shown
    assert "Experiment id of 1–64 letters, digits, _ or - [default: EXP_DIR's name]." in shown
    assert "--loudnorm / --no-loudnorm Normalise audio loudness to -23 LUFS [default: the study file's]." in shown
