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
