"""The boto3 client: endpoints, botocore's retries on throttling, its paginators, clear errors."""

from __future__ import annotations

import pytest

from platforms.mturk.client import (MAX_ATTEMPTS, PRODUCTION_ENDPOINT, SANDBOX_ENDPOINT, call,
                                    environment_of, make_client, paginate, target_line)
from tests.fixtures.mturk import http_client, record_backoff, stubbed_client
from kernel.errors import MTurkCallFailed


@pytest.mark.parametrize("sandbox, endpoint, env", [(True, SANDBOX_ENDPOINT, "sandbox"),
                                                    (False, PRODUCTION_ENDPOINT, "production")])
def test_make_client_targets_sandbox_or_production(sandbox, endpoint, env):
    client = make_client(sandbox, aws_access_key_id="testing", aws_secret_access_key="testing")
    assert client.meta.endpoint_url == endpoint
    assert client.meta.region_name == "us-east-1"
    assert environment_of(client) == env
    assert target_line(client).startswith(f"MTurk {env.upper()} ({endpoint})")
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}


def test_paginate_follows_next_token():
    client, stubber = stubbed_client()
    stubber.add_response("list_hits", {"HITs": [{"HITId": "H1"}, {"HITId": "H2"}], "NextToken": "p2",
                                       "NumResults": 2}, {"MaxResults": 100})
    stubber.add_response("list_hits", {"HITs": [{"HITId": "H3"}], "NumResults": 1},
                         {"MaxResults": 100, "NextToken": "p2"})
    hits = [h["HITId"] for h in paginate(client, "list_hits", {}, subject="HITs")]
    assert hits == ["H1", "H2", "H3"]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("status, code, message", [
    (400, "ThrottlingException", "Rate exceeded"),
    (500, "ServiceFault", "Amazon Mechanical Turk is temporarily unable to process your request."),
    (503, "ServiceUnavailable", "Service unavailable, try again"),
    (429, "", "Too Many Requests"),
])
def test_throttling_is_retried_with_backoff_then_succeeds(monkeypatch, status, code, message):
    delays = record_backoff(monkeypatch)
    client, answers = http_client(attempts=4)
    for _ in range(2):
        answers.add(status, {"__type": code, "Message": message} if code else {})
    answers.add(200, {"AvailableBalance": "10000.00"})
    answer = call(client, "get_account_balance", {}, subject="balance")
    assert answer["AvailableBalance"] == "10000.00"
    assert len(answers.requests) == 3 and answers.answers == []
    # botocore's standard backoff: random jitter up to 1 s, then up to 2 s (throttling) or less.
    assert len(delays) == 2 and 0 <= delays[0] <= 1 and 0 <= delays[1] <= 2


def test_throttling_exhausted_is_reported_not_skipped(monkeypatch):
    delays = record_backoff(monkeypatch)
    client, answers = http_client(attempts=3)
    answers.throttle(3)
    with pytest.raises(MTurkCallFailed, match=r"^balance: still throttled after 3 tries "
                                              r"\(ThrottlingException: Rate exceeded\)$") as info:
        call(client, "get_account_balance", {}, subject="balance")
    assert info.value.attempts == 3 and not info.value.already_processed
    assert len(delays) == 2 and answers.answers == []


def test_unknown_id_fails_at_once_with_one_line_naming_it(monkeypatch):
    delays = record_backoff(monkeypatch)
    client, answers = http_client()
    answers.add(400, {"__type": "RequestError", "Message": "Hit NOSUCHHIT does not exist. (1700000000000)"})
    with pytest.raises(MTurkCallFailed) as info:
        call(client, "update_expiration_for_hit", {"HITId": "NOSUCHHIT", "ExpireAt": 0},
             subject="HIT NOSUCHHIT")
    assert str(info.value) == ("HIT NOSUCHHIT: Hit NOSUCHHIT does not exist. (1700000000000) "
                               "(RequestError)")
    assert info.value.attempts == 1
    assert delays == [] and answers.requests == [{"HITId": "NOSUCHHIT", "ExpireAt": 0}]


def test_a_throttled_page_is_retried_inside_the_paginator(monkeypatch):
    delays = record_backoff(monkeypatch)
    client, answers = http_client()
    answers.add(200, {"HITs": [{"HITId": "H1"}], "NextToken": "p2", "NumResults": 1})
    answers.throttle()
    answers.add(200, {"HITs": [{"HITId": "H2"}], "NumResults": 1})
    assert [h["HITId"] for h in paginate(client, "list_hits", {}, subject="HITs")] == ["H1", "H2"]
    assert answers.requests == [{"MaxResults": 100}, {"MaxResults": 100, "NextToken": "p2"},
                                {"MaxResults": 100, "NextToken": "p2"}]
    assert len(delays) == 1


def test_a_page_still_throttled_fails_with_the_listing_named(monkeypatch):
    record_backoff(monkeypatch)
    client, answers = http_client(attempts=2)
    answers.throttle(2)
    with pytest.raises(MTurkCallFailed, match=r"^HITs: still throttled after 2 tries"):
        list(paginate(client, "list_hits", {}, subject="HITs"))
