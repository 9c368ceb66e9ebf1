"""The worker-facing operations, called by both the FastAPI routes and the hot paths.

`app.routes.api` (FastAPI, OpenAPI) and `app.fastpath` (the same routes served before
FastAPI's routing, for throughput) parse requests with the models of `app.validation`, then
call one function here each; every business rule and payload lives here once. The study
kind's `trials` shapes the trial payload (`studies`).
"""

from __future__ import annotations

import re

from app.assignments import Allocation, allocate, eligibility
from app.errors import PreviewAssignment
from app.responses import complete, record_response
from app.settings import Settings
from app.tokens import completion_code, make_token, read_token
from app.validation import CompleteIn, ResponseIn
from studies import get_kind

PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
UNAVAILABLE = {"detail": "the database is unavailable right now; try again in a minute",
               "reason": "redis_unavailable"}
RETRY_AFTER = {"Retry-After": "1"}
"""Sent with `UNAVAILABLE`: a stalled or failing-over Redis is usually back within seconds."""

# Where MTurk shows the landing layout (worker site, sandbox, legacy sites, layout content domain).
MTURK_ORIGINS = frozenset({
    "https://worker.mturk.com", "https://workersandbox.mturk.com", "https://www.mturk.com",
    "https://www.mturkcontent.com",
})
# Design-Layout (HTMLQuestion) pages are served from MTurk's content domain; which host the
# sandbox uses is not documented, so any host of that domain (which only Amazon controls) is allowed.
_MTURK_CONTENT_ORIGIN = re.compile(r"https://([a-z0-9-]+\.)*mturkcontent\.com")


def cors_headers(origin: str | None) -> dict:
    """CORS headers for the eligibility answer: the origin echoed only for MTurk's sites."""
    if origin in MTURK_ORIGINS or (origin and _MTURK_CONTENT_ORIGIN.fullmatch(origin)):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


async def eligibility_answer(r, settings: Settings, link: str, worker_id: str, assignment_id: str | None,
                             origin: str | None) -> tuple[dict, dict]:
    """The JSON of `EligibilityOut` and its CORS headers."""
    result = await eligibility(r, link, worker_id, assignment_id, cap=settings.max_tasks_per_worker,
                               allotted_ms=settings.allotted_minutes * 60_000)
    return {"eligible": result.eligible, "reason": result.reason}, cors_headers(origin)


def media_url(settings: Settings, video_id: str) -> str:
    """Where the browser fetches a stimulus: this server's ``/videos/`` or ``MVT_VIDEO_BASE_URL``."""
    base = settings.video_base_url.rstrip("/") if settings.video_base_url else "/videos"
    return f"{base}/{video_id}.mp4"


def assignment_payload(a: Allocation, settings: Settings) -> dict:
    """The JSON of `AssignmentOut` for an allocation; the trials come from the link's study kind."""
    return {
        "assignment_token": make_token(settings.signing_key, a.assignment_id, a.link_id, a.worker_id, a.list_index),
        "assignment_id": a.assignment_id, "link": a.link_id, "n_trials": a.n_trials,
        "resume_from": a.next_trial, "completed": a.completed, "completion_code": a.completion_code,
        "options": a.options,
        "trials": get_kind(a.kind).trials(a.video_ids, a.options, lambda v: media_url(settings, v)),
    }


async def start_assignment(r, settings: Settings, link: str, worker_id: str, assignment_id: str,
                           hit_id: str | None) -> dict:
    """Allocate (or resume) the assignment's list; the JSON of `AssignmentOut`.

    Refuses MTurk's preview assignment id, then whatever `allocate` refuses.
    """
    if assignment_id == PREVIEW_ASSIGNMENT:
        raise PreviewAssignment("this is MTurk's preview: accept the HIT to start the task")
    a = await allocate(r, link, worker_id, assignment_id, hit_id or "",
                       cap=settings.max_tasks_per_worker, allotted_ms=settings.allotted_minutes * 60_000)
    return assignment_payload(a, settings)


async def record(r, settings: Settings, body: ResponseIn) -> dict:
    """Check the token, record the response; the JSON of `ResponseOut`."""
    token = read_token(settings.signing_key, body.assignment_token)
    timing = {"response_time_ms": body.response_time_ms, "dropped_frames": body.dropped_frames,
              "refresh_interval_ms": body.refresh_interval_ms, "hidden_during_video": body.hidden_during_video,
              "blurred_during_video": body.blurred_during_video, "timing_source": body.timing_source,
              "frames_presented_total": body.frames_presented_total, "frame_log": body.frame_log}
    rec = await record_response(r, token, body.trial, body.response, timing)
    return {"recorded": True, "duplicate": rec.duplicate, "next_trial": rec.next_trial, "timing_ok": rec.timing_ok}


async def finish(r, settings: Settings, body: CompleteIn) -> dict:
    """Check the token, complete the assignment; the JSON of `CompleteOut`."""
    token = read_token(settings.signing_key, body.assignment_token)
    done = await complete(r, token, completion_code(settings.signing_key, token))
    return {"completion_code": done.completion_code, "assignment_id": done.assignment_id, "n_trials": done.n_trials}
