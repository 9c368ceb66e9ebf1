"""docs/analysis.md says what `mvt analyze` and `mvt export` write: every output file, and the
export's exact `duration_ms`."""

from __future__ import annotations

import re
from pathlib import Path

from analysis.analyze import BY_OUTPUT_FILES, OUTPUT_FILES
from analysis.suspicion import SUSPICION_COLUMNS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "analysis.md").read_text()


def section(title: str) -> str:
    return DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_output_file_is_documented():
    outputs = section("Outputs")
    assert [name for name in (*OUTPUT_FILES, *BY_OUTPUT_FILES) if f"`{name}`" not in outputs] == []
    assert {"z_short", "rt_ratio", "suspicious"} <= set(SUSPICION_COLUMNS)
    assert all(f"`{column}`" in outputs for column in ("z_short", "rt_ratio", "suspicious"))


def test_the_exports_duration_ms_is_documented_as_written(synthetic_server, tmp_path):
    import csv
    import ssl

    import httpx

    from kernel.export import write_csv
    from tests.test_admin import do_task

    durations = section("Durations")
    assert re.search(r"responses CSV.*`duration_ms` is exact, `frames·1000/fps` rounded to\s+0\.001 ms "
                     r"\(16\.667 for one frame at 60 fps\)", durations, re.S)
    ctx = ssl.create_default_context(cafile=str(synthetic_server.certfile))
    with httpx.Client(base_url=synthetic_server.base_url, verify=ctx, timeout=10) as client:
        for i in range(4):  # the link's four lists cycle through 1 and 6 frames
            do_task(client, f"W{i}", f"A{i}")
    write_csv(synthetic_server.redis, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert {(row["frames"], row["duration_ms"]) for row in rows} == {("1", "16.667"), ("6", "100.0")}


def test_every_output_of_an_adaptive_study_is_documented():
    from analysis.adaptive_analysis import ADAPTIVE_MVT_COLUMNS, ADAPTIVE_OUTPUT_FILES, BATCH_COLUMNS

    adaptive = DOC.split("### Analysis of an adaptive study", 1)[1].split("\n### ", 1)[0]
    assert [name for name in ADAPTIVE_OUTPUT_FILES if f"`{name}`" not in adaptive] == []
    words = set(re.findall(r"[a-z_0-9<>]+", adaptive))
    assert [c for c in (*ADAPTIVE_MVT_COLUMNS, "p_unrecognised") if c not in words] == []
    assert "batches.csv" in adaptive and all(c.removeprefix("n_") in adaptive for c in BATCH_COLUMNS)
