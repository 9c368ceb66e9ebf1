"""Request dependencies: settings, Redis clients, the admin bearer check."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernel.errors import AdminDisabled, NotAuthorized
from kernel.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="MVT_ADMIN_TOKEN")


def get_settings(request: Request) -> Settings:
    """The app's `Settings`."""
    return request.app.state.settings


def get_redis(request: Request):
    """The app's ``redis.asyncio.Redis`` (hot paths)."""
    return request.app.state.redis


def get_sync_redis(request: Request):
    """The app's ``redis.Redis`` (admin routes, run in the thread pool)."""
    return request.app.state.sync_redis


def require_admin(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """Refuse unless ``Authorization: Bearer $MVT_ADMIN_TOKEN`` (compared in constant time)."""
    token = request.app.state.settings.admin_token
    if token is None:
        raise AdminDisabled("admin routes are disabled: set MVT_ADMIN_TOKEN (at least 16 characters) "
                            "and restart the server")
    if credentials is None:
        raise NotAuthorized("this route needs the header 'Authorization: Bearer <MVT_ADMIN_TOKEN>'")
    if not hmac.compare_digest(credentials.credentials.encode(), token.get_secret_value().encode()):
        raise NotAuthorized("the bearer token is not MVT_ADMIN_TOKEN")
