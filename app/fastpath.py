"""The four hot routes served before FastAPI's routing, for throughput.

FastAPI's dependency injection and routing cost more CPU per request than the Redis work of
the hot routes. `HotPaths` answers well-formed requests to ``GET /api/eligibility`` and
``POST /api/assignments|responses|trial-start|complete`` itself, validating with the same models
(`app.validation`) and calling the same operations (`app.service`) as the FastAPI routes in
`app.routes.api`. Anything it does not accept as well-formed goes on to FastAPI unchanged, so
every error sentence and the OpenAPI schema come from one place. It runs ahead of FastAPI's own
middleware stack (`app.main.MvtApp`), whose wrappers cost the hot routes more than the hot path.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from pydantic import ValidationError
from redis.exceptions import RedisError

from app import service
from kernel.errors import MVTError
from kernel.ids import ID_CHARS, ID_RE
from kernel.limits import client_ip
from app.validation import AssignmentIn, CompleteIn, ResponseIn, TrialStartIn

_JSON = (b"content-type", b"application/json")
_ID = ID_CHARS.encode()
_USUAL_QUERY = re.compile(b"link=(%b)&worker_id=(%b)(?:&assignment_id=(%b))?" % (_ID, _ID, _ID))


def replay_body(body: bytes, receive):
    """An ASGI ``receive`` that yields the already-read ``body`` once, then defers to ``receive``."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


async def _send_json(send, status: int, payload, headers: dict | None = None, gzip_ok: bool = False) -> None:
    body, extra = payload if isinstance(payload, tuple) else service.encode_json(payload, gzip_ok)
    raw = [_JSON, (b"content-length", b"%d" % len(body)), *extra]
    if headers:
        raw.extend((k.lower().encode(), v.encode()) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class HotPaths:
    """Pure ASGI middleware: serve the hot routes directly, pass everything else to ``app``."""

    def __init__(self, app, state):
        self.app, self.state = app, state
        # path -> (model, handler, whether the answer may be gzip-compressed: only a task's list is long);
        # a handler's answer is a JSON-able payload or, already encoded, (body, extra headers)
        self.posts = {"/api/assignments": (AssignmentIn, self._assignment, True),
                      "/api/responses": (ResponseIn, self._response, False),
                      "/api/complete": (CompleteIn, self._complete, False),
                      "/api/trial-start": (TrialStartIn, self._trial_start, False)}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if method == "GET" and path == "/api/eligibility":
                query = self._eligibility_query(scope)
                if query is not None:
                    return await self._answer(send, self._eligibility(scope, *query))
            elif method == "POST" and path in self.posts:
                return await self._post(scope, receive, send, *self.posts[path])
        return await self.app(scope, receive, send)

    async def _answer(self, send, work, gzip_ok: bool = False) -> None:
        try:
            status, payload, headers = 200, *(await work)
        except MVTError as exc:
            status, payload, headers = exc.status_code, {"detail": str(exc), "reason": exc.reason}, getattr(exc, "headers", None)
        except RedisError:
            status, payload, headers = 503, service.UNAVAILABLE, service.RETRY_AFTER
        await _send_json(send, status, payload, headers, gzip_ok)

    @staticmethod
    def _eligibility_query(scope):
        usual = _USUAL_QUERY.fullmatch(scope["query_string"])
        if usual is not None:  # the landing page's own query: what the general parse below gives, in 0.6 of 4.4 us
            link, worker, assignment = usual.groups()
            return link.decode(), worker.decode(), assignment if assignment is None else assignment.decode()
        text = scope["query_string"].decode("latin-1")
        if "%" in text or "+" in text:
            pairs = parse_qsl(text, keep_blank_values=True)
        else:  # nothing to unquote: the pairs parse_qsl gives, at 0.6 against 2.5 us (timeit, 3 fields)
            pairs = [part.partition("=")[::2] for part in text.split("&") if part]
        query = dict(pairs)
        if len(query) != len(pairs):
            return None
        link, worker, assignment = query.get("link"), query.get("worker_id"), query.get("assignment_id")
        if link is None or worker is None or not ID_RE.fullmatch(link) or not ID_RE.fullmatch(worker):
            return None
        if assignment is not None and not ID_RE.fullmatch(assignment):
            return None
        return link, worker, assignment

    async def _eligibility(self, scope, link, worker, assignment):
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        return await service.eligibility_answer(self.state.redis, self.state.settings, link, worker, assignment, origin,
                                                client_ip(scope))

    async def _post(self, scope, receive, send, model, handler, compress):
        for name, value in scope["headers"]:
            if name == b"content-type" and not value.startswith(b"application/json"):
                return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            parsed = model.model_validate_json(body) if body else None
        except ValidationError:
            parsed = None
        if parsed is None:
            return await self.app(scope, replay_body(body, receive), send)
        gzip_ok = compress and service.accepts_gzip(
            next((v for k, v in scope["headers"] if k == b"accept-encoding"), None))
        return await self._answer(send, handler(parsed, scope, gzip_ok), gzip_ok)

    async def _assignment(self, body: AssignmentIn, scope, gzip_ok: bool):
        return await service.assignment_answer(self.state.redis, self.state.settings, body.link, body.worker_id,
                                               body.assignment_id, body.hit_id, client_ip(scope), gzip_ok,
                                               body.placement), None

    async def _response(self, body: ResponseIn, scope, gzip_ok: bool):
        user_agent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"user-agent"), None)
        return await service.record(self.state.redis, self.state.settings, body, user_agent), None

    async def _trial_start(self, body: TrialStartIn, scope, gzip_ok: bool):
        return await service.start_trial(self.state.redis, self.state.settings, body), None

    async def _complete(self, body: CompleteIn, scope, gzip_ok: bool):
        return await service.finish(self.state.redis, self.state.settings, body, client_ip(scope)), None
