"""The boto3 MTurk client: sandbox or production endpoint, botocore's own retries and paginators.

AWS credentials come from boto3's usual chain (environment, ``~/.aws`` profile, instance
role); mvt-server never stores them.

Retries are botocore's ``standard`` mode (``Config(retries=…)``): exponential backoff with
jitter on the throttling codes, HTTP 429 and 5xx, and connection errors. That covers how MTurk
answers when busy: throttling arrives as ``ThrottlingException`` ("Rate exceeded", e.g.
https://github.com/allenai/amti/pull/12) and ``ServiceFault`` is a modelled server fault
(``"fault": true`` in the 2017-01-17 service model, so HTTP 500), so no hand-written retry
loop is kept. Listings use the paginators the MTurk service model defines
(``client.get_paginator("list_hits")``, ``list_assignments_for_hit``, ``list_worker_blocks``,
``list_bonus_payments``, …). boto3 and botocore are imported inside the functions so that
``mvt --help`` does not load them.
"""

from __future__ import annotations

from typing import Any

from kernel.errors import MTurkCallFailed, MTurkNoCredentials

REGION = "us-east-1"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
PRODUCTION_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_WORKER_URL = "https://workersandbox.mturk.com"
PRODUCTION_WORKER_URL = "https://worker.mturk.com"

RETRY_MODE = "standard"
"""botocore's retry mode; ``adaptive`` adds client-side rate limiting on top."""
MAX_ATTEMPTS = 6
"""Tries per call, the first included (botocore's ``total_max_attempts``)."""
PAGE_SIZE = 100


def make_client(sandbox: bool, endpoint_url: str | None = None, *, attempts: int = MAX_ATTEMPTS,
                mode: str = RETRY_MODE, **client_kwargs: Any):
    """A boto3 ``mturk`` client for the sandbox or production endpoint.

    Parameters
    ----------
    sandbox : bool
        True for the requester sandbox (no money moves), False for production.
    endpoint_url : str, optional
        Overrides the endpoint (tests); the environment is then read from it.
    attempts : int
        Tries per call, the first included, when MTurk throttles or fails temporarily.
    mode : str
        botocore's retry mode, ``"standard"`` or ``"adaptive"``.
    **client_kwargs
        Passed to ``boto3.client`` (e.g. ``aws_access_key_id`` in tests).
    """
    import boto3
    from botocore.config import Config

    url = endpoint_url or (SANDBOX_ENDPOINT if sandbox else PRODUCTION_ENDPOINT)
    config = Config(retries={"mode": mode, "total_max_attempts": attempts},
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


def error_code(exc) -> str:
    """MTurk's error code (``RequestError``, ``ServiceFault``, ``ThrottlingException``, …)."""
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc) -> str:
    """MTurk's error message, one line."""
    return " ".join(str(exc.response.get("Error", {}).get("Message", exc)).split())


def is_already_processed(exc) -> bool:
    """True when MTurk says this UniqueRequestToken was used: the earlier try succeeded."""
    message = error_message(exc).lower()
    return ("idempotency token" in message or "uniquerequesttoken" in message
            or "unique request token" in message) and "already" in message


def _failure(client, exc: Exception, subject: str) -> MTurkCallFailed | MTurkNoCredentials:
    """The domain exception for a botocore exception (after botocore's own retries)."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return MTurkNoCredentials(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE (see `aws configure`)")
    if isinstance(exc, ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        attempts = meta.get("RetryAttempts", 0) + 1
        if attempts > 1 and meta.get("MaxAttemptsReached"):
            why = f"still throttled after {attempts} tries ({error_code(exc)}: {error_message(exc)})"
        else:
            why = f"{error_message(exc)} ({error_code(exc)})"
        failure = MTurkCallFailed(f"{subject}: {why}")
        failure.already_processed = is_already_processed(exc)
    else:
        attempts = client.meta.config.retries.get("total_max_attempts", 1)
        failure = MTurkCallFailed(f"{subject}: no answer from MTurk after {attempts} tries ({exc})")
        failure.already_processed = False
    failure.attempts = attempts
    return failure



def _botocore_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def call(client, method: str, params: dict[str, Any], *, subject: str):
    """Call ``client.<method>(**params)``; botocore retries throttling, then errors are ours.

    Parameters
    ----------
    subject : str
        What the call is about, e.g. ``"HIT 3ABC…"``; starts every error message.

    Raises
    ------
    MTurkCallFailed
        MTurk refused the call, or it was still throttled after the client's tries.
        ``.already_processed`` and ``.attempts`` tell why.
    MTurkNoCredentials
        boto3 found no AWS credentials.
    """
    try:
        return getattr(client, method)(**params)
    except _botocore_errors() as exc:
        raise _failure(client, exc, subject) from None


def paginate(client, method: str, params: dict[str, Any], *, subject: str):
    """Every item of a paged MTurk listing, through the service model's paginator.

    Each page is one call that botocore retries when throttled.
    """
    paginator = client.get_paginator(method)
    pages = paginator.paginate(**params, PaginationConfig={"PageSize": PAGE_SIZE})
    try:
        for page in pages:
            yield from page.get(paginator.result_keys[0].expression, [])
    except _botocore_errors() as exc:
        raise _failure(client, exc, subject) from None
