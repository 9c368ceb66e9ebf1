"""The control room: ``/admin/``, the researcher's live page on ``mvt serve``.

Sign-in with ``MVT_ADMIN_TOKEN`` (acts) or ``MVT_VIEWER_TOKEN`` (only looks) by a POSTed form gives
a session cookie (`app.adminauth`); attempts are counted per client address
(``MVT_ADMIN_SIGNIN_PER_MINUTE``). Every action is a POSTed form carrying the session's CSRF token,
is refused to viewers (403) and is recorded in the activity log (who, when, why). Pages are
rendered here; ``static/control/control.js`` refreshes the overview by polling ``/admin/overview``,
which answers 304 and no body when nothing it shows changed (`overview_etag`).
The bearer-token JSON routes (``app/routes/admin.py``) are unchanged.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from app import adminauth, control as figures, overview_cache
from platforms import PLATFORMS
from app.routes.pages import security_headers, templates
from kernel import admin, control, csvsafe, flags
from kernel.store import keys
from kernel.ids import ID_PATTERN

router = APIRouter(prefix="/admin", include_in_schema=False)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
REFRESH_MS = 3000
ACTIONS = ("block", "unblock", "replace", "flag", "unflag", "pause", "resume")
NEEDS_WHY = ("flag", "unflag")
"""Actions refused without a reason: a flag and its clearing are evidence kept with the worker."""
_ID = re.compile(ID_PATTERN)
WHY_MAX = 500


def control_time(ms) -> str:
    """A time in ms since the epoch as the page shows it: UTC, to the second."""
    if not ms:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(ms) / 1000))


def link_grid(links) -> Markup:
    """The completion grid's cells, one per link (a Jinja loop took 7 ms for 1000 links, this 1)."""
    out = []
    for c in links:
        extra = f", {c.to_replace} to replace" if c.to_replace else ""
        name = escape(c.link_id)
        out.append(f'<span role="listitem" class="cell g{int(round(c.share_done * 4))}'
                   f'{" replace" if c.to_replace else ""}" title="{name}: {c.done} of {c.n_lists} done, '
                   f'{c.in_progress} in progress, {c.free} free{extra}" aria-label="{name}: {c.done} of '
                   f'{c.n_lists} done"></span>')
    return Markup("".join(out))


templates.env.filters["control_time"] = control_time
templates.env.filters["link_grid"] = link_grid


def _headers() -> dict[str, str]:
    return {**security_headers(CSP), "X-Frame-Options": "DENY"}


def _page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(_headers())
    return response


def _message(request: Request, status: int, title: str, sentence: str) -> HTMLResponse:
    return _page(request, "control_message.html", status, title=title, sentence=sentence)


def _session(request: Request) -> adminauth.Session | None:
    return adminauth.read(request.app.state.settings, request.cookies.get(adminauth.COOKIE))


def _disabled(request: Request) -> HTMLResponse | None:
    if request.app.state.settings.admin_token is None:
        return _message(request, 403, "Control room disabled",
                        "The control room is disabled: set MVT_ADMIN_TOKEN (at least 16 characters) and restart "
                        "the server.")
    return None


_OVERVIEW_LOCK = threading.Lock()
_SECTIONS_LOCK = threading.Lock()
RECHECK_S = 1.0
"""How often a process whose copy is due looks for a newer shared overview (the head of its JSON; all
of it only when it is newer)."""


def _overview(request: Request) -> overview_cache.Shared:
    """The overview every dashboard shares (`app.overview_cache`): this process's copy while it stands,
    else the shared one, else (no fresh shared copy, as without a publisher) one this process computes
    and shares, unless another is computing it. One request of this process looks at a time; the
    others get the copy it has meanwhile, and only the very first waits."""
    state = request.app.state
    r = state.sync_redis
    cached = getattr(state, "control_overview", None)  # (next look, monotonic; Shared)
    if cached is not None and time.monotonic() < cached[0]:
        return cached[1]
    if not _OVERVIEW_LOCK.acquire(blocking=cached is None):
        return cached[1]
    try:
        cached = getattr(state, "control_overview", None)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        mine = cached[1] if cached is not None else None
        # the copy this process has, or a newer one saying the same: keep its objects (and rendered section)
        shared = overview_cache.same_figures(mine, overview_cache.shared_head(r)) or overview_cache.read(r)
        if shared is None or shared.overdue(overview_cache.GRACE_S):
            shared = (overview_cache.compute_and_share(r, state.settings.allotted_minutes) or shared
                      or overview_cache.compute(r, state.settings.allotted_minutes))
        due = shared.interval_s - shared.age_s()
        state.control_overview = (time.monotonic() + max(due, RECHECK_S), shared)
        return shared
    finally:
        _OVERVIEW_LOCK.release()


CSRF_SLOT = "{csrf:slot}"
"""Stands for the session's CSRF token in a cached experiments section (no id, and nothing Jinja
escapes, holds ``{`` or ``:``)."""


def _experiments_html(request: Request, session: adminauth.Session, csrf: str,
                      shared: overview_cache.Shared) -> Markup:
    """The experiments section of ``shared``, rendered once per overview, role and bonus amounts and shared
    by every dashboard (its 1000-link grid is most of a poll's rendering), with this session's CSRF token put in."""
    experiments = shared.experiments
    amounts, amounts_error = figures.BonusAmounts.from_query(request.query_params)
    state = request.app.state
    key = (session.can_act, amounts, amounts_error)
    with _SECTIONS_LOCK:  # dashboards polling together render a new overview once, not once each
        cache = getattr(state, "control_sections", None)
        if cache is None or cache[0] is not experiments:
            cache = (experiments, {})
            state.control_sections = cache
        html = cache[1].get(key)
        if html is None:
            if len(cache[1]) > 16:  # bonus amounts tried one after another: keep the latest few
                cache[1].clear()
            html = templates.env.get_template("_control_experiments.html").render(
                experiments=experiments, session=session, csrf=CSRF_SLOT, amounts=amounts,
                amounts_error=amounts_error,
                typed={name: request.query_params.get(name, "")[:20] for name in ("per_hit", "top50", "top10")})
            cache[1][key] = html
    return Markup(html.replace(CSRF_SLOT, csrf))


def _forget_overview(request: Request) -> None:
    request.app.state.control_overview = None
    overview_cache.forget(request.app.state.sync_redis)


def _context(request: Request, session: adminauth.Session) -> dict:
    return {"session": session, "csrf": adminauth.csrf_token(request.app.state.settings, session),
            "refresh_ms": REFRESH_MS, "now_text": control_time(time.time() * 1000)}


def _overview_context(request: Request, session: adminauth.Session) -> dict:
    """What the overview section shows: the experiments (cached, `_experiments_html`), blocked
    workers, standing flags, the platforms' operations and the activity log."""
    r = request.app.state.sync_redis
    context = _context(request, session)
    shared = _overview(request)
    return {**context, "experiments_html": _experiments_html(request, session, context["csrf"], shared),
            "shared": shared, "computed_text": control_time(shared.at_ms),
            "blocked": admin.blocked_workers(r), "log": control.activity(r), "flags": figures.standing_flags(r),
            "flags_shown": figures.FLAGS_SHOWN, "platforms": _offered()}


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@router.get("", include_in_schema=False)
def admin_root() -> RedirectResponse:
    """``/admin`` → ``/admin/``."""
    return RedirectResponse("/admin/", status_code=308)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request):
    """The sign-in form, or (signed in) the experiments, the blocked workers and the activity log."""
    if (refused := _disabled(request)) is not None:
        return refused
    session = _session(request)
    if session is None:
        return _page(request, "control_signin.html", viewer=request.app.state.settings.viewer_token is not None)
    context = _overview_context(request, session)
    return _page(request, "control.html", **context, etag=overview_etag(request, context))


def _offered() -> list:
    """The registered platforms that offer operations on the page."""
    return [p for p in PLATFORMS.values() if p.page_operations]


_TEMPLATES = hashlib.blake2b(b"".join(
    templates.env.loader.get_source(templates.env, name)[0].encode()
    for name in ("_control_overview.html", "_control_experiments.html", "_control_macros.html"))).hexdigest()
"""The fragment's templates, in every ETag: a server restarted with other templates sends its own rendering."""


def overview_etag(request: Request, context: dict) -> str:
    """The ETag of ``/admin/overview``'s fragment: a hash of what it is rendered from (the shared overview's
    figures, not the time it was computed; the session's role and CSRF token; the page's query; the
    blocked workers, activity log and flags), so that a poll whose page shows all of it already gets 304
    and no body. A poll of 1000 links sent 144 KB and cost the serving process ~2 ms of CPU; most polls
    of a running study change nothing on the page (its figures change when workers arrive or finish)."""
    shared = context["shared"]
    parts = (_TEMPLATES, shared.digest or shared.at_ms, context["session"].can_act, context["csrf"],
             request.url.query, context["blocked"], context["log"], context["flags"])
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest() + '"'


@router.get("/overview", response_class=HTMLResponse)
def overview_fragment(request: Request):
    """The experiments section alone, for the page's live refresh; 304 when the page's copy is current
    (``If-None-Match``: `overview_etag`)."""
    session = _session(request)
    if session is None:
        return _message(request, 401, "Signed out", "Your session has ended; sign in again.")
    overview_cache.mark_watched(request.app.state.sync_redis)
    context = _overview_context(request, session)
    etag = overview_etag(request, context)
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={**_headers(), "ETag": etag})
    response = _page(request, "_control_overview.html", **context, etag=etag)
    response.headers["ETag"] = etag
    return response


@router.get("/flags.csv")
def flags_csv(request: Request):
    """Every standing flag as CSV (`app.control.FLAG_COLUMNS`), cells made safe for spreadsheets."""
    import io

    if _session(request) is None:
        return _message(request, 401, "Signed out", "Your session has ended; sign in again.")
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(figures.FLAG_COLUMNS)
    writer.writerows(f.csv_row() for f in figures.standing_flags(request.app.state.sync_redis))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={**_headers(), "Content-Disposition": 'attachment; filename="flags.csv"'})


@router.get("/status.json")
def status_json(request: Request):
    """The overview as JSON (``mvt status`` prints the same figures)."""
    if _session(request) is None:
        return JSONResponse({"detail": "sign in at /admin/ first", "reason": "not_authorized"}, 401,
                            headers=_headers())
    shared = _overview(request)
    return JSONResponse({"computed_at_ms": shared.at_ms, "experiments": [e.as_json() for e in shared.experiments]},
                        headers=_headers())


@router.post("/signin")
async def signin(request: Request):
    """Check the token of the form; on success set the session cookie and go to ``/admin/``."""
    if (refused := _disabled(request)) is not None:
        return refused
    settings, r = request.app.state.settings, request.app.state.sync_redis
    client = request.client.host if request.client else "unknown"
    if not await run_in_threadpool(control.signin_allowed, r, client, settings.admin_signin_per_minute):
        response = _page(request, "control_signin.html", 429, viewer=settings.viewer_token is not None,
                         error="Too many sign-in attempts from your address; wait a minute and try again.")
        response.headers["Retry-After"] = str(control.SIGNIN_WINDOW_S)
        return response
    form = await _form(request)
    role = adminauth.role_for_token(settings, form.get("token", ""))
    if role is None:
        return _page(request, "control_signin.html", 401, viewer=settings.viewer_token is not None,
                     error="That token is neither MVT_ADMIN_TOKEN nor MVT_VIEWER_TOKEN.")
    cookie, session = adminauth.issue(settings, role)
    response = RedirectResponse("/admin/", status_code=303)
    response.headers["Set-Cookie"] = adminauth.cookie_header(cookie, settings.admin_session_hours * 3600)
    return response


def _checked(request: Request, form: dict, act: bool = True) -> tuple[adminauth.Session | None, Response | None]:
    """The session of a POSTed form, or the refusal: 401 signed out, 403 bad CSRF token, 403 viewer."""
    session = _session(request)
    if session is None:
        return None, _message(request, 401, "Signed out", "Your session has ended; sign in again.")
    if not adminauth.csrf_ok(request.app.state.settings, session, form.get("csrf")):
        return None, _message(request, 403, "Refused", "The form's CSRF token is missing or is not this session's; "
                                                       "reload the page and try again.")
    if act and not session.can_act:
        return None, _message(request, 403, "Read-only", "You are signed in as a viewer: you can look but not act.")
    return session, None


@router.post("/signout")
async def signout(request: Request):
    """End the session (the cookie is removed)."""
    session, refused = _checked(request, await _form(request), act=False)
    if refused is not None:
        return refused
    response = RedirectResponse("/admin/", status_code=303)
    response.headers["Set-Cookie"] = adminauth.cookie_header("", 0)
    return response


def _ids(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def _act(request: Request, session: adminauth.Session, action: str, form: dict) -> tuple[int, str]:
    """Do ``action``; the HTTP status and the sentence saying what happened (also logged)."""
    r = request.app.state.sync_redis
    why = form.get("why", "").strip()[:WHY_MAX]
    field = {"replace": "assignment_id", "pause": "experiment", "resume": "experiment"}.get(action, "worker_id")
    ids = _ids(form.get(field, ""))
    if not ids or len(ids) > 100 or not all(_ID.fullmatch(i) for i in ids):
        return 422, (f"{field} must be 1 to 100 ids of letters, digits, '_' and '-' "
                     f"(got {form.get(field, '')[:60]!r})")
    if action in NEEDS_WHY and not why:
        return 422, f"say why you {action} {', '.join(ids)}: the reason is kept with the flag (the why field is empty)"
    if action == "flag":
        for worker_id in ids:
            flags.flag_by_hand(r, worker_id, why, session.who)
        done = f"flagged {', '.join(ids)}"
    elif action == "unflag":
        cleared = [w for w in ids if r.hexists(keys.worker_flags(), w)]
        for worker_id in cleared:
            flags.clear_flag(r, worker_id, why)
        if not cleared:
            return 404, f"{', '.join(ids)} {'has' if len(ids) == 1 else 'have'} no standing flag; nothing was cleared"
        ids = cleared
        done = f"cleared the flag of {', '.join(cleared)}"
    elif action == "block":
        admin.block_workers(r, ids)
        done = f"blocked {', '.join(ids)}"
    elif action == "unblock":
        admin.unblock_workers(r, ids)
        done = f"unblocked {', '.join(ids)}"
    elif action == "replace":
        marked = admin.mark_for_replacement(r, ids)
        rest = [i for i in ids if i not in marked]
        done = (f"marked {', '.join(marked)} for replacement" if marked else "marked nothing") + (
            f"; not marked (unknown, already marked or taken over): {', '.join(rest)}" if rest else "")
    else:
        links = [link for e in ids for link in figures.experiment_links(r, e)]
        if not links:
            return 404, f"no loaded experiment is called {', '.join(ids)}"
        control.set_paused(r, links, action == "pause")
        done = (f"paused new arrivals of {', '.join(ids)}" if action == "pause"
                else f"reopened new arrivals of {', '.join(ids)}")
    control.log_action(r, session.who, action, " ".join(ids), why)
    _forget_overview(request)
    return 200, done


@router.post("/actions/{action}")
async def act(request: Request, action: str):
    """One of `ACTIONS` from a form (``worker_id``, ``assignment_id`` or ``experiment``; ``why``; ``csrf``);
    back to the page it came from (``back``, a path under ``/admin/``)."""
    form = await _form(request)
    session, refused = _checked(request, form)
    if refused is not None:
        return refused
    if action not in ACTIONS:
        return _message(request, 404, "Unknown action", f"there is no action {action[:40]!r}; "
                                                        f"the actions are {', '.join(ACTIONS)}")
    status, sentence = await run_in_threadpool(_act, request, session, action, form)
    if status != 200:
        return _message(request, status, "Not done", sentence)
    back = form.get("back", "/admin/")
    if not back.startswith("/admin/") or "//" in back or "\\" in back:
        back = "/admin/"
    return RedirectResponse(back, status_code=303)


@router.get("/workers/")
def find_worker(request: Request, id: str = ""):  # noqa: A002 - the search form's field
    """The search form's target: on to the worker's page."""
    from urllib.parse import quote

    return RedirectResponse(f"/admin/workers/{quote(id.strip()[:100], safe='')}", status_code=303)


@router.get("/workers/{worker_id}", response_class=HTMLResponse)
def worker_page(request: Request, worker_id: str):
    """One worker: blocked or not, their assignments with every recorded trial, the actions on them."""
    if (refused := _disabled(request)) is not None:
        return refused
    session = _session(request)
    if session is None:
        return RedirectResponse("/admin/", status_code=303)
    if not _ID.fullmatch(worker_id):
        return _message(request, 404, "No such worker", f"{worker_id[:80]!r} is not a worker id (letters, digits, "
                                                        "'_' and '-')")
    r = request.app.state.sync_redis
    blocked, assignments = figures.worker_view(r, worker_id)
    log = [e for e in control.activity(r, control.LOG_LENGTH) if worker_id in e["target"].split()
           or any(a.assignment_id in e["target"].split() for a in assignments)]
    flag = next((f for f in figures.standing_flags(r) if f.worker_id == worker_id), None)
    return _page(request, "control_worker.html", worker_id=worker_id, blocked=blocked, assignments=assignments, flag=flag,
                 log=log, platform_lines=figures.worker_platform_lines(r, worker_id), **_context(request, session))


PLAN_LABEL = {"planned": "would", "succeeded": "done", "skipped": "skip", "failed": "FAILED", "held": "HOLD"}
"""How a plan's outcomes are labelled (as ``mvt mturk …`` prints them, `platforms.cli.LABEL`)."""


def _operation(request: Request, platform: str, operation: str):
    """The registered platform offering ``operation`` on the page, or the refusal (404)."""
    found = PLATFORMS.get(platform)
    if found is None or operation not in found.page_operations:
        offered = ", ".join(f"{p.name} {op}" for p in PLATFORMS.values() for op in p.page_operations) or "none"
        return None, _message(request, 404, "No such operation", f"no platform offers {platform[:30]!r} "
                                                                 f"{operation[:30]!r} here (offered: {offered})")
    return found, None


def _plan(request: Request, platform, operation: str, options: dict, commit: bool):
    """The operation's report, or (None, the sentence of the platform's refusal)."""
    from kernel.errors import MVTError

    try:
        return platform.page_operation(request.app.state.sync_redis, request.app.state.settings, operation, options,
                                       commit=commit), None
    except (MVTError, ValueError) as exc:
        return None, str(exc)


def _plan_page(request: Request, session, platform, operation: str, options: dict, report, status: int = 200,
               done: bool = False) -> HTMLResponse:
    return _page(request, "control_plan.html", status, platform=platform, operation=operation, options=options,
                 fields=platform.page_options.get(operation, ()), report=report, labels=PLAN_LABEL, done=done,
                 stale=status == 409, digest=report.digest(), **_context(request, session))


@router.get("/plans/{platform}/{operation}", response_class=HTMLResponse)
async def plan_page(request: Request, platform: str, operation: str):
    """The dry run of a platform operation (what ``mvt <platform> <operation>`` would print), and for an
    admin the form that commits exactly that plan after confirmation."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/admin/", status_code=303)
    found, refused = _operation(request, platform, operation)
    if refused is not None:
        return refused
    options = {name: request.query_params.get(name, default)[:40] for name, _, default in found.page_options.get(operation, ())}
    report, error = await run_in_threadpool(_plan, request, found, operation, options, False)
    if report is None:
        return _message(request, 422, "Not planned", error)
    return _plan_page(request, session, found, operation, options, report)


@router.post("/plans/{platform}/{operation}", response_class=HTMLResponse)
async def commit_plan(request: Request, platform: str, operation: str):
    """Do the confirmed plan: refused without ``confirm``, and when the plan changed since the page
    showed it (``digest``); then through the platform's ledger, so nothing is done twice; logged."""
    form = await _form(request)
    session, refused = _checked(request, form)
    if refused is not None:
        return refused
    found, refused = _operation(request, platform, operation)
    if refused is not None:
        return refused
    options = {name: form.get(name, default)[:40] for name, _, default in found.page_options.get(operation, ())}
    if form.get("confirm") != "yes":
        return _message(request, 422, "Not done", "tick the confirmation box: nothing is done on the platform "
                                                  "without it")
    plan, error = await run_in_threadpool(_plan, request, found, operation, options, False)
    if plan is None:
        return _message(request, 422, "Not done", error)
    if plan.digest() != form.get("digest"):
        return _plan_page(request, session, found, operation, options, plan, 409)
    report, error = await run_in_threadpool(_plan, request, found, operation, options, True)
    if report is None:
        return _message(request, 422, "Not done", error)
    done = len(report.having("succeeded"))
    control.log_action(request.app.state.sync_redis, session.who, f"{platform} {operation}", report.environment,
                       f"{done} done, {len(report.having('failed'))} failed"
                       + (f", {report.total('succeeded')} paid" if report.total("succeeded") else ""))
    return _plan_page(request, session, found, operation, options, report, done=True)
