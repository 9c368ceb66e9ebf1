"""Temporary home of the MTurk exceptions until they are appended to app/errors.py."""

from app.errors import MVTError


class MTurkCallFailed(MVTError):
    """An MTurk call failed (after retries when throttled); the message names the id and why."""

    reason = "mturk_failed"
    status_code = 502


class MTurkNoCredentials(MVTError):
    """boto3 found no AWS credentials (environment, ~/.aws profile, or instance role)."""

    reason = "mturk_no_credentials"
    status_code = 500


class MTurkBadInput(MVTError):
    """An id, amount or input file given to an ``mvt mturk`` command is malformed."""

    reason = "mturk_bad_input"
    status_code = 400


class NoHITs(MVTError):
    """No HITs to work on: none recorded by ``mvt mturk create-hits`` and none given."""

    reason = "mturk_no_hits"
    status_code = 400
