"""``mvt analyze`` on a rating study taken through the real API: from Redis (with --replace) and from a CSV."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.ratings import gold_scores
from cli import cli
from kernel.export import write_csv
from studies.loader import load_experiment
from studies.mvt import MVTKind
from studies.ratings import RatingsKind
from tests.fixtures.ratings import with_study

SCORE = {"REF": 5, "lowpass": 4, "noise": 3, "ANC": 1}


def inverter(worker: str, trial: dict) -> int:
    """W1 and W2 rate by algorithm, INV inverts the scale."""
    score = SCORE[trial["sample_id"].split("/")[1]]
    return 6 - score if worker == "INV" else score


def take_every_list(client, design, workers=("W1", "W2", "INV"), score_of=inverter):
    """Each of three workers takes one list of every link (with R = 3 these are all lists) and
    answers ``score_of(worker, trial)``.

    With the `inverter`, each honest worker's leave-one-out item means are 3 everywhere (the
    other honest worker and the inverter cancel): r is undefined and does not flag them.
    """
    for link in design["links"]:
        for worker in workers:
            body = client.post("/api/assignments", json={"link": link["link_id"], "worker_id": worker,
                                                         "assignment_id": f"{link['link_id']}-{worker}",
                                                         "hit_id": "H"}).json()
            row = next(i for i, trials in enumerate(link["lists"])
                       if [t["media_id"] for t in trials] == [t["media_url"][8:24] for t in body["trials"]])
            for k, t in enumerate(link["lists"][row]):
                score = score_of(worker, t)
                r = client.post("/api/responses", json={"assignment_token": body["assignment_token"], "trial": k,
                                                        "response": str(score), "response_time_ms": 3000})
                assert r.json()["recorded"], r.json()
            assert client.post("/api/complete", json={"assignment_token": body["assignment_token"]}).status_code == 200


def test_analyze_a_rating_study_from_redis_and_from_its_csv(ratings_client, redis, redis_url, ratings_acr, tmp_path,
                                                            monkeypatch):
    load_experiment(redis, ratings_acr)
    design = json.loads((ratings_acr / "design.json").read_text())
    take_every_list(ratings_client, design)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace"])
    assert result.exit_code == 0, result.output
    store, *lines = result.output.splitlines()
    assert store == f"store: {redis_url} (single Redis)"
    assert lines[0] == "32 ratings used; 3 workers, 1 flagged; 0 assignment(s) too fast; design random (acr)"
    assert lines[1].startswith("per algorithm: REF 5.00 [") and "lowpass 4.00 [" in lines[1]
    assert lines[3] == ("marked 4 assignment(s) of flagged or too fast workers for replacement; 4 assignment(s) to "
                        f"repost on 4 link(s) ({out / 'repost.csv'})")
    # issue 22: rating studies write repost.csv and progress.csv like MVT studies
    repost = pd.read_csv(out / "repost.csv")
    assert list(repost.columns) == ["HIT_Link", "n_assignments", "link_id"] and repost["n_assignments"].tolist() == [1] * 4
    assert repost["HIT_Link"].tolist() == [f"{design['base_url'].rstrip('/')}/experiment.html?link={link}"
                                           for link in repost["link_id"]]
    progress = pd.read_csv(out / "progress.csv").set_index("link_id")
    assert progress["to_replace"].tolist() == [1] * 4 and progress["flagged"].tolist() == [1] * 4
    assert (progress["complete"] == 2).all()
    workers = pd.read_csv(out / "workers.csv").set_index("worker_id")
    assert workers.loc["INV", "reason"] == "scores correlate with the other workers' item means at r = -1.00 < 0.25"
    by_alg = pd.read_csv(out / "mos_by_algorithm.csv").set_index("algorithm")
    assert by_alg.loc[["ANC", "REF"], "mos"].tolist() == [1.0, 5.0] and by_alg["n_workers"].eq(2).all()

    write_csv(redis, tmp_path / "responses.csv")
    exported = pd.read_csv(tmp_path / "responses.csv", dtype=str, keep_default_na=False)
    assert tuple(exported.columns) == RatingsKind.export_columns  # a rating's own columns, not image_id/label/frames
    first = exported.iloc[0]
    source, algorithm = first["sample_id"].rsplit("/", 1)
    assert (first["source"], first["algorithm"], first["trial_type"], first["design"], first["rating_scale"],
            first["reference"], first["expected_rating"], first["correct"]) == (
        source, algorithm, "sample", "random", "acr", "", "", "")
    assert exported["rating"].tolist() == [str(inverter(w, {"sample_id": s}))
                                           for w, s in zip(exported["worker_id"], exported["sample_id"])]
    # The same ratings as the version before this one exported them (MVT's columns: image_id held the
    # sample id, response the rating, frames 0): users' existing files are analysed the same.
    old = exported.rename(columns={"sample_id": "image_id", "rating": "response", "media_id": "video_id"}).assign(
        label="", frames="0", duration_ms="0.0", correct="false", presented_frames="", image_ms_measured="",
        mask_frames_presented="").reindex(columns=MVTKind.export_columns)
    old.to_csv(tmp_path / "old.csv", index=False)
    for name in ("responses.csv", "old.csv"):
        csv_out = tmp_path / f"out-{name}"
        result = CliRunner().invoke(cli, ["analyze", "--out", str(csv_out), "--responses", str(tmp_path / name),
                                          "--ratings", str(ratings_acr)])
        assert result.exit_code == 0, result.output
        assert pd.read_csv(csv_out / "mos_by_algorithm.csv").equals(pd.read_csv(out / "mos_by_algorithm.csv"))
    for name in ("mos_by_sample.csv", "workers.csv", "progress.csv"):
        assert (tmp_path / "out-old.csv" / name).read_text() == (tmp_path / "out-responses.csv" / name).read_text()


def test_algorithms_without_a_crowdmos_interval_get_a_bounded_one(ratings_acr, tmp_path):
    """One link taken (one sample per algorithm, df 0): each algorithm still gets an interval on the
    1-5 scale with positive width, named by its method (the summary printed "[nan, nan]", then
    "[no interval, df 0]")."""
    link = json.loads((ratings_acr / "design.json").read_text())["links"][0]
    scores = {"REF": 5, "lowpass": 4, "noise": 3, "ANC": 1}
    pd.DataFrame([{"link_id": link["link_id"], "assignment_id": f"A{w}", "worker_id": f"W{w}", "trial": k,
                   "image_id": t["sample_id"], "response": str(scores[t["sample_id"].split("/")[1]]),
                   "assignment_status": "complete", "response_time_ms": 3000}
                  for w, trials in enumerate(link["lists"]) for k, t in enumerate(trials)]).to_csv(
        tmp_path / "r.csv", index=False)
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--responses", str(tmp_path / "r.csv"),
                                      "--ratings", str(ratings_acr)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "o" / "mos_by_algorithm.csv").set_index("algorithm")
    assert (table["df"] == 0).all() and (table["ci_method"] == "wilson on the rescaled mean: ν < 2").all()
    assert (table["ci_low"] >= 1).all() and (table["ci_high"] <= 5).all() and (table["ci_high"] > table["ci_low"]).all()
    assert ((table["ci_low"] <= table["mos"]) & (table["mos"] <= table["ci_high"])).all()
    assert result.output.splitlines()[1] == "per algorithm: " + ", ".join(
        f"{a} {table.loc[a, 'mos']:.2f} [{table.loc[a, 'ci_low']:.2f}, {table.loc[a, 'ci_high']:.2f}] "
        f"(wilson on the rescaled mean: ν < 2)" for a in ("REF", "lowpass", "noise", "ANC"))
    report = " ".join((tmp_path / "o" / "report.html").read_text().split())
    assert "Where ν &lt; 2 or its variance is 0 (every rating equal) the interval is the Wilson score interval" in report


@pytest.mark.parametrize("option", ["--design", "--ratings"])  # --ratings: the option's earlier name
def test_design_option_is_refused_for_a_fixed_mvt_study(tmp_path, synthetic_experiment, option):
    (tmp_path / "r.csv").write_text("worker_id\n")
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--responses", str(tmp_path / "r.csv"),
                                      option, str(synthetic_experiment)])
    assert result.exit_code == 1
    design = synthetic_experiment / "design.json"
    assert result.output == (f"error: --design {synthetic_experiment}: {design} is a fixed MVT study, whose "
                             f"analysis needs no design; leave --design out\n")


def gold_misser(worker: str, trial: dict) -> int:
    """Everyone rates the samples by algorithm; on gold, W1 and W2 answer the known score, W3 one
    point off (within P.808's tolerance) and MISS the far end of the scale."""
    if "gold" not in trial:
        return SCORE[trial["sample_id"].split("/")[1]]
    known = trial["gold"]
    return {"MISS": 6 - known, "W3": known - 1 if known > 1 else known + 1}.get(worker, known)


def test_gold_flags_from_redis_with_replace_and_the_same_from_the_exported_csv(
        ratings_client, redis, redis_url, ratings_gold, tmp_path, monkeypatch):
    load_experiment(redis, ratings_gold)
    design = json.loads((ratings_gold / "design.json").read_text())
    take_every_list(ratings_client, design, workers=("W1", "W3", "MISS"), score_of=gold_misser)
    write_csv(redis, tmp_path / "responses.csv")  # before --replace marks MISS's assignments
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "32 ratings used; 3 workers, 1 flagged; 0 assignment(s) too fast; design random (acr)"
    assert lines[4].startswith("marked 4 assignment(s) of flagged or too fast workers for replacement; 4 assignment(s)")
    workers = pd.read_csv(out / "workers.csv", keep_default_na=False).set_index("worker_id")
    assert workers.loc["MISS", "reason"] == ("rated 4 of 4 gold sample(s) more than 1 point from the known score "
                                             "(100%, more than 0%)")
    assert workers["flag_gold"].tolist() == [True, False, False] and workers["n_gold"].eq(4).all()
    assert workers["n_gold_missed"].tolist() == [4, 0, 0]  # MISS, W1, W3
    by_sample = pd.read_csv(out / "mos_by_sample.csv")
    assert len(by_sample) == 16 and not by_sample["sample_id"].str.startswith("gold/").any()
    report = (out / "report.html").read_text()
    assert "<th>gold missed</th>" in report and "<td>4 of 4</td>" in report

    exported = pd.read_csv(tmp_path / "responses.csv")
    gold_rows = exported[exported["trial_type"] == "gold"]
    assert gold_rows["sample_id"].str.startswith("gold/").all() and gold_rows["source"].isna().all()
    assert gold_rows["expected_rating"].tolist() == [gold_scores(design)[s] for s in gold_rows["sample_id"]]
    assert len(gold_rows) == 12 and gold_rows.groupby("worker_id")["correct"].all().to_dict() == {
        "MISS": False, "W1": True, "W3": False}  # exact agreement; the tolerance is the analysis'
    csv_out = tmp_path / "csv_out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(csv_out), "--responses", str(tmp_path / "responses.csv"),
                                      "--ratings", str(ratings_gold)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(csv_out / "workers.csv", keep_default_na=False).set_index("worker_id").equals(workers)


def test_a_pilot_with_every_assignment_too_fast_is_written_and_marked_for_replacement(
        ratings_client, redis, redis_url, ratings_acr, tmp_path, monkeypatch):
    """Nothing to estimate (every assignment faster than min_sample_ms): workers.csv and the report
    are still written, and --replace marks every assignment, so the study can be reposted."""
    exp = with_study(ratings_acr, tmp_path, {"min_sample_ms": 5000})  # the workers below take 3000 ms per sample
    design = json.loads((exp / "design.json").read_text())
    load_experiment(redis, exp)
    take_every_list(ratings_client, design)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:]
    assert lines[0] == "0 ratings used; 3 workers, 0 flagged; 12 assignment(s) too fast; design random (acr)"
    assert lines[1] == ("no estimate: all 12 complete assignment(s) took less than the study's min_sample_ms (5000 ms) "
                        "per sample on average (their means: 3000 to 3000 ms), so none is left to analyse")
    assert lines[3].startswith("marked 12 assignment(s) of flagged or too fast workers for replacement; 12 assignment(s) "
                               "to repost on 4 link(s)")
    assert pd.read_csv(out / "workers.csv")["n_slow_excluded"].sum() == 3 * 16  # every rating of 3 workers
    assert "No estimate:" in (out / "report.html").read_text()


def test_the_rating_page_shows_the_study_files_words_and_serves_its_panel(ratings_client, redis, tmp_path):
    from tests.test_ratings_build import SHARED_STUDY, build_ratings_cli

    study = tmp_path / "study.toml"
    study.write_text(SHARED_STUDY)
    assert build_ratings_cli(tmp_path, study, exp="spoken").exit_code == 0
    load_experiment(redis, tmp_path / "spoken")
    page = ratings_client.get("/panel", params={"experiment": "spoken", "survey_code": "S-1"})
    assert page.status_code == 200, page.text
    text = " ".join(page.text.split())
    assert '<h1 id="consent-title" tabindex="-1">Speech quality</h1>' in text
    assert ("<p>Listen to short recordings and rate each one. It takes about 6 minutes. Pay: GBP 1.50. "
            "Please use headphones in a quiet place.</p>") in text
    assert ("<p>We record your ratings for the Example Lab.</p> <p>You may stop at any time.</p> "
            "<p>Questions: lab@example.org.</p>") in text
    assert "We record your worker ID" not in text
@pytest.mark.parametrize("option, value, message", [
    ("--min-r", "-2", "error: --min-r (-2) must be a correlation from -1 to 1\n"),
    ("--z-limit", "0", "error: --z-limit (0) must be a positive number of standard deviations\n"),
    ("--max-outlier-share", "1.5", "error: --max-outlier-share (1.5) must be a share from 0 to below 1\n"),
    ("--min-screen-ratings", "0", "error: --min-screen-ratings (0) must be at least 1\n"),
    ("--ddof", "2", "error: --ddof (2) must be 0 or 1\n"),
])
def test_bad_screening_options_are_one_line_errors(tmp_path, option, value, message):
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--responses",
                                      str(tmp_path / "r.csv"), option, value])
    assert (result.exit_code, result.output) == (1, message)
    assert not (tmp_path / "o").exists()


def test_screening_options_reach_the_rating_analysis(ratings_client, redis, ratings_acr, tmp_path):
    """--no-rating-screen keeps the scale inverter; --ddof 0 is written per algorithm."""
    load_experiment(redis, ratings_acr)
    take_every_list(ratings_client, json.loads((ratings_acr / "design.json").read_text()))
    write_csv(redis, tmp_path / "responses.csv")
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(tmp_path / "responses.csv"),
                                      "--ratings", str(ratings_acr), "--no-rating-screen", "--ddof", "0"])
    assert result.exit_code == 0, result.output
    workers = pd.read_csv(out / "workers.csv").set_index("worker_id")
    assert not workers["flagged"].any() and workers.loc["INV", "correlation_status"] == "not applicable: rating screen off"
    assert (pd.read_csv(out / "mos_by_algorithm.csv")["ddof"] == 0).all()
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(tmp_path / "responses.csv"),
                                      "--ratings", str(ratings_acr)])
    assert pd.read_csv(out / "workers.csv").set_index("worker_id").loc["INV", "flag_correlation"]


def test_rating_analysis_honours_verified_only(ratings_client, redis, redis_url, ratings_acr, tmp_path, monkeypatch):
    """Issue 22: rating studies ignored --verified-only. MTurk lists only W1's and W2's submissions:
    by default (records exist) INV's completed work is dropped; --all-work keeps it."""
    from kernel.store import keys

    load_experiment(redis, ratings_acr)
    design = json.loads((ratings_acr / "design.json").read_text())
    take_every_list(ratings_client, design)
    for link in design["links"]:
        for worker in ("W1", "W2"):
            assignment_id = f"{link['link_id']}-{worker}"
            redis.hset(keys.mturk_assignments("sandbox"), assignment_id, json.dumps(
                {"assignment_id": assignment_id, "worker_id": worker, "hit_id": "H", "status": "Submitted"}))
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    assert "32 of 48 responses verified by the platform; dropped 16 (16 no_platform_record)" in result.output
    assert sorted(pd.read_csv(tmp_path / "v" / "workers.csv")["worker_id"]) == ["W1", "W2"]
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "all"), "--all-work"])
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_csv(tmp_path / "all" / "workers.csv")["worker_id"]) == ["INV", "W1", "W2"]
