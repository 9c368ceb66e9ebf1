"""Domain exceptions. Library code raises them; the HTTP layer and the CLI translate them.

Each class's docstring is its meaning. ``reason`` is the machine-readable word the HTTP API
returns (see docs/interfaces.md); ``status_code`` the HTTP status it maps to.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class MVTError(Exception):
    """Something the user can fix; the message says what and how."""

    reason: str = "error"
    status_code: int = 400


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """In CLI commands: turn an `MVTError` (or a bad ``MVT_`` setting) into one stderr line and exit code 1."""
    from pydantic import ValidationError

    try:
        yield
    except MVTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"error: {settings_sentence(exc)}", file=sys.stderr)
        raise SystemExit(1) from None


def settings_sentence(exc) -> str:
    """One sentence for a `Settings` validation error, naming the ``MVT_`` variable (never its secret value)."""
    first = exc.errors()[0]
    name = "MVT_" + "_".join(str(x) for x in first.get("loc", ())).upper()
    message = first.get("msg", "is invalid").removeprefix("Value error, ")
    if message.startswith(name):
        return message
    value = first.get("input")
    shown = f" ({str(value)[:60]!r})" if isinstance(value, str) and not name.endswith(("TOKEN", "KEY")) else ""
    return f"{name}{shown}: {message}"


class RedisUnavailable(MVTError):
    """Redis could not be reached or started."""

    reason = "redis_unavailable"
    status_code = 503


class UnknownLink(MVTError):
    """No experiment link with this id is loaded."""

    reason = "unknown_link"
    status_code = 409


class WorkerBlocked(MVTError):
    """The worker is blocked from this experiment."""

    reason = "blocked"
    status_code = 409


class SeenLink(MVTError):
    """The worker already holds (or held) another list of this link and so has seen its images."""

    reason = "seen_link"
    status_code = 409


class CapReached(MVTError):
    """The worker has done as many tasks as MVT_MAX_TASKS_PER_WORKER allows."""

    reason = "cap_reached"
    status_code = 409


class LinkFull(MVTError):
    """Every list of the link is held by an active or finished assignment."""

    reason = "link_full"
    status_code = 409


class ExperimentPaused(MVTError):
    """The researcher paused new arrivals for the link's experiment; returning workers keep their lists."""

    reason = "paused"
    status_code = 409


class AssignmentExpired(MVTError):
    """The assignment was idle too long and its list went to another worker."""

    reason = "expired"
    status_code = 409


class AssignmentReplaced(MVTError):
    """The assignment was marked for replacement and its list went to another worker."""

    reason = "replaced"
    status_code = 409


class WrongWorker(MVTError):
    """The assignment id is already used by another worker."""

    reason = "wrong_worker"
    status_code = 409


class BadToken(MVTError):
    """The assignment token is malformed or not signed by this server."""

    reason = "bad_token"
    status_code = 403


class BadTrial(MVTError):
    """The trial number is outside the assignment's trials."""

    reason = "bad_trial"
    status_code = 422


class Incomplete(MVTError):
    """Completion was asked for while some trials have no recorded response."""

    reason = "incomplete"
    status_code = 409


class AnsweredElsewhere(MVTError):
    """The trial was already answered by another tab or window of the same assignment."""

    reason = "other_tab"
    status_code = 409


class BadExperiment(MVTError):
    """A built experiment folder is missing files or does not follow the build contract."""

    reason = "bad_experiment"
    status_code = 400


class UnknownAssignment(MVTError):
    """No assignment with this id was ever allocated."""

    reason = "unknown_assignment"
    status_code = 404


class NotAuthorized(MVTError):
    """The admin bearer token is missing, wrong, or admin routes are disabled."""

    reason = "not_authorized"
    status_code = 401


class ImageFolderError(MVTError):
    """The image folder given to `mvt build` is missing, empty or holds a file that is not a usable image."""


class BuildOptionError(MVTError):
    """An option of `mvt build` has a value the builder cannot use."""


class EncodeError(MVTError):
    """ffmpeg/x264 failed or produced a stream the stimulus builder cannot splice."""


class ResponsesInvalid(MVTError):
    """A responses table (CSV or Redis export) lacks required columns or holds values analysis cannot read."""


class NoResponses(MVTError):
    """There are no usable responses to analyse (none recorded, or all excluded by screening)."""


class AnalysisOptionError(MVTError):
    """An option of `mvt analyze` has a value the analysis cannot use."""


class NotFlagged(MVTError):
    """`mvt unflag` named a worker who has no stored analysis flag."""


class ReplaceNeedsRedis(MVTError):
    """`mvt analyze --replace/--block` was asked to change assignments but is reading a CSV, not Redis."""


class AdminDisabled(MVTError):
    """Admin routes are off because MVT_ADMIN_TOKEN is unset."""

    reason = "admin_disabled"
    status_code = 403


class NotFound(MVTError):
    """No such resource (e.g. a video id that no loaded experiment has)."""

    reason = "not_found"
    status_code = 404


class PreviewAssignment(MVTError):
    """MTurk's preview (ASSIGNMENT_ID_NOT_AVAILABLE) cannot be given a list."""

    reason = "preview"
    status_code = 409


class BadResponse(MVTError):
    """The chosen answer is not one of the trial's options."""

    reason = "bad_response"
    status_code = 422


class MTurkCallFailed(MVTError):
    """An MTurk call failed (after retries when throttled); the message names the id and why."""

    reason = "mturk_failed"
    status_code = 502


class MTurkNoCredentials(MVTError):
    """boto3 found no AWS credentials (environment, ~/.aws profile, or instance role)."""

    reason = "mturk_no_credentials"
    status_code = 500


class PlatformBadInput(MVTError):
    """An amount or input file given to a platform command (``mvt mturk``, ``mvt prolific``) is malformed."""

    reason = "platform_bad_input"
    status_code = 400


class MTurkBadInput(PlatformBadInput):
    """An id, amount or input file given to an ``mvt mturk`` command is malformed."""

    reason = "mturk_bad_input"


class NoHITs(MVTError):
    """No HITs to work on: none recorded by ``mvt mturk create-hits`` and none given."""

    reason = "mturk_no_hits"
    status_code = 400


class OutputUnwritable(MVTError):
    """A file a command was asked to write cannot be written (no such folder, no permission)."""


class NoStore(MVTError):
    """A command that only reads found no store holding an experiment where it looked (it creates none)."""


class ExperimentChoice(MVTError):
    """The experiments to analyse or export are ambiguous (several in the store, none named), unknown, or
    too different to pool (other durations or answer options)."""


class RateLimited(MVTError):
    """One client (IP address) asked for more than the MVT_LIMIT_* settings allow; it may retry after ``retry_after_s``."""

    reason = "rate_limited"
    status_code = 429

    def __init__(self, message: str, retry_after_s: int, headers: dict | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(retry_after_s), **(headers or {})}


class BadVideoLink(MVTError):
    """A video URL lacks its signature, was signed for another assignment or video, or has expired."""

    reason = "bad_video_link"
    status_code = 403


class DataDirInUse(MVTError):
    """Another process owns the embedded Redis of this data folder."""

    reason = "data_dir_in_use"
    status_code = 503


class PluginError(MVTError):
    """A module named in MVT_PLUGINS could not be imported."""

    reason = "bad_plugin"

