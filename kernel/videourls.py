"""Per-assignment, expiring video URLs: ``/videos/<video_id>.mp4?a=<assignment>&e=<expiry>&s=<signature>``.

The signature is an HMAC (the server's signing key, as for assignment tokens) of the video id,
the assignment id and the expiry, so a URL works only as issued: for another assignment, a later
expiry or another video it is refused (403). The opaque video id stays the last path segment and
the signature rides in the query, the shape CDN URL signing uses. A URL expires after the
allotted time (``MVT_ALLOTTED_MINUTES``); a reload of the task gets fresh ones.
"""

from __future__ import annotations

import base64
import hmac
import time

from kernel.errors import BadVideoLink
from kernel.tokens import hmac_sha256


def _signature(key: bytes, video_id: str, assignment_id: str, expiry_s: int) -> str:
    digest = hmac_sha256(key, f"video|{video_id}|{assignment_id}|{expiry_s}".encode())
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signed_query(key: bytes, video_id: str, assignment_id: str, expiry_s: int) -> str:
    """The query string (without ``?``) that lets ``assignment_id`` fetch ``video_id`` until ``expiry_s``."""
    return f"a={assignment_id}&e={expiry_s}&s={_signature(key, video_id, assignment_id, expiry_s)}"


def check(key: bytes, video_id: str, query: dict, now_s: float | None = None) -> str:
    """The assignment id a video URL's ``query`` was signed for; raises `BadVideoLink` when it is
    missing, signed for something else, or expired."""
    assignment_id, expiry, signature = query.get("a"), query.get("e"), query.get("s")
    if not (assignment_id and expiry and signature and expiry.isdigit()):
        raise BadVideoLink("this video link is incomplete: videos are fetched only through the task page")
    expected = _signature(key, video_id, assignment_id, int(expiry))
    if not hmac.compare_digest(expected, signature):
        raise BadVideoLink("this video link was not issued for this task; reload the task page")
    if int(expiry) < (time.time() if now_s is None else now_s):
        raise BadVideoLink("this video link has expired; reload the task page to continue")
    return assignment_id
