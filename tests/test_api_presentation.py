"""The response path's additions: presentation fields, other tabs' late answers, blocks mid-task,
the page's failure report and the debrief comment, against the real HTTPS server and Redis."""

from __future__ import annotations

import json

import pytest

from kernel.admin import block_workers, unblock_workers
from kernel.export import iter_response_rows
from kernel.store import keys
from studies.mvt import MVTKind
from tests.test_api import answer, client, nominal_times, start  # noqa: F401 (client is a fixture)

SEEN = {"stimulus_visible": True, "plays": 1, "viewport_w": 1366, "viewport_h": 650, "screen_w": 1366,
        "screen_h": 768, "video_px": 452, "dpr": 1.25, "fullscreen": False, "input_type": "keyboard",
        "tab_id": "tab-a"}


def token_of(client, worker="W1", assignment="A1"):
    r = start(client, worker, assignment)
    assert r.status_code == 200, r.text
    return r.json()["assignment_token"]


def rows(server, assignment="A1"):
    return [row for row in iter_response_rows(server.redis) if row["assignment_id"] == assignment]


def test_presentation_fields_are_stored_and_exported(client, synthetic_server):
    token = token_of(client)
    r = answer(client, token, 0, frame_log="0-40", timing_source="rvfc", **SEEN)
    assert r.status_code == 200, r.text
    (row,) = rows(synthetic_server)
    assert {name: row[name] for name in SEEN} == SEEN
    assert list(MVTKind.export_columns[-26:]) == [*SEEN, "replays", "playback_completed", "view_ms", "headphone_check",
                                            "interrupted", "drawn_device_px", "top_viewport_w", "top_viewport_h",
                                            "frame_times", "reference_view_ms", "reference_visible", "comment", "image_ms_measured", "mask_frames_presented",
                                            "timing_reason"]


@pytest.mark.parametrize("change, reason", [
    ({}, "unmeasured"), ({"stimulus_visible": False}, "not_visible"), ({"plays": 2}, "replayed"),
    ({"stimulus_visible": None}, "unmeasured"), ({"interrupted": "navigation"}, "navigation")])
def test_a_trial_without_timing_or_not_wholly_seen_or_played_twice_is_not_a_measured_trial(
        client, synthetic_server, change, reason):
    token = token_of(client)
    r = answer(client, token, 0, **{**SEEN, **change})
    assert r.status_code == 200 and r.json()["timing_ok"] is False
    (row,) = rows(synthetic_server)
    assert (row["timing_ok"], row["timing_reason"]) == (False, reason)


def trial_frames(server, assignment="A1", trial=0, link="synth-001") -> tuple[int, int, int]:
    """(fixation frames, image frames, mask frames) of the assignment's trial, from the hidden answer."""
    rec = json.loads(server.redis.hget(keys.link_assignments(link), assignment))
    answer_ = json.loads(server.redis.hget(keys.link_answers(link), f"{rec['list']}:{trial}"))
    return answer_[4], answer_[1], answer_[5]


def _times(last: int, held: dict[int, float] | None = None, skip=()) -> str:
    """frame_times of frames 0..last at 60 fps, frame f held ``held[f]`` ms longer; samples in ``skip`` missing."""
    at, out = 0.0, []
    for i in range(last + 1):
        if i not in skip:
            out.append(f"{i}:{at:.1f}")
        at += 1000 / 60 + (held or {}).get(i, 0)
    return ",".join(out)


@pytest.mark.parametrize("case", ["normal", "held_first_image_300", "held_first_image_unsampled", "held_last_image",
                                  "held_fixation", "held_first_mask", "short_mask", "dropped_mask_frame",
                                  "last_callback_missed", "missing_first_mask", "zoomed_within_rule", "rescaled",
                                  "hidden", "no_frame_times"])
def test_the_image_is_measured_in_time_and_the_mask_in_frames(client, synthetic_server, case):
    token = token_of(client)
    lo, n, mask = trial_frames(synthetic_server)
    m, end = lo + n, lo + n + mask - 1
    log, times, extra = f"0-{end}", _times(end), {}
    expected = (True, None, round(n * 1000 / 60, 1), mask)
    if case == "held_first_image_300":
        times = _times(end, {lo: 300})
        expected = (False, "image_time", round(n * 1000 / 60 + 300, 1), mask)
    elif case == "held_first_image_unsampled":  # the page's callback missed the held frame: no time for it
        times = _times(end, {lo: 2500}, skip={lo})
        expected = (False, "image_time_unknown", None, mask)
    elif case == "held_last_image":
        times = _times(end, {m - 1: 50})
        expected = (False, "image_time", round(n * 1000 / 60 + 50, 1), mask)
    elif case == "held_fixation":  # before the image: harmless
        times = _times(end, {lo - 5: 400})
    elif case == "held_first_mask":  # the mask stays longer: harmless
        times = _times(end, {m: 400})
    elif case == "short_mask":  # the runner stopped waiting on a stalled video 3 frames into the mask
        log, times = f"0-{m + 2}", _times(m + 2)
        expected = (False, "mask_short", round(n * 1000 / 60, 1), 3)
    elif case == "dropped_mask_frame":  # the frame before it stayed longer: the mask is as long
        log = f"0-{m + 5},{m + 8}-{end}"
        times = _times(end, {m + 6: 1000 / 60}, skip={m + 7})
        expected = (True, None, round(n * 1000 / 60, 1), mask - 2)
    elif case == "last_callback_missed":
        log, times = f"0-{end - 1}", _times(end - 1)
        expected = (True, None, round(n * 1000 / 60, 1), mask - 1)
    elif case == "missing_first_mask":
        log = f"0-{m - 1},{m + 1}-{end}"
        expected = (False, "mask_onset_missing", round(n * 1000 / 60, 1), mask - 1)
    elif case == "hidden":
        extra = {"hidden_during_video": True}
        expected = (False, "hidden", round(n * 1000 / 60, 1), mask)
    elif case == "zoomed_within_rule":  # 128 px built, drawn 160 device px (zoom 125 %): 1.25x
        extra = {"drawn_device_px": 160.0}
    elif case == "rescaled":  # drawn 512 device px: 4x the 128 px built
        extra = {"drawn_device_px": 512.0}
        expected = (False, "rescaled", round(n * 1000 / 60, 1), mask)
    elif case == "no_frame_times":
        times = None
        expected = (False, "image_time_unknown", None, mask)
    r = answer(client, token, 0, frame_log=log, frame_times=times, refresh_interval_ms=16.667, **SEEN, **extra)
    assert r.status_code == 200, r.text
    (row,) = rows(synthetic_server)
    got = (row["timing_ok"], row["timing_reason"], row["image_ms_measured"], row["mask_frames_presented"])
    assert got[:2] == expected[:2] and got[3] == expected[3], row
    if expected[2] is None:
        assert got[2] is None
    else:
        assert got[2] == pytest.approx(expected[2], abs=0.2)
    assert r.json()["timing_ok"] is expected[0]


def test_every_start_of_a_trial_is_counted_by_the_server_and_a_second_one_excludes_it(client, synthetic_server):
    token = token_of(client)
    body = {"assignment_token": token, "trial": 0, "start_id": "s-first"}
    assert client.post("/api/trial-start", json=body).json() == {"plays": 1}
    assert client.post("/api/trial-start", json=body).json() == {"plays": 1}  # a retry counts once
    # The same assignment opened in a fresh profile or on another device starts the trial again.
    assert client.post("/api/trial-start", json={**body, "start_id": "s-other"}).json() == {"plays": 2}
    lo, n, mask = trial_frames(synthetic_server)
    end = lo + n + mask - 1
    r = answer(client, token, 0, frame_log=f"0-{end}", frame_times=nominal_times(end), **{**SEEN, "plays": 1})
    assert r.json()["timing_ok"] is False
    (row,) = rows(synthetic_server)
    assert (row["plays"], row["timing_reason"]) == (2, "replayed")
    # A first viewing announced once is measured as usual.
    assert client.post("/api/trial-start", json={**body, "trial": 1, "start_id": "s-1"}).json() == {"plays": 1}
    lo, n, mask = trial_frames(synthetic_server, trial=1)
    end = lo + n + mask - 1
    r = answer(client, token, 1, frame_log=f"0-{end}", frame_times=nominal_times(end), **{**SEEN, "plays": 1})
    assert r.json()["timing_ok"] is True
    refused = client.post("/api/trial-start", json={**body, "trial": 99})
    assert refused.status_code == 422 and refused.json()["reason"] == "bad_trial"
    assert client.post("/api/trial-start", json={**body, "assignment_token": "x" * 40}).status_code == 403


def test_a_not_wholly_seen_stimulus_fails_timing_with_a_perfect_frame_log(client, synthetic_server):
    token = token_of(client)
    fixation = 30
    r = answer(client, token, 0, frame_log=f"0-{2 * fixation + 10}", **{**SEEN, "stimulus_visible": False})
    assert r.json()["timing_ok"] is False
    assert rows(synthetic_server)[0]["presented_frames"] is not None


def test_another_tabs_late_answer_is_refused_and_a_retry_is_a_duplicate(client, synthetic_server):
    token = token_of(client)
    assert answer(client, token, 0, **SEEN).json()["duplicate"] is False
    assert answer(client, token, 0, **SEEN).json()["duplicate"] is True  # the same tab's retry
    late = answer(client, token, 0, response="dog", **{**SEEN, "tab_id": "tab-b"})
    assert late.status_code == 409
    assert late.json() == {"detail": "trial 0 was already answered in another tab or window of this task",
                           "reason": "other_tab"}
    assert rows(synthetic_server)[0]["response"] == "cat"


def test_a_worker_blocked_mid_task_is_refused_at_the_next_response_and_at_completion(client, synthetic_server):
    token = token_of(client)
    n = json.loads(synthetic_server.redis.hget(keys.link_meta("synth-001"), "n_trials"))
    for t in range(n - 1):
        assert answer(client, token, t).status_code == 200
    block_workers(synthetic_server.redis, ["W1"])
    refused = answer(client, token, n - 1)
    assert refused.status_code == 409
    assert refused.json() == {"detail": "worker W1 is blocked from this experiment", "reason": "blocked"}
    unblock_workers(synthetic_server.redis, ["W1"])  # the block (copied to the link, record.lua) is lifted
    assert answer(client, token, n - 1).status_code == 200
    block_workers(synthetic_server.redis, ["W1"])
    done = client.post("/api/complete", json={"assignment_token": token})
    assert done.status_code == 409 and done.json()["reason"] == "blocked"


def test_completion_keeps_the_debrief_comment(client, synthetic_server):
    token = token_of(client)
    n = int(synthetic_server.redis.hget(keys.link_meta("synth-001"), "n_trials"))
    for t in range(n):
        answer(client, token, t)
    done = client.post("/api/complete", json={"assignment_token": token, "comment": "Fast pictures!"})
    assert done.status_code == 200, done.text
    again = client.post("/api/complete", json={"assignment_token": token, "comment": "changed"})
    assert again.json()["completion_code"] == done.json()["completion_code"]
    assert {row["comment"] for row in rows(synthetic_server)} == {"Fast pictures!"}


def test_the_page_reports_why_it_gave_up(client, synthetic_server):
    token = token_of(client)
    r = client.post("/api/failure", json={"assignment_token": token, "trial": 2,
                                          "reason": "the video could not be downloaded (HTTP 404)"})
    assert r.status_code == 200 and r.json() == {"recorded": True}
    saved = json.loads(synthetic_server.redis.hget(keys.link_failures("synth-001"), "A1"))
    assert saved["trial"] == 2 and saved["reason"] == "the video could not be downloaded (HTTP 404)"
    forged = client.post("/api/failure", json={"assignment_token": "x" * 40, "reason": "nope"})
    assert forged.status_code == 403


@pytest.mark.parametrize("value, ok", [("gzip, deflate, br", True), ("br;q=1, gzip;q=0.5", True), ("*", True),
                                       ("gzip;q=0", False), ("identity", False), ("", False), (None, False)])
def test_accept_encoding_is_read_as_browsers_send_it(value, ok):
    from app.service import accepts_gzip

    assert accepts_gzip(value) is ok


@pytest.mark.parametrize("hot_path", [True, False])
def test_a_long_assignment_is_gzipped_when_the_browser_accepts_it(client, synthetic_server, tmp_path, hot_path):
    from isal import isal_zlib

    from app.service import GZIP_LEVEL
    from tests.fixtures.server import write_experiment

    synthetic_server.load(write_experiment(tmp_path / "long", experiment_id="long", n_links=1, n_lists=2,
                                           n_trials=40, classes=tuple(f"class {i}" for i in range(30))))
    body = {"link": "long-001", "worker_id": "W1", "assignment_id": "A1"}
    # A body the hot path does not take (a charset in the content type) goes to the FastAPI route.
    headers = {} if hot_path else {"Content-Type": "application/json; charset=utf-8"}
    raw = client.post("/api/assignments", json=body, headers={**headers, "Accept-Encoding": "identity"})
    packed = client.post("/api/assignments", json=body, headers={**headers, "Accept-Encoding": "gzip"})
    assert raw.status_code == packed.status_code == 200
    assert "content-encoding" not in raw.headers and packed.headers["content-encoding"] == "gzip"
    assert packed.json() == raw.json()  # httpx decompresses
    sent = int(packed.headers["content-length"])
    # Kept compressed at allocation, with resume_from appended uncompressed per request (app.service.kept_answer)
    assert sent <= len(isal_zlib.compress(raw.content, GZIP_LEVEL, wbits=31)) + 32 < len(raw.content) / 2
    assert all("options" not in trial for trial in raw.json()["trials"])  # named once per task
