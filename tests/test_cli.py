"""The ``mvt`` command starts fast: help must not wait for numpy, pandas, boto3 or uvicorn."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

HEAVY = ("numpy", "pandas", "scipy", "boto3", "botocore", "uvicorn", "matplotlib", "aiohttp", "fastapi")


def _fastest_s(args: list[str], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def test_help_imports_no_heavy_library():
    code = "import sys; from cli import cli; print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert loaded == ""


@pytest.mark.parametrize("command", [[], ["build"], ["analyze"], ["serve"], ["mturk"]])
def test_help_starts_within_50_times_a_bare_python(command):
    # A generous ratio to `python -c pass` on the same machine (~0.5 s here), so a busy box does
    # not fail it;
    # before the lazy imports `mvt --help` took ~130x (1.4 s against 0.011 s).
    bare = _fastest_s([sys.executable, "-c", "pass"])
    helped = _fastest_s([sys.executable, "-m", "cli", *command, "--help"])
    assert helped < 50 * max(bare, 0.01), f"mvt {' '.join(command)} --help took {helped:.3f} s, bare python {bare:.3f} s"


def _cpu_s(args: list[str]) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_help_costs_about_what_uvicorn_help_costs():
    # CPU time, not wall time: five other test runs share these two cores. Alternating runs, the
    # fastest of each; the goal is 1.2x (measured 1.18x here), the bound leaves room for noise.
    # Before plain help and evaluated annotations it was ~2.5x (0.31 s against 0.125 s).
    from pathlib import Path

    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    mvt, ref = float("inf"), float("inf")
    for _ in range(7):
        mvt = min(mvt, _cpu_s([sys.executable, "-m", "cli", "--help"]))
        ref = min(ref, _cpu_s([uvicorn, "--help"]))
    assert mvt < 1.3 * ref, f"mvt --help used {mvt:.3f} s of CPU, uvicorn --help {ref:.3f} s"


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
