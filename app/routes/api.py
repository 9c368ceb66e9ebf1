"""The worker-facing JSON API: eligibility, assignments, responses, completion, videos, health.

Each route validates with `app.validation` and calls one function of `app.service`, which the
hot paths (`app.fastpath`) call too. No response ever names a label, class or duration except
the answer options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import redis as redis_py
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from app import service

from kernel import videourls
from app.deps import get_redis, get_settings
from kernel.errors import BadVideoLink, NotFound
from kernel.ids import ID_PATTERN
from kernel.limits import client_ip
from kernel.settings import Settings
from kernel.store import keys
from studies import media_types
from app.validation import (MEDIA_NAME_RE, REFUSALS, AssignmentIn, AssignmentOut, CompleteIn,
                            CompleteOut, EligibilityOut, FailureIn, Refusal, ResponseIn, ResponseOut,
                            TrialStartIn, TrialStartOut)

router = APIRouter()


def json_response(payload, status_code: int = 200, headers: dict | None = None) -> Response:
    """A JSON response serialised by orjson."""
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json", headers=headers)


@router.get("/api/eligibility", response_model=EligibilityOut, responses={422: REFUSALS[422], 429: REFUSALS[429]})
async def get_eligibility(
    request: Request,
    link: Annotated[str, Query(pattern=ID_PATTERN, description="the HIT's link id")],
    worker_id: Annotated[str, Query(pattern=ID_PATTERN)],
    assignment_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    r=Depends(get_redis), settings: Settings = Depends(get_settings),
):
    """May this worker start this link's task now? CORS open to MTurk's worker and sandbox sites."""
    payload, headers = await service.eligibility_answer(r, settings, link, worker_id, assignment_id,
                                                        request.headers.get("origin"), client_ip(request.scope))
    return json_response(payload, headers=headers)


@router.options("/api/eligibility", include_in_schema=False)
async def eligibility_preflight(request: Request):
    """CORS preflight for MTurk's origins."""
    headers = service.cors_headers(request.headers.get("origin"))
    if "Access-Control-Allow-Origin" in headers:
        headers.update({"Access-Control-Allow-Methods": "GET", "Access-Control-Max-Age": "600",
                        "Access-Control-Allow-Headers": "Content-Type"})
    return Response(status_code=204, headers=headers)


@router.post("/api/assignments", response_model=AssignmentOut, responses=REFUSALS)
async def post_assignment(body: AssignmentIn, request: Request, r=Depends(get_redis),
                          settings: Settings = Depends(get_settings)):
    """Give the assignment its list of the link (the same one every time), with a signed token.

    gzip-compressed when the client accepts it (as the hot path does).
    """
    data, extra = await service.assignment_answer(r, settings, body.link, body.worker_id, body.assignment_id,
                                                  body.hit_id, client_ip(request.scope),
                                                  service.accepts_gzip(request.headers.get("accept-encoding")),
                                                  body.placement)
    return Response(data, media_type="application/json", headers={k.decode(): v.decode() for k, v in extra})


@router.post("/api/responses", response_model=ResponseOut, responses=REFUSALS)
async def post_response(body: ResponseIn, request: Request, r=Depends(get_redis),
                        settings: Settings = Depends(get_settings)):
    """Record one trial's answer; repeating it is harmless (first write wins)."""
    return json_response(await service.record(r, settings, body, request.headers.get("user-agent")))


@router.post("/api/trial-start", response_model=TrialStartOut, responses=REFUSALS)
async def post_trial_start(body: TrialStartIn, r=Depends(get_redis), settings: Settings = Depends(get_settings)):
    """The page is about to play a trial's video: count the viewing (a retry with the same start id counts once).

    ``plays`` above 1 means the trial was started before, from this or another browser; its answer
    is then stored with ``timing_ok`` false (``replayed``) and the page goes to the answer unseen.
    """
    return json_response(await service.start_trial(r, settings, body))


@router.post("/api/complete", response_model=CompleteOut, responses=REFUSALS)
async def post_complete(body: CompleteIn, request: Request, r=Depends(get_redis),
                        settings: Settings = Depends(get_settings)):
    """The completion code, once every trial has a recorded response."""
    return json_response(await service.finish(r, settings, body, client_ip(request.scope)))


@router.post("/api/failure", responses=REFUSALS)
async def post_failure(body: FailureIn, r=Depends(get_redis), settings: Settings = Depends(get_settings)):
    """The page gave up on this assignment (a video that cannot be downloaded or played): why.

    Kept per assignment (the last one wins) so the experimenter can see why a HIT was returned.
    """
    return json_response(await service.report_failure(r, settings, body))


@router.get("/videos/{name}", response_class=FileResponse,
            responses={404: {"model": Refusal}, 403: {"model": Refusal, "description": "unsigned, foreign or expired"}})
async def get_video(name: str, request: Request, r=Depends(get_redis), settings: Settings = Depends(get_settings)):
    """A stimulus by its opaque id (an MVT video, or a rating study's .m4a/.png), with the query its
    assignment was given (``a``, ``l``, ``e``, ``k``, or per video ``a``, ``e``, ``s``: `kernel.videourls`;
    range requests supported)."""
    types = media_types()
    match = MEDIA_NAME_RE.fullmatch(name)
    if match is None or match.group(2) not in types:
        raise NotFound(f"video name {name[:80]!r} must be 16 lowercase hex characters followed by "
                       f"{', '.join('.' + ext for ext in list(types)[:-1])} or .{list(types)[-1]}")
    assignment_id, link_id = videourls.check(settings.signing_key, match.group(1), request.query_params)
    if link_id is None:  # the per-video form (practice videos, a CDN's URLs, URLs issued before 0.2.0)
        await _refuse_revoked(r, assignment_id)
    else:
        await videourls.allowed_video(r, assignment_id, link_id, match.group(1))
    path = await _find_video(request, r, match.group(1), match.group(2))
    # private: a shared cache would hand one assignment's file to a request signed for another
    return FileResponse(path, media_type=types[match.group(2)],
                        headers={"Cache-Control": "private, max-age=3600"})


async def _refuse_revoked(r, assignment_id: str) -> None:
    """`BadVideoLink` when the URL's assignment lost its list (replaced or expired): its signed URLs
    die with it rather than at their expiry time. Practice videos (no assignment record) pass."""
    link = await r.execute_command("HGET", keys.assignment_links(), assignment_id)
    if not link:
        return
    raw = await r.execute_command("HGET", keys.link_assignments(link.decode() if isinstance(link, bytes) else link),
                                  assignment_id)
    status = orjson.loads(raw).get("status") if raw else None
    if status in ("replaced", "expired"):
        raise BadVideoLink(f"this video link belonged to assignment {assignment_id}, which was {status}; "
                           "its videos can no longer be fetched")


async def _find_video(request: Request, r, video_id: str, ext: str = "mp4") -> Path:
    state = request.app.state
    for refresh in (False, True):
        if refresh or state.video_dirs is None:
            state.video_dirs = [Path(d) for d in sorted(await r.smembers(keys.video_dirs()))]
        for directory in state.video_dirs:
            path = directory / f"{video_id}.{ext}"
            if path.is_file():
                return path
    raise NotFound(f"no loaded experiment has video {video_id}")


@router.get("/healthz")
async def healthz(r=Depends(get_redis)):
    """``{"status": "ok"}`` when the server and its Redis answer; 503 ``{"status": "loading"}`` (with
    ``Retry-After``) while Redis replays its AOF after a restart; 200 ``{"status": "degraded"}`` with a
    sentence while writes are refused because a master lacks the replicas ``MVT_REDIS_WAIT_REPLICAS``
    asks for."""
    try:
        await r.ping()
    except (redis_py.ResponseError, redis_py.BusyLoadingError) as exc:
        if not str(exc).startswith("LOADING") and not isinstance(exc, redis_py.BusyLoadingError):
            raise
        return json_response({"status": "loading", "reason": "redis_loading",
                              "detail": "the database is loading its data after a restart; try again shortly"},
                             503, headers={"Retry-After": "5"})
    degraded = getattr(r, "degraded", None)  # the hot-path client; redis-py's has no such question
    sentence = await degraded() if degraded is not None else None
    if sentence:
        # 200: reads and pages are served, and every server shares the store, so none is better to send to
        return json_response({"status": "degraded", "reason": "redis_degraded", "detail": sentence})
    return json_response({"status": "ok"})
