"""Spreadsheet formulas in class names, ids and labels never reach a CSV the project writes as live cells."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import cli
from kernel.csvsafe import restore, safe_cell
from tests.fixtures.redis import run_with_async_redis

FORMULA_CLASSES = ("=1+2", "@SUM(A1)", "+cmd", "-2+3")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@pytest.mark.parametrize(("raw", "written"), [
    ("=1+2", "'=1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-exp-001", "'-exp-001"), ("'=x", "''=x"), ("''@x", "'''@x"),
    ("-1.5", "-1.5"), ("+3", "+3"), ("1e-05", "1e-05"), ("cat", "cat"), ("'quoted", "'quoted"), ("", ""),
    (-1.5, -1.5), (None, None),
])
def test_safe_cell_and_restore_round_trip(raw, written):
    assert safe_cell(raw) == written, f"safe_cell({raw!r}) gave {safe_cell(raw)!r}, expected {written!r}"
    assert restore(written) == raw, f"restore({written!r}) gave {restore(written)!r}, expected {raw!r}"


def live_cells(path: Path) -> list[tuple[int, str]]:
    """Cells of a CSV that a spreadsheet would evaluate: (row number, cell)."""
    with open(path, newline="") as f:
        return [(n, cell) for n, row in enumerate(csv.reader(f)) for cell in row
                if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(cell)]


def test_formula_classes_and_ids_are_inert_in_every_csv(redis, redis_url, tmp_path, monkeypatch):
    from kernel.assignments import allocate
    from studies.loader import load_experiment
    from kernel.responses import complete, record_response
    from tests.fixtures.server import measured
    from kernel.tokens import TokenData
    from tests.fixtures.server import write_experiment

    # link ids "-x-001" and a worker "-BAD" start with "-" too; the id rule allows it
    exp_dir = write_experiment(tmp_path / "exp", experiment_id="-x", n_links=2, n_lists=5, n_trials=4,
                               classes=FORMULA_CLASSES, frame_counts=(1, 6))
    load_experiment(redis, exp_dir)
    lists = {link["link_id"]: link["lists"] for link in json.loads((exp_dir / "design.json").read_text())["links"]}

    async def scenario(r):
        for link_id, link_lists in sorted(lists.items()):
            for worker in ["W1", "W2", "W3", "-BAD"]:
                a = await allocate(r, link_id, worker, f"{worker}-{link_id}", "=HIT", cap=4, allotted_ms=3_600_000)
                token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
                for t, trial in enumerate(link_lists[a.list_index]):
                    right = (trial["frames"] == 1) if worker == "-BAD" else (trial["frames"] == 6)
                    wrong = next(c for c in FORMULA_CLASSES if c != trial["label"])
                    await record_response(r, token, t, trial["label"] if right else wrong, measured(trial["frames"]))
                await complete(r, token, f"code-{worker}")

    run_with_async_redis(redis_url, scenario)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    export = tmp_path / "responses.csv"
    result = CliRunner().invoke(cli, ["export", str(export)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    written = [export, *sorted(out.glob("*.csv"))]
    assert {"responses.csv", "accuracy.csv", "cells.csv", "mvt.csv", "repost.csv", "workers.csv",
            "worker_profiles.csv", "psychometric.csv"} <= {p.name for p in written}
    for path in written:
        assert live_cells(path) == [], f"{path.name} has cells a spreadsheet would evaluate"
    rows = pd.read_csv(export, dtype=str, keep_default_na=False)
    assert set(rows["label"]) == {"'" + c for c in FORMULA_CLASSES}
    assert set(rows["link_id"]) == {"'-x-001", "'-x-002"}
    assert "'-BAD" in set(rows["worker_id"]) and set(rows["hit_id"]) == {"'=HIT"}
    # reading the export back restores the raw values: analysis from the CSV equals analysis from Redis
    assert CliRunner().invoke(cli, ["export", str(export)]).exit_code == 0   # now with the replaced status
    for args, name in [([], "redis"), (["--responses", str(export)], "csv")]:
        result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / name), "--bootstrap", "0", *args])
        assert result.exit_code == 0, result.output
    for name in ("mvt.csv", "workers.csv", "accuracy.csv"):
        assert (tmp_path / "redis" / name).read_text() == (tmp_path / "csv" / name).read_text(), name
    workers = pd.read_csv(out / "workers.csv", dtype=str, keep_default_na=False)
    assert workers.loc[workers["flagged"] == "true", "worker_id"].tolist() == ["'-BAD"]
    accuracy = pd.read_csv(tmp_path / "csv" / "accuracy.csv", dtype=str, keep_default_na=False)
    assert set(accuracy.loc[accuracy["scope"] == "class", "label"]) == {"'" + c for c in FORMULA_CLASSES}


def test_platform_readers_restore_what_analysis_wrote(tmp_path, redis):
    from platforms.mturk.inputs import read_repost
    from platforms.mturk.workers import Screening
    from kernel.store import keys

    workers = tmp_path / "workers.csv"
    workers.write_text("worker_id,flagged,reason\n'-BAD,true,control accuracy\nW1,false,\n")
    assert Screening.from_csv(workers).flagged == {"-BAD": "control accuracy"}
    redis.hset(keys.mturk_link_hits("sandbox"), "-x-001", "HIT1")
    repost = tmp_path / "repost.csv"
    repost.write_text("HIT_Link,n_assignments,link_id\n'-x-001,2,'-x-001\n")
    assert read_repost(repost, redis, "sandbox") == {"HIT1": 2}
