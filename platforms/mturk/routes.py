"""MTurk's routes on the server: the HIT's page and local stand-ins for MTurk's side.

- ``GET /experiment.html`` — the worker's page (``?link=L&b=ASSIGNMENT_ID&c=HIT_ID&d=WORKER_ID``
  or MTurk's names): the kind's runner, or in MTurk's preview
  (``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``) the kind's preview only.
- ``GET /mturk/landing`` — ``mturk_landing/landing.html`` with ``${HIT_Link}`` filled in, so the
  layout an experimenter pastes into MTurk can be tried locally with fake MTurk parameters.
- ``POST /mturk/externalSubmit`` — shows the fields MTurk's ``externalSubmit`` would receive.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kernel.ids import ID_RE
from platforms.base import ArrivalError
from platforms.mturk.landing import render_landing
from platforms.mturk.site import FORM_ACTION


def router(platform, pages) -> APIRouter:
    """MTurk's routes, rendered with the server's page kit ``pages``."""
    routes = APIRouter()

    @routes.get("/experiment.html", response_class=HTMLResponse, include_in_schema=False)
    async def experiment_page(request: Request) -> HTMLResponse:
        """The worker's page: ``?link=L&b=ASSIGNMENT_ID&c=HIT_ID&d=WORKER_ID`` (or MTurk's names)."""
        try:
            arrival = platform.arrival(request.query_params)
        except ArrivalError as exc:
            return pages.error_page(request, 400, "This task link is incomplete", str(exc),
                                    await pages.link_title(request, request.query_params.get("link")))
        if arrival.preview:
            return await pages.preview_page(request, platform, arrival.link)
        return await pages.runner_page(request, platform, arrival)

    @routes.get("/mturk/landing", response_class=HTMLResponse, include_in_schema=False)
    def landing_preview(request: Request) -> HTMLResponse:
        """The MTurk layout with ``${HIT_Link}`` = ``{this server}/experiment.html?link=L``.

        Add MTurk's parameters to try it: ``?link=L&assignmentId=A&workerId=W&hitId=H&turkSubmitTo=…``
        (``turkSubmitTo`` set to this server's address submits to the local stand-in).
        """
        link = request.query_params.get("link")
        if not link or not ID_RE.fullmatch(link):
            return pages.error_page(request, 400, "No task link",
                                    "Add ?link=LINK_ID (a link id from links.csv) to the address.")
        own = pages.own_origin(request)
        nonce = secrets.token_urlsafe(16)
        snippet = render_landing(f"{own}/experiment.html?link={link}")
        snippet = snippet.replace("<script>", f'<script nonce="{nonce}">')
        snippet = snippet.replace("<style>", f'<style nonce="{nonce}">')
        csp = "; ".join([
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-src 'self'",
            f"form-action 'self' {own} {' '.join(FORM_ACTION)}",
            "frame-ancestors 'self'",
            "base-uri 'none'",
        ])
        return pages.templates.TemplateResponse(request, "landing_preview.html", {"snippet": snippet},
                                                headers=pages.security_headers(csp))

    @routes.post("/mturk/externalSubmit", response_class=HTMLResponse, include_in_schema=False)
    async def external_submit(request: Request) -> HTMLResponse:
        """Local stand-in for MTurk's ``externalSubmit``: lists the fields it received."""
        body = (await request.body())[:64 * 1024].decode("utf-8", errors="replace")
        fields = parse_qsl(body, keep_blank_values=True)
        fields += [(k, v) for k, v in request.query_params.multi_items()]
        return pages.templates.TemplateResponse(request, "external_submit.html", {"fields": fields},
                                                headers=pages.security_headers(pages.runner_csp(request)))

    return routes
