"""``mvt build-ratings``: input checks naming the line, output files, media conversion."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli import cli
from stimuli.ratings_build import build_ratings
from stimuli.ratings_input import RatingsInputError, read_ratings_input
from tests.fixtures.ratings import BASE_URL, RATINGS_SAMPLES

AUDIO = RATINGS_SAMPLES / "audio"
PUBLIC_URL = "https://mos.example.org:8443"  # for the CLI: BASE_URL (127.0.0.1) gets a warning line


def write_input(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "in.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


def audio_rows(sources=(1, 2), algorithms=("REF", "lowpass", "noise", "ANC")) -> list[str]:
    return [f"speech{s}\t{a}\t{AUDIO / f'speech{s}_{a}.flac'}" for s in sources for a in algorithms]


@pytest.mark.parametrize(("rows", "design", "message"), [
    (audio_rows() + [f"speech1\tnoise\t{AUDIO / 'speech2_noise.flac'}"], "random",
     r"line 9: source 'speech1' with algorithm 'noise' is repeated \(first on line 3\)"),
    (audio_rows()[:-1], "random", r"line 4: algorithm 'ANC' has no file for source\(s\) 'speech2'"),
    (audio_rows(algorithms=("REF", "noise")), "mushra", r"line 1: source 'speech1' has no ANC line; "
                                                       r"--design mushra needs algorithm ANC"),
    (audio_rows(algorithms=("lowpass", "noise")), "dsis", r"line 1: source 'speech1' has no REF line"),
    (["speech1\tREF"], "random", r"line 1 \('speech1\\tREF'\) must be <source> TAB <algorithm> TAB"),
    (["s\tA\tnowhere.wav", "s\tB\tnowhere.wav"], "random", r"line 1: file 'nowhere.wav' does not exist"),
    (audio_rows(sources=(1,), algorithms=("REF",)), "random", r"lists 1 file\(s\); a rating study needs at least two"),
])
def test_bad_input_is_refused_naming_the_line(tmp_path, rows, design, message):
    with pytest.raises(RatingsInputError, match=message):
        read_ratings_input(write_input(tmp_path, rows), design)


def test_undecodable_and_mixed_files_are_refused_naming_the_line(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file" * 10)
    rows = [f"s1\tA\t{AUDIO / 'speech1_REF.flac'}", "s1\tB\tbroken.wav"]
    with pytest.raises(RatingsInputError, match=r"line 2 \(.*broken.wav\): ffmpeg cannot decode this audio file"):
        build_ratings(write_input(tmp_path, rows), tmp_path / "e1", design="random", samples_per_task=2,
                      ratings_per_sample=1, base_url=BASE_URL)
    rows = [f"s1\tA\t{AUDIO / 'speech1_REF.flac'}", f"s1\tB\t{RATINGS_SAMPLES / 'images' / 'picture1_REF.png'}"]
    with pytest.raises(RatingsInputError, match=r"line 2 \(.*picture1_REF.png\) is image but line 1 is audio"):
        build_ratings(write_input(tmp_path, rows), tmp_path / "e2", design="random", samples_per_task=2,
                      ratings_per_sample=1, base_url=BASE_URL)
    assert not (tmp_path / "e1" / "design.json").exists()


def decode_seconds(path: Path) -> float:
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-xerror", "-i", str(path),
                           "-f", "s16le", "-ac", "1", "-ar", "8000", "-"], capture_output=True)
    assert proc.returncode == 0 and not proc.stderr
    return len(proc.stdout) / 2 / 8000


def test_acr_build_writes_the_contract_files(ratings_acr):
    design = json.loads((ratings_acr / "design.json").read_text())
    stimuli = json.loads((ratings_acr / "stimuli.json").read_text())
    assert (design["kind"], design["design"], design["scale"], design["options"]) == (
        "ratings", "random", "acr", ["1", "2", "3", "4", "5"])
    assert len(design["links"]) == 4 and all(len(link["lists"]) == 3 for link in design["links"])
    rated = Counter(t["sample_id"] for link in design["links"] for trials in link["lists"] for t in trials)
    assert set(rated) == set(stimuli["samples"]) and set(rated.values()) == {3}
    names = sorted(p.name for p in (ratings_acr / "videos").iterdir())
    assert len(names) == 16 and all(re.fullmatch(r"[0-9a-f]{16}\.m4a", n) for n in names)
    for sample in stimuli["samples"].values():  # 2 s of speech each, still 2 s after AAC
        assert decode_seconds(ratings_acr / sample["file"]) == pytest.approx(2.0, abs=0.05)
        assert sample["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert (ratings_acr / "links.csv").read_text().splitlines() == [
        "HIT_Link", *(f"{BASE_URL}/experiment.html?link=acr-{k:03d}" for k in range(1, 5))]


def test_mushra_reference_and_hidden_reference_have_different_names(ratings_mushra):
    design = json.loads((ratings_mushra / "design.json").read_text())
    stimuli = json.loads((ratings_mushra / "stimuli.json").read_text())
    assert design["scale"] == "mushra" and design["options"] == [str(v) for v in range(101)]
    for link in design["links"]:
        for trials in link["lists"]:
            assert {t["sample_id"].split("/")[1] for t in trials} == {"REF", "ANC", "lowpass", "noise"}
            for t in trials:
                source = t["sample_id"].split("/")[0]
                assert t["reference_id"] == stimuli["references"][source]["media_id"] != t["media_id"]
    hidden = stimuli["samples"]["speech1/REF"]
    assert (ratings_mushra / hidden["file"]).read_bytes() == (
        ratings_mushra / stimuli["references"]["speech1"]["file"]).read_bytes()


def test_images_are_png_pixel_for_pixel(ratings_dsis_images):
    stimuli = json.loads((ratings_dsis_images / "stimuli.json").read_text())
    sample = stimuli["samples"]["picture2/jpeg20"]
    with Image.open(ratings_dsis_images / sample["file"]) as served, Image.open(sample["input"]) as original:
        assert served.format == "PNG"
        assert np.array_equal(np.asarray(served), np.asarray(original.convert("RGB")))
        assert not served.info.get("exif")


def test_rebuild_keeps_converted_files_and_reports_totals(tmp_path):
    rows = audio_rows(sources=(1, 2), algorithms=("REF", "noise"))
    tsv = write_input(tmp_path, rows)
    first = build_ratings(tsv, tmp_path / "exp", design="diff-source", samples_per_task=2, ratings_per_sample=2,
                          base_url=BASE_URL, seed=3)
    again = build_ratings(tsv, tmp_path / "exp", design="diff-source", samples_per_task=2, ratings_per_sample=2,
                          base_url=BASE_URL, seed=3)
    assert (first.n_converted, again.n_converted, again.n_files) == (4, 0, 4)
    assert again.media_bytes == first.media_bytes == sum(p.stat().st_size for p in (tmp_path / "exp/videos").iterdir())
    assert again.media_seconds == pytest.approx(8.0, abs=0.1)


def test_loudnorm_brings_quiet_and_loud_files_to_one_level(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k, gain in enumerate((0.02, 0.6)):
        pcm = (gain * np.sin(2 * np.pi * 440 * np.arange(16000 * 2) / 16000) * (1 + 0.1 * rng.normal(size=32000)))
        path = tmp_path / f"tone{k}.raw"
        path.write_bytes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
        wav = tmp_path / f"tone{k}.wav"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "s16le", "-ar", "16000", "-ac", "1",
                        "-i", str(path), str(wav)], check=True)
        rows.append(f"s1\tA{k}\t{wav}")
    result = build_ratings(write_input(tmp_path, rows), tmp_path / "exp", design="random", samples_per_task=2,
                           ratings_per_sample=1, base_url=BASE_URL, loudnorm=True)
    levels = []
    for f in (tmp_path / "exp" / "videos").iterdir():
        proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(f), "-f", "s16le", "-ac", "1", "-"],
                              capture_output=True)
        x = np.frombuffer(proc.stdout, "<i2").astype(float) / 32767
        levels.append(20 * np.log10(np.sqrt(np.mean(x**2))))
    assert result.n_files == 2 and abs(levels[0] - levels[1]) < 1.0  # 29.5 dB apart before


def test_cli_builds_and_reports(tmp_path):
    tsv = write_input(tmp_path, audio_rows(sources=(1, 2, 3), algorithms=("REF", "noise")))
    result = CliRunner().invoke(cli, ["build-ratings", str(tsv), str(tmp_path / "exp1"), "--design", "diff-source",
                                      "--samples-per-task", "3", "--ratings-per-sample", "2",
                                      "--base-url", PUBLIC_URL, "--reward", "0.80", "--arrivals-per-hour", "8"])
    assert result.exit_code == 0, result.output
    summary, mturk, prolific, fill = result.output.splitlines()
    assert fill == ("Time to fill: 4 tasks at 8 participants an hour take about 30 minutes (then the last ones "
                    "need their task time).")
    assert re.fullmatch(r"6 audio samples \(6 files, 6 converted, 0\.\d MB, 12\.0 s of media\) in [\d.]+ s; "
                        r"2 links x 2 lists in .*links.csv \(design diff-source\)", summary)
    # 4 tasks at 0.80: MTurk 20 % (0.16 each), Prolific 33.3 % (0.2664 -> 0.27 each; corporate 0.3424 -> 0.34)
    assert mturk.startswith("Cost on MTurk (2 HITs of 2 assignments): rewards $3.20 + fee $0.64 = $3.84; ")
    assert prolific.startswith("Cost on Prolific (one study of 4 places): rewards 3.20 + fee 1.08 = 4.28 (academic "
                               "or non-profit rate 33.3 %; corporate 42.8 %: 4.56)")
    bad = CliRunner().invoke(cli, ["build-ratings", str(tsv), str(tmp_path / "exp2"), "--design", "mushra",
                                   "--samples-per-task", "3", "--ratings-per-sample", "2", "--base-url", PUBLIC_URL])
    assert bad.exit_code == 1
    assert f"error: {tsv}, line 1: source 'speech1' has no ANC line" in bad.output
    slow = CliRunner().invoke(cli, ["build-ratings", str(tsv), str(tmp_path / "exp3"), "--design", "random",
                                    "--samples-per-task", "3", "--ratings-per-sample", "2", "--base-url", PUBLIC_URL,
                                    "--arrivals-per-hour", "0"])
    assert slow.exit_code == 1 and not (tmp_path / "exp3").exists()
    assert "error: --arrivals-per-hour ('0') must be a number of participants an hour above 0, such as 20" in slow.output


def test_study_file_is_checked_and_kept(tmp_path):
    tsv = write_input(tmp_path, audio_rows(sources=(1,), algorithms=("REF", "noise")))
    study = tmp_path / "study.toml"
    study.write_text('[ratings]\ntitle = "Speech quality"\nmin_sample_ms = 1500\n')
    build_ratings(tsv, tmp_path / "exp", design="random", samples_per_task=2, ratings_per_sample=1,
                  base_url=BASE_URL, study=study)
    design = json.loads((tmp_path / "exp" / "design.json").read_text())
    assert design["study"] == {"title": "Speech quality", "min_sample_ms": 1500}
    study.write_text("[ratings]\nmin_sample_ms = -1\n")
    with pytest.raises(RatingsInputError, match=r"\[ratings\] min_sample_ms \(-1\) must be a int >= 0"):
        build_ratings(tsv, tmp_path / "exp", design="random", samples_per_task=2, ratings_per_sample=1,
                      base_url=BASE_URL, study=study)
    shutil.rmtree(tmp_path / "exp")


def test_video_is_transcoded_to_h264_mp4(tmp_path):
    for k, color in enumerate(("red", "blue")):
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"color=c={color}:s=64x48:d=0.5:r=25", "-c:v", "mpeg4", str(tmp_path / f"v{k}.avi")],
                       check=True)
    tsv = write_input(tmp_path, ["clip\tA\tv0.avi", "clip\tB\tv1.avi"])
    result = build_ratings(tsv, tmp_path / "exp", design="random", samples_per_task=2, ratings_per_sample=1,
                           base_url=BASE_URL)
    assert (result.media_kind, result.n_files) == ("video", 2)
    assert result.media_seconds == pytest.approx(1.0, abs=0.1)
    for f in (tmp_path / "exp" / "videos").iterdir():
        assert f.suffix == ".mp4"
        proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(f)], capture_output=True)
        assert b"Video: h264" in proc.stderr and b"yuv420p" in proc.stderr


@pytest.mark.parametrize("design, media, name, n_links, n_per_link", [
    ("random", "audio", "demo-ratings", 4, 4),
    ("mushra", "audio", "demo-ratings-mushra-audio", 4, 4),
    ("dsis", "images", "demo-ratings-dsis-images", 3, 4),
])
def test_demo_study_is_built_from_the_bundled_samples(tmp_path, design, media, name, n_links, n_per_link):
    from stimuli.ratings_build import build_ratings_demo

    exp_dir = build_ratings_demo(tmp_path, BASE_URL, design, media)
    assert exp_dir == tmp_path / name
    built = json.loads((exp_dir / "design.json").read_text())
    assert (built["experiment_id"], built["design"], built["media_kind"]) == (name, design, {"audio": "audio", "images": "image"}[media])
    assert [len(link["sample_ids"]) for link in built["links"]][0] == n_per_link and len(built["links"]) == n_links


@pytest.mark.parametrize("design, media, message", [
    ("mushra", "images", "ANC"), ("acr", "audio", r"--design \('acr'\) must be one of random, diff-source"),
    ("random", "video", r"--media \('video'\) must be one of audio, images"),
])
def test_demo_refuses_what_the_bundled_samples_cannot_do(tmp_path, design, media, message):
    from stimuli.ratings_build import build_ratings_demo

    with pytest.raises(RatingsInputError, match=message):
        build_ratings_demo(tmp_path, BASE_URL, design, media)


def test_urls_are_downloaded_once_and_a_missing_url_names_its_line(tmp_path):
    import functools
    import http.server
    import threading

    shutil.copy(AUDIO / "speech1_REF.flac", tmp_path / "a.flac")
    shutil.copy(AUDIO / "speech1_noise.flac", tmp_path / "b.flac")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        tsv = write_input(tmp_path, [f"s1\tA\t{url}/a.flac", f"s1\tB\t{url}/b.flac"])
        result = build_ratings(tsv, tmp_path / "exp", design="random", samples_per_task=2, ratings_per_sample=1,
                               base_url=BASE_URL)
        assert (result.n_files, len(list((tmp_path / "exp" / ".downloads").iterdir()))) == (2, 2)
        tsv = write_input(tmp_path, [f"s1\tA\t{url}/a.flac", f"s1\tB\t{url}/gone.flac"])
        with pytest.raises(RatingsInputError, match=rf"line 2: cannot download {url}/gone.flac \(HTTP Error 404"):
            build_ratings(tsv, tmp_path / "exp2", design="random", samples_per_task=2, ratings_per_sample=1,
                          base_url=BASE_URL)
        httpd.shutdown()


def test_trapping_trials_join_every_list_of_single_stimulus_designs(tmp_path):
    tsv = write_input(tmp_path, audio_rows(sources=(1, 2), algorithms=("REF", "noise")))
    study = tmp_path / "study.toml"
    study.write_text("[ratings]\ntraps_per_task = 1\n")
    build_ratings(tsv, tmp_path / "exp", design="random", samples_per_task=2, ratings_per_sample=3,
                  base_url=BASE_URL, study=study, seed=2)
    design = json.loads((tmp_path / "exp" / "design.json").read_text())
    stimuli = json.loads((tmp_path / "exp" / "stimuli.json").read_text())
    for link in design["links"]:
        traps = [[t for t in trials if "trap" in t] for trials in link["lists"]]
        assert all(len(trials) == 3 for trials in link["lists"]) and all(len(t) == 1 for t in traps)
        assert len({t[0]["media_id"] for t in traps}) == 1
        trap = traps[0][0]
        assert trap["sample_id"] == f"trap/{trap['trap']}" and 1 <= trap["trap"] <= 5
        shown = stimuli["samples"][stimuli["traps"][trap["media_id"]]["shows"]]
        assert (tmp_path / "exp" / stimuli["traps"][trap["media_id"]]["file"]).read_bytes() == (
            tmp_path / "exp" / shown["file"]).read_bytes()
    with pytest.raises(RatingsInputError, match=r"traps_per_task works with the single-stimulus designs"):
        build_ratings(tsv, tmp_path / "exp2", design="same-source", samples_per_task=2, ratings_per_sample=1,
                      base_url=BASE_URL, study=study)


GOLD = f'[[ratings.gold]]\nfile = "{AUDIO / "speech1_REF.flac"}"\nscore = 5\n'


@pytest.mark.parametrize(("study", "design", "message"), [
    ("gold_per_task = 1\n", "random",
     r"gold_per_task is 1 but there is no \[\[ratings.gold\]\] entry \(a file and its known score\)"),
    (GOLD, "random", r"1 \[\[ratings.gold\]\] entries but gold_per_task is 0; set gold_per_task"),
    ("gold_per_task = 1\n" + GOLD, "mushra", r"gold samples work with the single-stimulus designs \(random, "
     r"diff-source, dsis\), not mushra; MUSHRA's hidden reference and anchor are its built-in checks"),
    ("gold_per_task = 1\n" + GOLD, "same-source", r"not same-source; a screen of one source's samples side by side"),
    ("gold_per_task = 2\n" + GOLD, "random", r"gold_per_task \(2\) must be at most the 1 \[\[ratings.gold\]\] "
     r"entries: a task never shows one gold sample twice"),
    ("gold_per_task = 1\n" + GOLD.replace("5", "6"), "random",
     r"\[\[ratings.gold\]\] entry 1 \(.*speech1_REF.flac\): score \(6\) must be a point of the 5-point scale, 1..5"),
    ("gold_per_task = 1\n" + GOLD.replace("5", "4.5"), "random", r"entry 1: score \(4.5\) must be a whole number"),
    ("gold_per_task = 1\n" + GOLD.replace("score = 5", "answer = 5"), "random",
     r"entry 1: key 'answer' is not one of file, score, name, reference"),
    ("gold_per_task = 1\n[[ratings.gold]]\nfile = \"nowhere.wav\"\nscore = 1\n", "random",
     r"entry 1: file 'nowhere.wav' does not exist \(looked at .*nowhere.wav\)"),
    ("gold_per_task = 1\n" + GOLD + GOLD, "random", r"entry 2: name 'speech1_REF' is repeated \(entry 1\)"),
    ("gold_per_task = 1\n" + GOLD, "dsis", r"entry 1 \(.*\): --design dsis shows every sample beside its reference; "
     r"add reference = "),
    ("gold_per_task = 1\n" + GOLD + 'reference = "x.wav"\n', "random",
     r"entry 1 \(.*\): reference is only for --design dsis, not random"),
    ("max_gold_miss_share = 1.5\n", "random", r"\[ratings\] max_gold_miss_share \(1.5\) must be a share from 0 to 1"),
])
def test_bad_gold_entries_are_refused_naming_the_entry(tmp_path, study, design, message):
    tsv = write_input(tmp_path, audio_rows(sources=(1, 2), algorithms=("REF", "ANC")))
    (tmp_path / "study.toml").write_text("[ratings]\n" + study)
    with pytest.raises(RatingsInputError, match=message):
        build_ratings(tsv, tmp_path / "exp", design=design, samples_per_task=2, ratings_per_sample=1,
                      base_url=BASE_URL, study=tmp_path / "study.toml")
    assert not (tmp_path / "exp" / "design.json").exists()


@pytest.mark.parametrize(("gold_file", "message"), [
    ("broken.wav", r"entry 1 \(.*broken.wav\): ffmpeg cannot decode this audio file"),
    (str(RATINGS_SAMPLES / "images" / "picture1_REF.png"),
     r"entry 1 \(.*picture1_REF.png\) is image but the study's samples are audio; gold samples must be the same"),
])
def test_undecodable_or_other_media_gold_is_refused_naming_the_entry(tmp_path, gold_file, message):
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file" * 10)
    tsv = write_input(tmp_path, audio_rows(sources=(1,), algorithms=("REF", "noise")))
    (tmp_path / "study.toml").write_text(f'[ratings]\ngold_per_task = 1\n[[ratings.gold]]\nfile = "{gold_file}"\n'
                                         f'score = 2\n')
    with pytest.raises(RatingsInputError, match=message):
        build_ratings(tsv, tmp_path / "exp", design="random", samples_per_task=2, ratings_per_sample=1,
                      base_url=BASE_URL, study=tmp_path / "study.toml")
    assert not (tmp_path / "exp" / "design.json").exists()


def test_gold_joins_every_list_under_new_names_and_screens(ratings_gold):
    design = json.loads((ratings_gold / "design.json").read_text())
    stimuli = json.loads((ratings_gold / "stimuli.json").read_text())
    served = {}
    for link in design["links"]:
        gold = [[t for t in trials if "gold" in t] for trials in link["lists"]]
        assert all(len(g) == 1 for g in gold) and len({g[0]["media_id"] for g in gold}) == 1
        trial = gold[0][0]
        assert stimuli["gold"][trial["media_id"]] | {"input": None} == {
            "name": trial["sample_id"].removeprefix("gold/"), "score": trial["gold"], "input": None,
            "file": f"videos/{trial['media_id']}.m4a"}
        served[trial["media_id"]] = trial["sample_id"]
        for trials in link["lists"]:  # the gold's screen is one of 0..K like the samples'
            assert sorted(t["screen"] for t in trials) == list(range(len(trials)))
    # 4 links, each with its own copy: no file recurs from task to task; both entries used twice
    assert len(served) == 4 and Counter(served.values()) == {"gold/clean": 2, "gold/bad": 2}
    sample_ids = {s["media_id"] for s in stimuli["samples"].values()}
    assert not sample_ids & set(served)
    clean = [m for m, s in served.items() if s == "gold/clean"]
    assert (ratings_gold / "videos" / f"{clean[0]}.m4a").read_bytes() == (
        ratings_gold / "videos" / f"{clean[1]}.m4a").read_bytes()
    assert decode_seconds(ratings_gold / "videos" / f"{clean[0]}.m4a") == pytest.approx(2.0, abs=0.05)
    assert design["study"]["gold_per_task"] == 1


def test_a_base_url_on_this_machine_gets_a_warning_first(tmp_path):
    tsv = write_input(tmp_path, audio_rows(sources=(1,), algorithms=("REF", "noise")))
    result = CliRunner().invoke(cli, ["build-ratings", str(tsv), str(tmp_path / "exp1"), "--design", "random",
                                      "--samples-per-task", "2", "--ratings-per-sample", "1", "--base-url", BASE_URL])
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"warning: --base-url {BASE_URL} is this machine's own address: workers' browsers "
                             "cannot reach it (fine for trying the study here); build again with the name or "
                             "address workers reach before publishing links.csv\n")
    placeholder = CliRunner().invoke(cli, ["build-ratings", str(tsv), str(tmp_path / "exp2"), "--design", "random",
                                           "--samples-per-task", "2", "--ratings-per-sample", "1",
                                           "--base-url", "https://HOST:8443"])
    assert (placeholder.exit_code, placeholder.output) == (1, (
        "error: --base-url ('https://HOST:8443') still holds the placeholder HOST: give the name or address "
        "workers reach this server at, e.g. https://mvt.example.org:8443\n"))
    assert not (tmp_path / "exp2").exists()


def test_the_bundled_gold_example_builds_as_the_readme_says(tmp_path):
    result = CliRunner().invoke(cli, ["build-ratings", str(RATINGS_SAMPLES / "audio.tsv"), str(tmp_path / "gold1"),
                                      "--design", "random", "--samples-per-task", "4", "--ratings-per-sample", "5",
                                      "--study", str(RATINGS_SAMPLES / "study_gold.toml"), "--base-url", PUBLIC_URL])
    assert result.exit_code == 0, result.output
    # 16 samples + 2 gold converted; 4 links x 1 gold copy each
    assert re.fullmatch(r"16 audio samples \(20 files, 18 converted, [\d.]+ MB, 40\.0 s of media\) in [\d.]+ s; "
                        r"4 links x 5 lists in .*links.csv \(design random\)\n"
                        r"gold: 1 of the 2 gold sample\(s\) in every list\n", result.output)


SHARED_STUDY = '''title = "Speech quality"
description = "Listen to short recordings and rate each one."
minutes = 6
pay = "GBP 1.50"
contact = "lab@example.org"
consent = """We record your ratings for the Example Lab.

You may stop at any time."""

[panel]
id_param = "survey_code"
completion_url = "https://sona.example.edu/done?c={code}&id={id}"
completion_code = "OK1"

[device]
touch_allowed = true
min_stimulus_px = 300

[ratings]
min_sample_ms = 1500
'''


def build_ratings_cli(tmp_path: Path, study: Path, exp: str = "words"):
    tsv = write_input(tmp_path, audio_rows(sources=(1,), algorithms=("REF", "noise")))
    return CliRunner().invoke(cli, ["build-ratings", str(tsv), str(tmp_path / exp), "--design", "random",
                                    "--samples-per-task", "2", "--ratings-per-sample", "1", "--base-url", PUBLIC_URL,
                                    "--study", str(study)])


def test_the_study_files_shared_keys_are_kept_as_mvt_build_keeps_them(tmp_path):
    from studies import get_kind

    study = tmp_path / "study.toml"
    study.write_text(SHARED_STUDY)
    result = build_ratings_cli(tmp_path, study)
    assert result.exit_code == 0, result.output
    design = json.loads((tmp_path / "words" / "design.json").read_text())
    panel = {"id_param": "survey_code", "completion_url": "https://sona.example.edu/done?c={code}&id={id}",
             "completion_code": "OK1"}
    assert design["study"] == {
        "title": "Speech quality", "description": "Listen to short recordings and rate each one.", "minutes": 6,
        "pay": "GBP 1.50", "contact": "lab@example.org",
        "consent": "We record your ratings for the Example Lab.\n\nYou may stop at any time.",
        "panel": panel, "min_sample_ms": 1500, "device": {"touch_allowed": True, "min_stimulus_px": 300}}
    page = get_kind("ratings").page_study(design)
    assert {k: page[k] for k in ("title", "description", "minutes", "pay", "contact", "panel", "device")} == {
        "title": "Speech quality", "description": "Listen to short recordings and rate each one.", "minutes": 6,
        "pay": "GBP 1.50", "contact": "lab@example.org", "panel": panel,
        "device": {"touch_allowed": True, "min_stimulus_px": 300}}


@pytest.mark.parametrize(("toml", "message"), [
    ('titel = "Speech quality"\n',
     "unknown key 'titel'; expected some of consent, contact, description, device, minutes, panel, pay, ratings, "
     "title"),
    ("practice_trials = 2\n", "practice_trials is read only by mvt build, not by mvt build-ratings; remove it"),
    ("[device]\ntouch_allowed = true\nmax_rescale = 2\n", "device.max_rescale is read only by mvt build, not by "
     "mvt build-ratings (whose page checks min_stimulus_px and touch_allowed); remove it"),
    ("[device]\nmin_stimulus_px = -1\n", "device.min_stimulus_px (-1) must be a number ≥ 0"),
    ("minutes = -1\n", "minutes (-1) must be a number ≥ 0"),
    ('consent = ""\n', "consent ('') must be non-empty text"),
    ('[panel]\nid_param = "x"\n', "panel.completion_url (None) must be non-empty text"),
    ('title = "A"\n[ratings]\ntitle = "B"\n', "title is given twice (at the top and under [ratings]); keep one"),
])
def test_a_bad_study_file_key_is_refused_by_name(tmp_path, toml, message):
    study = tmp_path / "study.toml"
    study.write_text(toml)
    result = build_ratings_cli(tmp_path, study)
    assert result.exit_code == 1
    prefix = f"{study}: " if "twice" in message else f"study file {study}: "
    assert result.output == f"error: {prefix}{message}\n"
    assert not (tmp_path / "words" / "design.json").exists()


def test_mvt_build_refuses_a_ratings_table_by_name(tmp_path):
    from stimuli.study import read_study_file
    from kernel.errors import BuildOptionError

    study = tmp_path / "study.toml"
    study.write_text("[ratings]\nmin_sample_ms = 1\n")
    with pytest.raises(BuildOptionError, match=f"^study file {re.escape(str(study))}: ratings is read only by "
                                               r"mvt build-ratings, not by mvt build; remove it$"):
        read_study_file(study)


def test_progress_counts_every_converted_file(tmp_path):
    tsv = write_input(tmp_path, audio_rows(sources=(1, 2), algorithms=("REF", "noise", "lowpass", "ANC")))
    seen = []
    build_ratings(tsv, tmp_path / "exp", design="mushra", samples_per_task=4, ratings_per_sample=1,
                  base_url=BASE_URL, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 10) for i in range(1, 11)]   # 8 samples, then the 2 sources' references
