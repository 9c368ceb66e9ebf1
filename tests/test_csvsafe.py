"""Spreadsheet formulas in class names, ids and labels never reach a CSV the project writes as live cells."""

from __future__ import annotations

import csv
import io
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
    # formulas behind leading whitespace, invisible characters and in full-width or small forms
    (" =1+2", "' =1+2"), ("\n=1", "'\n=1"), ("\u00a0@x", "'\u00a0@x"), ("\u3000+1", "'\u3000+1"),
    ("\u200b=1", "'\u200b=1"), ("\ufeff@x", "'\ufeff@x"), ("\u2060\u200d -cmd", "'\u2060\u200d -cmd"),
    ("\u202e=1", "'\u202e=1"), ("＝1+2", "'＝1+2"), ("＋cmd", "'＋cmd"), ("－2", "'－2"), ("＠SUM(A1)", "'＠SUM(A1)"),
    ("﹦1", "'﹦1"), (" \u200b＝1", "' \u200b＝1"), ("' =x", "'' =x"),
    (" cat", " cat"), ("\u200bcat", "\u200bcat"), ("ok =1", "ok =1"), ("a＝b", "a＝b"),
])
def test_safe_cell_and_restore_round_trip(raw, written):
    assert safe_cell(raw) == written, f"safe_cell({raw!r}) gave {safe_cell(raw)!r}, expected {written!r}"
    assert restore(written) == raw, f"restore({written!r}) gave {restore(written)!r}, expected {raw!r}"


def mvt_export(tmp_path: Path, monkeypatch, redis_url: str) -> Path:
    """``mvt export`` of the store at ``redis_url`` into ``tmp_path/responses.csv``, run from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    export = tmp_path / "responses.csv"
    result = CliRunner().invoke(cli, ["export", str(export)])
    assert result.exit_code == 0, result.output
    return export


def live_cells(path: Path) -> list[tuple[int, str]]:
    """Cells of a CSV that a spreadsheet would evaluate, also after trimming: (row number, cell)."""
    with open(path, newline="") as f:
        return [(n, cell) for n, row in enumerate(csv.reader(f)) for cell in row
                if (cell[:1] in ("=", "+", "-", "@", "\t", "\r") or cell.strip("\u200b\ufeff \n\r\t")[:1] in "=+-@＝＋－＠")
                and cell.strip() and not NUMBER.fullmatch(cell)]


def test_formula_classes_and_ids_are_inert_in_every_csv(redis, redis_url, tmp_path, monkeypatch):
    from kernel.assignments import allocate
    from studies.loader import load_experiment
    from kernel.responses import complete, record_response
    from tests.fixtures.server import measured
    from kernel.tokens import TokenData
    from tests.fixtures.server import write_experiment

    # link ids "-x-001" and a worker "-BAD" start with "-" too; the id rule allows it. 6 trials a list (3 at
    # the control duration), so that the control rule judges -BAD (0 of 6 against the others' 18 of 18)
    exp_dir = write_experiment(tmp_path / "exp", experiment_id="-x", n_links=2, n_lists=5, n_trials=6,
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
    export = mvt_export(tmp_path, monkeypatch, redis_url)
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
    for name in ("mvt.csv", "accuracy.csv"):
        assert (tmp_path / "redis" / name).read_text() == (tmp_path / "csv" / name).read_text(), name
    # The store keeps the first run's flag (issue 22: a flag stays), which a CSV cannot carry:
    # the workers tables agree but for that standing flag.
    from_redis, from_csv = (pd.read_csv(tmp_path / name / "workers.csv", dtype=str, keep_default_na=False)
                            for name in ("redis", "csv"))
    standing = from_redis["flag_stored"] == "true"
    assert from_redis.loc[standing, "worker_id"].tolist() == ["'-BAD"]
    assert from_redis.loc[standing, "reason"].str.startswith("standing flag from analysis run").all()
    flags = ["flagged", "reason", "flag_stored"]
    assert from_redis.drop(columns=flags).equals(from_csv.drop(columns=flags))
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


HOSTILE_COMMENTS = ("fine\r=HYPERLINK(\"http://evil.example\",\"x\")", "two\nlines, \"quoted\"\r\n@SUM(A1)",
                    " =1+2", "\u200b＝cmd", "plain")


@pytest.mark.parametrize("rows", [[["a\rb", "=1"], ["c", "d\r\ne"]], [["\r"], ["x\ny"]]])
def test_writer_quotes_carriage_returns_and_newlines(rows):
    from kernel.csvsafe import writer

    buf = io.StringIO()
    writer(buf).writerows(rows)
    text = buf.getvalue()
    assert text.count("\n") - sum(c.count("\n") for row in rows for c in row) == len(rows)   # rows end in \n
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert [[restore(c) for c in row] for row in read] == rows


def test_write_frame_quotes_carriage_returns(tmp_path):
    from kernel.csvsafe import write_frame

    df = pd.DataFrame({"comment": ["ok\r=1", "x"], "n": [1.5, float("nan")]})
    write_frame(df, tmp_path / "t.csv", float_format="%.6g")
    assert (tmp_path / "t.csv").read_bytes() == b'comment,n\n"ok\r=1",1.5\nx,\n'


def test_write_frame_formats_floats_as_pandas_does(tmp_path):
    """Float columns formatted once per distinct value give pandas' own bytes: -0.0 stays -0,
    NaN is empty, infinities and tiny or huge values keep %.6g's form."""
    from kernel.csvsafe import write_frame

    values = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1 / 3, 1 / 3, -2.5e-12, 123456789.0, 0.1 + 0.2, 1.0]
    df = pd.DataFrame({"x": values, "y": values[::-1], "id": [f"i{i}" for i in range(len(values))]})
    write_frame(df, tmp_path / "t.csv", float_format="%.6g")
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False, float_format="%.6g", lineterminator="\n")


HOSTILE_CELLS = (*HOSTILE_COMMENTS, "=1+2", "'=x", "''@y", "-2+3", "-1.5", "+3", "\t=1", "\r=1", "\n=1", "'quoted",
                 "\u00a0@x", "\ufeff@x", "﹦1", "a\"b", '""', "\"", "x\r\ny", "\r\n", "", None, "cat")


def test_write_frame_and_restore_frame_match_the_row_by_row_rules(tmp_path):
    """The whole-column paths (each distinct value once, quotes split once) give the bytes of the
    row writer and the values of `restore` cell by cell, on every hostile cell, repeated and mixed."""
    from kernel.csvsafe import restore_frame, write_frame, writer

    cells = list(HOSTILE_CELLS) * 3
    df = pd.DataFrame({"a": cells, "b": cells[::-1], "n": range(len(cells)), "flag": ["true", "false"] * (len(cells) // 2)
                       + ["true"] * (len(cells) % 2)})
    write_frame(df, tmp_path / "frame.csv")
    buf = io.StringIO(newline="")
    w = writer(buf)
    w.writerow(df.columns)
    w.writerows([["" if pd.isna(v) else v for v in row] for row in df.itertuples(index=False, name=None)])
    assert (tmp_path / "frame.csv").read_bytes() == buf.getvalue().encode()
    written = pd.read_csv(tmp_path / "frame.csv", dtype=str, keep_default_na=False, na_values=[""])
    expected = written.copy()
    for col in ("a", "b"):
        expected[col] = expected[col].map(restore)
    assert restore_frame(written, ("a", "b", "missing")).equals(expected)
    assert [None if pd.isna(v) else v for v in written["a"]] == [None if v in (None, "") else v for v in cells]


def test_hostile_comment_round_trips_through_export_and_analyze(redis, redis_url, tmp_path, monkeypatch):
    """A debrief comment with a bare CR, a newline, quotes and hidden formulas stays one cell in `mvt export`
    and in /admin/export.csv's text, and `mvt analyze --responses` reads the export back to the same comment."""
    from analysis.responses import read_responses_csv
    from kernel.assignments import allocate
    from kernel.export import csv_text
    from kernel.responses import complete, record_response
    from kernel.tokens import TokenData
    from studies.loader import load_experiment
    from tests.fixtures.server import measured, write_experiment

    exp_dir = write_experiment(tmp_path / "exp", experiment_id="cr", n_links=1, n_lists=5, n_trials=3,
                               classes=("cat", "dog"), frame_counts=(1, 6))
    load_experiment(redis, exp_dir)
    (link,) = json.loads((exp_dir / "design.json").read_text())["links"]

    async def scenario(r):
        for n, comment in enumerate(HOSTILE_COMMENTS):
            a = await allocate(r, link["link_id"], f"W{n}", f"A{n}", "HIT", cap=4, allotted_ms=3_600_000)
            token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
            for t, trial in enumerate(link["lists"][a.list_index]):
                await record_response(r, token, t, trial["label"], measured(trial["frames"]))
            await complete(r, token, "code", comment=comment)

    run_with_async_redis(redis_url, scenario)
    export = mvt_export(tmp_path, monkeypatch, redis_url)
    n_responses = 3 * len(HOSTILE_COMMENTS)
    for text in (export.read_bytes().decode(), csv_text(redis)):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) == 1 + n_responses and {len(row) for row in rows} == {len(rows[0])}
        comments = [row[rows[0].index("comment")] for row in rows[1:]]
        assert sorted({restore(c) for c in comments}) == sorted(HOSTILE_COMMENTS)
    assert live_cells(export) == []
    assert sorted(read_responses_csv(export)["comment"]) == sorted(c for c in HOSTILE_COMMENTS for _ in range(3))
    result = CliRunner().invoke(cli, ["analyze", "--responses", str(export), "--out", str(tmp_path / "out"),
                                      "--bootstrap", "0"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_hostile_source_and_algorithm_names_are_inert_in_a_ratings_export(ratings_client, redis, redis_url, tmp_path,
                                                                           monkeypatch):
    """crowdMOS input names are free text: a source named like a formula reaches the ratings kind's own columns
    (``sample_id``, ``source``, ``algorithm``, ``reference``) as inert cells, and analysis reads them back."""
    from stimuli.ratings_build import build_ratings
    from studies.loader import load_experiment
    from tests.fixtures.ratings import RATINGS_SAMPLES
    from tests.test_ratings_cli import take_every_list

    sources = {"picture1": "=HYPERLINK(\"http://x\")", "picture2": "@SUM(A1)", "picture3": "+cmd",
               "picture4": "\u200b-2+3"}
    algorithms = {"REF": "REF", "jpeg90": "＝jpeg90", "jpeg20": "-jpeg20"}
    tsv = tmp_path / "hostile.tsv"
    lines = [line.split("\t") for line in (RATINGS_SAMPLES / "images.tsv").read_text().splitlines()]
    tsv.write_text("".join(f"{sources[s]}\t{algorithms[a]}\t{RATINGS_SAMPLES / f}\n" for s, a, f in lines))
    exp_dir = tmp_path / "hostile"
    build_ratings(tsv, exp_dir, design="dsis", samples_per_task=3, ratings_per_sample=1,
                  base_url="https://127.0.0.1:8443", seed=0)
    load_experiment(redis, exp_dir)
    take_every_list(ratings_client, json.loads((exp_dir / "design.json").read_text()), workers=("W1",),
                    score_of=lambda worker, trial: 3)
    export = mvt_export(tmp_path, monkeypatch, redis_url)
    assert live_cells(export) == []
    table = pd.read_csv(export, dtype=str, keep_default_na=False)
    assert {restore(s) for s in table["source"]} == set(sources.values())
    assert {restore(a) for a in table["algorithm"]} == set(algorithms.values())
    assert {restore(r) for r in table["reference"]} == {f"{s}/REF" for s in sources.values()}
    assert {restore(s) for s in table["sample_id"]} == {f"{s}/{a}" for s in sources.values() for a in algorithms.values()}
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--responses", str(export), "--ratings", str(exp_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    by_algorithm = pd.read_csv(out / "mos_by_algorithm.csv", dtype=str, keep_default_na=False)
    assert {restore(a) for a in by_algorithm["algorithm"]} == set(algorithms.values())
    assert [cells for name in ("mos_by_algorithm.csv", "mos_by_sample.csv", "workers.csv")
            if (cells := live_cells(out / name))] == []
