"""scripts/bench_analysis runs (on a small size) and prints its timings."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_analysis_times_the_whole_command(tmp_path):
    """The bench generates an export CSV (kept for re-runs), runs mvt analyze on it and prints the
    wall time with every phase: reading, the analysis, each of the 13 output files, and the two child
    processes working beside them (the side tables of the analysis, the report's costliest figures)."""
    from analysis.analyze import OUTPUT_FILES

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cmd = [str(ROOT / "scripts" / "bench_analysis"), "--links", "4", "--bootstrap", "20"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True, env=env).stdout
    lines = out.splitlines()
    assert lines[0].startswith("generated ") and lines[1].startswith(
        "4,032 responses: 4 links x 42 lists x 24 trials, 50 classes, durations 1,3,6,9,15,600 frames;")
    phases = [line[:28].strip() for line in lines[3:-1]]
    assert phases[:3] == ["start-up: imports", "read + check the CSV", "analysis"]
    assert set(OUTPUT_FILES) <= set(phases)
    assert phases[-4:] == ["other (select, notes, exit)", "interpreter start and exit", "side_tables (child)",
                           "draw_figures (child)"]
    assert re.fullmatch(r"wall [\d.]+ s \(the whole command, last run; CPU in the command [\d.]+ s \+ [\d.]+ s in 2 "
                        r"children\); files written: 13", lines[-1])


@pytest.mark.slow
def test_bench_screening_prints_the_table():
    out = subprocess.run([str(ROOT / "scripts" / "bench_screening"), "--reps", "2"], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["design", "images/task", "duration", "honest", "honest", "flagged", "random",
                                "random", "flagged", "no", "rule", "applied"]
    rows = [line.split() for line in lines[1:] if line.startswith(("within", "between"))]
    assert [r[1] for r in rows[:5]] == ["6", "8", "12", "20", "50"] and len(rows) == 5 + 3 * 6
    honest_flagged = [float(next(c for c in r if c.endswith("%")).rstrip("%")) for r in rows]
    assert max(honest_flagged) <= 2  # honest workers flagged at most 2 %
    catch = lines.index(next(line for line in lines if line.startswith("catch trials")))
    assert len([line for line in lines[catch + 1:] if line.endswith("%")]) >= 2 * 4 * 2
    ratings = lines.index(next(line for line in lines if line.startswith("rating study")))
    assert all(lines[i].endswith("%") for i in range(ratings + 1, ratings + 5))
    mushra = [line.split() for line in lines[lines.index(next(x for x in lines if x.startswith("MUSHRA study"))) + 1:]]
    assert len(mushra) == 6 and all(r[4] == "0%" and r[7] == "0.0%" for r in mushra[::3])  # no slip: none flagged
