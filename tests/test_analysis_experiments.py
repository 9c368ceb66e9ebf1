"""Two experiments in one Redis (`mvt analyze/export --experiment`), and a between-subjects study
analysed end to end with --replace (issue 12)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import cli
from tests.fixtures.redis import run_with_async_redis


def without_store(output: str) -> str:
    """The command's output after its first line, ``store: …`` (which store it used)."""
    first, _, rest = output.partition("\n")
    return rest if first.startswith("store: ") else output


def _run_workers(redis_url, lists_by_link, answer):
    """Every list of every link done by its own worker; answer(trial) says right or wrong."""
    from kernel.assignments import allocate
    from kernel.responses import complete, record_response
    from tests.fixtures.server import measured
    from kernel.tokens import TokenData

    async def scenario(r):
        for link_id, lists in sorted(lists_by_link.items()):
            for i in range(len(lists)):
                worker = f"{link_id}-W{i}"
                a = await allocate(r, link_id, worker, f"A-{worker}", "H1", cap=9, allotted_ms=3_600_000)
                token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
                for t, trial in enumerate(lists[a.list_index]):
                    right = answer(trial)
                    await record_response(r, token, t, trial["label"] if right else
                                          ("dog" if trial["label"] == "cat" else "cat"), measured(trial["frames"]))
                await complete(r, token, f"code-{worker}")
    run_with_async_redis(redis_url, scenario)


def _load(redis, exp_dir):
    from studies.loader import load_experiment

    load_experiment(redis, exp_dir)
    design = json.loads((exp_dir / "design.json").read_text())
    return {link["link_id"]: link["lists"] for link in design["links"]}


@pytest.mark.slow  # several full analyses, each rendering the report
def test_two_experiments_in_one_redis(redis, redis_url, tmp_path, monkeypatch):
    from tests.fixtures.server import write_experiment

    lists = {}
    for name, frames in (("expA", (1, 6, 60)), ("expB", (1, 6, 60))):
        lists.update(_load(redis, write_experiment(tmp_path / name, experiment_id=name, n_links=1, n_lists=3,
                                                   n_trials=3, frame_counts=frames)))
    _run_workers(redis_url, lists, lambda trial: trial["frames"] >= 6)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--bootstrap", "0"])
    assert (result.exit_code, without_store(result.output)) == (
        1, "error: the store holds 2 experiments (expA, expB); name one or more with --experiment NAME\n")
    result = runner.invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--experiment", "expC"])
    assert (result.exit_code, without_store(result.output)) == (1, "error: no experiment named 'expC' in the store; it holds "
                                                    "expA, expB\n")
    result = runner.invoke(cli, ["analyze", "--out", str(tmp_path / "a"), "--experiment", "expA", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert without_store(result.output).splitlines()[0] == "experiment(s): expA"
    mvt = pd.read_csv(tmp_path / "a" / "mvt.csv", dtype=str, keep_default_na=False)
    assert sorted(mvt["image_id"]) == ["img1_0", "img1_1", "img1_2"] and set(mvt["mvt_ms"]) == {"100"}
    result = runner.invoke(cli, ["analyze", "--out", str(tmp_path / "ab"), "--experiment", "expA", "expB",
                                 "--bootstrap", "0", "--by", "experiment"])
    assert result.exit_code == 0, result.output
    acc = pd.read_csv(tmp_path / "ab" / "accuracy.csv", keep_default_na=False)
    assert sorted(acc.loc[acc["scope"] == "group", "group"].unique()) == ["experiment=expA", "experiment=expB"]

    result = runner.invoke(cli, ["export", str(tmp_path / "all.csv")])
    assert result.exit_code == 1 and without_store(result.output).startswith("error: the store holds 2 experiments (expA, expB)")
    result = runner.invoke(cli, ["export", str(tmp_path / "b.csv"), "--experiment", "expB"])
    assert (result.exit_code, without_store(result.output)) == (0, f"wrote 9 responses to {tmp_path / 'b.csv'}\n")
    exported = pd.read_csv(tmp_path / "b.csv", dtype=str)
    assert set(exported["experiment"]) == {"expB"} and set(exported["link_id"]) == {"expB-001"}
    # the CSV can be analysed by name too
    result = runner.invoke(cli, ["analyze", "--out", str(tmp_path / "c"), "--responses", str(tmp_path / "b.csv"),
                                 "--experiment", "expA"])
    assert (result.exit_code, without_store(result.output)) == (1, "error: no experiment named 'expA' in the responses; it holds "
                                                    "expB\n")


def test_experiments_with_other_durations_are_not_pooled(redis, redis_url, tmp_path, monkeypatch):
    from tests.fixtures.server import write_experiment

    for name, frames in (("expA", (1, 6)), ("expB", (1, 60))):
        _load(redis, write_experiment(tmp_path / name, experiment_id=name, n_links=1, frame_counts=frames))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    result = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "o"), "--experiment", "expA", "expB"])
    assert (result.exit_code, without_store(result.output)) == (1, (
        "error: the experiments differ in durations or answer options (expA: frames 1 6, 2 options; "
        "expB: frames 1 60, 2 options); analyse them separately\n"))


def test_between_subjects_study_with_replace_marks_nothing(redis, redis_url, tmp_path, monkeypatch):
    """Three durations, each worker one duration (3 workers each); honest workers right at 6 and
    60 frames and on one image in three at 1 frame: the old screening flagged all of them."""
    from tests.fixtures.server import write_experiment

    frames = (1, 6, 60)
    exp_dir = write_experiment(tmp_path / "between", experiment_id="between", n_links=1, n_lists=9, n_trials=6,
                               frame_counts=frames)
    design = json.loads((exp_dir / "design.json").read_text())
    stimuli = json.loads((exp_dir / "stimuli.json").read_text())
    video = {(v["image_id"], v["frames"]): vid for vid, v in stimuli["videos"].items()}
    link = design["links"][0]
    link["lists"] = [[{**t, "frames": frames[i % 3], "video_id": video[(t["image_id"], frames[i % 3])]}
                      for t in trials] for i, trials in enumerate(link["lists"])]
    (exp_dir / "design.json").write_text(json.dumps(design))
    lists = _load(redis, exp_dir)
    _run_workers(redis_url, lists, lambda t: t["frames"] >= 6 or t["image_id"].endswith(("_0", "_3")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--replace", "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    assert without_store(result.output).splitlines()[1] == ("54 responses, 54 used; 9 workers, 0 flagged; 6 images: 6 with an MVT, "
                                             "0 unrecognised, 0 insufficient (rule stable)")
    assert "marked 0 assignment(s) of 0 flagged worker(s) for replacement" in result.output
    workers = pd.read_csv(out / "workers.csv", keep_default_na=False)
    assert (workers["correlation_status"] == "not applicable: 1 duration(s) seen, the rule needs 3").all()
    # the 17 ms cohort is right at chance level (2 options): the report says no rule can judge it, and why
    html = (out / "report.html").read_text()
    assert ("<p>No rule could judge 3 worker(s) of between-subjects cohorts: 3 who saw only 17 ms (accuracy there "
            "0.33). With so few trials, a count of correct answers this near the guess rate (0.50) cannot tell") in html
    # the 60-frame cohort: 6 control trials each, the other two right on 12 of 12; a new honest worker
    # fails (<= 3 of 6) with probability 2.1 % > 2 % (beta-binomial predictive), so the rule stays out
    at_control = workers["control_status"].str.startswith("not applicable: with 6 control trial(s)")
    assert at_control.sum() == 3 and workers.loc[at_control, "control_status"].str.endswith(
        "(others' accuracy there 1.00) would be flagged with probability 2.1% (the rule needs at most 2%)").all()
    mvt = pd.read_csv(out / "mvt.csv", dtype=str, keep_default_na=False).set_index("image_id")
    # images 0 and 3 right at every duration (MVT 17 ms), the others from 6 frames (100 ms)
    assert mvt["mvt_ms"].to_dict() == {"img1_0": "17", "img1_1": "100", "img1_2": "100", "img1_3": "17",
                                       "img1_4": "100", "img1_5": "100"}


def test_export_refuses_experiments_of_different_kinds_and_writes_each_kind_alone(
        redis, redis_url, tmp_path, monkeypatch, synthetic_experiment, ratings_acr):
    """An MVT and a rating experiment have different columns: one file of both is refused, naming each
    experiment with its kind; each exports alone with its kind's header."""
    from kernel.store import keys
    from studies.mvt import MVTKind
    from studies.ratings import RatingsKind

    _load(redis, synthetic_experiment)
    _load(redis, ratings_acr)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = tmp_path / "both.csv"
    result = CliRunner().invoke(cli, ["export", str(out), "--experiment", "synth", "--experiment", "acr"])
    assert (result.exit_code, without_store(result.output)) == (
        1, "error: the experiments are of different study kinds, whose responses have different columns: "
           "acr (ratings), synth (mvt); export each kind to its own file with --experiment NAME\n")
    assert not out.exists() and not (tmp_path / "both.csv.tmp").exists()
    for name, kind in (("synth", MVTKind), ("acr", RatingsKind)):
        result = CliRunner().invoke(cli, ["export", str(tmp_path / f"{name}.csv"), "--experiment", name])
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"{name}.csv").read_text().splitlines() == [",".join(kind.export_columns)]
    redis.hdel(keys.link_meta("synth-001"), "kind")  # links loaded before kinds existed are MVT's
    result = CliRunner().invoke(cli, ["export", str(out), "--experiment", "synth"])
    assert result.exit_code == 0 and out.read_text().splitlines() == [",".join(MVTKind.export_columns)]
