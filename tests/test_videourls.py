"""Video URLs are signed per assignment and expire: one assignment's URL is refused for another."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from kernel.videourls import assignment_query, signed_query
from tests.test_api import client  # noqa: F401 (a fixture)


def video_urls(client, worker, assignment):
    r = client.post("/api/assignments", json={"link": "synth-001", "worker_id": worker, "assignment_id": assignment,
                                              "hit_id": "H"})
    assert r.status_code == 200, r.text
    return [t["video_url"] for t in r.json()["trials"]]


def refusal(response):
    return response.status_code, response.json()


def test_a_url_signed_for_one_assignment_is_refused_for_another(client, synthetic_server):
    mine, theirs = video_urls(client, "W1", "A1"), video_urls(client, "W2", "A2")
    assert client.get(mine[0]).status_code == 200
    path, query = mine[0].split("?")
    assert parse_qs(query)["a"] == ["A1"]
    foreign = {"detail": "this video link was not issued for this task; reload the task page",
               "reason": "bad_video_link"}
    # the same video under another assignment's id, or another video under this signature
    assert refusal(client.get(f"{path}?{query.replace('a=A1', 'a=A2')}")) == (403, foreign)
    other_video = next(u for u in theirs if u.split("?")[0] != path).split("?")[0]
    assert refusal(client.get(f"{other_video}?{query}")) == (403, foreign)
    e = parse_qs(query)["e"][0]
    assert refusal(client.get(f"{path}?{query.replace(f'e={e}', f'e={int(e) + 600}')}")) == (403, foreign)
    assert refusal(client.get(path)) == (403, {
        "detail": "this video link is incomplete: videos are fetched only through the task page",
        "reason": "bad_video_link"})


@pytest.mark.parametrize("form", ["per assignment", "per video"])
def test_an_expired_url_is_refused(client, synthetic_server, form):
    """Both forms expire: the per-assignment one of an answer's trials, the per-video one of practice
    videos (and of URLs issued before 0.2.0)."""
    path = urlsplit(video_urls(client, "W1", "A1")[0]).path
    video_id = path.rsplit("/", 1)[1].removesuffix(".mp4")
    key = synthetic_server.settings.signing_key
    expired = assignment_query(key, "A1", "synth-001", 1_000_000_000) if form == "per assignment" else \
        signed_query(key, video_id, "A1", 1_000_000_000)
    assert refusal(client.get(f"{path}?{expired}")) == (403, {
        "detail": "this video link has expired; reload the task page to continue", "reason": "bad_video_link"})


def test_urls_die_with_their_assignment_when_it_is_replaced(client, synthetic_server):
    """A replaced assignment's signed URLs stayed valid until their expiry (up to 70 minutes)."""
    from kernel.admin import mark_for_replacement

    mine = video_urls(client, "W1", "A1")
    assert client.get(mine[0]).status_code == 200
    assert mark_for_replacement(synthetic_server.redis, ["A1"]) == ["A1"]
    assert client.get(mine[0]).status_code == 200          # marked only: A1 still holds its list
    for n in range(2, 6):                                   # the 3 free lists, then A1's list goes to a new worker
        video_urls(client, f"W{n}", f"A{n}")
    status, body = refusal(client.get(mine[0]))
    assert status == 403 and body["reason"] == "bad_video_link"
    assert body["detail"] == ("this video link belonged to assignment A1, which was replaced; its videos can no "
                              "longer be fetched")


def test_a_list_signature_opens_only_its_own_assignments_list(client, synthetic_server):
    """One signature covers an answer's trials; the assignment's record decides which videos it opens:
    none under another link, none for an id without a record (practice's ``preview`` included: its
    videos are signed one by one), and per video only the video named."""
    mine = video_urls(client, "W1", "A1")
    path, query = mine[0].split("?")
    assert parse_qs(query)["l"] == ["synth-001"] and len({u.split("?")[1] for u in mine}) == 1
    foreign = (403, {"detail": "this video link was not issued for this task; reload the task page",
                     "reason": "bad_video_link"})
    assert refusal(client.get(f"{path}?{query.replace('l=synth-001', 'l=synth-002')}")) == foreign
    key, expiry = synthetic_server.settings.signing_key, int(parse_qs(query)["e"][0])
    assert refusal(client.get(f"{path}?{assignment_query(key, 'preview', 'synth-001', expiry)}")) == foreign
    video_id = path.rsplit("/", 1)[1].removesuffix(".mp4")
    practice = signed_query(key, video_id, "preview", expiry)
    assert client.get(f"{path}?{practice}").status_code == 200
    other = next(u for u in mine if u.split("?")[0] != path).split("?")[0]
    assert refusal(client.get(f"{other}?{practice}")) == foreign
