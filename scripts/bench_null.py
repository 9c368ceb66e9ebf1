"""The server `scripts/bench_server` measures: ``mvt serve`` of a checkout, with a null route in front.

Run as ``CHECKOUT/.venv/bin/python scripts/bench_null.py serve …`` with ``PYTHONPATH=CHECKOUT``:
the checkout's own ``mvt serve`` (its settings, uvicorn configuration, TLS and protocol), whose
app is wrapped by `NullFloor`. ``GET /bench/null`` then answers a cached 2 KB body on the same
server, processes and TLS as the routes measured, so its CPU per request is the floor of the stack
(what no route can go below); the route exists only in this bench's app construction, never in
``mvt serve``. Works on any checkout that has ``app.serve.GuardedConfig`` (main at dd32cc8 on).
"""

from __future__ import annotations

import sys

import app.serve as serve

NULL_PATH = "/bench/null"
NULL_BODY = b'{"null":"' + b"x" * 2036 + b'"}'
_NULL_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(NULL_BODY))]


class NullFloor:
    """ASGI wrapper: ``GET /bench/null`` answers `NULL_BODY`, everything else goes to ``app``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == NULL_PATH:
            await send({"type": "http.response.start", "status": 200, "headers": _NULL_HEADERS})
            await send({"type": "http.response.body", "body": NULL_BODY})
            return
        await self.app(scope, receive, send)

    def __getattr__(self, name):  # uvicorn reads the wrapped app's lifespan through its own wrappers
        return getattr(self.app, name)


def factory():
    """The checkout's ``app_from_environment()`` behind `NullFloor`."""
    from app.main import app_from_environment

    return NullFloor(app_from_environment())


class Config(serve.GuardedConfig):
    """The checkout's server configuration with `factory` as the app (picklable: module level, as
    uvicorn's worker processes receive it)."""

    def __init__(self, app, **kwargs):
        super().__init__("bench_null:factory", **kwargs)


def main() -> None:
    """``mvt`` with the server's app string pointed at `factory`."""
    from cli import main as mvt

    serve.GuardedConfig = Config
    sys.argv = ["mvt", *sys.argv[1:]]
    mvt()


if __name__ == "__main__":
    main()
