"""`mvt build` end to end: output files, bad input, resuming, reproducibility."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from stimuli import commands
from stimuli.build import build_experiment, video_id
from tests.fixtures.experiment import SMALL_EXPERIMENT

SAMPLES = Path(__file__).resolve().parent.parent / "stimuli" / "samples"


def cli_of(*modules) -> typer.Typer:
    """A CLI with just the commands of ``modules``, each registered as cli/__init__.py does."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """mvt"""

    for module in modules:
        module.register(app)
    return app


@pytest.fixture(scope="module")
def mvt() -> typer.Typer:
    """A CLI with just the ``build`` command."""
    return cli_of(commands)


def run(mvt, *args: str):
    return CliRunner().invoke(mvt, ["build", *map(str, args)])


def tiny_folder(root: Path, n_per_class: int = 2, classes=("a", "b")) -> Path:
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{label}{i}.png")
    return root


OPTIONS = ["--frame-counts", "1", "3", "--images-per-task", "2", "--workers", "1",
           "--base-url", "https://mvt.example.org:8443", "--size", "32"]


def tree(exp_dir: Path) -> dict[str, str]:
    """Every file under exp_dir with the SHA-256 of its bytes."""
    return {str(p.relative_to(exp_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(exp_dir.rglob("*")) if p.is_file()}


def test_build_writes_the_contracted_files(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images")
    exp = tmp_path / "exp1"
    result = run(mvt, images, exp, *OPTIONS, "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"8 videos for 4 images (8 built, 0 already there) in {_seconds(result.stdout)} s; "
        f"2 links in {exp / 'links.csv'}\n")
    assert (exp / "links.csv").read_text() == (
        "HIT_Link\n"
        "https://mvt.example.org:8443/experiment.html?link=exp1-001\n"
        "https://mvt.example.org:8443/experiment.html?link=exp1-002\n")
    stimuli = json.loads((exp / "stimuli.json").read_text())
    assert {k: stimuli[k] for k in ("version", "fps", "size", "fixation_frames", "mask_frames",
                                    "frame_counts", "seed")} == {
        "version": 1, "fps": 60, "size": 32, "fixation_frames": 30, "mask_frames": 30,
        "frame_counts": [1, 3], "seed": 0}
    assert stimuli["images"]["a0"] == {"label": "a", "source": "a/a0.png"}
    vid = video_id(0, "a0", 3, 32, 30, 30)
    assert stimuli["videos"][vid] == {"image_id": "a0", "label": "a", "frames": 3,
                                      "file": f"videos/{vid}.mp4", "total_frames": 63}
    files = sorted(p.name for p in (exp / "videos").iterdir())
    study = json.loads((exp / "study.json").read_text())
    practice = [p["video_id"] for p in study["practice"]]
    assert len(practice) == 2 and not set(practice) & set(stimuli["videos"])  # default 2, from the samples
    assert files == sorted(f"{v}.mp4" for v in [*stimuli["videos"], *practice])
    assert all(re.fullmatch(r"[0-9a-f]{16}\.mp4", f) for f in files)
    assert (study["title"], study["n_trials"], study["minutes"], study["example"]) == (
        "Picture recognition task", 2, 3, "example.png")
    assert (exp / "example.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    design = json.loads((exp / "design.json").read_text())
    assert {k: design[k] for k in ("version", "experiment_id", "base_url", "fps", "frame_counts",
                                   "classes", "workers", "seed", "images_per_task")} == {
        "version": 1, "experiment_id": "exp1", "base_url": "https://mvt.example.org:8443", "fps": 60,
        "frame_counts": [1, 3], "classes": ["a", "b"], "workers": 1, "seed": 0,
        "images_per_task": 2}
    assert set(design["links"][0]) == {"link_id", "image_ids", "lists"}
    assert set(design["links"][0]["lists"][0][0]) == {"video_id", "image_id", "label", "frames"}


def _seconds(stdout: str) -> str:
    return re.search(r"in (\d+\.\d) s;", stdout).group(1)


def test_small_experiment_file_names_reveal_nothing(small_experiment):
    stimuli = json.loads((small_experiment / "stimuli.json").read_text())
    names = [p.name for p in (small_experiment / "videos").iterdir()]
    assert len(names) == 16 * 4
    secrets = {*stimuli["images"], *(v["label"] for v in stimuli["images"].values()),
               *(str(n) for n in SMALL_EXPERIMENT["frame_counts"])}
    for name in names:
        stem = name.removesuffix(".mp4")
        assert re.fullmatch(r"[0-9a-f]{16}", stem)
        assert not any(s in stem for s in secrets if not s.isdigit())


def test_last_smaller_set_is_reported_and_the_reward_priced_on_each_platform(mvt, tmp_path):
    import platforms  # noqa: F401 (registers the platforms' cost estimates, as the mvt command does)

    images = tiny_folder(tmp_path / "images", n_per_class=3)
    options = [*OPTIONS]
    options[options.index("--images-per-task") + 1] = "4"
    result = run(mvt, images, tmp_path / "exp", *options, "--reward", "1.50")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-3:] == [
        "note: the last link has 2 images (fewer than --images-per-task 4)",
        "Cost on MTurk (2 HITs of 2 assignments): rewards $6.00 + fee $1.20 = $7.20; MTurk fee 20 % of rewards, "
        "+20 % for HITs of 10 or more assignments, at least 0.01 per assignment (https://www.mturk.com/pricing, "
        "read 2026-10-07).",
        "Cost on Prolific (one study of 4 places): rewards 6.00 + fee 2.00 = 8.00 (academic or non-profit rate 33.3 %; "
        "corporate 42.8 %: 8.56), from https://www.prolific.com/pricing read 2026-09-20; pay per hour 1.50 × 60 / "
        "the task's minutes (Prolific's minimum: £6.00 / $8.00 an hour)."]


def test_rebuild_is_bit_identical_and_seed_changes_it(tmp_path):
    images = tiny_folder(tmp_path / "images")
    options = dict(frame_counts=[1, 3], images_per_task=2, workers=2,
                   base_url="http://localhost:8000", size=32, name="same")
    build_experiment(images, tmp_path / "one", jobs=1, **options)
    build_experiment(images, tmp_path / "two", jobs=2, **options)
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    build_experiment(images, tmp_path / "three", jobs=1, seed=1, **options)
    one, three = tree(tmp_path / "one"), tree(tmp_path / "three")
    videos = lambda t: {h for name, h in t.items() if name.startswith("videos/")}  # noqa: E731
    assert len(videos(three)) == 8 + 2 and not videos(one) & videos(three)  # and 2 practice videos
    assert one["design.json"] != three["design.json"]


def test_rerun_skips_finished_videos_and_rebuilds_missing_or_broken_ones(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images")
    exp = tmp_path / "exp"
    assert run(mvt, images, exp, *OPTIONS).exit_code == 0
    before = tree(exp)
    videos = sorted((exp / "videos").iterdir())
    mtimes = {p: p.stat().st_mtime_ns for p in videos}

    again = run(mvt, images, exp, *OPTIONS)
    assert "(0 built, 8 already there)" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in videos} == mtimes

    videos[0].unlink()
    videos[1].write_bytes(videos[1].read_bytes()[:-100])  # an interrupted copy, say
    (exp / "videos" / f".{videos[2].name}.tmp-123").write_bytes(b"partial")
    third = run(mvt, images, exp, *OPTIONS, "--verify")
    assert third.exit_code == 0, third.output
    assert "(2 built, 6 already there)" in third.stdout
    assert tree(exp) == before


def test_interrupted_build_leaves_finished_videos_but_no_design(tmp_path):
    images = tiny_folder(tmp_path / "images")
    exp = tmp_path / "exp"

    def interrupt(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_experiment(images, exp, frame_counts=[1, 3], images_per_task=2, workers=1,
                         base_url="http://localhost:8000", size=32, jobs=1, progress=interrupt)
    assert sorted(p.name for p in exp.iterdir()) == ["videos"]
    assert len(list((exp / "videos").iterdir())) == 2
    result = build_experiment(images, exp, frame_counts=[1, 3], images_per_task=2, workers=1,
                              base_url="http://localhost:8000", size=32, jobs=1)
    assert (result.n_skipped, result.n_encoded) == (2, 6)
    assert (exp / "design.json").exists()


def bad_folder(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An image folder with one problem, and the error line `mvt build` must print."""
    root = tmp_path / "images"
    if kind == "missing":
        return root, f"error: image folder '{root}' does not exist or is not a folder"
    root.mkdir()
    if kind == "empty":
        return root, f"error: image folder '{root}' has no class folders (expected <class>/<image> files)"
    tiny_folder(root)
    if kind == "empty class":
        (root / "zebra").mkdir()
        (root / "zebra" / ".hidden").write_text("")
        return root, f"error: class folder '{root / 'zebra'}' has no images"
    if kind == "not an image":
        (root / "a" / "notes.txt").write_text("hello")
        return root, f"error: '{root / 'a' / 'notes.txt'}' is not an image (unknown file format)"
    if kind == "truncated":
        path = root / "b" / "broken.jpg"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:1500])
        return root, f"error: '{path}' is not a readable image (image file is truncated)"
    if kind == "broken link":
        (root / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
        return root, f"error: '{root / 'a' / 'gone.png'}' is a broken link"
    if kind == "duplicate":
        shutil.copy(root / "a" / "a0.png", root / "b" / "a0.jpg")
        return root, (f"error: duplicate image name 'a0': '{root / 'a' / 'a0.png'}' and "
                      f"'{root / 'b' / 'a0.jpg'}' (image ids are file names without extension and must be unique)")
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["missing", "empty", "empty class", "not an image", "truncated",
                                  "broken link", "duplicate"])
def test_bad_image_folders_get_one_error_line(mvt, tmp_path, kind):
    images, message = bad_folder(tmp_path, kind)
    result = run(mvt, images, tmp_path / "exp", *OPTIONS)
    assert (result.exit_code, result.stderr, result.stdout) == (1, message + "\n", "")
    assert not (tmp_path / "exp").exists()


def test_a_single_class_build_warns_before_building(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images", classes=("cats",))
    result = run(mvt, images, tmp_path / "exp1", *OPTIONS)
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"warning: {images} has one class folder ('cats'): every trial offers that one answer, "
                             "so every answer counts as correct; an ImageFolder has a folder per class "
                             "(<class>/<image>)\n")


def test_every_bad_image_is_named_in_one_error_line(mvt, tmp_path):
    root = tmp_path / "images"
    tiny_folder(root)
    (root / "a" / "notes.txt").write_text("hello")
    (root / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "zebra").mkdir()
    result = run(mvt, root, tmp_path / "exp", *OPTIONS)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"error: image folder '{root}' has 3 problems: '{root / 'a' / 'notes.txt'}' is not an "
                             f"image (unknown file format); '{root / 'b' / 'gone.png'}' is a broken link; class folder "
                             f"'{root / 'zebra'}' has no images\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--frame-counts", "1", "0"], "frame counts ([1, 0]) must be positive whole numbers; 0 is not"),
    (["--frame-counts", "3", "-6"], "frame counts ([3, -6]) must be positive whole numbers; -6 is not"),
    (["--frame-counts", "1", "3", "1"], "frame counts ([1, 3, 1]) must be distinct; 1 is repeated"),
    (["--frame-counts", "1", "x"], "frame count 'x' is not a whole number (give IMAGE_DIR EXP_DIR before the options)"),
    (["--images-per-task", "0"], "--images-per-task (0) must be at least 1"),
    (["--workers", "0"], "--workers (0) must be at least 1"),
    (["--base-url", "ftp://host"], "--base-url ('ftp://host') must be an https URL like https://mvt.example.org:8443"),
    (["--base-url", "127.0.0.1:8443"],
     "--base-url ('127.0.0.1:8443') must be an https URL like https://mvt.example.org:8443"),
    (["--base-url", "http://mvt.example.org:8443"],
     "--base-url ('http://mvt.example.org:8443') must use https://: MTurk and Prolific show only HTTPS pages, "
     "and mvt serve serves HTTPS (behind a proxy, give the proxy's https URL)"),
    (["--base-url", "https://HOST:8443"],
     "--base-url ('https://HOST:8443') still holds the placeholder HOST: give the name or address workers "
     "reach this server at, e.g. https://mvt.example.org:8443"),
    (["--base-url", "https://HOST:PORT"],
     "--base-url ('https://HOST:PORT'): the port must be a number like 8443 (the one mvt serve --port listens on)"),
    (["--base-url", "https://0.0.0.0:8443"],
     "--base-url ('https://0.0.0.0:8443') names 0.0.0.0, the address a server listens on, not one a browser "
     "can open: give the name or address workers reach this server at"),
    (["--size", "33"], "--size (33) must be an even number of pixels, at least 16"),
    (["--fixation-ms", "5"], "--fixation-ms (5.0 ms) must last at least one frame (16.67 ms at 60 fps)"),
    (["--mask-ms", "0"], "--mask-ms (0.0 ms) must last at least one frame (16.67 ms at 60 fps)"),
    (["--jobs", "0"], "--jobs (0) must be at least 1"),
    (["--reward", "1.505"], "--reward ('1.505') must be an amount per task such as 1.50 (at most two decimals, 0 to 10000)"),
    (["--name", "my exp"], "experiment id 'my exp' from --name must match [A-Za-z0-9_-]{1,64}; choose one with --name"),
    (["--sede", "1"], "no such option: --sede"),
])
def test_bad_options_get_one_error_line(mvt, tmp_path, args, message):
    images = tiny_folder(tmp_path / "images")
    defaults = {"--frame-counts": ["1", "3"], "--images-per-task": ["2"], "--workers": ["1"],
                "--base-url": ["https://mvt.example.org:8443"], "--size": ["32"]}
    defaults.pop(args[0], None)
    options = [x for k, v in defaults.items() for x in (k, *v)] + args
    result = run(mvt, images, tmp_path / "exp", *options)
    assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("base_url", ["https://127.0.0.1:8443", "http://localhost:8000"])
def test_a_base_url_on_this_machine_builds_with_a_warning_first(mvt, tmp_path, base_url):
    images = tiny_folder(tmp_path / "images")
    options = [*OPTIONS[:OPTIONS.index("--base-url")], "--base-url", base_url, "--size", "32"]
    result = run(mvt, images, tmp_path / "exp1", *options)
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"warning: --base-url {base_url} is this machine's own address: workers' browsers "
                             "cannot reach it (fine for trying the study here); build again with the name or "
                             "address workers reach before publishing links.csv\n")
    assert (tmp_path / "exp1" / "links.csv").read_text().splitlines()[1] == \
        f"{base_url}/experiment.html?link=exp1-001"


def test_bad_input_leaves_a_finished_experiment_alone(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images")
    exp = tmp_path / "exp"
    assert run(mvt, images, exp, *OPTIONS).exit_code == 0
    before = tree(exp)
    (images / "a" / "junk.txt").write_text("x")
    assert run(mvt, images, exp, *OPTIONS).exit_code == 1
    assert tree(exp) == before


def test_folder_name_must_make_a_valid_experiment_id(mvt, tmp_path):
    images = tiny_folder(tmp_path / "images")
    exp = tmp_path / "my experiment"
    result = run(mvt, images, exp, *OPTIONS)
    assert result.stderr == (
        f"error: experiment id 'my experiment' from the folder name of EXP_DIR ('{exp}') must "
        "match [A-Za-z0-9_-]{1,64}; choose one with --name\n")
    assert run(mvt, images, exp, *OPTIONS, "--name", "exp_2").exit_code == 0
    assert json.loads((exp / "design.json").read_text())["experiment_id"] == "exp_2"


def test_videos_are_written_under_temporary_names(tmp_path, monkeypatch):
    """A video appears under its final name only once complete (os.replace of a temp file)."""
    images = tiny_folder(tmp_path / "images", n_per_class=1)
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((Path(src).name, Path(dst).name))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    build_experiment(images, tmp_path / "exp", frame_counts=[1], images_per_task=2, workers=1,
                     base_url="http://localhost:8000", size=32, jobs=1)
    video_renames = [(s, d) for s, d in renames if d.endswith(".mp4")]
    assert len(video_renames) == 2 + 2  # and the 2 practice videos
    assert all(s == f".{d}.tmp-{os.getpid()}" for s, d in video_renames)


def test_installed_mvt_command_reports_bad_input(tmp_path):
    """Through the real console script (cli/__init__.py registers `build`)."""
    mvt_exe = Path(sys.executable).parent / "mvt"
    if not mvt_exe.exists():
        pytest.skip("the mvt console script is not installed next to this Python")
    (tmp_path / "images" / "a").mkdir(parents=True)
    proc = subprocess.run([str(mvt_exe), "build", str(tmp_path / "images"), str(tmp_path / "exp"),
                           *OPTIONS], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1, "", f"error: class folder '{tmp_path / 'images' / 'a'}' has no images\n")
