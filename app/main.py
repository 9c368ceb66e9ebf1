"""The FastAPI application: ``create_app(settings)``, its error translation and body limit."""

from __future__ import annotations

import contextlib
import gc
import logging

import redis as redis_py
import redis.asyncio as aredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import eventlog, service
from app.assets import STATIC_DIR, PrecompressedStatic
from kernel.errors import MVTError, RedisUnavailable
from app.fastpath import HotPaths, replay_body
from kernel.store.connect import client_from_url, redact, upgrade_legacy_keys
from kernel.store.fastredis import connect as connect_fast
from kernel import quality
from kernel.admin import copy_blocks
from kernel.store.scripts import scripts_for
from app.routes import admin as admin_routes
from app.routes import api, control as control_routes, pages
from app.routes.api import json_response
from kernel.plugins import load_plugins
from kernel.settings import Settings

log = logging.getLogger("mvt")
REDIS_POOL_SIZE = 64


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (declared length or counted while streaming)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    return await self._refuse(send)
                break
        else:
            if scope["method"] in ("GET", "HEAD", "OPTIONS"):
                return await self.app(scope, receive, send)
        # Streamed (chunked) body: read it whole, up to the limit, then replay it to the app.
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                return await self._refuse(send)
            more = message.get("more_body", False)
        await self.app(scope, replay_body(b"".join(chunks), receive), send)

    async def _refuse(self, send):
        body = (b'{"detail":"the request body is larger than the limit of %d bytes (MVT_MAX_BODY_BYTES)",'
                b'"reason":"too_large"}' % self.max_bytes)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def validation_sentence(errors) -> str:
    """One sentence for pydantic/FastAPI validation errors, naming the field and the problem."""
    if not errors:
        return "the request is invalid"
    first = errors[0]
    loc = [str(x) for x in first.get("loc", ())]
    where, field = (loc[0] if loc else "request"), ".".join(loc[1:])
    kind = first.get("type", "")
    if kind == "json_invalid":
        sentence = "the request body is not valid JSON"
    elif where == "body" and not field and kind == "missing":
        sentence = "the request body is missing: send a JSON object"
    elif where == "body" and not field:
        sentence = "the request body must be a JSON object"
    else:
        what = "query parameter" if where == "query" else f"{where} field"
        sentence = f"{what} {field!r}: {first.get('msg', 'is invalid')}"
        if kind != "missing" and "input" in first and isinstance(first["input"], (str, int, float, bool)):
            sentence += f" (got {str(first['input'])[:60]!r})"
    if len(errors) > 1:
        sentence += f"; and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}"
    return sentence


def _async_client_like(client: redis_py.Redis) -> aredis.Redis:
    kwargs = dict(client.connection_pool.connection_kwargs)
    classes = {redis_py.UnixDomainSocketConnection: aredis.UnixDomainSocketConnection,
               redis_py.SSLConnection: aredis.SSLConnection}
    cls = classes.get(client.connection_pool.connection_class, aredis.Connection)
    kwargs = {k: v for k, v in kwargs.items() if k not in ("retry", "redis_connect_func")}
    pool = aredis.BlockingConnectionPool(connection_class=cls, max_connections=REDIS_POOL_SIZE, timeout=20, **kwargs)
    return aredis.Redis(connection_pool=pool)


class MvtApp(FastAPI):
    """FastAPI behind `front`: the body limit and the hot routes (`app.fastpath`) see each HTTP request
    before FastAPI's own middleware stack (its error and telemetry wrappers, which read the environment
    on every request) and pass everything else to it.

    As user middleware, inside that stack, the same two cost eligibility 32.5 % of its server CPU in
    FastAPI's wrappers against 25.7 % in the hot path itself (py-spy under wrk, 2026-12-06, load 10).
    An exception escaping them is answered 500 by uvicorn (as FastAPI's ServerErrorMiddleware would);
    the hot paths turn every refusal and Redis failure into its answer themselves.
    """

    front = None
    """The ASGI app HTTP requests go to first; None: FastAPI's own."""

    async def __call__(self, scope, receive, send):
        if self.front is not None and scope["type"] == "http":
            return await self.front(scope, receive, send)
        return await super().__call__(scope, receive, send)

    async def behind_front(self, scope, receive, send):
        """FastAPI's own handling, where `front` passes what it does not answer."""
        return await super().__call__(scope, receive, send)


def create_app(settings: Settings, redis: redis_py.Redis | None = None, *, hot_paths: bool = True) -> FastAPI:
    """The mvt-server ASGI app for ``settings``; ``redis`` (sync) instead of ``MVT_REDIS_URL`` if given.

    ``hot_paths=False`` leaves every request to FastAPI's routes (`app.fastpath` explains why not).
    """
    if redis is None and not settings.redis_url:
        raise MVTError("the server needs MVT_REDIS_URL (or `mvt serve`, which starts the embedded Redis)")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if redis is not None:
            app.state.sync_redis, app.state.redis = redis, _async_client_like(redis)
        else:
            try:
                app.state.sync_redis = client_from_url(settings.redis_url, timeout_s=settings.redis_timeout_s)
                upgrade_legacy_keys(app.state.sync_redis)
                copy_blocks(app.state.sync_redis)  # blocks set before they were copied to the links
                app.state.redis = await connect_fast(settings.redis_url, settings.redis_timeout_s,
                                                     settings.redis_wait_replicas)
            except redis_py.RedisError as exc:
                raise RedisUnavailable(f"cannot reach Redis at {redact(settings.redis_url)}: {exc}") from None
        settings.signing_key  # noqa: B018 - create the key file now, not inside a request
        scripts_for(app.state.redis)
        scripts_for(app.state.sync_redis)
        quality.warm()  # ua-parser's rules, loaded now rather than in a worker's first answer
        # Keep start-up objects out of garbage collection: full collections then stay short,
        # which keeps the tail latency of busy servers low.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.redis.aclose()
            if redis is None:
                app.state.sync_redis.close()

    # No public /docs or /openapi.json: they listed the admin routes to anyone. The schema is at
    # /admin/openapi.json, behind the admin token (app/routes/admin.py).
    app = MvtApp(title="mvt-server", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, description="Minimum Viewing Time experiments on Amazon Mechanical Turk.")
    app.state.settings = settings
    eventlog.configure(settings.log_format)
    app.state.video_dirs = None

    @app.exception_handler(MVTError)
    async def _domain_error(request: Request, exc: MVTError):
        return json_response({"detail": str(exc), "reason": exc.reason}, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return json_response({"detail": validation_sentence(exc.errors()), "reason": "invalid"}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8: the same 422 as any other body that is not JSON
            return json_response({"detail": "the request body is not valid JSON", "reason": "invalid"}, 422)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path[:100]}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path[:100]}"
        return json_response({"detail": detail, "reason": "http"}, exc.status_code, headers=exc.headers)

    @app.exception_handler(redis_py.RedisError)
    async def _redis_down(request: Request, exc: redis_py.RedisError):
        log.error("redis error: %s", exc)
        return json_response(service.UNAVAILABLE, 503, headers=service.RETRY_AFTER)

    app.include_router(api.router)
    app.include_router(admin_routes.router)
    app.include_router(control_routes.router)
    app.include_router(pages.router)
    for platform_router in pages.platform_routers():
        app.include_router(platform_router)
    # A kind's own browser files (a plug-in's) before the project's: /static/kinds/<name>/…
    for name, directory in pages.use_kind_assets().items():
        app.mount(f"/static/kinds/{name}", PrecompressedStatic(directory=directory), name=f"static-{name}")
    app.mount("/static", PrecompressedStatic(directory=STATIC_DIR, check_dir=False), name="static")
    app.front = BodyLimit(HotPaths(app.behind_front, app.state) if hot_paths else app.behind_front,
                          max_bytes=settings.max_body_bytes)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (``mvt serve --workers N``): settings and plug-ins
    (``MVT_PLUGINS``, `kernel.plugins`) from the environment."""
    load_plugins()
    return create_app(Settings())
