"""A whole adaptive study through the real HTTPS server: three batches, no worker sees an image twice."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from studies.mvt_adaptive_simulation import simulate_adaptive
from simulation.workers import WorkerModel
from tests.fixtures.experiment import SAMPLES


@pytest.fixture
def adaptive_experiment(tmp_path):
    """The 16 samples, 4 durations, 8 images per link, 2 answers per image and duration in batch 1."""
    from stimuli.build import build_experiment

    exp_dir = tmp_path / "adaptive"
    build_experiment(SAMPLES, exp_dir, frame_counts=[1, 3, 6, 30], images_per_task=8, workers=2,
                     base_url="https://127.0.0.1:1", size=64, name="adaptive", jobs=1, adaptive=True)
    return exp_dir


@pytest.mark.slow
@pytest.mark.both_stores
def test_three_batches_through_the_server_show_no_worker_an_image_twice(live_server, adaptive_experiment, tmp_path):
    live_server.load(adaptive_experiment)
    model = WorkerModel(p_reload=0.05, p_retry=0.05, tasks_per_worker=3)
    run = simulate_adaptive(live_server.redis, live_server.base_url, adaptive_experiment, tmp_path / "results",
                            n_batches=3, workers_per_list=1.5, concurrency=8, model=model, answers_per_image=4,
                            confidence=0.999, rng=3)
    assert [b.batch for b in run.batches] == [1, 2, 3]
    assert all(b.errors == {} for b in run.batches), run.summary()
    assert all(b.acknowledged > 0 for b in run.batches)
    assert run.repeated_images == 0
    assert run.workers_with_several_tasks > 0            # workers came back across links and batches
    assert sum(b.refusals.get("seen_link", 0) for b in run.batches[1:]) > 0   # and the gate turned some away
    assert run.n_responses == sum(b.acknowledged for b in run.batches)       # every batch pooled
    design = json.loads((adaptive_experiment / "design.json").read_text())
    assert design["adaptive"]["batches"] == 3
    assert {link["batch"] for link in design["links"]} == {1, 2, 3}
    cells = pd.read_csv(tmp_path / "results" / "final" / "cells.csv")
    assert cells["n"].sum() <= run.n_responses and set(cells["image_id"]) == set(
        json.loads((adaptive_experiment / "stimuli.json").read_text())["images"])
    posterior = pd.read_csv(adaptive_experiment / "posterior-after-batch-2.csv")
    assert posterior["batches"].astype(str).str.startswith("1").all()


@pytest.mark.slow
def test_mvt_simulate_batches_runs_the_study_from_the_command_line(live_server, adaptive_experiment, tmp_path,
                                                                    redis_url, monkeypatch):
    from typer.testing import CliRunner

    from cli import cli

    live_server.load(adaptive_experiment)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    out = CliRunner().invoke(cli, ["simulate", str(adaptive_experiment), "--batches", "3", "--out", str(tmp_path / "sim"),
                                   "--base-url", live_server.base_url, "--concurrency", "8", "--seed", "4"])
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "sim" / "simulation.json").read_text())
    assert summary["repeated_images"] == 0
    assert len(summary["batches"]) >= 2 and summary["responses"] > summary["batches"][0]["acknowledged"]
    assert (tmp_path / "sim" / "batch-1" / "cells.csv").is_file()
    # mvt export and mvt analyze see every batch of the experiment.
    assert CliRunner().invoke(cli, ["export", str(tmp_path / "all.csv"), "--experiment", "adaptive"]).exit_code == 0
    exported = pd.read_csv(tmp_path / "all.csv")
    assert len(exported) == summary["responses"]
    assert exported["link_id"].str.contains("-b2-").any()
    analyzed = CliRunner().invoke(cli, ["analyze", "--out", str(tmp_path / "results"), "--bootstrap", "0",
                                                 "--experiment", "adaptive"])
    assert analyzed.exit_code == 0, analyzed.output
    assert "(adaptive study: the most probable MVT of each image's posterior, 95% credible intervals)" in analyzed.output
    assert pd.read_csv(tmp_path / "results" / "workers.csv")["n_responses"].sum() == summary["responses"]
    batches = pd.read_csv(tmp_path / "results" / "batches.csv")
    assert batches["batch"].tolist() == list(range(1, len(summary["batches"]) + 1))
    assert batches["n_responses"].tolist() == [b["acknowledged"] for b in summary["batches"]]
