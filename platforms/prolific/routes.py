"""Prolific's route on the server: ``GET /prolific``, where every participant of a study arrives."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kernel.ids import is_id
from kernel.loaded_study import title_of
from platforms.base import ArrivalError
from platforms.prolific.codes import study_codes


def router(platform, pages) -> APIRouter:
    """``/prolific``, rendered with the server's page kit ``pages``."""
    routes = APIRouter()

    @routes.get("/prolific", response_class=HTMLResponse, include_in_schema=False)
    async def prolific_page(request: Request) -> HTMLResponse:
        settings = request.app.state.settings
        experiment = request.query_params.get("experiment") or settings.prolific_experiment
        try:
            arrival = platform.arrival(request.query_params)
        except ArrivalError as exc:
            title = title_of(await pages.experiment_study(request, experiment))
            return pages.error_page(request, 400, "This study link is incomplete", str(exc), title)
        if not is_id(experiment):
            return pages.error_page(request, 400, "This study link is incomplete", "The study's address names "
                                    "no experiment (experiment=…); please tell the researcher.")
        codes = await study_codes(request.app.state.redis, settings, arrival.hit_id, experiment)
        configured = type(platform)(settings.prolific_completion_url, codes.screened_out, codes.no_consent)
        return await pages.place_and_run(request, configured, arrival, experiment)

    return routes
