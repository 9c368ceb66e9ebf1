"""A URL-parameter panel's routes on the server: ``GET /panel?experiment=EXP&<id_param>=ID`` (arrival) and
``GET /panel/check?experiment=EXP&<id_param>=ID`` (whether that participant completed the task, for the
panel's server to ask before it credits them: a panel's completion code is one code for everyone)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from kernel.ids import is_id
from kernel.loaded_study import title_of
from kernel.store import keys

from platforms.base import ArrivalError
from platforms.panel import PanelPlatform


def router(platform, pages) -> APIRouter:
    """``/panel``, rendered with the server's page kit ``pages``."""
    routes = APIRouter()

    @routes.get("/panel", response_class=HTMLResponse, include_in_schema=False)
    async def panel_page(request: Request) -> HTMLResponse:
        experiment = request.query_params.get("experiment")
        study = await pages.experiment_study(request, experiment)
        if not study or not study.get("panel"):
            return pages.error_page(request, 400, "This study link is incomplete",
                                    "The study's address names no experiment set up for a panel (experiment=…, "
                                    "with [panel] in its study file); please tell the researcher.")
        configured = PanelPlatform(experiment, study["panel"])
        try:
            arrival = configured.arrival(request.query_params)
        except ArrivalError as exc:
            return pages.error_page(request, 400, "This study link is incomplete", str(exc), title_of(study))
        return await pages.place_and_run(request, configured, arrival, experiment)

    @routes.get("/panel/check", include_in_schema=False)
    async def panel_check(request: Request) -> JSONResponse:
        """``{"experiment", "participant", "completed"}``: whether the server recorded the participant's
        completed task (every trial answered and ``POST /api/complete`` accepted)."""
        experiment = request.query_params.get("experiment")
        study = await pages.experiment_study(request, experiment)
        if not study or not study.get("panel"):
            return JSONResponse({"detail": "no experiment set up for a panel has this name", "reason": "invalid"},
                                status_code=404)
        configured = PanelPlatform(experiment, study["panel"])
        try:
            arrival = configured.arrival(request.query_params)
        except ArrivalError as exc:
            return JSONResponse({"detail": str(exc), "reason": "invalid"}, status_code=422)
        r = request.app.state.redis
        link = await r.execute_command("HGET", keys.assignment_links(), arrival.assignment_id)
        raw = await r.execute_command("HGET", keys.link_assignments(link), arrival.assignment_id) \
            if link and is_id(link) else None
        record = json.loads(raw) if raw else {}
        completed = bool(record.get("completed_ms")) and record.get("worker") == arrival.worker_id
        return JSONResponse({"experiment": experiment, "participant": arrival.worker_id, "completed": completed})

    return routes
