"""The Prolific client over real HTTP: auth header, 429 retried, unsafe calls never repeated blindly."""

from __future__ import annotations

import pytest

from platforms.prolific.client import ProlificCallFailed, ProlificClient, make_client
from tests.fixtures.prolific_fake import TOKEN, prolific_fake  # noqa: F401


def client_for(fake, attempts: int = 3, token: str = TOKEN):
    waits: list[float] = []
    return ProlificClient(token, fake.url, attempts=attempts, sleep=waits.append), waits


def test_target_line_and_environment(prolific_fake):
    client = make_client()
    assert client.environment == "test"
    assert client.target_line() == (f"Prolific API at {prolific_fake.url}/api/v1/ (not api.prolific.com: "
                                    "a test stand-in, nothing real happens).")
    production = ProlificClient("x")
    assert production.environment == "production"
    assert production.target_line() == "Prolific API https://api.prolific.com/api/v1/: real participants, real money."


def test_every_request_carries_the_token_header(prolific_fake):
    client, _ = client_for(prolific_fake, token="not-the-token")
    with pytest.raises(ProlificCallFailed, match=r"^study X: Invalid token\. \(HTTP 401\)$") as info:
        client.request("GET", "/studies/X/submissions/", subject="study X")
    assert info.value.attempts == 1 and not info.value.unknown_outcome


def test_429_is_retried_honouring_retry_after(prolific_fake):
    client, waits = client_for(prolific_fake, attempts=3)
    prolific_fake.throttle(2)
    answer = client.request("POST", "/studies/", subject="s", json={
        "name": "n", "external_study_url": "https://x", "completion_codes": [], "total_available_places": 1,
        "estimated_completion_time": 1, "reward": 1})
    assert answer["status"] == "UNPUBLISHED" and len(prolific_fake.studies) == 1
    assert waits == [0.0, 0.0]


def test_still_throttled_after_the_tries_says_so(prolific_fake):
    client, waits = client_for(prolific_fake, attempts=2)
    prolific_fake.throttle(2)
    with pytest.raises(ProlificCallFailed, match=r"^x: still throttled after 2 tries \(HTTP 429: Request was "
                                                 r"throttled\.\)$") as info:
        client.request("GET", "/studies/X/submissions/", subject="x")
    assert info.value.attempts == 2 and waits == [0.0]


def test_backoff_doubles_without_retry_after():
    client = ProlificClient("x")
    assert [client._wait_s(None, n) for n in (1, 2, 3, 7, 8)] == [1.0, 2.0, 4.0, 60.0, 60.0]


def test_lost_answer_of_an_unsafe_call_is_not_repeated_and_says_outcome_unknown():
    import contextlib
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    seen = []

    def swallow():  # reads the request, then hangs up without answering
        with contextlib.suppress(OSError):
            for _ in range(2):
                conn, _ = listener.accept()
                seen.append(conn.recv(65536))
                conn.close()

    threading.Thread(target=swallow, daemon=True).start()
    client = ProlificClient(TOKEN, f"http://127.0.0.1:{listener.getsockname()[1]}", attempts=3, sleep=lambda s: None)
    with pytest.raises(ProlificCallFailed, match=r"^bulk bonus B: no answer from Prolific after 1 tries") as info:
        client.request("POST", "/bulk-bonus-payments/B/pay/", subject="bulk bonus B")
    assert info.value.unknown_outcome and len(seen) == 1
    listener.close()


def test_a_listing_is_followed_to_a_page_cap_and_never_round_a_loop(prolific_fake):
    client, _ = client_for(prolific_fake)
    for i in range(5):
        prolific_fake.add_submission("S1", f"P{i}")
    prolific_fake.studies["S1"] = {"id": "S1", "status": "ACTIVE"}
    path = "/studies/S1/submissions/"
    assert [s["participant_id"] for s in client.pages(path, subject="study S1")] == [f"P{i}" for i in range(5)]
    with pytest.raises(ProlificCallFailed, match=r"^study S1: stopped following the listing: more than 2 pages$"):
        list(client.pages(path, subject="study S1", max_pages=2))
    prolific_fake.stuck_next = True
    with pytest.raises(ProlificCallFailed, match=r"^study S1: stopped following the listing: its next link loops "
                                                 r"back to .*/submissions/\?page=1$"):
        list(client.pages(path + "?page=1", subject="study S1"))
