"""The boto3 MTurk client: sandbox or production endpoint, and calls retried when throttled.

AWS credentials come from boto3's usual chain (environment, ``~/.aws`` profile, instance
role); mvt-server never stores them. botocore's own retries are switched off so that
`call` is the one retry policy, with a sleep that tests replace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from app.errors import MTurkCallFailed, MTurkNoCredentials

REGION = "us-east-1"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
PRODUCTION_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_WORKER_URL = "https://workersandbox.mturk.com"
PRODUCTION_WORKER_URL = "https://worker.mturk.com"

_THROTTLING_CODES = {"ThrottlingException", "ServiceUnavailable", "ServiceFault", "Throttling",
                     "TooManyRequestsException"}
_NETWORK_ERRORS = (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError)


def make_client(sandbox: bool, endpoint_url: str | None = None, **client_kwargs: Any):
    """A boto3 ``mturk`` client for the sandbox or production endpoint.

    Parameters
    ----------
    sandbox : bool
        True for the requester sandbox (no money moves), False for production.
    endpoint_url : str, optional
        Overrides the endpoint (tests); the environment is then read from it.
    **client_kwargs
        Passed to ``boto3.client`` (e.g. ``aws_access_key_id`` in tests).
    """
    url = endpoint_url or (SANDBOX_ENDPOINT if sandbox else PRODUCTION_ENDPOINT)
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=10, read_timeout=60)
    return boto3.client("mturk", region_name=REGION, endpoint_url=url, config=config,
                        **client_kwargs)


def environment_of(client) -> str:
    """``"sandbox"`` or ``"production"``: which MTurk the client talks to."""
    return "sandbox" if "sandbox" in client.meta.endpoint_url else "production"


def target_line(client) -> str:
    """The line every command prints first: which MTurk it targets."""
    if environment_of(client) == "sandbox":
        return f"MTurk SANDBOX ({client.meta.endpoint_url}): no real money moves."
    return f"MTurk PRODUCTION ({client.meta.endpoint_url}): real workers, real money."


def worker_site(client) -> str:
    """The worker website matching the client's environment."""
    return SANDBOX_WORKER_URL if environment_of(client) == "sandbox" else PRODUCTION_WORKER_URL


@dataclass(frozen=True)
class Retry:
    """How throttled calls are retried: ``attempts`` tries, delays doubling from ``base_s``."""

    attempts: int = 6
    base_s: float = 1.0
    max_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return min(self.max_s, self.base_s * 2 ** (attempt - 1))


def error_code(exc: ClientError) -> str:
    """MTurk's error code (``RequestError``, ``ServiceFault``, ``ThrottlingException``, …)."""
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    """MTurk's error message, one line."""
    return " ".join(str(exc.response.get("Error", {}).get("Message", exc)).split())


def is_throttling(exc: ClientError) -> bool:
    """True for errors worth retrying later: throttling and temporary service faults."""
    if error_code(exc) in _THROTTLING_CODES:
        return True
    message = error_message(exc).lower()
    return "throttl" in message or "rate exceeded" in message or "maximum request rate" in message


def is_already_processed(exc: ClientError) -> bool:
    """True when MTurk says this UniqueRequestToken was used: the earlier try succeeded."""
    message = error_message(exc).lower()
    return ("idempotency token" in message or "uniquerequesttoken" in message
            or "unique request token" in message) and "already" in message


def call(client, method: str, params: dict[str, Any], *, subject: str, retry: Retry = Retry()):
    """Call ``client.<method>(**params)``, retrying throttling with exponential backoff.

    Parameters
    ----------
    subject : str
        What the call is about, e.g. ``"HIT 3ABC…"``; starts every error message.

    Raises
    ------
    MTurkCallFailed
        MTurk refused the call, or it was still throttled after ``retry.attempts`` tries.
        ``.throttled``, ``.already_processed`` and ``.attempts`` tell why.
    MTurkNoCredentials
        boto3 found no AWS credentials.
    """
    for attempt in range(1, retry.attempts + 1):
        try:
            return getattr(client, method)(**params)
        except NoCredentialsError:
            raise MTurkNoCredentials(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE (see `aws configure`)") from None
        except ClientError as exc:
            retryable = is_throttling(exc)
            if retryable and attempt < retry.attempts:
                retry.sleep(retry.delay_s(attempt))
                continue
            if retryable:
                why = f"still throttled after {attempt} tries ({error_code(exc)}: {error_message(exc)})"
            else:
                why = f"{error_message(exc)} ({error_code(exc)})"
            failure = MTurkCallFailed(f"{subject}: {why}")
            failure.throttled = retryable
            failure.already_processed = is_already_processed(exc)
            failure.attempts = attempt
            raise failure from None
        except _NETWORK_ERRORS as exc:
            if attempt < retry.attempts:
                retry.sleep(retry.delay_s(attempt))
                continue
            failure = MTurkCallFailed(f"{subject}: no answer from MTurk after {attempt} tries ({exc})")
            failure.throttled, failure.already_processed, failure.attempts = True, False, attempt
            raise failure from None
    raise AssertionError("unreachable")  # pragma: no cover


def paginate(client, method: str, params: dict[str, Any], items_key: str, *, subject: str,
             retry: Retry = Retry()):
    """Every item of a paged MTurk listing (``NextToken``), each page retried when throttled."""
    params = {**params, "MaxResults": 100}
    while True:
        page = call(client, method, params, subject=subject, retry=retry)
        yield from page.get(items_key, [])
        token = page.get("NextToken")
        if not token or not page.get(items_key):
            return
        params = {**params, "NextToken": token}
