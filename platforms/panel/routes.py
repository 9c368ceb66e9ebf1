"""A URL-parameter panel's route on the server: ``GET /panel?experiment=EXP&<id_param>=ID``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

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
            return pages.error_page(request, 400, "This study link is incomplete", str(exc))
        return await pages.place_and_run(request, configured, arrival, experiment)

    return routes
