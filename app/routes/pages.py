"""Pages for workers, and the kit each recruitment platform's routes render them with.

- ``GET /example.png?link=L`` — the instructions' example picture of the link's experiment.
- The platforms' own routes (`platforms.base.Platform.router`: ``/experiment.html`` and
  ``/mturk/*`` for MTurk, ``/prolific``, ``/panel``) parse how a participant arrived and call
  `PAGES`: the preview, the kind's runner page (the kind names its template, `studies`), the
  placement of a participant who arrived without a link, and the error page.

The runner's config carries the experiment's ``study`` (``study.json`` as ``mvt load`` stored it:
its words, practice trials and device rules; the kind's default study without one) and the
platform's ``words``.

Query values are checked against a charset and reach the page only through Jinja2's
autoescaping or a ``|tojson`` JSON block, never inlined into script.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from app.assets import STATIC_DIR, TEMPLATES_DIR, asset_url
from app.service import GZIP_LEVEL, GZIP_MIN_BYTES, accepts_gzip, media_url, url_expiry_s
from kernel import limits, loaded_study
from kernel.assignments import now_ms
from kernel.errors import MVTError, RateLimited
from kernel.ids import ID_RE, is_id
from kernel.origins import origin_of
from kernel.placement import candidate, note_resumed
from kernel.reasons import FALLBACK_SENTENCE, turned_away, worker_sentences
from kernel.store import keys
from kernel.tokens import make_placement
from platforms import PLATFORMS, Arrival, Platform
from studies import KINDS, get_kind

router = APIRouter()

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["asset"] = asset_url  # {{ asset('/static/x.css') }}: a versioned, long-cached URL
VIDEO_CSS_PX = 512


def use_kind_assets() -> dict[str, Path]:
    """Put each plug-in kind's ``templates/`` on the template search path; return its ``static/`` folder.

    For every registered kind that brings its own assets (a plug-in kind's
    `StudyKind.assets_dir`), served under ``/static/kinds/<name>/``. Its ``templates/`` folder
    joins the template search path here, after the project's own, so a kind's page can extend
    ``runner_base.html``."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    dirs = {kind.name: Path(kind.assets_dir) for kind in KINDS.values() if kind.assets_dir is not None}
    templates.env.loader = ChoiceLoader([FileSystemLoader(TEMPLATES_DIR),
                                         *(FileSystemLoader(d / "templates") for d in dirs.values())])
    return {name: d / "static" for name, d in dirs.items() if (d / "static").is_dir()}


def own_origin(request: Request) -> str:
    """This server's origin as the browser reached it."""
    return str(request.base_url).rstrip("/")


def _video_origin(request: Request) -> str | None:
    settings = getattr(request.app.state, "settings", None)
    return origin_of(getattr(settings, "video_base_url", None))


def security_headers(csp: str) -> dict[str, str]:
    """The headers every worker page is sent with, ``csp`` its Content-Security-Policy."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cache-Control": "no-store",
    }


def _platform_origins(attribute: str) -> str:
    return " ".join(sorted({o for platform in PLATFORMS.values() for o in getattr(platform, attribute)}))


def runner_csp(request: Request) -> str:
    """The worker pages' policy: own scripts only; framed and submitting only where a platform shows them."""
    video = _video_origin(request) or ""
    own = own_origin(request)
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        f"media-src 'self' blob: {video}".strip(),
        f"connect-src 'self' {video}".strip(),
        f"form-action 'self' {own} {_platform_origins('form_action')}".strip(),
        f"frame-ancestors 'self' {_platform_origins('frame_ancestors')}".strip(),
        "base-uri 'none'",
    ])


def error_page(request: Request, status_code: int, title: str, message: str,
               study_title: str | None = None) -> HTMLResponse:
    """A page that says why the participant cannot go on (above it the study's title, when known)."""
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message, "study_title": study_title},
        status_code=status_code, headers=security_headers(runner_csp(request)),
    )


async def experiment_study(request: Request, experiment: str | None) -> dict | None:
    """The experiment's study (``study.json`` as ``mvt load`` stored it: `kernel.loaded_study`), or None."""
    return await loaded_study.experiment_study(request.app.state.redis, experiment)


async def link_title(request: Request, link: str | None) -> str | None:
    """The title of the study ``link`` belongs to (`kernel.loaded_study.link_title`, as the eligibility API's
    refusals name it), for a page that refuses a participant of that link before it knows more."""
    r = getattr(request.app.state, "redis", None)
    return await loaded_study.link_title(r, link) if r is not None else None


async def link_page(request: Request, link: str | None, assignment_id: str | None = None):
    """What the page of ``link`` needs from the store (`kernel.loaded_study.link_study`): its
    experiment's study settings (``study.json`` as loaded, else the kind's default; practice
    trials get their ``video_url`` signed for ``assignment_id``, ``example_url`` says where the
    example is) and the link's study kind (`studies`), which names the page."""
    r = getattr(request.app.state, "redis", None)
    study, kind = await loaded_study.link_study(r, link) if r is not None else (None, None)
    study_kind = get_kind(kind)
    study = study or {**study_kind.default_study(), "n_trials": None, "practice": [], "example": None}
    settings = getattr(request.app.state, "settings", None)  # a bare router in page tests has none
    if settings is not None:
        expiry_s = url_expiry_s(settings)
        study["practice"] = [{**p, "video_url": media_url(settings, p["video_id"], assignment_id or "preview",
                                                          expiry_s)} for p in study.get("practice", [])]
    study["example_url"] = f"/example.png?link={link}" if study.get("example") else "/static/example.png"
    return study, study_kind


async def preview_page(request: Request, platform: Platform, link: str | None) -> HTMLResponse:
    """What a participant sees before accepting (MTurk's preview): the kind's preview, nothing allocated."""
    study, kind = await link_page(request, link)
    return templates.TemplateResponse(
        request, kind.preview_template,
        {"video_css_px": VIDEO_CSS_PX, "study": study, "words": platform.words},
        headers=security_headers(runner_csp(request)),
    )


async def runner_page(request: Request, platform: Platform, arrival: Arrival,
                      placement: str | None = None) -> HTMLResponse:
    """The kind's runner for a participant who arrived on ``platform`` (``arrival``); with a ``placement``
    ticket (`place_and_run`) the page is placed after consent, and ``arrival.link`` is only where it
    would be placed now (its study and kind)."""
    study, kind = await link_page(request, arrival.link, arrival.assignment_id)
    finish = platform.finish(request.query_params, own_origin(request))
    r = getattr(request.app.state, "redis", None)
    if platform.codes_at_completion and placement is None and r is not None and arrival.link \
            and is_id(arrival.assignment_id):
        # The completion URL holds the platform's code: built and sent only at POST /api/complete.
        await r.execute_command("HSET", keys.link_platforms(arrival.link), arrival.assignment_id, platform.name)
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
        "reasons": worker_sentences(platform.words),
        "reason_fallback": FALLBACK_SENTENCE,
        "words": platform.words,
        "kind": kind.name,
        "kind_module": kind.page_module,
        "study": study,
        "placement": placement,
    }
    return gzipped(request, templates.TemplateResponse(
        request, kind.page_template,
        {"config": config, "video_css_px": VIDEO_CSS_PX, "study": study, "words": platform.words},
        headers=security_headers(runner_csp(request)),
    ))


def gzipped(request: Request, response: HTMLResponse) -> HTMLResponse:
    """``response`` with its body gzip-compressed (``GZIP_LEVEL``) for a client that accepts gzip. A
    page carries its own nonce and config, so it is compressed per request: the MVT runner page
    leaves as 3,789 bytes instead of 10,218, for 41 us of CPU (min of 10 x 300, 2026-12-06, load 6-8)."""
    if accepts_gzip(request.headers.get("accept-encoding")) and len(response.body) >= GZIP_MIN_BYTES:
        response.body = gzip.compress(response.body, compresslevel=GZIP_LEVEL, mtime=0)
        response.headers["content-length"] = str(len(response.body))
        response.headers["content-encoding"] = "gzip"
    response.headers["vary"] = "Accept-Encoding"
    return response


async def place_and_run(request: Request, platform: Platform, arrival: Arrival, experiment: str) -> HTMLResponse:
    """The runner page of a participant who arrived without a link, allocating nothing:
    `kernel.placement.candidate` says where they would be placed (or why not: a page that says so),
    and the page places them only after consent, with the signed ticket its config carries
    (``POST /api/assignments`` ``placement``). A participant who declines or is screened out holds
    nothing (a participant back under a new id who would resume an earlier list is noted,
    `kernel.placement.note_resumed`). The question is charged to the client like an eligibility check."""
    settings = request.app.state.settings
    r, client = request.app.state.redis, limits.client_ip(request.scope)
    try:
        await limits.admit_eligibility(r, settings, client, arrival.worker_id, now_ms())
    except RateLimited as exc:
        title = loaded_study.title_of(await experiment_study(request, experiment))
        response = error_page(request, 429, "Too many requests",
                              f"{worker_sentences(platform.words)['rate_limited']} ({exc})", title)
        response.headers.update(exc.headers)
        return response
    try:
        found = await candidate(r, settings, experiment, arrival.worker_id, arrival.assignment_id)
    except MVTError as exc:
        sentence = worker_sentences(platform.words).get(exc.reason, FALLBACK_SENTENCE)
        title = loaded_study.title_of(await experiment_study(request, experiment))
        return error_page(request, 409, f"Please return this {platform.words['task']}",
                          turned_away(sentence, platform.words), title)
    if found.assignment_id != arrival.assignment_id:  # back under a new id: review matches it to its task
        await note_resumed(r, arrival.assignment_id, found.assignment_id)
    ticket = make_placement(settings.signing_key, experiment, platform.name, arrival.worker_id, found.assignment_id)
    arrival = Arrival(found.link_id, arrival.worker_id, found.assignment_id, arrival.hit_id)
    return await runner_page(request, platform, arrival, placement=ticket)


PAGES = SimpleNamespace(
    templates=templates, security_headers=security_headers, runner_csp=runner_csp, own_origin=own_origin,
    error_page=error_page, experiment_study=experiment_study, link_title=link_title, preview_page=preview_page,
    runner_page=runner_page, place_and_run=place_and_run,
)
"""The page kit handed to each platform's `Platform.router`."""


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


def platform_routers() -> list[APIRouter]:
    """Every registered platform's routes (`Platform.router`), for `app.main.create_app`."""
    return [r for r in (platform.router(PAGES) for platform in PLATFORMS.values()) if r is not None]
