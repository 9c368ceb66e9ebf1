"""The ratings study kind through ``mvt load`` and the real HTTPS API: trials, media, answers, gate."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from kernel.errors import BadExperiment
from kernel.export import iter_response_rows
from studies.loader import load_experiment
from kernel.store import keys
from studies import get_kind
from studies.ratings import LABELS
from tests.fixtures.ratings import with_study
from tests.test_pages import config_of


@pytest.fixture
def server(ratings_client):
    return ratings_client


def start(client, link, worker="W1", assignment="A1"):
    return client.post("/api/assignments", json={"link": link, "worker_id": worker, "assignment_id": assignment,
                                                 "hit_id": "H1"})


def answer(client, token, trial, response, **presentation):
    return client.post("/api/responses", json={"assignment_token": token, "trial": trial, "response": response,
                                               "response_time_ms": 2500.0, **presentation})


def test_load_stores_items_hidden_answers_and_the_scale(redis, ratings_acr):
    result = load_experiment(redis, ratings_acr)
    assert (result.n_links, result.n_lists, len(result.loaded)) == (4, 12, 4)
    meta = redis.hgetall(keys.link_meta("acr-001"))
    assert (meta["kind"], meta["n_lists"], meta["n_trials"], json.loads(meta["options"])) == (
        "ratings", "3", "4", ["1", "2", "3", "4", "5"])
    design = json.loads((ratings_acr / "design.json").read_text())
    first = design["links"][0]["lists"][0][0]
    assert json.loads(redis.hget(keys.link_answers("acr-001"), "0:0")) == [None, 0, first["sample_id"],
                                                                          first["media_id"], 0]
    first_item = json.loads(redis.hget(keys.link_lists("acr-001"), "0"))[0]
    assert first_item == f"acr~{first['screen']}~{first['media_id']}.m4a"
    assert load_experiment(redis, ratings_acr).unchanged == tuple(f"acr-{k:03d}" for k in range(1, 5))


def test_acr_assignment_rate_and_complete_through_the_api(server, redis, ratings_acr):
    load_experiment(redis, ratings_acr)
    body = start(server, "acr-001").json()
    assert body["n_trials"] == 4 and body["options"] == ["1", "2", "3", "4", "5"]
    text = json.dumps(body["trials"])
    assert not any(word in text for word in ("speech", "REF", "ANC", "noise", "lowpass"))  # nothing gives it away
    for i, trial in enumerate(body["trials"]):
        assert trial["trial"] == i and trial["media_type"] == "audio" and trial["scale"] == "acr"
        assert trial["labels"] == ["Excellent", "Good", "Fair", "Poor", "Bad"] and "reference_url" not in trial
        assert re.fullmatch(r"/videos/[0-9a-f]{16}\.m4a\?a=A1&l=acr-001&e=\d+&k=[\w-]+", trial["media_url"])
    media = server.get(body["trials"][0]["media_url"])
    assert (media.status_code, media.headers["content-type"]) == (200, "audio/mp4")
    name = body["trials"][0]["media_url"].split("/")[-1].split("?")[0]
    assert media.content == (ratings_acr / "videos" / name).read_bytes()
    unsigned = server.get(f"/videos/{name}")  # signed per assignment, as MVT videos are
    assert (unsigned.status_code, unsigned.json()["reason"]) == (403, "bad_video_link")
    token = body["assignment_token"]
    r = answer(server, token, 0, "Excellent")
    assert (r.status_code, r.json()["reason"]) == (422, "bad_response")
    assert answer(server, token, 0, "6").json()["reason"] == "bad_response"
    for i, score in enumerate(["5", "4", "1", "3"]):
        assert answer(server, token, i, score, replays=i, playback_completed=True,
                      view_ms=1000 * i).json()["recorded"] is True
    done = server.post("/api/complete", json={"assignment_token": token})
    assert done.status_code == 200 and done.json()["n_trials"] == 4
    rows = [row for row in iter_response_rows(redis) if row["assignment_id"] == "A1"]
    design = json.loads((ratings_acr / "design.json").read_text())
    list_index = rows[0]["list_index"]
    expected = [t["sample_id"] for t in design["links"][0]["lists"][list_index]]
    assert [(row["sample_id"], row["rating"], row["correct"], row["trial_type"], row["rating_scale"])
            for row in rows] == [(sample, score, None, "sample", "acr") for sample, score in zip(expected, ["5", "4", "1", "3"])]
    assert [(row["source"], row["algorithm"]) for row in rows] == [tuple(sample.rsplit("/", 1)) for sample in expected]
    assert not {"image_id", "label", "frames"} & set(rows[0])  # a rating is not exported as an MVT trial
    # Replays of a rated sample are recorded and, unlike a replayed MVT stimulus, fail nothing.
    assert [(row["replays"], row["playback_completed"], row["view_ms"], row["timing_ok"]) for row in rows] == [
        (i, True, 1000 * i, None) for i in range(4)]


def test_no_worker_rates_a_sample_twice(server, redis, ratings_acr):
    load_experiment(redis, ratings_acr)
    assert start(server, "acr-001").status_code == 200
    again = start(server, "acr-001", assignment="A2")
    assert (again.status_code, again.json()["reason"]) == (409, "seen_link")
    assert start(server, "acr-002", assignment="A3").status_code == 200  # another link: other samples
    for k in (2, 3):
        assert start(server, "acr-001", worker=f"W{k}", assignment=f"B{k}").status_code == 200
    full = start(server, "acr-001", worker="W4", assignment="B4")
    assert (full.status_code, full.json()["reason"]) == (409, "link_full")  # R = 3 ratings per sample


def test_mushra_trials_carry_the_reference_and_the_0_to_100_scale(server, redis, ratings_mushra):
    load_experiment(redis, ratings_mushra)
    body = start(server, "mushra-001").json()
    assert len(body["options"]) == 101
    trials = body["trials"]
    assert len(trials) == 4 and {t["screen"] for t in trials} == {trials[0]["screen"]}
    assert {t["scale"] for t in trials} == {"mushra"} and len({t["reference_url"] for t in trials}) == 1
    assert trials[0]["reference_url"] not in {t["media_url"] for t in trials}  # hidden reference has its own name
    assert server.get(trials[0]["reference_url"]).status_code == 200
    assert answer(server, body["assignment_token"], 0, "100").json()["recorded"] is True
    assert answer(server, body["assignment_token"], 1, "101").json()["reason"] == "bad_response"


def test_dsis_images_are_served_as_png_with_the_dcr_labels(server, redis, ratings_dsis_images):
    load_experiment(redis, ratings_dsis_images)
    trial = start(server, "dsis-001").json()["trials"][0]
    assert (trial["media_type"], trial["scale"]) == ("image", "dcr")
    assert trial["labels"] == ["Imperceptible", "Perceptible but not annoying", "Slightly annoying", "Annoying",
                               "Very annoying"]
    for url in (trial["media_url"], trial["reference_url"]):
        r = server.get(url)
        assert (r.status_code, r.headers["content-type"], r.content[:8]) == (200, "image/png", b"\x89PNG\r\n\x1a\n")


def test_media_names_stay_strict(server, redis, ratings_acr):
    load_experiment(redis, ratings_acr)
    assert server.get("/videos/0123456789abcdef.wav").json()["detail"] == (
        "video name '0123456789abcdef.wav' must be 16 lowercase hex characters followed by .mp4, .m4a or .png")


def test_broken_rating_experiments_are_refused(redis, ratings_acr, tmp_path):
    exp = tmp_path / "acr"
    shutil.copytree(ratings_acr, exp)
    design = json.loads((exp / "design.json").read_text())
    victim = design["links"][1]["lists"][0][2]["media_id"]
    (exp / "videos" / f"{victim}.m4a").unlink()
    with pytest.raises(BadExperiment, match=rf"media file .*{victim}.m4a is missing"):
        load_experiment(redis, exp)
    design["scale"] = "stars"
    (exp / "design.json").write_text(json.dumps(design))
    with pytest.raises(BadExperiment, match=r"scale \('stars'\) in design.json must be one of acr, dcr, mushra"):
        load_experiment(redis, exp)


def test_trials_keep_the_extension_when_a_cdn_serves_the_media():
    kind = get_kind("ratings")
    trials = kind.trials(["dcr~0~00000000000000aa.png~00000000000000bb.png"], ["1", "2"],
                         lambda media_id, ext="mp4": f"https://cdn.example.org/s/{media_id}.{ext}?a=A1&s=x.mp4")
    cdn = "https://cdn.example.org/s/"
    assert trials == [{"trial": 0, "screen": 0, "media_url": f"{cdn}00000000000000aa.png?a=A1&s=x.mp4",
                       "media_type": "image", "scale": "dcr", "labels": LABELS["dcr"], "options": ["1", "2"],
                       "reference_url": f"{cdn}00000000000000bb.png?a=A1&s=x.mp4"}]


def test_trapping_trial_asks_for_a_score_and_the_server_marks_it_correct(server, redis, tmp_path):
    from stimuli.ratings_build import build_ratings
    from tests.fixtures.ratings import BASE_URL, RATINGS_SAMPLES

    study = tmp_path / "study.toml"
    study.write_text("[ratings]\ntraps_per_task = 1\n")
    build_ratings(RATINGS_SAMPLES / "images.tsv", tmp_path / "trap", design="dsis", samples_per_task=3,
                  ratings_per_sample=1, base_url=BASE_URL, study=study)
    load_experiment(redis, tmp_path / "trap")
    body = start(server, "trap-001").json()
    asked = [t for t in body["trials"] if "attention" in t]
    assert len(body["trials"]) == 4 and len(asked) == 1 and "reference_url" in asked[0]
    trap = asked[0]
    wrong = "1" if trap["attention"] != "1" else "2"
    for t in body["trials"]:
        assert answer(server, body["assignment_token"], t["trial"], wrong if t is trap else "3").json()["recorded"]
    rows = {row["trial"]: row for row in iter_response_rows(redis)}
    assert ({k: rows[trap["trial"]][k] for k in ("sample_id", "trial_type", "expected_rating", "rating", "correct")}
            == {"sample_id": f"trap/{trap['attention']}", "trial_type": "trap", "expected_rating": trap["attention"],
                "rating": wrong, "correct": False})


def test_the_control_room_counts_every_trap_gold_and_headphone_check_as_answers_are_recorded(
        server, redis, tmp_path, ratings_gold):
    """Exact, not sampled: two tasks with a trap each (one answered as asked), two gold trials (one a point
    from the known score, one three), headphone checks 6/6 and 4/6 (one passes: 5/6 needed)."""
    from app.control import overview, overview_scan
    from stimuli.ratings_build import build_ratings
    from tests.fixtures.ratings import BASE_URL, RATINGS_SAMPLES

    study = tmp_path / "study.toml"
    study.write_text("[ratings]\ntraps_per_task = 1\n")
    build_ratings(RATINGS_SAMPLES / "images.tsv", tmp_path / "trap", design="dsis", samples_per_task=3,
                  ratings_per_sample=2, base_url=BASE_URL, study=study)
    load_experiment(redis, tmp_path / "trap")
    load_experiment(redis, ratings_gold)
    for worker, right, check in (("W1", True, "6/6"), ("W2", False, "4/6")):
        body = start(server, "trap-001", worker, f"A{worker}").json()
        for t in body["trials"]:
            asked = t.get("attention")
            rating = (asked if right else ("1" if asked != "1" else "2")) if asked else "3"
            assert answer(server, body["assignment_token"], t["trial"], rating, headphone_check=check).json()["recorded"]
    gold_link = next(link for link in sorted(redis.smembers(keys.links_index()))
                     if any("gold/" in a for a in redis.hvals(keys.link_answers(link))))
    for worker, off in (("G1", 1), ("G2", 3)):
        body = start(server, gold_link, worker, f"A{worker}").json()
        index = json.loads(redis.hget(keys.link_assignments(gold_link), f"A{worker}"))["list"]
        for t in body["trials"]:
            known = json.loads(redis.hget(keys.link_answers(gold_link), f"{index}:{t['trial']}"))
            rating = str(int(known[0]) - off if int(known[0]) > off else int(known[0]) + off) if known[0] else "3"
            assert answer(server, body["assignment_token"], t["trial"], rating).json()["recorded"]
    by_id = {e.experiment_id: e for e in overview(redis, 60)}
    assert {k: v for k, v in by_id["trap"].figures.items() if "trap" in k or "headphone" in k} == {
        "trap trials answered as asked": "50 % of 2", "headphone check passed (tasks)": "50 % of 2"}
    assert by_id["gold"].figures["gold trials within 1 point"] == "50 % of 2"
    assert [e.figures for e in overview_scan(redis, 60)] == [e.figures for e in by_id.values()]


def test_worker_page_and_mturk_preview_follow_the_links_kind(server, redis, ratings_acr, synthetic_experiment):
    load_experiment(redis, ratings_acr)
    load_experiment(redis, synthetic_experiment)
    page = server.get("/experiment.html?link=acr-001&assignmentId=A1&workerId=W1&hitId=H1").text
    assert 'data-kind="/static/ratings/kind.js"' in page and "/static/runner/kind.js" not in page
    mvt = server.get("/experiment.html?link=synth-001&assignmentId=A1&workerId=W1&hitId=H1").text
    assert 'data-kind="/static/runner/kind.js"' in mvt and "/static/ratings/kind.js" not in mvt
    preview = server.get("/experiment.html?link=acr-001&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1").text
    assert "Quality rating task (preview)" in preview and "Photosensitivity" not in preview


def page_config(client, link: str) -> dict:
    """The worker page's config, as the page's script reads it."""
    return config_of(client.get(f"/experiment.html?link={link}&assignmentId=A1&workerId=W1&hitId=H1").text)


@pytest.mark.parametrize("fixture, link, wanted, shown", [
    ("ratings_acr", "acr-001", True, True), ("ratings_acr", "acr-001", None, False),
    ("ratings_dsis_images", "dsis-001", True, False)])
def test_the_page_is_told_to_run_the_headphone_check_only_for_audio_that_asks_for_it(
        server, redis, request, tmp_path, fixture, link, wanted, shown):
    exp = with_study(request.getfixturevalue(fixture), tmp_path, {} if wanted is None else {"headphone_check": wanted})
    design = json.loads((exp / "design.json").read_text())
    load_experiment(redis, exp)
    study = page_config(server, link)["study"]
    assert (study["kind"], study["headphone_check"]) == ("ratings", shown)
    assert study["media_kind"] == design["media_kind"]


def test_the_headphone_check_outcome_is_stored_and_exported_with_every_rating(server, redis, ratings_acr):
    load_experiment(redis, ratings_acr)
    token = start(server, "acr-001").json()["assignment_token"]
    assert answer(server, token, 0, "4", headphone_check="5/6").json()["recorded"] is True
    assert answer(server, token, 1, "3").json()["recorded"] is True  # a study without the check sends none
    rows = sorted((row for row in iter_response_rows(redis) if row["assignment_id"] == "A1"), key=lambda r: r["trial"])
    assert [row["headphone_check"] for row in rows] == ["5/6", None]


@pytest.mark.parametrize("value", ["7/6", "5 of 6", "0/0", "/6", 5])
def test_a_malformed_headphone_check_outcome_is_refused_by_name(server, redis, ratings_acr, value):
    load_experiment(redis, ratings_acr)
    token = start(server, "acr-001").json()["assignment_token"]
    r = answer(server, token, 0, "4", headphone_check=value)
    assert r.status_code == 422
    if isinstance(value, str):
        assert r.json()["detail"] == (f"body field 'headphone_check': Value error, headphone_check ({value!r}) must "
                                      f"be correct/trials with 0 <= correct <= trials, e.g. '5/6' (got {value!r})")
    else:
        assert r.json()["detail"].startswith("body field 'headphone_check': Input should be a valid string")
    assert not any(row["assignment_id"] == "A1" for row in iter_response_rows(redis))  # nothing recorded


def dsis_gold_study(tmp_path):
    """DSIS of the bundled pictures with one gold entry (a picture beside its own reference)."""
    from stimuli.ratings_build import build_ratings
    from tests.fixtures.ratings import BASE_URL, RATINGS_SAMPLES

    study = tmp_path / "study.toml"
    picture = RATINGS_SAMPLES / "images" / "picture1_REF.png"
    study.write_text(f'[ratings]\ngold_per_task = 1\n[[ratings.gold]]\nname = "same"\nfile = "{picture}"\n'
                     f'reference = "{picture}"\nscore = 5\n')
    build_ratings(RATINGS_SAMPLES / "images.tsv", tmp_path / "dsisgold", design="dsis", samples_per_task=3,
                  ratings_per_sample=1, base_url=BASE_URL, study=study)
    return tmp_path / "dsisgold"


@pytest.mark.parametrize("case", ["acr", "dsis"])
def test_a_gold_trial_is_served_like_a_sample_and_its_known_score_is_the_correct_answer(
        server, redis, ratings_gold, tmp_path, case):
    exp_dir = ratings_gold if case == "acr" else dsis_gold_study(tmp_path)
    load_experiment(redis, exp_dir)
    link = json.loads((exp_dir / "design.json").read_text())["links"][0]
    body = start(server, link["link_id"]).json()
    served = [t["media_url"][8:24] for t in body["trials"]]
    trials = next(trials for trials in link["lists"] if [t["media_id"] for t in trials] == served)
    k = next(k for k, t in enumerate(trials) if "gold" in t)
    gold, others = body["trials"][k], body["trials"][:k] + body["trials"][k + 1:]
    assert all(set(t) == set(gold) for t in others)  # no key tells the gold trial apart
    assert ("reference_url" in gold) == (case == "dsis") and "attention" not in gold
    def shape(trial):  # what is left with the ids, signatures and positions taken out
        return {key: re.sub(r"[0-9a-f]{16}|(?<=s=)[\w-]+", "X", str(v)) for key, v in trial.items()
                if key not in ("trial", "screen")}

    assert all(shape(t) == shape(gold) for t in others)
    assert server.get(gold["media_url"]).status_code == 200
    known = str(trials[k]["gold"])
    for t in body["trials"]:
        assert answer(server, body["assignment_token"], t["trial"], known if t is gold else "3").json()["recorded"]
    rows = {row["trial"]: row for row in iter_response_rows(redis)}
    assert (rows[k]["sample_id"], rows[k]["trial_type"], rows[k]["correct"]) == (trials[k]["sample_id"], "gold", True)
    assert rows[k]["expected_rating"] == known and rows[k]["rating_scale"] in ("acr", "dcr")
    assert not any(rows[j]["correct"] for j in rows if j != k)
