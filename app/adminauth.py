"""Sessions of the control room (``/admin/``): signed cookies, two roles, CSRF tokens.

Signing in with ``MVT_ADMIN_TOKEN`` gives the ``admin`` role, with ``MVT_VIEWER_TOKEN`` the
read-only ``viewer`` role. The session is a cookie ``role.session_id.expiry.signature``: HMAC-SHA256
under a key derived from the server secret *and* both tokens, so changing a token signs everyone
out, and nothing is stored server-side. The cookie is ``HttpOnly; Secure; SameSite=Strict`` with the
``__Host-`` prefix (no ``Domain``, ``Path=/``), so scripts cannot read it and other sites cannot send
it. Each action form carries a CSRF token, an HMAC of the session id under the same key
(the "signed double-submit" pattern: https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from kernel.settings import Settings

COOKIE = "__Host-mvt_admin"
ROLES = ("admin", "viewer")


@dataclass(frozen=True)
class Session:
    """A signed-in researcher: ``role`` (``admin`` acts, ``viewer`` only looks), session id, expiry (s)."""

    role: str
    session_id: str
    expires_s: int

    @property
    def can_act(self) -> bool:
        """Whether this session may change anything."""
        return self.role == "admin"

    @property
    def who(self) -> str:
        """How the activity log names this session."""
        return f"{self.role} {self.session_id[:8]}"


def _key(settings: Settings) -> bytes:
    tokens = b"|".join(t.get_secret_value().encode() if t is not None else b""
                       for t in (settings.admin_token, settings.viewer_token))
    return hmac.new(settings.signing_key, b"mvt admin session|" + tokens, hashlib.sha256).digest()


def _sign(settings: Settings, text: str) -> str:
    return hmac.new(_key(settings), text.encode(), hashlib.sha256).hexdigest()


def role_for_token(settings: Settings, token: str) -> str | None:
    """The role ``token`` signs in as (compared in constant time), or None."""
    given = token.encode()
    found = None
    for role, secret in (("admin", settings.admin_token), ("viewer", settings.viewer_token)):
        if secret is not None and hmac.compare_digest(given, secret.get_secret_value().encode()):
            found = role
    return found


def issue(settings: Settings, role: str, now_s: int | None = None) -> tuple[str, Session]:
    """A new session of ``role``: the cookie value and the `Session`."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    now_s = int(time.time()) if now_s is None else now_s
    session = Session(role, secrets.token_hex(16), now_s + settings.admin_session_hours * 3600)
    text = f"{session.role}.{session.session_id}.{session.expires_s}"
    return f"{text}.{_sign(settings, text)}", session


def read(settings: Settings, cookie: str | None, now_s: int | None = None) -> Session | None:
    """The session a cookie value proves, or None (missing, forged, expired or signed before a token changed)."""
    if not cookie or settings.admin_token is None:
        return None
    parts = cookie.split(".")
    if len(parts) != 4 or parts[0] not in ROLES or not parts[2].isdigit():
        return None
    text = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _sign(settings, text)):
        return None
    if int(parts[2]) <= (int(time.time()) if now_s is None else now_s):
        return None
    if parts[0] == "viewer" and settings.viewer_token is None:
        return None
    return Session(parts[0], parts[1], int(parts[2]))


def csrf_token(settings: Settings, session: Session) -> str:
    """The token every form of this session carries."""
    return _sign(settings, f"csrf|{session.session_id}")


def csrf_ok(settings: Settings, session: Session, token: str | None) -> bool:
    """Whether ``token`` is this session's CSRF token."""
    return bool(token) and hmac.compare_digest(token, csrf_token(settings, session))


def cookie_header(value: str, max_age_s: int) -> str:
    """The ``Set-Cookie`` value for a session (``max_age_s`` 0 removes it)."""
    return f"{COOKIE}={value}; Max-Age={max_age_s}; Path=/; Secure; HttpOnly; SameSite=Strict"
