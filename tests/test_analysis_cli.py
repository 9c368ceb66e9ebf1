"""`mvt analyze` end to end: from a responses CSV, and from Redis with --replace/--block."""

from __future__ import annotations

import csv
import re
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.accuracy import ACCURACY_COLUMNS
from analysis.analyze import OUTPUT_FILES
from analysis.mvt import MVT_COLUMNS
from analysis.responses import REQUIRED_COLUMNS
from analysis.screening import WORKER_COLUMNS
from cli import cli
from tests.fixtures.redis import run_with_async_redis

EVIL_LABEL = "<img src=x onerror=alert(1)>"
EVIL_WORKER = "<script>alert('w')</script>"

# image -> {frames: correct?} for honest workers; None = never shown at that duration
PROFILES = {
    "a": {1: False, 6: True, 60: True},      # MVT 6 frames
    "b": {1: True, 6: True, 60: True},       # MVT 1 frame
    "c": {1: False, 6: False, 60: False},    # unrecognised
    "d": {1: False, 6: None, 60: True},      # insufficient: the 6-frame cell decides
    "e": {1: False, 6: False, 60: True},     # MVT 60 frames
}


def write_responses(path: Path) -> int:
    rows = []
    workers = ["W1", "W2", "W3", "W4", EVIL_WORKER]
    for w, worker in enumerate(workers):
        trial = 0
        for image, profile in PROFILES.items():
            for frames, correct in profile.items():
                if correct is None:
                    continue
                if worker == EVIL_WORKER:
                    correct = frames == 1   # right only when it is hardest: flagged twice
                label = EVIL_LABEL if image == "c" else ("cat" if image in "ab" else "dog")
                rows.append([f"L{1 + w % 2}", f"A{w}", worker, "H1", trial, image, label, frames,
                             round(frames * 1000 / 60, 3), label if correct else "other", str(correct).lower(),
                             900, frames, "2026-01-01T00:00:00.000Z"])
                trial += 1
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REQUIRED_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


# Each worker answers 14 trials, below the correlation rule's default minimum of 20: the tests with
# this CSV lower it (--min-correlation-trials 1) so the evil worker is still flagged by that rule.
@pytest.fixture
def responses_csv(tmp_path):
    path = tmp_path / "responses.csv"
    write_responses(path)
    return path


def test_analyze_from_csv_writes_every_output(tmp_path, responses_csv):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(responses_csv), "--min-correlation-trials", "1",
                                      "--bootstrap", "200", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "70 responses, 56 used; 5 workers, 1 flagged; 5 images: 3 with an MVT, 1 unrecognised, 1 insufficient "
        "(rule stable)",
        "assignment_status missing for 70 response(s) of 5 assignment(s): kept as 'unknown' (used like complete "
        "ones; mvt export writes the column)",
        "wrote " + ", ".join(str(out / name) for name in OUTPUT_FILES),
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert OUTPUT_FILES[:5] == ("mvt.csv", "accuracy.csv", "workers.csv", "cells.csv", "report.html")
    assert header(out / "mvt.csv") == MVT_COLUMNS + ["p_mvt_f1", "p_mvt_f6", "p_mvt_f60", "threshold_ms",
                                                     "threshold_status", "threshold_text"]
    assert header(out / "accuracy.csv") == ACCURACY_COLUMNS
    assert header(out / "workers.csv") == WORKER_COLUMNS
    assert header(out / "cells.csv") == ["image_id", "label", "frames", "duration_ms", "n", "k", "p", "wilson_low",
                                         "wilson_high", "cp_low", "cp_high", "recognised", "duration_ms_exact",
                                         "isotonic_p", "fitted_p"]
    cells = pd.read_csv(out / "cells.csv", keep_default_na=False, dtype=str)
    assert len(cells) == 15   # 5 images x 3 durations, the never-shown cell included with n = 0
    assert cells[(cells["image_id"] == "d") & (cells["frames"] == "6")][["n", "wilson_low"]].values.tolist() == [["0", ""]]

    mvt = pd.read_csv(out / "mvt.csv", keep_default_na=False, dtype=str).set_index("image_id")
    assert mvt.loc[:, ["mvt_ms", "mvt_frames", "status", "n_responses"]].to_dict("index") == {
        "a": {"mvt_ms": "100", "mvt_frames": "6", "status": "ok", "n_responses": "12"},
        "b": {"mvt_ms": "17", "mvt_frames": "1", "status": "ok", "n_responses": "12"},
        "c": {"mvt_ms": "", "mvt_frames": "", "status": "unrecognised", "n_responses": "12"},
        "d": {"mvt_ms": "", "mvt_frames": "", "status": "insufficient", "n_responses": "8"},
        "e": {"mvt_ms": "1000", "mvt_frames": "60", "status": "ok", "n_responses": "12"},
    }
    assert mvt.loc["c", "label"] == EVIL_LABEL
    assert mvt.loc["b", "mvt_ms_exact"] == "16.6667"
    # unanimous cells resample to themselves
    assert mvt.loc["a", ["mvt_ms_ci_low", "mvt_ms_ci_high", "p_mvt_f6", "ci_high_unrecognised"]].tolist() == [
        "100", "100", "1", "false"]
    assert mvt.loc["c", ["mvt_ms_ci_low", "p_unrecognised", "ci_high_unrecognised"]].tolist() == ["", "1", "true"]
    assert mvt.loc["d", "p_insufficient"] == "1"

    acc = pd.read_csv(out / "accuracy.csv", keep_default_na=False)
    overall = acc[acc["scope"] == "overall"].set_index("frames")
    assert overall["n_responses"].to_dict() == {1: 20, 6: 16, 60: 20}
    assert overall["accuracy"].to_dict() == {1: 0.2, 6: 0.5, 60: 0.8}
    assert sorted(acc.loc[acc["scope"] == "class", "label"].unique()) == [EVIL_LABEL, "cat", "dog"]

    workers = pd.read_csv(out / "workers.csv", keep_default_na=False).set_index("worker_id")
    assert workers["flagged"].to_dict() == {"W1": False, "W2": False, "W3": False, "W4": False, EVIL_WORKER: True}
    # 5 control trials where the others had 16/20: an honest worker would fail the control rule with
    # probability P(X <= 2) = 10.1 % > 2 %, X ~ BetaBinomial(5, 17, 5) (the plug-in Binomial(5, 0.8):
    # 5.8 %), so the rule does not apply (issue 22)
    assert workers.loc[EVIL_WORKER, "reason"] == "correlation rule: r = -0.87 over 3 durations is below 0.25"
    assert workers.loc[EVIL_WORKER, "control_status"] == (
        "not applicable: with 5 control trial(s) an honest worker (others' accuracy there 0.80) would be flagged "
        "with probability 10.1% (the rule needs at most 2%)")

    report = (out / "report.html").read_text()
    for raw in (EVIL_LABEL, EVIL_WORKER):
        assert raw not in report
    assert "&lt;script&gt;alert(&#39;w&#39;)&lt;/script&gt;" in report
    assert "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "rule &#39;stable&#39;: MVT is the shortest duration recognised there and at every longer duration" in report
    assert report.count("data:image/png;base64,") >= 3
    assert "<script" not in report and 'src="http' not in report


@pytest.mark.slow  # several full analyses, each rendering the report
def test_bootstrap_output_is_reproducible_by_seed(tmp_path, responses_csv):
    outputs = []
    for run, seed in enumerate([7, 7, 8]):
        out = tmp_path / f"out{run}"
        result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(responses_csv), "--min-correlation-trials", "1",
                                          "--bootstrap", "300", "--seed", str(seed), "--min-r", "-1",
                                          "--control-threshold", "0"])
        assert result.exit_code == 0, result.output
        outputs.append((out / "mvt.csv").read_text())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


@pytest.mark.parametrize(("rule", "expected_a"), [("first", "100"), ("isotonic", "100")])
def test_rules_and_inclusive_option(tmp_path, responses_csv, rule, expected_a):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(responses_csv), "--min-correlation-trials", "1",
                                      "--rule", rule, "--theta", "0.5", "--inclusive", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(f"(rule {rule})")
    mvt = pd.read_csv(out / "mvt.csv", keep_default_na=False, dtype=str).set_index("image_id")
    assert mvt.loc["a", "mvt_ms"] == expected_a
    assert mvt.loc["a", "mvt_ms_ci_low"] == ""
    assert f"rule &#39;{rule}&#39;" in (out / "report.html").read_text()


@pytest.mark.parametrize("option", ["--replace", "--block"])
def test_replace_is_refused_for_a_csv(tmp_path, responses_csv, option):
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--responses", str(responses_csv), "--min-correlation-trials", "1",
                                      option])
    assert result.exit_code == 1
    assert result.output == (
        "error: --replace and --block change assignments in Redis, but --responses reads a CSV; run mvt analyze "
        "without --responses, with MVT_REDIS_URL (or MVT_DATA_DIR) pointing at the server\n")
    assert not (tmp_path / "o").exists()


def test_missing_csv_and_bad_theta(tmp_path):
    missing = tmp_path / "none.csv"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--responses", str(missing)])
    assert (result.exit_code, result.output) == (1, f"error: responses file {str(missing)!r} does not exist\n")
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--theta", "1.5"])
    assert result.exit_code == 2 and "theta (1.5) must be a proportion in [0, 1)" in result.output


# --- from Redis, through the server's library functions -------------------------------------------

@pytest.mark.slow  # several full analyses, each rendering the report
@pytest.mark.both_stores
def test_analyze_from_redis_replaces_and_blocks_flagged_workers(redis, redis_url, store_kind, tmp_path, monkeypatch):
    from kernel import admin
    from kernel.assignments import allocate
    from studies.loader import load_experiment
    from kernel.responses import complete, record_response
    from tests.fixtures.server import measured
    from kernel.tokens import TokenData
    from tests.fixtures.server import write_experiment

    # 6 trials a list, 3 at the control duration: BAD's 0 of 6 there is judged, the others being right
    # on 18 of 18 (an honest worker fails with probability 0.9 %; with 4 trials a list, 0 of 4 against
    # 12 of 12 gives 4.4 % and the control rule rightly stays out)
    exp_dir = write_experiment(tmp_path / "exp", n_links=2, n_lists=5, n_trials=6, classes=("cat", "dog"),
                               frame_counts=(1, 6))
    load_experiment(redis, exp_dir)
    design = json.loads((exp_dir / "design.json").read_text())
    lists = {link["link_id"]: link["lists"] for link in design["links"]}

    async def scenario(r):
        for link_id in sorted(lists):
            for w, worker in enumerate(["W1", "W2", "W3", "BAD", "SLOW"]):
                a = await allocate(r, link_id, worker, f"{link_id}-{worker}", "H1", cap=4, allotted_ms=3_600_000)
                token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
                trials = lists[link_id][a.list_index]
                for t, trial in enumerate(trials):
                    if worker == "SLOW" and t == 2:
                        break           # never finishes
                    right = trial["frames"] == 6 if worker != "BAD" else trial["frames"] == 1
                    answer = trial["label"] if right else ("dog" if trial["label"] == "cat" else "cat")
                    await record_response(r, token, t, answer, measured(trial["frames"]))
                if worker != "SLOW":
                    await complete(r, token, f"code-{worker}")

    run_with_async_redis(redis_url, scenario)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace", "--block",
                                      "--base-url", "https://mvt.example.org:8443/", "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    kind = "Redis Cluster, 3 masters" if store_kind == "cluster" else "single Redis"
    *lines, flag_line = result.output.splitlines()
    assert lines == [
        f"store: {redis_url} ({kind})",
        "experiment(s): synth",
        "52 responses, 36 used; 5 workers, 1 flagged; 12 images: 12 with an MVT, 0 unrecognised, 0 insufficient "
        "(rule stable)",
        "no platform records: all 52 responses unverified, all kept",
        "wrote " + ", ".join(str(out / name) for name in OUTPUT_FILES),
        f"marked 2 assignment(s) of 1 flagged worker(s) for replacement; 2 assignment(s) to repost on 2 link(s) "
        f"({out / 'repost.csv'})",
        "blocked 1 flagged worker(s)",
    ]
    assert re.fullmatch(r"flags: 1 raised by this analysis \(1 new\), 1 standing in the store \(run "
                        r"\d{8}T\d{6}Z-[0-9a-f]{4}; mvt unflag WORKER --reason TEXT clears one\)", flag_line)
    assert (out / "repost.csv").read_text() == (
        "HIT_Link,n_assignments,link_id\n"
        "https://mvt.example.org:8443/experiment.html?link=synth-001,1,synth-001\n"
        "https://mvt.example.org:8443/experiment.html?link=synth-002,1,synth-002\n")
    assert admin.blocked_workers(redis) == ["BAD"]
    assert [p.to_replace for p in admin.link_progress(redis)] == [1, 1]
    workers = pd.read_csv(out / "workers.csv", keep_default_na=False).set_index("worker_id")
    assert workers.loc["SLOW", "n_incomplete_excluded"] == 4 and not workers.loc["SLOW", "flagged"]
    assert workers.loc["BAD", "complete_assignment_ids"] == "synth-001-BAD synth-002-BAD"
    mvt = pd.read_csv(out / "mvt.csv", keep_default_na=False, dtype=str)
    assert set(mvt["mvt_frames"]) == {"6"}
    report = (out / "report.html").read_text()
    assert "lists per link from the server (Redis)" in report
    # `mvt export`'s CSV gives the same estimates as reading Redis (the marked assignments now
    # show as replaced, so re-analyse both ways after marking)
    from kernel.export import write_csv

    write_csv(redis, tmp_path / "export.csv")
    for args, name in [([], "redis"), (["--responses", str(tmp_path / "export.csv")], "csv")]:
        result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / name), "--bootstrap", "50", *args])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "redis" / "mvt.csv").read_text() == (tmp_path / "csv" / "mvt.csv").read_text()
    # BAD's work is marked for replacement, so no usable trial is left: from Redis the standing flag
    # keeps BAD flagged (it read flagged = false before); a CSV has no store to keep flags in
    from_redis = pd.read_csv(tmp_path / "redis" / "workers.csv", keep_default_na=False).set_index("worker_id")
    from_csv = pd.read_csv(tmp_path / "csv" / "workers.csv", keep_default_na=False).set_index("worker_id")
    assert from_redis.loc["BAD", "flagged"] and from_redis.loc["BAD", "flag_stored"]
    assert from_redis.loc["BAD", "correlation_status"] == "not applicable: no usable trials"
    assert from_redis.loc["BAD", "reason"].startswith("standing flag from analysis run ")
    assert from_redis.loc["BAD", "reason"].endswith("): control rule: accuracy 0.00 (0/6) at 6 frames (100 ms), "
                                                    "the longest duration seen, is below 0.6")
    assert not from_csv.loc["BAD", "flagged"]
    same = [c for c in from_csv.columns if c not in ("flagged", "reason", "flag_stored")]
    assert from_redis[same].equals(from_csv[same]) and from_redis.drop(index="BAD").equals(from_csv.drop(index="BAD"))
    # without --base-url the links come from design.json next to the loaded videos
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "again"), "--replace", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "again" / "repost.csv").read_text().splitlines()[1:] == [
        "https://127.0.0.1:8443/experiment.html?link=synth-001,1,synth-001",
        "https://127.0.0.1:8443/experiment.html?link=synth-002,1,synth-002"]
    # a second run finds the marks already made and marks nothing new
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "marked 0 assignment(s)" in result.output


def test_psychometric_option_fills_threshold(tmp_path):
    from analysis.synthetic import synthetic_responses

    path = tmp_path / "syn.csv"
    synthetic_responses(n_images=60, n_classes=4, rng=3).to_csv(path, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(path), "--psychometric",
                                      "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    mvt = pd.read_csv(out / "mvt.csv")
    assert mvt["threshold_ms"].notna().mean() > 0.9
    # the threshold and the MVT estimate the same thing on the same scale
    ok = mvt[mvt["status"] == "ok"]
    assert abs(float(pd.Series(ok["threshold_ms"] / ok["mvt_ms"]).apply("log").median())) < 0.7
    assert "psychometric thresholds" in (out / "report.html").read_text()


def test_no_responses_and_unreachable_redis(tmp_path, monkeypatch):
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(REQUIRED_COLUMNS) + "\n")
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--responses", str(empty)])
    assert (result.exit_code, result.output) == (
        1, "error: there are no responses to analyse; run the experiment (or pass a non-empty --responses CSV)\n")
    from tests.fixtures.redis import free_port

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach Redis at redis://127.0.0.1:")


def test_everyone_screened_out_is_explained():
    # one worker with a standing flag (no rule could judge them: nobody else answered): nothing is left
    from analysis.analyze import analyze
    from analysis.responses import prepare_responses
    from kernel.errors import NoResponses

    rows = pd.DataFrame([dict(zip(REQUIRED_COLUMNS, line.split(","))) for line in (
        "L1,A1,W1,H1,0,img1,cat,1,16.667,cat,true,500,,x", "L1,A1,W1,H1,1,img2,cat,6,100,dog,false,500,,x")])
    with pytest.raises(NoResponses) as info:
        analyze(prepare_responses(rows), n_bootstrap=0, standing_flags={"W1": "standing flag from analysis run R"})
    assert str(info.value) == (
        "no responses are left after screening (2 recorded: 0 in incomplete/replaced/expired assignments, "
        "0 with wrong timing, 1 of 1 workers flagged); lower --control-threshold or --min-r to keep more workers")


def test_columns_the_analysis_does_not_use_are_read_for_by_and_metadata(tmp_path, responses_csv):
    """mvt analyze --responses reads only the columns it uses, plus --by's and the metadata's: a
    column outside READ_COLUMNS still splits the analysis, and a metadata column of that name is
    still refused as ambiguous."""
    from analysis.analyze import READ_COLUMNS

    df = pd.read_csv(responses_csv, dtype=str, keep_default_na=False)
    df["input_type"] = df["image_id"].map({"a": "mouse", "b": "mouse"}).fillna("touch")
    df.to_csv(responses_csv, index=False)
    assert "input_type" not in READ_COLUMNS
    out = tmp_path / "out"
    args = ["analyze", "--out", str(out), "--responses", str(responses_csv), "--min-correlation-trials", "1",
            "--bootstrap", "0"]
    result = CliRunner().invoke(cli, args + ["--by", "input_type"])
    assert result.exit_code == 0, result.output
    mvt = pd.read_csv(out / "mvt.csv", keep_default_na=False, dtype=str)
    assert dict(zip(mvt["image_id"], mvt["input_type"])) == {"a": "mouse", "b": "mouse", "c": "touch", "d": "touch",
                                                             "e": "touch"}
    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,input_type\na,pen\n")
    result = CliRunner().invoke(cli, args + ["--metadata", str(meta)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "error: metadata column 'input_type' is also a responses column; rename it"


def test_by_splits_class_panels_profiles_and_workers(tmp_path, responses_csv):
    """--by source (a, b ImageNet; c, d, e ObjectNet): the per-class panels, the profile grid and
    the workers' figure are split by group (named in their alt text), the class table has a
    group column, and worker_profiles_by_group.csv holds each worker's k/n within each group."""
    from analysis.analyze import BY_OUTPUT_FILES

    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,source\na,ImageNet\nb,ImageNet\nc,ObjectNet\nd,ObjectNet\ne,ObjectNet\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(responses_csv), "--min-correlation-trials", "1",
                                      "--metadata", str(meta), "--by", "source", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES + BY_OUTPUT_FILES)
    html = (out / "report.html").read_text()
    groups = "source = ImageNet; source = ObjectNet"
    alts = re.findall(r'<img alt="([^"]*)"', html)
    assert alts == ["plot", f"MVT per class, split by source: {groups}",
                    "MVT of the rule against the psychometric threshold per image", "plot",
                    f"accuracy profiles of sampled images, split by source: {groups}", "plot",
                    f"workers&#39; profiles, split by source: {groups}", "plot"]
    assert "A random sample of 5 of 5 images, up to 8 per source (2 of 2 source = ImageNet, " \
           "3 of 3 source = ObjectNet)" in html
    # the class table: one row per (group, class); cat in ImageNet: a at 6 frames, b at 1 frame
    row = re.search(r"<td class=\"t\">ImageNet</td><td class=\"t\">cat</td>((?:<td class=\"\">\d+</td>)+)", html)
    assert row and re.findall(r">(\d+)<", row.group(1)) == ["1", "1", "0", "0", "0"]
    by_group = pd.read_csv(out / "worker_profiles_by_group.csv", keep_default_na=False)
    assert list(by_group.columns) == ["group", "worker_id", "flagged", "frames", "duration_ms", "n", "k", "accuracy"]
    w1 = by_group[by_group["worker_id"] == "W1"].set_index(["group", "frames"])
    # W1 (honest): ImageNet a wrong and b right at 1 frame, both right later; ObjectNet c, e
    # wrong at 1 and 6 frames (d not shown at 6), d and e right at 60
    assert w1[["n", "k"]].to_dict("index") == {
        ("ImageNet", 1): {"n": 2, "k": 1}, ("ImageNet", 6): {"n": 2, "k": 2}, ("ImageNet", 60): {"n": 2, "k": 2},
        ("ObjectNet", 1): {"n": 3, "k": 0}, ("ObjectNet", 6): {"n": 2, "k": 0}, ("ObjectNet", 60): {"n": 3, "k": 2}}
    assert w1.loc[("ObjectNet", 60), "accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    evil = by_group[by_group["worker_id"] == EVIL_WORKER]
    assert evil["flagged"].all() and not w1["flagged"].any() and evil.groupby("group")["k"].sum().to_dict() == {"ImageNet": 2,
                                                                                                "ObjectNet": 3}
    # per group the n of every worker add up to the usable responses (70 recorded, all usable)
    assert by_group["n"].sum() == 70
