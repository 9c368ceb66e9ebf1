"""Admin routes for the experimenter: ``Authorization: Bearer $MVT_ADMIN_TOKEN``, refused when unset."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from kernel import admin, control, export
from app.deps import get_sync_redis, require_admin
from app.validation import Refusal
from kernel.ids import ID_PATTERN

# Every admin answer that is not a 200 is a `Refusal` (the app's handlers), the sign-in ones included.
router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)], tags=["admin"],
                   responses={401: {"model": Refusal, "description": "no or wrong bearer token"},
                              403: {"model": Refusal, "description": "admin routes disabled (MVT_ADMIN_TOKEN unset)"},
                              422: {"model": Refusal, "description": "invalid request"}})

BEARER = "bearer token"
"""Who the control room's activity log names for an action through these routes."""

Ids = Annotated[list[Annotated[str, Field(pattern=ID_PATTERN)]], Field(min_length=1, max_length=1000)]


class ProgressOut(BaseModel):
    """Progress of every link, and the blocked workers."""

    links: list[admin.LinkProgress]
    blocked: list[str]


class ReplaceIn(BaseModel):
    """Assignments whose lists should be done again by new workers."""

    assignment_ids: Ids


class ReplaceOut(BaseModel):
    """Which assignments were marked now, and which not (unknown, already marked, or already taken over)."""

    marked: list[str]
    not_marked: list[str]


class WorkersIn(BaseModel):
    """Worker ids to block or unblock."""

    worker_ids: Ids


class WorkersOut(BaseModel):
    """Every blocked worker after the change."""

    blocked: list[str]


@router.get("/progress", response_model=ProgressOut)
def get_progress(r=Depends(get_sync_redis)):
    """Lists complete, in progress, marked for replacement and never used, per link."""
    return {"links": [asdict(p) for p in admin.link_progress(r)], "blocked": admin.blocked_workers(r)}


@router.post("/replace", response_model=ReplaceOut)
def post_replace(body: ReplaceIn, r=Depends(get_sync_redis)):
    """Mark assignments for replacement: the next new worker on each link takes the list over."""
    marked = admin.mark_for_replacement(r, body.assignment_ids)
    if marked:
        control.log_action(r, BEARER, "replace", " ".join(marked))
    return {"marked": marked, "not_marked": [a for a in body.assignment_ids if a not in marked]}


@router.post("/block", response_model=WorkersOut)
def post_block(body: WorkersIn, r=Depends(get_sync_redis)):
    """Block workers from new and unfinished tasks."""
    admin.block_workers(r, body.worker_ids)
    control.log_action(r, BEARER, "block", " ".join(body.worker_ids))
    return {"blocked": admin.blocked_workers(r)}


@router.post("/unblock", response_model=WorkersOut)
def post_unblock(body: WorkersIn, r=Depends(get_sync_redis)):
    """Lift blocks."""
    admin.unblock_workers(r, body.worker_ids)
    control.log_action(r, BEARER, "unblock", " ".join(body.worker_ids))
    return {"blocked": admin.blocked_workers(r)}


# response_class=Response: the refusals stay application/json in the schema, the 200 alone is text/csv
@router.get("/export.csv", response_class=Response,
            responses={200: {"description": "the CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                       400: {"model": Refusal, "description": "experiments of different study kinds, or unknown"}})
def get_export(experiment: Annotated[list[Annotated[str, Field(pattern=ID_PATTERN)]] | None, Query()] = None,
               r=Depends(get_sync_redis)):
    """Every recorded response (of ``?experiment=NAME``, repeatable) as CSV, with the `mvt export` columns of
    their study kind; experiments of different kinds are refused (400), as `mvt export` refuses them."""
    chosen = export.choose_experiments(export.experiment_links(r), experiment) if experiment else None
    return PlainTextResponse(export.csv_text(r, chosen), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="responses.csv"'})


@router.get("/openapi.json", include_in_schema=False)
def openapi_schema(request: Request) -> JSONResponse:
    """The server's OpenAPI schema (every route, the admin ones included), for the experimenter only."""
    return JSONResponse(request.app.openapi())
