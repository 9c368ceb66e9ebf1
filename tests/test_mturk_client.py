"""The boto3 client: endpoints, retries with backoff on throttling, paging, clear errors."""

from __future__ import annotations

import pytest

from platforms.mturk.client import (PRODUCTION_ENDPOINT, SANDBOX_ENDPOINT, call, environment_of,
                                   make_client, paginate, target_line)
from tests.fixtures.mturk import no_sleep_retry, stubbed_client
from app.errors import MTurkCallFailed


@pytest.mark.parametrize("sandbox, endpoint, env", [(True, SANDBOX_ENDPOINT, "sandbox"),
                                                    (False, PRODUCTION_ENDPOINT, "production")])
def test_make_client_targets_sandbox_or_production(sandbox, endpoint, env):
    client = make_client(sandbox, aws_access_key_id="testing", aws_secret_access_key="testing")
    assert client.meta.endpoint_url == endpoint
    assert client.meta.region_name == "us-east-1"
    assert environment_of(client) == env
    assert target_line(client).startswith(f"MTurk {env.upper()} ({endpoint})")


def test_paginate_follows_next_token():
    client, stubber = stubbed_client()
    stubber.add_response("list_hits", {"HITs": [{"HITId": "H1"}, {"HITId": "H2"}], "NextToken": "p2",
                                       "NumResults": 2}, {"MaxResults": 100})
    stubber.add_response("list_hits", {"HITs": [{"HITId": "H3"}], "NumResults": 1},
                         {"MaxResults": 100, "NextToken": "p2"})
    hits = [h["HITId"] for h in paginate(client, "list_hits", {}, "HITs", subject="HITs",
                                         retry=no_sleep_retry())]
    assert hits == ["H1", "H2", "H3"]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code, message", [
    ("ThrottlingException", "Rate exceeded"),
    ("ServiceUnavailable", "Service unavailable, try again"),
    ("RequestError", "You have exceeded the maximum request rate. Throttled."),
])
def test_throttling_is_retried_with_backoff_then_succeeds(code, message):
    client, stubber = stubbed_client()
    for _ in range(2):
        stubber.add_client_error("get_account_balance", service_error_code=code,
                                 service_message=message, http_status_code=400)
    stubber.add_response("get_account_balance", {"AvailableBalance": "10000.00"}, {})
    retry = no_sleep_retry(attempts=4)
    answer = call(client, "get_account_balance", {}, subject="balance", retry=retry)
    assert answer["AvailableBalance"] == "10000.00"
    assert retry.sleep.delays == [1.0, 2.0]
    stubber.assert_no_pending_responses()


def test_throttling_exhausted_is_reported_not_skipped():
    client, stubber = stubbed_client()
    for _ in range(3):
        stubber.add_client_error("get_account_balance", service_error_code="ThrottlingException",
                                 service_message="Rate exceeded", http_status_code=400)
    retry = no_sleep_retry(attempts=3)
    with pytest.raises(MTurkCallFailed, match=r"^balance: still throttled after 3 tries "
                                              r"\(ThrottlingException: Rate exceeded\)$") as info:
        call(client, "get_account_balance", {}, subject="balance", retry=retry)
    assert info.value.throttled and info.value.attempts == 3
    assert retry.sleep.delays == [1.0, 2.0]
    stubber.assert_no_pending_responses()


def test_unknown_id_fails_at_once_with_one_line_naming_it():
    client, stubber = stubbed_client()
    stubber.add_client_error("update_expiration_for_hit", service_error_code="RequestError",
                             service_message="Hit NOSUCHHIT does not exist. (1700000000000)",
                             http_status_code=400)
    retry = no_sleep_retry()
    with pytest.raises(MTurkCallFailed) as info:
        call(client, "update_expiration_for_hit", {"HITId": "NOSUCHHIT", "ExpireAt": 0},
             subject="HIT NOSUCHHIT", retry=retry)
    assert str(info.value) == ("HIT NOSUCHHIT: Hit NOSUCHHIT does not exist. (1700000000000) "
                               "(RequestError)")
    assert retry.sleep.delays == []


def test_backoff_doubles_up_to_the_cap():
    retry = no_sleep_retry()
    assert [retry.delay_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
