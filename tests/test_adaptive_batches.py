"""Adaptive batches: `mvt build --adaptive`, `mvt next-batch`, and loading batches into one experiment."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from stimuli import commands
from stimuli.batches import batch_links
from studies import mvt_adaptive
from tests.test_stimuli_build import cli_of, tiny_folder

FRAME_COUNTS = ["1", "3", "6"]


@pytest.fixture(scope="module")
def mvt() -> typer.Typer:
    return cli_of(commands, mvt_adaptive)


def invoke(mvt, *args):
    return CliRunner().invoke(mvt, [*map(str, args)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_links_ask_exactly_what_is_wanted_once_per_list(seed):
    rng = np.random.default_rng(seed)
    labels = {f"img{i}": f"c{i % 3}" for i in range(40)}
    wanted = {}
    for image_id in labels:
        per = Counter(rng.choice([1, 3, 6, 9], size=int(rng.choice([0, 2, 4, 6]))).tolist())
        wanted[image_id] = {int(f): c for f, c in per.items()}
    links = batch_links(wanted, labels, images_per_task=7, rng=seed)
    got: dict[str, Counter] = {}
    for lists in links:
        assert len({len(trials) for trials in lists}) == 1          # every list of a link equally long
        for trials in lists:
            ids = [t.image_id for t in trials]
            assert len(ids) == len(set(ids))                        # an image at most once per list
            for t in trials:
                got.setdefault(t.image_id, Counter())[t.frames] += 1
                assert t.label == labels[t.image_id]
    assert got == {i: Counter(w) for i, w in wanted.items() if sum(w.values())}


def analysed(exp_dir: Path, rng, results: Path) -> None:
    """`mvt analyze` of an adaptive study (analysis.adaptive_analysis) over fake answers to every batch so far."""
    from analysis.adaptive_analysis import analyze_adaptive, write_adaptive_outputs
    from analysis.responses import prepare_responses

    design = json.loads((exp_dir / "design.json").read_text())
    write_adaptive_outputs(analyze_adaptive(prepare_responses(fake_responses(exp_dir, rng)), design), results)


def test_build_adaptive_then_two_batches_in_one_experiment(mvt, tmp_path, redis):
    from studies.loader import load_experiment

    images = tiny_folder(tmp_path / "images", n_per_class=4)
    exp_dir = tmp_path / "adapt"
    result = invoke(mvt, "build", images, exp_dir, "--frame-counts", *FRAME_COUNTS, "--images-per-task", 4,
                    "--workers", 1, "--base-url", "https://127.0.0.1:8443", "--size", 32, "--adaptive")
    assert result.exit_code == 0, result.output
    first = json.loads((exp_dir / "design.json").read_text())
    assert first["adaptive"] == {"batches": 1}
    assert {link["batch"] for link in first["links"]} == {1}
    assert (exp_dir / "links-batch-1.csv").read_text() == (exp_dir / "links.csv").read_text()
    assert load_experiment(redis, exp_dir).loaded == tuple(link["link_id"] for link in first["links"])
    videos_before = sorted(p.name for p in (exp_dir / "videos").iterdir())

    rng = np.random.default_rng(0)
    for batch in (2, 3):
        results = tmp_path / f"results{batch}"
        analysed(exp_dir, rng, results)
        before = json.loads((exp_dir / "design.json").read_text())
        out = invoke(mvt, "next-batch", exp_dir, "--from", results, "--answers-per-image", 4, "--confidence", 0.999)
        assert out.exit_code == 0, out.output
        after = json.loads((exp_dir / "design.json").read_text())
        new = after["links"][len(before["links"]):]
        assert after["links"][:len(before["links"])] == before["links"]   # earlier links unchanged
        assert after["adaptive"]["batches"] == batch and new
        assert all(link["batch"] == batch and link["link_id"].startswith(f"adapt-b{batch}-") for link in new)
        assert f"batch {batch}: {len(new)} links" in out.output
        csv_rows = (exp_dir / f"links-batch-{batch}.csv").read_text().splitlines()
        assert csv_rows[1:] == [f"https://127.0.0.1:8443/experiment.html?link={link['link_id']}" for link in new]
        posterior = pd.read_csv(exp_dir / f"posterior-after-batch-{batch - 1}.csv")
        assert len(posterior) == 8
        assert all(str(b).split()[0] == "1" and len(str(b).split()) <= batch - 1 for b in posterior["batches"])
        asked = {t["image_id"]: 0 for link in new for trials in link["lists"] for t in trials}
        assert set(asked) == set(posterior.loc[posterior["next_answers"] > 0, "image_id"])
        loaded = load_experiment(redis, exp_dir)
        assert loaded.loaded == tuple(link["link_id"] for link in new)
        assert loaded.experiment_id == "adapt"
        # Planning again from the same answers would duplicate the batch just built: refused, nothing written.
        design_text = (exp_dir / "design.json").read_text()
        again = invoke(mvt, "next-batch", exp_dir, "--from", results, "--answers-per-image", 4, "--confidence", 0.999)
        assert again.exit_code == 1
        assert (f"batch {batch} of adapt has no answers in {results / 'batches.csv'}: a batch planned now would ask "
                f"again what batch {batch} asks") in again.output.replace("\n", "")
        assert (exp_dir / "design.json").read_text() == design_text
        assert not (exp_dir / f"links-batch-{batch + 1}.csv").exists()
    assert sorted(p.name for p in (exp_dir / "videos").iterdir()) == videos_before
    # Building again would drop batches 2 and 3: refused before anything is written.
    design_text = (exp_dir / "design.json").read_text()
    rebuilt = invoke(mvt, "build", images, exp_dir, "--frame-counts", *FRAME_COUNTS, "--images-per-task", 4,
                     "--workers", 1, "--base-url", "https://127.0.0.1:8443", "--size", 32, "--adaptive")
    assert rebuilt.exit_code == 1
    assert (f"{exp_dir} holds the adaptive study 'adapt' with batches 1 to 3; building it again would rewrite "
            f"design.json with batch 1 only and lose batch(es) 2 3") in rebuilt.output.replace("\n", "")
    assert (exp_dir / "design.json").read_text() == design_text
    assert load_experiment(redis, exp_dir).loaded == ()


def test_next_batch_refuses_a_fixed_design_and_missing_results(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images")
    exp_dir = tmp_path / "fixed"
    assert invoke(mvt, "build", images, exp_dir, "--frame-counts", *FRAME_COUNTS, "--images-per-task", 2,
                  "--workers", 1, "--base-url", "https://127.0.0.1:8443", "--size", 32).exit_code == 0
    out = invoke(mvt, "next-batch", exp_dir, "--from", tmp_path)
    assert out.exit_code == 1
    assert "is not an adaptive MVT study; build one with `mvt build … --adaptive`" in out.output
    design = json.loads((exp_dir / "design.json").read_text())
    design["adaptive"] = {"batches": 1}
    (exp_dir / "design.json").write_text(json.dumps(design))
    out = invoke(mvt, "next-batch", exp_dir, "--from", tmp_path / "nowhere")
    assert out.exit_code == 1 and "cells.csv is missing; run `mvt analyze --out" in out.output
    out = invoke(mvt, "next-batch", exp_dir, "--from", tmp_path, "--budget", 0)
    assert out.exit_code == 1 and "--budget (0) must be at least 1" in out.output


def fake_responses(exp_dir: Path, rng, guessers=()) -> pd.DataFrame:
    """A responses CSV as `mvt export` writes it: each list of the design answered by its own worker."""
    design = json.loads((exp_dir / "design.json").read_text())
    rows = []
    for link in design["links"]:
        for index, trials in enumerate(link["lists"]):
            worker = f"W{link['link_id']}x{index}".replace("-", "")
            for t, trial in enumerate(trials):
                p = 0.5 if worker in guessers else 0.2 + 0.75 * trial["frames"] / 6
                correct = bool(rng.random() < p)
                rows.append({"experiment": design["experiment_id"], "link_id": link["link_id"],
                             "assignment_id": f"A{worker}", "worker_id": worker, "hit_id": "H", "trial": t,
                             "image_id": trial["image_id"], "label": trial["label"], "frames": trial["frames"],
                             "duration_ms": trial["frames"] * 1000 / 60,
                             "response": trial["label"] if correct else "other", "correct": correct,
                             "response_time_ms": 900, "presented_frames": trial["frames"],
                             "submitted_at": "2026-12-06T10:00:00.000Z", "assignment_status": "complete",
                             "timing_ok": True})
    return pd.DataFrame(rows)


def test_next_batch_from_responses_screens_by_the_model_and_no_build_writes_only_the_posterior(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images", n_per_class=4)
    exp_dir = tmp_path / "adapt"
    assert invoke(mvt, "build", images, exp_dir, "--frame-counts", *FRAME_COUNTS, "--images-per-task", 8,
                  "--workers", 4, "--base-url", "https://127.0.0.1:8443", "--size", 32, "--adaptive").exit_code == 0
    responses = fake_responses(exp_dir, np.random.default_rng(1))
    responses.to_csv(tmp_path / "responses.csv", index=False)
    before = (exp_dir / "design.json").read_text()
    out = invoke(mvt, "next-batch", exp_dir, "--responses", tmp_path / "responses.csv", "--no-build")
    assert out.exit_code == 0, out.output
    assert "no batch built (--no-build)" in out.output or "the study is finished" in out.output
    assert (exp_dir / "design.json").read_text() == before
    assert len(pd.read_csv(exp_dir / "posterior-after-batch-1.csv")) == 8
    out = invoke(mvt, "next-batch", exp_dir, "--responses", tmp_path / "responses.csv", "--from", tmp_path)
    assert out.exit_code == 1 and "give either --from RESULTS_DIR" in out.output
    # Batch 2 from batch 1's answers; the same answers again would ask batch 2's questions twice: refused.
    out = invoke(mvt, "next-batch", exp_dir, "--responses", tmp_path / "responses.csv", "--confidence", 0.999)
    assert out.exit_code == 0 and "batch 2: " in out.output, out.output
    built = (exp_dir / "design.json").read_text()
    out = invoke(mvt, "next-batch", exp_dir, "--responses", tmp_path / "responses.csv", "--confidence", 0.999)
    assert out.exit_code == 1
    assert ("batch 2 of adapt has no answers in the responses CSV: a batch planned now would ask again what batch 2 "
            "asks. Load it (`mvt load") in out.output.replace("\n", "")
    assert (exp_dir / "design.json").read_text() == built


def test_model_screening_leaves_out_guessers():
    from analysis.adaptive import next_batch_from_responses
    from analysis.responses import prepare_responses
    rng = np.random.default_rng(4)
    rows = []
    for w in range(30):
        guesser = w < 3
        for i in range(40):
            frames = [1, 3, 6][(i + w) % 3]
            p = 0.5 if guesser else [0.55, 0.9, 0.97][[1, 3, 6].index(frames)]
            correct = bool(rng.random() < p)
            rows.append({"link_id": "L", "assignment_id": f"A{w}", "worker_id": f"W{w:02d}", "hit_id": "H",
                         "trial": i, "image_id": f"img{i}", "label": "a", "frames": frames,
                         "duration_ms": frames * 1000 / 60, "response": "a" if correct else "b",
                         "correct": correct, "response_time_ms": 900, "presented_frames": frames,
                         "submitted_at": "2026-12-06T10:00:00.000Z", "assignment_status": "complete",
                         "timing_ok": True})
    table = prepare_responses(pd.DataFrame(rows))
    decision = next_batch_from_responses(table, [f"img{i}" for i in range(40)], ["a"] * 40, [1, 3, 6], n_options=2)
    assert set(decision.flagged_workers) <= {"W00", "W01", "W02"} and decision.flagged_workers
    assert len(decision.table) == 40


def test_mvt_analyze_of_an_adaptive_study_reports_the_posterior_per_image(mvt, tmp_path):
    from cli import cli

    images = tiny_folder(tmp_path / "images", n_per_class=4)
    exp_dir = tmp_path / "adapt"
    assert invoke(mvt, "build", images, exp_dir, "--frame-counts", *FRAME_COUNTS, "--images-per-task", 8,
                  "--workers", 4, "--base-url", "https://127.0.0.1:8443", "--size", 32, "--adaptive").exit_code == 0
    responses = fake_responses(exp_dir, np.random.default_rng(1), guessers={"Wadapt001x0"})
    responses.to_csv(tmp_path / "responses.csv", index=False)
    out = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "results"), "--responses",
                                   str(tmp_path / "responses.csv"), "--design", str(exp_dir)])
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[1]
    assert first.startswith(f"{len(responses)} responses, ") and "(model-based screening); 8 images: " in first
    assert first.endswith("(adaptive study: the most probable MVT of each image's posterior, 95% credible intervals)")
    mvt_csv = pd.read_csv(tmp_path / "results" / "mvt.csv", dtype={"batches": str, "answers_by_batch": str})
    assert len(mvt_csv) == 8 and set(mvt_csv["status"]) <= {"ok", "unrecognised"}
    assert (mvt_csv["batches"] == "1").all() and (mvt_csv["answers_by_batch"].astype(int) <= 12).all()
    bins = mvt_csv[["p_mvt_f1", "p_mvt_f3", "p_mvt_f6", "p_unrecognised"]].to_numpy()
    assert np.allclose(bins.sum(axis=1), 1, atol=1e-3) and np.allclose(bins.max(axis=1), mvt_csv["p_mvt"])
    ok = mvt_csv[mvt_csv["status"] == "ok"]
    assert (ok["mvt_ms_ci_low"] <= ok["mvt_ms"]).all()
    assert ((ok["mvt_ms"] <= ok["mvt_ms_ci_high"]) | ok["ci_high_unrecognised"]).all()
    batches = pd.read_csv(tmp_path / "results" / "batches.csv")
    assert batches[["batch", "n_responses"]].values.tolist() == [[1, len(responses)]]
    workers = pd.read_csv(tmp_path / "results" / "workers.csv").set_index("worker_id")
    assert workers["n_responses"].sum() == len(responses) and not workers.loc["Wadapt001x1", "flagged"]
    report = (tmp_path / "results" / "report.html").read_text()
    assert "<h2>Batches</h2>" in report and "answers by batch" in report and "credible interval" in report


def test_adaptive_report_and_csvs_neutralise_hostile_image_ids(tmp_path):
    from analysis.adaptive_analysis import analyze_adaptive, write_adaptive_outputs
    from analysis.responses import prepare_responses

    hostile = ['<img src=x onerror=alert(1)>', '=HYPERLINK("http://evil.example","x")']
    design = {"frame_counts": [1, 6], "fps": 60, "classes": ["<b>cat</b>", "dog"],
              "links": [{"link_id": "L1", "batch": 1, "lists": [[{"image_id": i, "label": "<b>cat</b>", "frames": f}
                                                                  for i in hostile] for f in (1, 6)]}]}
    rows = [{"link_id": "L1", "assignment_id": f"A{f}", "worker_id": f"W{f}", "hit_id": "H", "trial": t,
             "image_id": i, "label": "<b>cat</b>", "frames": f, "duration_ms": f * 1000 / 60, "response": "dog",
             "correct": f == 6, "response_time_ms": 900, "presented_frames": f,
             "submitted_at": "2026-12-06T10:00:00.000Z", "assignment_status": "complete", "timing_ok": True}
            for f in (1, 6) for t, i in enumerate(hostile)]
    write_adaptive_outputs(analyze_adaptive(prepare_responses(pd.DataFrame(rows)), design), tmp_path)
    report = (tmp_path / "report.html").read_text()
    assert "<img src=x" not in report and "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "<b>cat</b>" not in report and "&lt;b&gt;cat&lt;/b&gt;" in report
    import csv
    for name in ("mvt.csv", "cells.csv"):
        with open(tmp_path / name, newline="") as f:
            ids = {row["image_id"] for row in csv.DictReader(f)}
        assert ids == {hostile[0], "'" + hostile[1]}


@pytest.mark.slow  # a build, two analyses and a batch: about 8 s on a quiet machine
def test_analyze_replace_and_block_on_an_adaptive_study_then_the_next_batch(tmp_path, redis, redis_url, monkeypatch):
    """`mvt analyze --replace --block` of an adaptive study (docs/adaptive.md): the worker the model flags
    has their assignment marked (repost.csv names its link) and is blocked; the next new worker on the link
    takes their list over; the flagged answers enter no posterior, so `mvt next-batch` plans from the
    others' only; the blocked worker is refused on the new batch's links, a new worker is not."""
    from cli import cli
    from kernel import admin
    from kernel.assignments import allocate, eligibility
    from kernel.responses import complete, record_response
    from kernel.tokens import TokenData
    from studies.loader import load_experiment
    from tests.fixtures.redis import run_with_async_redis
    from tests.fixtures.server import measured

    images = tiny_folder(tmp_path / "images", n_per_class=4)
    exp_dir = tmp_path / "adapt"
    built = CliRunner().invoke(cli, ["build", str(images), str(exp_dir), "--frame-counts", *FRAME_COUNTS,
                                     "--images-per-task", "8", "--workers", "2", "--base-url",
                                     "https://127.0.0.1:8443", "--size", "32", "--adaptive"])
    assert built.exit_code == 0, built.output
    load_experiment(redis, exp_dir)
    (link,) = json.loads((exp_dir / "design.json").read_text())["links"]
    link_id, lists = link["link_id"], link["lists"]
    assert len(lists) == 6  # 2 workers x 3 durations

    def answer(worker: str, right) -> list:
        async def scenario(r):
            a = await allocate(r, link_id, worker, f"A-{worker}", "H1", cap=4, allotted_ms=3_600_000)
            token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
            for t, trial in enumerate(lists[a.list_index]):
                wrong = "b" if trial["label"] == "a" else "a"
                await record_response(r, token, t, trial["label"] if right(trial) else wrong, measured(trial["frames"]))
            await complete(r, token, f"code-{worker}")
            return a.list_index
        return run_with_async_redis(redis_url, scenario)

    rng = np.random.default_rng(3)
    honest = lambda trial: rng.random() < {1: 0.5, 3: 0.75, 6: 0.95}[trial["frames"]]  # noqa: E731
    held = {worker: answer(worker, honest) for worker in ("W1", "W2", "W3", "W4", "W5")}
    held["BAD"] = answer("BAD", lambda trial: False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    results = tmp_path / "results"
    out = CliRunner().invoke(cli, ["analyze", "--out", str(results), "--experiment", "adapt", "--replace", "--block"])
    assert out.exit_code == 0, out.output
    assert "48 responses, 40 used; 6 workers, 1 flagged (model-based screening)" in out.output
    assert (f"marked 1 assignment(s) of 1 flagged worker(s) for replacement; 1 assignment(s) to repost on 1 link(s) "
            f"({results / 'repost.csv'})") in out.output
    assert "blocked 1 flagged worker(s)" in out.output.splitlines()
    assert (results / "repost.csv").read_text() == (
        f"HIT_Link,n_assignments,link_id\nhttps://127.0.0.1:8443/experiment.html?link={link_id},1,{link_id}\n")
    workers = pd.read_csv(results / "workers.csv").set_index("worker_id")
    assert workers["flagged"].to_dict() == {"BAD": True, "W1": False, "W2": False, "W3": False, "W4": False,
                                            "W5": False}
    assert admin.blocked_workers(redis) == ["BAD"]
    assert [(p.link_id, p.to_replace) for p in admin.link_progress(redis)] == [(link_id, 1)]
    # The next new worker takes BAD's list over and answers it.
    assert answer("NEW", honest) == held["BAD"]
    assert [(p.complete, p.to_replace) for p in admin.link_progress(redis)] == [(6, 0)]
    out = CliRunner().invoke(cli, ["analyze", "--out", str(results), "--experiment", "adapt"])
    assert out.exit_code == 0, out.output
    cells = pd.read_csv(results / "cells.csv")
    assert int(cells["n"].sum()) == 48  # W1-W5 and NEW; BAD's replaced answers are in no cell
    workers = pd.read_csv(results / "workers.csv").set_index("worker_id")
    assert workers.loc["BAD", "flagged"] and workers.loc["BAD", "flag_stored"] and workers.loc["BAD", "n_used"] == 0
    # Batch 2 is planned from the answers kept, and BAD is refused on its links, a new worker is not.
    out = CliRunner().invoke(cli, ["next-batch", str(exp_dir), "--from", str(results), "--confidence", "0.999"])
    assert out.exit_code == 0, out.output
    posterior = pd.read_csv(exp_dir / "posterior-after-batch-1.csv")
    assert int(posterior["n_answers"].sum()) == 48, posterior.columns.tolist()
    new = load_experiment(redis, exp_dir).loaded
    assert new and all(link.startswith("adapt-b2-") for link in new), out.output

    async def asked(r):
        return [await eligibility(r, new[0], worker, cap=4, allotted_ms=3_600_000) for worker in ("BAD", "FRESH")]
    refused, welcome = run_with_async_redis(redis_url, asked)
    assert (refused.eligible, refused.reason, welcome.eligible) == (False, "blocked", True)
