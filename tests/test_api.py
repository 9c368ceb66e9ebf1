"""The worker-facing HTTP API against the real HTTPS server and Redis: what a browser sees."""

from __future__ import annotations

import json
import re
import ssl

import httpx
import pytest

from app.assets import STATIC_DIR

from kernel.store import keys
from kernel.assignments import completion_record

pytestmark = pytest.mark.both_stores

ORIGIN = "https://worker.mturk.com"


@pytest.fixture
def client(synthetic_server):
    ctx = ssl.create_default_context(cafile=str(synthetic_server.certfile))
    with httpx.Client(base_url=synthetic_server.base_url, verify=ctx, timeout=10) as c:
        yield c


def start(client, worker="W1", assignment="A1", link="synth-001"):
    return client.post("/api/assignments", json={"link": link, "worker_id": worker, "assignment_id": assignment,
                                                 "hit_id": "H1"})


def answer(client, token, trial, response="cat", **timing):
    return client.post("/api/responses", json={"assignment_token": token, "trial": trial, "response": response,
                                               **timing})


def nominal_times(last: int, first: int = 0, period_ms: float = 1000 / 60) -> str:
    """``frame_times`` of frames first..last each shown for one video frame."""
    return ",".join(f"{i}:{(i - first) * period_ms:.1f}" for i in range(first, last + 1))


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("origin, allowed", [
    ("https://worker.mturk.com", True), ("https://workersandbox.mturk.com", True),
    ("https://www.mturk.com", True), ("https://www.mturkcontent.com", True),
    ("https://sandbox.mturkcontent.com", True), ("https://mturkcontent.com.evil.org", False),
    ("https://evilmturkcontent.com", False), ("http://www.mturkcontent.com", False),
    ("https://evil.example.org", False), (None, False)])
def test_eligibility_cors_is_open_to_mturk_only(client, origin, allowed):
    headers = {"Origin": origin} if origin else {}
    r = client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W1"}, headers=headers)
    assert r.status_code == 200 and r.json() == {"eligible": True, "reason": None}
    assert r.headers.get("access-control-allow-origin") == (origin if allowed else None)
    pre = client.options("/api/eligibility", headers={**headers, "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 204
    assert pre.headers.get("access-control-allow-origin") == (origin if allowed else None)


def test_eligibility_reasons(client, synthetic_server):
    r = synthetic_server.redis
    assert client.get("/api/eligibility", params={"link": "nope", "worker_id": "W1"}).json() == \
        {"eligible": False, "reason": "link_full", "study_title": None}, "an unknown link must answer as a full one"
    start(client)
    assert client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W1"}).json() == \
        {"eligible": False, "reason": "seen_link", "study_title": None}
    assert client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W1",
                                                  "assignment_id": "A1"}).json() == {"eligible": True, "reason": None}
    r.set(keys.worker_blocked("W9"), "1")
    assert client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W9"}).json() == \
        {"eligible": False, "reason": "blocked", "study_title": None}
    for i in range(2, 5):
        assert start(client, f"W{i}", f"A{i}").status_code == 200
    assert client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W5"}).json() == \
        {"eligible": False, "reason": "link_full", "study_title": None}
    r.sadd(keys.worker_links("W6"), "x1", "x2", "x3", "x4")
    assert client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W6"}).json() == \
        {"eligible": False, "reason": "cap_reached", "study_title": None}


def test_eligibility_validates_its_query(client):
    r = client.get("/api/eligibility", params={"link": "a b", "worker_id": "W1"})
    assert r.status_code == 422
    assert r.json() == {"detail": "query parameter 'link': String should match pattern '^[A-Za-z0-9_-]{1,64}$' "
                                  "(got 'a b')", "reason": "invalid"}
    r = client.get("/api/eligibility", params={"link": "x"})
    assert (r.status_code, r.json()["detail"]) == (422, "query parameter 'worker_id': Field required")


def test_assignment_gives_opaque_trials_and_the_same_list_every_time(client, synthetic_server):
    first = start(client)
    assert first.status_code == 200
    body = first.json()
    assert (body["assignment_id"], body["link"], body["n_trials"], body["resume_from"], body["completed"],
            body["completion_code"], body["options"]) == ("A1", "synth-001", 3, 0, False, None, ["cat", "dog"])
    for i, trial in enumerate(body["trials"]):
        assert set(trial) == {"trial", "video_url"} and trial["trial"] == i  # options once, above
        assert re.fullmatch(r"/videos/[0-9a-f]{16}\.mp4\?a=A1&l=synth-001&e=[0-9]+&k=[A-Za-z0-9_-]{24}", trial["video_url"])
    design = json.loads((synthetic_server.exp_dir / "design.json").read_text())
    secrets = {t["image_id"] for link in design["links"] for lst in link["lists"] for t in lst}
    assert not any(s in first.text for s in secrets) and "frames" not in first.text
    again = start(client)
    assert again.json() == body


@pytest.mark.parametrize("payload, detail", [
    ({"link": "synth-001", "worker_id": "W1", "assignment_id": "ASSIGNMENT_ID_NOT_AVAILABLE"},
     "this is MTurk's preview: accept the HIT to start the task"),
    ({"link": "nope", "worker_id": "W1", "assignment_id": "A1"},
     "every list of link nope is taken; return this HIT and try another one"),
])
def test_assignment_refusals(client, payload, detail):
    r = client.post("/api/assignments", json=payload)
    assert r.status_code == 409 and r.json()["detail"] == detail


def test_assignment_refusal_reasons(client, synthetic_server):
    start(client)
    r = start(client, "W1", "A2")
    assert r.status_code == 409
    assert r.json() == {"detail": "worker W1 has already seen the images of link synth-001; each worker may do "
                                  "one task per link", "reason": "seen_link"}
    r = start(client, "W2", "A1")
    assert r.json() == {"detail": "assignment A1 belongs to another worker", "reason": "wrong_worker"}
    for i in range(3, 6):
        start(client, f"W{i}", f"A{i}")
    r = start(client, "W7", "A7")
    assert (r.status_code, r.json()) == (409, {
        "detail": "every list of link synth-001 is taken; return this HIT and try another one", "reason": "link_full"})
    synthetic_server.redis.set(keys.worker_blocked("W8"), "1")
    r = start(client, "W8", "A8")
    assert r.json() == {"detail": "worker W8 is blocked from this experiment", "reason": "blocked"}


def test_a_refused_reload_leaves_the_list_idle_and_an_admitted_one_touches_it(client, synthetic_server):
    """A returning assignment is read beside its reservation and limits (one write); its activity time is
    written only once the request is admitted, so a blocked worker's reload keeps nothing alive."""
    import time

    r = synthetic_server.redis
    first = start(client)
    assert first.status_code == 200
    activity = keys.link_activity("synth-001")
    r.zadd(activity, {"A1": 5})
    r.set(keys.worker_blocked("W1"), "1")
    refused = start(client)
    assert (refused.status_code, refused.json()["detail"]) == (409, "worker W1 is blocked from this experiment")
    assert r.zscore(activity, "A1") == 5
    r.delete(keys.worker_blocked("W1"))
    again = start(client)
    assert again.status_code == 200 and again.json()["assignment_token"] == first.json()["assignment_token"]
    deadline = time.monotonic() + 10
    while r.zscore(activity, "A1") == 5 and time.monotonic() < deadline:  # written without being awaited
        time.sleep(0.01)
    assert r.zscore(activity, "A1") > time.time() * 1000 - 60_000


def test_a_kept_answer_is_refused_once_its_list_goes(client, synthetic_server):
    """A returning assignment is answered from the answer kept in Redis when it first came back (by any
    server process); the answer goes when another worker takes its list over, and a lost deletion still
    refuses: the record, read in the same round trip, says the list went."""
    import time

    from kernel.admin import mark_for_replacement

    r, served = synthetic_server.redis, keys.link_served("synth-001")
    first = start(client)
    assert first.status_code == 200 and r.hget(served, "A1") is None  # most never come back: none kept
    assert start(client).json() == first.json()
    deadline = time.monotonic() + 10
    while (kept := r.hget(served, "A1")) is None and time.monotonic() < deadline:  # written without being awaited
        time.sleep(0.01)
    assert kept is not None
    assert start(client).json() == first.json()
    n = 2
    while start(client, f"W{n}", f"A{n}").status_code == 200:
        n += 1
    assert mark_for_replacement(r, ["A1"]) == ["A1"]
    assert start(client).json() == first.json()  # marked, not yet taken: the worker may go on
    taker = start(client, "W99", "A99")
    assert taker.status_code == 200 and taker.json()["assignment_token"].split(".")[3] == \
        first.json()["assignment_token"].split(".")[3]
    assert r.hget(served, "A1") is None
    r.hset(served, "A1", kept)  # as if the takeover's deletion were lost
    refused = start(client)
    assert (refused.status_code, refused.json()["reason"]) == (409, "replaced")


@pytest.mark.parametrize("n_trials", [1, 50])
@pytest.mark.parametrize("accept", [True, False])
def test_a_kept_answer_decodes_to_what_encode_json_sends(tmp_path, n_trials, accept):
    """The kept answer with ``resume_from`` appended per request (a stored deflate block and the trailer
    written by hand) decodes, gzipped or not, to the answer built afresh."""
    import gzip
    import zlib

    from kernel.assignments import Allocation
    from app.service import answer_from_kept, encode_json, kept_answer, _payload
    from kernel.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path, secret_key="k" * 32)
    a = Allocation("A1", "L1", "W1", 3, True, [f"{i:016x}" for i in range(n_trials)], 0, False, None, n_trials,
                   ["cat", "dog"])
    kept = kept_answer(a, settings, 1_800_000_600)
    for resume_from in (0, 7, n_trials):
        expected = _payload(a, settings, 1_800_000_600) | {"resume_from": resume_from}
        body, headers = answer_from_kept(kept, resume_from, accept)
        assert headers == encode_json(expected, accept)[1]
        if headers:
            assert json.loads(gzip.decompress(body)) == expected
            assert json.loads(zlib.decompressobj(31).decompress(body)) == expected  # as a browser streams it
        else:
            assert json.loads(body) == expected


def test_responses_resume_and_complete(client, synthetic_server):
    token = start(client).json()["assignment_token"]
    r = answer(client, token, 0, frame_log="0-80", frame_times=nominal_times(80), timing_source="rvfc",
               response_time_ms=512.5,
               dropped_frames=0, refresh_interval_ms=16.7, hidden_during_video=False, blurred_during_video=False,
               frames_presented_total=66)
    assert r.status_code == 200 and r.json() == {"recorded": True, "duplicate": False, "next_trial": 1,
                                                 "timing_ok": True}
    assert answer(client, token, 0, "dog").json() == {"recorded": True, "duplicate": True, "next_trial": 1,
                                                      "timing_ok": True}
    assert start(client).json()["resume_from"] == 1
    r = client.post("/api/complete", json={"assignment_token": token})
    assert (r.status_code, r.json()) == (409, {"detail": "only 1 of 3 trials are recorded; finish every trial first",
                                               "reason": "incomplete"})
    assert answer(client, token, 2, "dog").json()["next_trial"] == 1
    # No measurement: not a measured trial (unmeasured), never null for an MVT trial.
    assert answer(client, token, 1, "dog").json() == {"recorded": True, "duplicate": False, "next_trial": 3,
                                                      "timing_ok": False}
    r = client.post("/api/complete", json={"assignment_token": token})
    assert r.status_code == 200
    code = r.json()["completion_code"]
    assert r.json() == {"completion_code": code, "assignment_id": "A1", "n_trials": 3, "completion_url": None}
    assert re.fullmatch(r"MVT-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}", code)
    assert client.post("/api/complete", json={"assignment_token": token}).json()["completion_code"] == code
    assert not synthetic_server.redis.hexists(keys.link_served("synth-001"), "A1")  # kept while unfinished
    again = start(client).json()
    assert (again["completed"], again["completion_code"], again["resume_from"]) == (True, code, 3)
    assert completion_record(synthetic_server.redis, "A1")["completion_code"] == code


@pytest.mark.parametrize("change, status, detail", [
    (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), 403,
     "the assignment_token was not issued by this server; reload the task page"),
    (lambda t: t.replace("A1.", "A2.", 1), 403, "the assignment_token was not issued by this server; reload the task page"),
    (lambda t: "garbage", 403, "the assignment_token is malformed; reload the task page to get a new one"),
])
def test_forged_tokens_are_refused(client, change, status, detail):
    token = start(client).json()["assignment_token"]
    r = answer(client, change(token), 0)
    assert (r.status_code, r.json()["detail"], r.json()["reason"]) == (status, detail, "bad_token")
    r = client.post("/api/complete", json={"assignment_token": change(token)})
    assert (r.status_code, r.json()["detail"]) == (status, detail)


@pytest.mark.parametrize("body, status, detail", [
    (b"", 422, "the request body is missing: send a JSON object"),
    (b"{", 422, "the request body is not valid JSON"),
    (b"[1, 2]", 422, "the request body must be a JSON object"),
    (b'{"trial": 0, "response": "cat"}', 422, "body field 'assignment_token': Field required"),
    (b'{"assignment_token": "x", "trial": -1, "response": "cat"}', 422,
     "body field 'trial': Input should be greater than or equal to 0 (got '-1')"),
    (b'{"assignment_token": "x", "trial": 0, "response": "cat", "frame_log": "5-3"}', 422,
     "body field 'frame_log': Value error, frame_log range '5-3' must be ascending and not overlap the one before "
     "(got '5-3')"),
    (b'{"assignment_token": "x", "trial": 0, "response": "cat", "timing_source": "sundial"}', 422,
     "body field 'timing_source': Input should be 'rvfc', 'playback_quality' or 'none' (got 'sundial')"),
    (b'{"assignment_token": "x", "trial": 0, "response": "cat", "view_ms": -5}', 422,
     "body field 'view_ms': Input should be greater than or equal to 0 (got '-5')"),
    # The same samples in either form of frame_times: refused with the same sentence.
    (b'{"assignment_token": "x", "trial": 0, "response": "cat", "frame_times": "0:0.0,1:-3.3"}', 422,
     "body field 'frame_times': Value error, frame_times time -3.3 ms (frame 1) must be 0 or more: times are ms since "
     "the first sample's (got '0:0.0,1:-3.3')"),
    (b'{"assignment_token": "x", "trial": 0, "response": "cat", "frame_times": "0;(1,-200)"}', 422,
     "body field 'frame_times': Value error, frame_times time -3.3 ms (frame 1) must be 0 or more: times are ms since "
     "the first sample's (got '0;(1,-200)')"),
])
def test_bad_response_bodies_get_a_sentence(client, body, status, detail):
    r = client.post("/api/responses", content=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["detail"]) == (status, detail)


def test_trial_and_option_checks(client):
    token = start(client).json()["assignment_token"]
    r = answer(client, token, 3)
    assert (r.status_code, r.json()) == (422, {"detail": "trial 3 does not exist in this task", "reason": "bad_trial"})
    r = answer(client, token, 0, "zebra")
    assert (r.status_code, r.json()) == (422, {"detail": "response 'zebra' is not one of this task's answer options",
                                               "reason": "bad_response"})


def test_bodies_over_the_limit_get_413(client):
    r = client.post("/api/responses", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["detail"]) == (
        413, "the request body is larger than the limit of 65536 bytes (MVT_MAX_BODY_BYTES)")

    def chunks():
        for _ in range(40):
            yield b"y" * 2048
    r = client.post("/api/responses", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_videos_are_served_with_ranges_and_strict_names(client, synthetic_server):
    url = start(client).json()["trials"][0]["video_url"]
    full = client.get(url)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    part = client.get(url, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == full.content[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{len(full.content)}"
    r = client.get("/videos/..%2F..%2Fdesign.json")
    assert r.status_code == 404
    from kernel.videourls import signed_query

    query = signed_query(synthetic_server.settings.signing_key, "0123456789abcdef", "A1", 4_000_000_000)
    r = client.get(f"/videos/0123456789abcdef.mp4?{query}")
    assert (r.status_code, r.json()["detail"]) == (404, "no loaded experiment has video 0123456789abcdef")
    r = client.get("/videos/XYZ.mp4")
    assert r.json()["detail"] == "video name 'XYZ.mp4' must be 16 lowercase hex characters followed by .mp4, .m4a or .png"


@pytest.mark.parametrize("accept", ["gzip, deflate, br", "identity"])
def test_static_text_is_sent_gzipped_to_clients_that_accept_it_and_revalidates(client, accept):
    """The page's modules go out compressed (once, at start) to gzip clients, plain to others;
    either way a revalidation with the ETag is answered 304."""
    r = client.get("/static/common/session.js", headers={"Accept-Encoding": accept})
    assert r.status_code == 200 and r.text == (STATIC_DIR / "common" / "session.js").read_text()
    assert r.headers.get("content-encoding") == ("gzip" if accept.startswith("gzip") else None)
    assert r.headers["vary"] == "Accept-Encoding"
    again = client.get("/static/common/session.js", headers={"Accept-Encoding": accept,
                                                             "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/example.png", headers={"Accept-Encoding": accept}).headers.get("content-encoding") is None


def test_a_versioned_static_url_is_cached_for_good_and_others_revalidate(client):
    """The page names its entry files with their content's version (``?v=``): asked for with the current
    version, a file may be kept a year; without one, or with an old one, it is revalidated as before."""
    page = client.get("/experiment.html", params={"link": "synth-001", "b": "A1", "c": "H1", "d": "W1"}).text
    url = re.search(r'src="(/static/common/session.js\?v=[0-9a-f]{16})"', page).group(1)
    assert re.search(r'href="/static/runner.css\?v=[0-9a-f]{16}"', page)
    for accept in ("gzip", "identity"):
        r = client.get(url, headers={"Accept-Encoding": accept})
        assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    for other in ("/static/common/session.js", "/static/common/session.js?v=0123456789abcdef"):
        r = client.get(other)
        assert r.status_code == 200 and "immutable" not in r.headers.get("cache-control", "")


def test_unknown_route_and_method(client):
    assert client.get("/nothing").json() == {"detail": "there is nothing at /nothing", "reason": "http"}
    r = client.get("/api/responses")
    assert (r.status_code, r.json()["detail"]) == (405, "GET is not allowed on /api/responses")


def test_the_bundled_small_experiment_end_to_end(live_server):
    ctx = ssl.create_default_context(cafile=str(live_server.certfile))
    design = json.loads((live_server.exp_dir / "design.json").read_text())
    link = design["links"][0]["link_id"]
    with httpx.Client(base_url=live_server.base_url, verify=ctx, timeout=10) as c:
        body = start(c, link=link).json()
        video = c.get(body["trials"][0]["video_url"], headers={"Range": "bytes=0-7"})
        assert video.status_code == 206 and video.content[4:8] == b"ftyp"
        for trial in body["trials"]:
            assert answer(c, body["assignment_token"], trial["trial"], body["options"][0]).status_code == 200
        assert c.post("/api/complete", json={"assignment_token": body["assignment_token"]}).status_code == 200


def test_an_answer_leaves_in_one_tls_record(live_server):
    """Headers and body are written together (`app.protocol._HeadersWithBody`): one TLS record
    reaches the client, where uvicorn alone sent two (TLS 1.2: no session tickets among the records)."""
    import socket
    from urllib.parse import urlsplit

    ctx = ssl.create_default_context(cafile=str(live_server.certfile))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    url = urlsplit(live_server.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname=url.hostname)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        tls.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.sendall(outgoing.read())
        received, answer = b"", b""
        while not answer.endswith(b'{"status":"ok"}'):
            chunk = raw.recv(65536)
            assert chunk, answer
            received += chunk
            incoming.write(chunk)
            try:
                answer += tls.read(65536)
            except ssl.SSLWantReadError:
                pass
    records, at = [], 0
    while at + 5 <= len(received):
        records.append(received[at])
        at += 5 + int.from_bytes(received[at + 3:at + 5], "big")
    assert answer.startswith(b"HTTP/1.1 200 OK") and records == [23]  # one application-data record

def test_fastapi_routes_answer_like_the_hot_paths(redis, redis_url, synthetic_experiment, tmp_path):
    """With hot paths off, FastAPI's own routes serve the same answers (they are the fallback)."""
    from fastapi.testclient import TestClient

    from studies.loader import load_experiment
    from app.main import create_app
    from kernel.settings import Settings

    load_experiment(redis, synthetic_experiment)
    settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=redis_url, secret_key="k" * 32)
    with TestClient(create_app(settings, hot_paths=False), base_url="https://testserver") as c:
        assert c.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W1"},
                     headers={"Origin": ORIGIN}).headers["access-control-allow-origin"] == ORIGIN
        body = start(c).json()
        assert body["n_trials"] == 3 and start(c).json() == body
        for trial in range(3):
            assert answer(c, body["assignment_token"], trial, frame_log="0-80").json()["next_trial"] == trial + 1
        assert answer(c, body["assignment_token"], 0).json()["duplicate"] is True
        done = c.post("/api/complete", json={"assignment_token": body["assignment_token"]})
        assert done.status_code == 200 and done.json()["n_trials"] == 3
        r = start(c, "W2", "A1")
        assert (r.status_code, r.json()) == (409, {"detail": "assignment A1 belongs to another worker",
                                                   "reason": "wrong_worker"})


def test_video_urls_use_MVT_VIDEO_BASE_URL_when_set(tmp_path):
    from kernel.assignments import Allocation
    from app.service import assignment_payload
    from kernel.settings import Settings

    a = Allocation("A1", "L1", "W1", 0, True, ["0123456789abcdef"], 0, False, None, 1, ["cat"])
    settings = Settings(_env_file=None, data_dir=tmp_path, secret_key="k" * 32,
                        video_base_url="https://cdn.example.org/exp1/videos/")
    trials = assignment_payload(a, settings, now_s=1_800_000_000)["trials"]
    assert [t["video_url"].split("?")[0] for t in trials] == ["https://cdn.example.org/exp1/videos/0123456789abcdef.mp4"]
    assert trials[0]["video_url"].split("?")[1].startswith("a=A1&e=1800004200&s=")
