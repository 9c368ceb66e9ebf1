"""scripts/bench_analysis runs (on a small size) and prints its timings."""

from __future__ import annotations

import re
import subprocess

import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_analysis_smoke():
    out = subprocess.run([str(ROOT / "scripts" / "bench_analysis"), "--responses", "20000", "--bootstrap", "50",
                          "--from-csv", "--outputs"], capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "19,992 synthetic responses: 476 images x 6 durations x 7 workers"
    assert re.fullmatch(r"screening [\d.]+ s; MVT \(stable\) \+ 50 bootstrap resamples [\d.]+ s; "
                        r"accuracy \+ crowdMOS [\d.]+ s", lines[1])
    assert lines[2].startswith("total ") and "for 19,992 responses" in lines[2]
    assert [line.split(" ")[0] for line in lines[3:]] == ["reading", "analyze()", "writing"]


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
