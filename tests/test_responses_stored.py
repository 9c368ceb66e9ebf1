"""The stored form of a response (kernel.responses): compact, and read alike with the form stored before.

`OLD_FORM` is what record.lua stored at 3bc28f2 (a JSON object per response) for `ANSWERS`, captured by
running them through that commit's code; a store holding it must export, show in the control room and
refuse another tab's late answer exactly as a store written today. `CAPTURED` are real answers of the runner
page: sent with ``frame_times`` compact (the page's form) or as ``index:ms`` text, they export the same rows.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import orjson
import pytest

from app.control import worker_view
from app.validation import ResponseIn
from kernel.assignments import allocate
from kernel.errors import AnsweredElsewhere
from kernel.export import csv_text
from kernel.responses import (
    CLIENT_SLOTS,
    PRESENTATION_FIELDS,
    SERVER_SLOTS,
    TIMING_FIELDS,
    compact_frame_times,
    decode_response,
    encode_client,
    frame_times_range,
    frame_times_text,
    record_response,
)
from kernel.store import keys
from kernel.tokens import TokenData
from simulation.synthetic import write_experiment
from studies.loader import load_experiment
from tests.fixtures.redis import run_with_async_redis

CAPTURED = json.loads((Path(__file__).parent / "fixtures" / "browser_answers.json").read_text())
"""Eight answers as the runner page sent them from Chromium (tests/fixtures/browser_answers.json says how)."""

ANSWERS = [
    (0, "cat", {}),
    (1, "dog", {"response_time_ms": 843.2, "dropped_frames": 0, "refresh_interval_ms": 16.667,
                "hidden_during_video": False, "blurred_during_video": False, "timing_source": "rvfc",
                "frame_log": "0-66", "frames_presented_total": 67, "frame_times": "0:0.0,36:600.1,66:1100.0",
                "stimulus_visible": True, "viewport_w": 1366, "viewport_h": 650, "screen_w": 1366, "screen_h": 768,
                "video_px": 512, "dpr": 1.0, "fullscreen": False, "input_type": "mouse", "tab_id": "tab-a",
                "drawn_device_px": 512.0, "top_viewport_w": 1366, "top_viewport_h": 650, "plays": 1}),
    (2, "cat", {"response_time_ms": 1200.0, "dropped_frames": 2, "refresh_interval_ms": 8.333,
                "hidden_during_video": True, "blurred_during_video": None, "timing_source": "playback_quality",
                "frames_presented_total": 60, "stimulus_visible": False, "viewport_w": 390, "viewport_h": 700,
                "screen_w": None, "screen_h": 844, "video_px": 300, "dpr": 1.25, "fullscreen": True,
                "input_type": "keyboard", "tab_id": "tab-b", "replays": 1, "playback_completed": True,
                "view_ms": 1500, "headphone_check": "5/6", "interrupted": "navigation", "drawn_device_px": 375.5,
                "plays": 2}),
]
"""A trial answered without any measurement, one as a desktop browser answers, one with every field unusual."""

OLD_FORM = {
    'A1:0': (
        '{"correct":true,"timing_ok":false,"presented_frames":null,"image_ms_measured":null,"mask_frames_pres'
        'ented":null,"timing_reason":"unmeasured","plays":null,"trial":0,"response":"cat","response_time_ms":'
        'null,"dropped_frames":null,"refresh_interval_ms":null,"hidden_during_video":null,"blurred_during_vid'
        'eo":null,"timing_source":null,"frames_presented_total":null,"frame_log":null,"stimulus_visible":null'
        ',"viewport_w":null,"viewport_h":null,"screen_w":null,"screen_h":null,"video_px":null,"dpr":null,"ful'
        'lscreen":null,"input_type":null,"tab_id":null,"replays":null,"playback_completed":null,"view_ms":nul'
        'l,"headphone_check":null,"interrupted":null,"drawn_device_px":null,"top_viewport_w":null,"top_viewpo'
        'rt_h":null,"frame_times":null,"received_ms":1700000000100}'
    ),
    'A1:1': (
        '{"correct":true,"timing_ok":false,"presented_frames":6,"image_ms_measured":100.1,"mask_frames_presen'
        'ted":30,"timing_reason":"rescaled","plays":1,"trial":1,"response":"dog","response_time_ms":843.2,"dr'
        'opped_frames":0,"refresh_interval_ms":16.667,"hidden_during_video":false,"blurred_during_video":fals'
        'e,"timing_source":"rvfc","frames_presented_total":67,"frame_log":"0-66","stimulus_visible":true,"vie'
        'wport_w":1366,"viewport_h":650,"screen_w":1366,"screen_h":768,"video_px":512,"dpr":1.0,"fullscreen":'
        'false,"input_type":"mouse","tab_id":"tab-a","replays":null,"playback_completed":null,"view_ms":null,'
        '"headphone_check":null,"interrupted":null,"drawn_device_px":512.0,"top_viewport_w":1366,"top_viewpor'
        't_h":650,"frame_times":"0:0.0,36:600.1,66:1100.0","received_ms":1700000000101}'
    ),
    'A1:2': (
        '{"correct":true,"timing_ok":false,"presented_frames":null,"image_ms_measured":null,"mask_frames_pres'
        'ented":null,"timing_reason":"replayed","plays":2,"trial":2,"response":"cat","response_time_ms":1200.'
        '0,"dropped_frames":2,"refresh_interval_ms":8.333,"hidden_during_video":true,"blurred_during_video":n'
        'ull,"timing_source":"playback_quality","frames_presented_total":60,"frame_log":null,"stimulus_visibl'
        'e":false,"viewport_w":390,"viewport_h":700,"screen_w":null,"screen_h":844,"video_px":300,"dpr":1.25,'
        '"fullscreen":true,"input_type":"keyboard","tab_id":"tab-b","replays":1,"playback_completed":true,"vi'
        'ew_ms":1500,"headphone_check":"5/6","interrupted":"navigation","drawn_device_px":375.5,"top_viewport'
        '_w":null,"top_viewport_h":null,"frame_times":null,"received_ms":1700000000102}'
    ),
}


def record_answers(redis, redis_url, synthetic_experiment) -> TokenData:
    """`ANSWERS` recorded through record.lua (fixed times), on assignment A1 of synth-001."""
    load_experiment(redis, synthetic_experiment)

    async def scenario(r):
        a = await allocate(r, "synth-001", "W1", "A1", "H1", cap=4, allotted_ms=3_600_000, now=1_700_000_000_000)
        token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
        for trial, response, timing in ANSWERS:
            await record_response(r, token, trial, response, timing, now=1_700_000_000_100 + trial)
        return token
    return run_with_async_redis(redis_url, scenario)


def test_responses_stored_before_export_byte_for_byte_as_todays(redis, redis_url, synthetic_experiment):
    record_answers(redis, redis_url, synthetic_experiment)
    stored = redis.hgetall(keys.link_responses("synth-001"))
    today, today_view = csv_text(redis), worker_view(redis, "W1")
    assert today.splitlines()[3] == (
        "synth-001,A1,W1,H1,2,img1_2,cat,1,16.667,cat,true,1200.0,,2023-11-14T22:13:20.102Z,2,8.333,true,,false,"
        "in_progress,3145438130c66e94,0,playback_quality,60,,synth,false,2,390,700,,844,300,1.25,true,keyboard,tab-b,"
        "1,true,1500,5/6,navigation,375.5,,,,,,,,,replayed")  # reference_view_ms, reference_visible empty
    assert all(len(stored[field]) < len(OLD_FORM[field]) / 3 for field in OLD_FORM)
    redis.hset(keys.link_responses("synth-001"), mapping=OLD_FORM)
    assert csv_text(redis) == today
    assert worker_view(redis, "W1") == today_view


@pytest.mark.parametrize("form", ["old", "today"])
def test_a_repeat_is_a_duplicate_and_another_tabs_answer_is_refused_in_either_form(redis, redis_url,
                                                                                  synthetic_experiment, form):
    token = record_answers(redis, redis_url, synthetic_experiment)
    if form == "old":
        redis.hset(keys.link_responses("synth-001"), mapping=OLD_FORM)
    _, response, timing = ANSWERS[1]

    async def repeat(r):
        retry = await record_response(r, token, 1, response, timing)
        with pytest.raises(AnsweredElsewhere):
            await record_response(r, token, 1, "cat", {**timing, "tab_id": "tab-z"})
        return retry
    retry = run_with_async_redis(redis_url, repeat)
    assert (retry.duplicate, retry.timing_ok) == (True, False)
    assert decode_response(redis.hget(keys.link_responses("synth-001"), "A1:1"), 1)["response"] == "dog"


def test_every_client_field_has_a_slot():
    assert {*CLIENT_SLOTS, "plays", "tab_id", "trial"} == {*TIMING_FIELDS, *PRESENTATION_FIELDS, "response",
                                                           "received_ms", "trial"}
    assert len(CLIENT_SLOTS) == len(set(CLIENT_SLOTS)) and not set(CLIENT_SLOTS) & set(SERVER_SLOTS)
    assert len(SERVER_SLOTS) == 8  # record.lua writes 7 values and the tab id before the mask


@pytest.mark.parametrize("name, value", [
    ("dpr", 1), ("dpr", 1.0), ("dpr", None), ("dropped_frames", False), ("dropped_frames", 0), ("dropped_frames", 0.0),
    ("hidden_during_video", None), ("hidden_during_video", 0), ("stimulus_visible", 1), ("timing_source", None),
    ("input_type", "mouse"), ("frame_times", "0:0.0"), ("response", 'a "quoted", \\ odd\nanswer')])
def test_a_value_comes_back_with_its_type(name, value):
    raw = b"[true,null,null,null,null,null,null," + encode_client({"response": "cat", name: value}) + b"]"
    got = decode_response(raw, 4)[name]
    assert (got, type(got)) == (value, type(value))
    assert orjson.loads(raw)[7] is None  # no tab id


def test_a_real_browser_answer_exports_the_same_row_from_every_form_sent_or_stored(redis, redis_url, tmp_path):
    """The captured answers sent with frame_times as index:ms text (the page before 0.2.0) and compact (its form now), and
    stored as the JSON object of 0.1: the same exported rows, image times computed alike by record.lua."""
    classes = sorted({answer["response"] for answer in CAPTURED["answers"]})
    load_experiment(redis, write_experiment(tmp_path, n_links=1, n_lists=1, n_trials=8, classes=classes,
                                            frame_counts=(1, 3, 6, 30)))
    link, responses = "synth-001", keys.link_responses("synth-001")

    def record(form: str) -> tuple[str, dict]:
        async def scenario(r):
            a = await allocate(r, link, "W1", "A1", "H1", cap=4, allotted_ms=3_600_000, now=1_700_000_000_000)
            token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
            for answer, compact in zip(CAPTURED["answers"], CAPTURED["frame_times_compact"]):
                sent = {**answer, "assignment_token": "t"} | ({"frame_times": compact} if form == "compact" else {})
                body = ResponseIn.model_validate_json(json.dumps(sent))  # as the server validates it
                timing = {name: getattr(body, name) for name in TIMING_FIELDS + PRESENTATION_FIELDS}
                await record_response(r, token, body.trial, body.response, timing, now=1_700_000_000_100 + body.trial)
        redis.delete(responses)
        run_with_async_redis(redis_url, scenario)
        return csv_text(redis), redis.hgetall(responses)

    sent_as_text, stored_text = record("text")
    sent_compact, stored_compact = record("compact")
    assert sent_compact == sent_as_text
    rows = sorted(csv.DictReader(io.StringIO(sent_compact)), key=lambda row: int(row["trial"]))
    assert [row["frame_times"] for row in rows] == [answer["frame_times"] for answer in CAPTURED["answers"]]
    measured = [row["image_ms_measured"] for row in rows]
    assert sum(bool(value) for value in measured) >= 4, measured  # record.lua read the compact samples
    assert all(len(stored_compact[f]) < len(stored_text[f]) / 2 for f in stored_text)
    # Stored as the JSON object of every field by name (before 0.2), with the text form: the same rows.
    redis.hset(responses, mapping={field: orjson.dumps({**decode_response(raw, int(field.rsplit(":", 1)[1]))})
                                   for field, raw in stored_text.items()})
    assert csv_text(redis) == sent_as_text


@pytest.mark.parametrize("text, refusal", [
    ("0:0.0", None), ("7:0.0,9:33.3,10:50.1,400:6550.0,401:6533.0", None), ("2:0.0,3:16.7,4:99999.9", None),
    ("7:0.0,9:33.3,10:50.1,400:6550.0,401:-3.0",
     "frame_times time -3.0 ms (frame 401) must be 0 or more: times are ms since the first sample's"),
    ("9999998:0.0,9999999:16.7,10000000:33.3", "must stay below frame index 10000000 and 10000000 ms"),
    ("0:0.0,1:9999999.9,2:10000016.6", "must stay below frame index 10000000 and 10000000 ms")])
def test_compact_frame_times_read_back_as_the_text_and_are_checked_alike(text, refusal):
    compact = compact_frame_times(text)
    assert frame_times_text(compact) == text
    for sent in (text, compact):
        if refusal is None:
            assert ResponseIn(assignment_token="t", trial=0, response="x", frame_times=sent).frame_times == sent
        else:
            with pytest.raises(ValueError, match=re.escape(refusal)):
                ResponseIn(assignment_token="t", trial=0, response="x", frame_times=sent)


def test_the_range_of_a_compact_frame_times_is_that_of_its_text():
    """frame_times_range (which lets the server check a compact value without writing its text) against the text."""
    rng = random.Random(7)
    for _ in range(2000):
        steps = [f"({rng.randrange(1, 20)},{rng.randrange(-3000, 3000)})" if rng.random() < 0.2
                 else chr(97 + rng.randrange(25)) for _ in range(rng.randrange(30))]
        compact = f"{rng.randrange(50)};" + "".join(steps)
        samples = [(int(i), round(float(t) * 10)) for i, t in (s.split(":") for s in frame_times_text(compact).split(","))]
        assert frame_times_range(compact) == (samples[-1][0], min(t for _, t in samples), max(t for _, t in samples))


@pytest.mark.parametrize("sent, message", [
    ("0;bz", "must look like"), ("0;(0,3)", "must look like"), ("0;b(2,)", "must look like"), (";b", "must look like"),
    ("0;b\n", "must look like"), ("3:0.0,2:16.7", "must be greater than")])
def test_malformed_frame_times_are_refused_in_either_form(sent, message):
    with pytest.raises(ValueError, match=message):
        ResponseIn(assignment_token="t", trial=0, response="x", frame_times=sent)
