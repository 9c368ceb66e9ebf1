"""Pages for workers: the trial runner, and local stand-ins for MTurk's side.

- ``GET /experiment.html`` — the trial runner (``static/runner/main.js`` and its modules), or in MTurk's preview
  (``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``) the instructions only.
- ``GET /mturk/landing`` — ``mturk_landing/landing.html`` with ``${HIT_Link}`` filled in, so
  the layout an experimenter pastes into MTurk can be tried locally with fake MTurk
  parameters in the query.
- ``POST /mturk/externalSubmit`` — shows the fields MTurk's ``externalSubmit`` would receive.
- ``GET /example.png?link=L`` — the instructions' example picture of the link's experiment.

The runner's config carries the experiment's ``study`` (``study.json`` as ``mvt load`` stored it:
its words, practice trials and device rules; `stimuli.study.DEFAULT_STUDY` without one).

Query values are checked against a charset and reach the page only through Jinja2's
autoescaping or a ``|tojson`` JSON block, never inlined into script.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import escape

from app import limits
from app.assets import LANDING_FILE, STATIC_DIR, TEMPLATES_DIR
from app.assignments import now_ms
from app.errors import MVTError, RateLimited
from app.ids import ID_RE, is_id
from app.placement import place
from app.reasons import FALLBACK_SENTENCE, WORKER_SENTENCES
from app.service import media_url, url_expiry_s
from app.store import keys
from stimuli.study import DEFAULT_STUDY
from platforms import PLATFORMS, Arrival, ArrivalError
from platforms.mturk.platform import origin_of
from platforms.panel import PanelPlatform
from platforms.prolific.platform import ProlificPlatform, study_codes

router = APIRouter()

templates = Jinja2Templates(directory=TEMPLATES_DIR)
# Where MTurk shows a HIT: the worker site, and the content domain of Design Layout projects.
MTURK_FRAME_ANCESTORS = "https://*.mturk.com https://*.mturkcontent.com https://mturkcontent.com"
# externalSubmit may redirect within MTurk's sites, and form-action applies to redirects too.
MTURK_FORM_ACTION = "https://*.mturk.com"
VIDEO_CSS_PX = 512


def _own_origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _video_origin(request: Request) -> str | None:
    settings = getattr(request.app.state, "settings", None)
    return origin_of(getattr(settings, "video_base_url", None))


def _security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cache-Control": "no-store",
    }


def _runner_csp(request: Request) -> str:
    video = _video_origin(request) or ""
    own = _own_origin(request)
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        f"media-src 'self' blob: {video}".strip(),
        f"connect-src 'self' {video}".strip(),
        f"form-action 'self' {own} {MTURK_FORM_ACTION}",
        f"frame-ancestors 'self' {MTURK_FRAME_ANCESTORS}",
        "base-uri 'none'",
    ])


def _error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message},
        status_code=status_code, headers=_security_headers(_runner_csp(request)),
    )


async def link_page(request: Request, link: str | None, assignment_id: str | None = None) -> tuple[dict, bool]:
    """What the page of ``link`` needs from the store, in one read of the link's meta: its
    experiment's study settings (``study.json`` as loaded, else `DEFAULT_STUDY`; practice trials
    get their ``video_url`` signed for ``assignment_id``, ``example_url`` says where the example
    is) and whether the link is a rating study's (its own pages)."""
    r = getattr(request.app.state, "redis", None)
    study, kind = None, None
    if link and r is not None and ID_RE.fullmatch(link):
        experiment_id, kind = await r.execute_command("HMGET", keys.link_meta(link), "experiment_id", "kind")
        if experiment_id:
            raw = await r.execute_command("GET", keys.experiment_study(experiment_id))
            study = json.loads(raw) if raw else None
    study = study or {**DEFAULT_STUDY, "n_trials": None, "practice": [], "example": None}
    settings = getattr(request.app.state, "settings", None)  # a bare router in page tests has none
    if settings is not None:
        expiry_s = url_expiry_s(settings)
        study["practice"] = [{**p, "video_url": media_url(settings, p["video_id"], assignment_id or "preview",
                                                          expiry_s)} for p in study.get("practice", [])]
    study["example_url"] = f"/example.png?link={link}" if study.get("example") else "/static/example.png"
    return study, kind == "ratings"


@router.get("/experiment.html", response_class=HTMLResponse, include_in_schema=False)
async def experiment_page(request: Request) -> HTMLResponse:
    """The worker's page: ``?link=L&b=ASSIGNMENT_ID&c=HIT_ID&d=WORKER_ID`` (or MTurk's names)."""
    platform = PLATFORMS["mturk"]
    try:
        arrival = platform.arrival(request.query_params)
    except ArrivalError as exc:
        return _error_page(request, 400, "This task link is incomplete", str(exc))
    if arrival.preview:
        study, ratings = await link_page(request, arrival.link)
        return templates.TemplateResponse(
            request, "ratings_preview.html" if ratings else "preview.html",
            {"video_css_px": VIDEO_CSS_PX, "study": study},
            headers=_security_headers(_runner_csp(request)),
        )
    return await runner_page(request, arrival, platform.finish(request.query_params, _own_origin(request)))


async def runner_page(request: Request, arrival: Arrival, finish: dict) -> HTMLResponse:
    """The trial runner for a participant who arrived (``arrival``) and finishes by ``finish``."""
    study, ratings = await link_page(request, arrival.link, arrival.assignment_id)
    config = {
        "link": arrival.link,
        "assignment_id": arrival.assignment_id,
        "hit_id": arrival.hit_id,
        "worker_id": arrival.worker_id,
        "finish": finish,
        "turk_submit_to": finish.get("submit_to"),
        "api_base": "",
        "video_css_px": VIDEO_CSS_PX,
        "expected_hz": 60,
        "reasons": WORKER_SENTENCES,
        "reason_fallback": FALLBACK_SENTENCE,
        "study": study,
    }
    return templates.TemplateResponse(
        request, "ratings.html" if ratings else "experiment.html",
        {"config": config, "video_css_px": VIDEO_CSS_PX, "study": study},
        headers=_security_headers(_runner_csp(request)),
    )


@router.get("/example.png", include_in_schema=False)
async def example_image(request: Request) -> FileResponse:
    """The instructions' example of the link's experiment (cross → picture → its real mask, made by
    ``mvt build``), or the generic one."""
    link = request.query_params.get("link") or ""
    r = request.app.state.redis
    videos_dir = await r.execute_command("HGET", keys.link_meta(link), "videos_dir") if ID_RE.fullmatch(link) else None
    path = Path(videos_dir).parent / "example.png" if videos_dir else None
    if path is None or not path.is_file():
        path = STATIC_DIR / "example.png"
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "public, max-age=3600",
                                                               "X-Content-Type-Options": "nosniff"})


def render_landing(hit_link: str) -> str:
    """``landing.html`` as MTurk would render it for the CSV row ``HIT_Link=hit_link``."""
    return LANDING_FILE.read_text(encoding="utf-8").replace("${HIT_Link}", str(escape(hit_link)))


@router.get("/mturk/landing", response_class=HTMLResponse, include_in_schema=False)
def landing_preview(request: Request) -> HTMLResponse:
    """The MTurk layout with ``${HIT_Link}`` = ``{this server}/experiment.html?link=L``.

    Add MTurk's parameters to try it: ``?link=L&assignmentId=A&workerId=W&hitId=H&turkSubmitTo=…``
    (``turkSubmitTo`` set to this server's address submits to the local stand-in).
    """
    link = request.query_params.get("link")
    if not link or not ID_RE.fullmatch(link):
        return _error_page(request, 400, "No task link",
                           "Add ?link=LINK_ID (a link id from links.csv) to the address.")
    own = _own_origin(request)
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
        f"form-action 'self' {own} {MTURK_FORM_ACTION}",
        "frame-ancestors 'self'",
        "base-uri 'none'",
    ])
    return templates.TemplateResponse(
        request, "landing_preview.html", {"snippet": snippet},
        headers=_security_headers(csp),
    )


@router.post("/mturk/externalSubmit", response_class=HTMLResponse, include_in_schema=False)
async def external_submit(request: Request) -> HTMLResponse:
    """Local stand-in for MTurk's ``externalSubmit``: lists the fields it received."""
    body = (await request.body())[:64 * 1024].decode("utf-8", errors="replace")
    fields = parse_qsl(body, keep_blank_values=True)
    fields += [(k, v) for k, v in request.query_params.multi_items()]
    return templates.TemplateResponse(
        request, "external_submit.html", {"fields": fields},
        headers=_security_headers(_runner_csp(request)),
    )


@router.get("/prolific", response_class=HTMLResponse, include_in_schema=False)
async def prolific_page(request: Request) -> HTMLResponse:
    """A Prolific participant's page: placed on a link of ``experiment`` (`app.placement`), or asked
    to return the study when no link can take them (nothing is allocated then)."""
    settings = request.app.state.settings
    experiment = request.query_params.get("experiment") or settings.prolific_experiment
    try:
        arrival = ProlificPlatform().arrival(request.query_params)
    except ArrivalError as exc:
        return _error_page(request, 400, "This study link is incomplete", str(exc))
    if not is_id(experiment):
        return _error_page(request, 400, "This study link is incomplete",
                           "The study's address names no experiment (experiment=…); please tell the researcher.")
    code, screened_out = await study_codes(request.app.state.redis, settings, arrival.hit_id, experiment)
    platform = ProlificPlatform(settings.prolific_completion_url, code, screened_out)
    return await _place_and_run(request, platform, arrival, experiment,
                                "Nothing was recorded for you: please return the study on Prolific "
                                "(\u201cStop without completing\u201d).")


@router.get("/panel", response_class=HTMLResponse, include_in_schema=False)
async def panel_page(request: Request) -> HTMLResponse:
    """A URL-parameter panel's participant (``[panel]`` of the experiment's study file), placed
    like a Prolific participant."""
    experiment = request.query_params.get("experiment")
    study = None
    if is_id(experiment):
        raw = await request.app.state.redis.execute_command("GET", keys.experiment_study(experiment))
        study = json.loads(raw) if raw else None
    if not study or not study.get("panel"):
        return _error_page(request, 400, "This study link is incomplete",
                           "The study's address names no experiment set up for a panel (experiment=…, with "
                           "[panel] in its study file); please tell the researcher.")
    platform = PanelPlatform(experiment, study["panel"])
    try:
        arrival = platform.arrival(request.query_params)
    except ArrivalError as exc:
        return _error_page(request, 400, "This study link is incomplete", str(exc))
    return await _place_and_run(request, platform, arrival, experiment,
                                "Nothing was recorded for you: please close this page and tell the researcher.")


async def _place_and_run(request: Request, platform, arrival: Arrival, experiment: str, unplaced: str) -> HTMLResponse:
    """Place a participant who arrived without a link, charged to their client like a task
    request; the runner page, or a page that says why not (``unplaced`` ends it)."""
    settings = request.app.state.settings
    r, client = request.app.state.redis, limits.client_ip(request.scope)
    try:
        # Placing allocates, so it is charged to the client like POST /api/assignments.
        await limits.admit_assignment(r, settings, client, arrival.worker_id, arrival.assignment_id, now_ms())
    except RateLimited as exc:
        response = _error_page(request, 429, "Too many requests", f"{WORKER_SENTENCES['rate_limited']} ({exc})")
        response.headers.update(exc.headers)
        return response
    try:
        placed = await place(r, settings, experiment, arrival.worker_id, arrival.assignment_id, arrival.hit_id)
    except MVTError as exc:
        await limits.release(r, settings, client, arrival.assignment_id)
        sentence = WORKER_SENTENCES.get(exc.reason, FALLBACK_SENTENCE)
        return _error_page(request, 409, "Please return this study", f"{sentence} {unplaced}")
    arrival = Arrival(placed.link_id, arrival.worker_id, arrival.assignment_id, arrival.hit_id)
    return await runner_page(request, arrival, platform.finish(request.query_params, _own_origin(request)))
