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
from tests.test_stimuli_build import tiny_folder

FRAME_COUNTS = ["1", "3", "6"]


@pytest.fixture(scope="module")
def mvt() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """mvt"""

    commands.register(app)
    mvt_adaptive.register(app)
    return app


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


def fake_cells(exp_dir: Path, rng) -> pd.DataFrame:
    """cells.csv as `mvt analyze` writes it, from the design's answers with random outcomes."""
    design = json.loads((exp_dir / "design.json").read_text())
    rows = Counter()
    for link in design["links"]:
        for trials in link["lists"]:
            for t in trials:
                rows[(t["image_id"], t["frames"])] += 1
    out = [{"image_id": i, "frames": f, "n": n, "k": int(rng.binomial(n, 0.5 + 0.1 * f / 6))}
           for (i, f), n in sorted(rows.items())]
    return pd.DataFrame(out)


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
        results.mkdir()
        fake_cells(exp_dir, rng).to_csv(results / "cells.csv", index=False)
        before = json.loads((exp_dir / "design.json").read_text())
        out = invoke(mvt, "next-batch", exp_dir, "--from", results, "--answers-per-image", 4)
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
    assert sorted(p.name for p in (exp_dir / "videos").iterdir()) == videos_before


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
