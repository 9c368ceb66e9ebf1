"""The worker-facing JSON API: eligibility, assignments, responses, completion, videos, health.

Hot paths build their JSON with orjson and return it as bytes; the request models keep the
OpenAPI schema (``/docs``) exact. No response ever names a label, class or duration except
the answer options.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app import keys
from app.assignments import Allocation, allocate, eligibility
from app.deps import get_redis, get_settings
from app.errors import NotFound, PreviewAssignment
from app.responses import complete, record_response
from app.settings import Settings
from app.tokens import completion_code, make_token, read_token

router = APIRouter()

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Id = Annotated[str, Field(pattern=ID_PATTERN, description="1–64 characters from A–Z, a–z, 0–9, _ and -")]
PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
FRAME_LOG_RE = re.compile(r"^[0-9]{1,7}-[0-9]{1,7}(,[0-9]{1,7}-[0-9]{1,7})*$")
VIDEO_NAME_RE = re.compile(r"^([0-9a-f]{16})\.mp4$")

# Where MTurk shows the landing layout (worker site, sandbox, legacy sites, layout content domain).
MTURK_ORIGINS = frozenset({
    "https://worker.mturk.com", "https://workersandbox.mturk.com", "https://www.mturk.com",
    "https://www.mturkcontent.com",
})
# Design-Layout (HTMLQuestion) pages are served from MTurk's content domain; which host the
# sandbox uses is not documented, so any host of that domain (which only Amazon controls) is allowed.
_MTURK_CONTENT_ORIGIN = re.compile(r"https://([a-z0-9-]+\.)*mturkcontent\.com")


def json_response(payload, status_code: int = 200, headers: dict | None = None) -> Response:
    """A JSON response serialised by orjson."""
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json", headers=headers)


class EligibilityOut(BaseModel):
    """Whether the worker may start (or resume) a task on the link."""

    eligible: bool
    reason: Literal["blocked", "seen_link", "cap_reached", "link_full", "unknown_link"] | None


class Refusal(BaseModel):
    """A refusal: a sentence for people and a reason word for programs."""

    detail: str
    reason: str


class AssignmentIn(BaseModel):
    """A worker asks for (or back) the list of their assignment on a link."""

    model_config = ConfigDict(extra="ignore")
    link: Id
    worker_id: Id
    assignment_id: Id
    hit_id: Id | None = None


class TrialOut(BaseModel):
    """One trial as the browser sees it."""

    trial: int
    video_url: str
    options: list[str]


class AssignmentOut(BaseModel):
    """The assignment's list, and where to resume."""

    assignment_token: str
    assignment_id: str
    link: str
    n_trials: int
    resume_from: int
    completed: bool
    completion_code: str | None
    options: list[str]
    trials: list[TrialOut]


class ResponseIn(BaseModel):
    """One trial's answer with the browser's timing measurements (all timing fields nullable)."""

    model_config = ConfigDict(extra="ignore")
    assignment_token: str = Field(max_length=300)
    trial: int = Field(ge=0, le=100_000)
    response: str = Field(min_length=1, max_length=200)
    response_time_ms: float | None = Field(default=None, ge=0, le=86_400_000)
    presented_frames: int | None = Field(default=None, description="ignored: computed from frame_log")
    dropped_frames: int | None = Field(default=None, ge=0, le=10_000_000)
    refresh_interval_ms: float | None = Field(default=None, ge=0, le=10_000)
    hidden_during_video: bool | None = None
    blurred_during_video: bool | None = None
    timing_source: Literal["rvfc", "playback_quality", "none"] | None = None
    frame_log: str | None = Field(default=None, max_length=4000,
                                  description="ascending, disjoint inclusive ranges of confirmed frame indices")
    frames_presented_total: int | None = Field(default=None, ge=0, le=10_000_000)

    @field_validator("frame_log")
    @classmethod
    def _ranges_ascending(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not FRAME_LOG_RE.fullmatch(value):
            raise ValueError(f"frame_log ({value[:40]!r}) must look like '0-30,32-65'")
        previous = -1
        for part in value.split(","):
            a, b = (int(x) for x in part.split("-"))
            if a > b or a <= previous:
                raise ValueError(f"frame_log range {part!r} must be ascending and not overlap the one before")
            previous = b
        return value


class ResponseOut(BaseModel):
    """The outcome of a response write."""

    recorded: bool
    duplicate: bool
    next_trial: int
    timing_ok: bool | None


class CompleteIn(BaseModel):
    """Ask for the completion code once every trial is recorded."""

    model_config = ConfigDict(extra="ignore")
    assignment_token: str = Field(max_length=300)


class CompleteOut(BaseModel):
    """The server-issued completion code."""

    completion_code: str
    assignment_id: str
    n_trials: int


REFUSALS = {409: {"model": Refusal, "description": "not eligible (see reason)"},
            403: {"model": Refusal, "description": "bad assignment token"},
            422: {"model": Refusal, "description": "invalid request"}}


@router.get("/api/eligibility", response_model=EligibilityOut, responses={422: REFUSALS[422]})
async def get_eligibility(
    request: Request,
    link: Annotated[str, Query(pattern=ID_PATTERN, description="the HIT's link id")],
    worker_id: Annotated[str, Query(pattern=ID_PATTERN)],
    assignment_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    r=Depends(get_redis), settings: Settings = Depends(get_settings),
):
    """May this worker start this link's task now? CORS open to MTurk's worker and sandbox sites."""
    result = await eligibility(r, link, worker_id, assignment_id, cap=settings.max_tasks_per_worker,
                               allotted_ms=settings.allotted_minutes * 60_000)
    return json_response({"eligible": result.eligible, "reason": result.reason},
                         headers=cors_headers(request.headers.get("origin")))


@router.options("/api/eligibility", include_in_schema=False)
async def eligibility_preflight(request: Request):
    """CORS preflight for MTurk's origins."""
    headers = cors_headers(request.headers.get("origin"))
    if "Access-Control-Allow-Origin" in headers:
        headers.update({"Access-Control-Allow-Methods": "GET", "Access-Control-Max-Age": "600",
                        "Access-Control-Allow-Headers": "Content-Type"})
    return Response(status_code=204, headers=headers)


def _video_url(settings: Settings, video_id: str) -> str:
    base = settings.video_base_url.rstrip("/") if settings.video_base_url else "/videos"
    return f"{base}/{video_id}.mp4"


def assignment_payload(a: Allocation, settings: Settings) -> dict:
    """The JSON of `AssignmentOut` for an allocation."""
    options = a.options
    return {
        "assignment_token": make_token(settings.signing_key, a.assignment_id, a.link_id, a.worker_id, a.list_index),
        "assignment_id": a.assignment_id, "link": a.link_id, "n_trials": a.n_trials,
        "resume_from": a.next_trial, "completed": a.completed, "completion_code": a.completion_code,
        "options": options,
        "trials": [{"trial": i, "video_url": _video_url(settings, v), "options": options}
                   for i, v in enumerate(a.video_ids)],
    }


def check_preview(assignment_id: str) -> None:
    """Refuse MTurk's preview assignment id."""
    if assignment_id == PREVIEW_ASSIGNMENT:
        raise PreviewAssignment("this is MTurk's preview: accept the HIT to start the task")


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


def cors_headers(origin: str | None) -> dict:
    """CORS headers for the eligibility answer: the origin echoed only for MTurk's sites."""
    if origin in MTURK_ORIGINS or (origin and _MTURK_CONTENT_ORIGIN.fullmatch(origin)):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


@router.post("/api/assignments", response_model=AssignmentOut, responses=REFUSALS)
async def post_assignment(body: AssignmentIn, r=Depends(get_redis), settings: Settings = Depends(get_settings)):
    """Give the assignment its list of the link (the same one every time), with a signed token."""
    check_preview(body.assignment_id)
    a = await allocate(r, body.link, body.worker_id, body.assignment_id, body.hit_id or "",
                       cap=settings.max_tasks_per_worker, allotted_ms=settings.allotted_minutes * 60_000)
    return json_response(assignment_payload(a, settings))


@router.post("/api/responses", response_model=ResponseOut, responses=REFUSALS)
async def post_response(body: ResponseIn, r=Depends(get_redis), settings: Settings = Depends(get_settings)):
    """Record one trial's answer; repeating it is harmless (first write wins)."""
    return json_response(await record(r, settings, body))


@router.post("/api/complete", response_model=CompleteOut, responses=REFUSALS)
async def post_complete(body: CompleteIn, r=Depends(get_redis), settings: Settings = Depends(get_settings)):
    """The completion code, once every trial has a recorded response."""
    return json_response(await finish(r, settings, body))


@router.get("/videos/{name}", response_class=FileResponse, responses={404: {"model": Refusal}})
async def get_video(name: str, request: Request, r=Depends(get_redis)):
    """A stimulus video by its opaque id (range requests supported)."""
    match = VIDEO_NAME_RE.fullmatch(name)
    if match is None:
        raise NotFound(f"video name {name[:80]!r} must be 16 lowercase hex characters followed by .mp4")
    path = await _find_video(request, r, match.group(1))
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "public, max-age=86400"})


async def _find_video(request: Request, r, video_id: str) -> Path:
    state = request.app.state
    for refresh in (False, True):
        if refresh or state.video_dirs is None:
            state.video_dirs = [Path(d) for d in sorted(await r.smembers(keys.video_dirs()))]
        for directory in state.video_dirs:
            path = directory / f"{video_id}.mp4"
            if path.is_file():
                return path
    raise NotFound(f"no loaded experiment has video {video_id}")


@router.get("/healthz")
async def healthz(r=Depends(get_redis)):
    """``{"status": "ok"}`` when the server and its Redis answer."""
    await r.ping()
    return json_response({"status": "ok"})
