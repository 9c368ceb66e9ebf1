"""Expiring video URLs, in two forms that the server's ``/videos/`` route both accepts.

- An assignment's trials (since 0.2.0): ``/videos/<video_id>.mp4?a=<assignment>&l=<link>&e=<expiry>&k=<signature>``.
  One signature per assignment: an HMAC (the server's signing key, as for assignment tokens) of the
  assignment id, its link and the expiry, so an answer signs once instead of once per trial. The
  route checks it, then asks the assignment's own record (`allowed_video`, one Lua script on the
  link's slot) whether the video is in the assignment's list and the assignment still holds it, so a
  URL works only as issued: for another assignment, another link, a later expiry, a video outside the
  list, or once the assignment was replaced or expired, it is refused (403).
- Per video: ``/videos/<video_id>.mp4?a=<assignment>&e=<expiry>&s=<signature>`` (the only form before
  0.2.0): an HMAC of the video id, the assignment id and the expiry. Used for practice videos (signed for
  the page's assignment id, or ``preview`` before one exists: they are in no list, so this signature
  names the video itself) and, with ``MVT_VIDEO_BASE_URL``, for every stimulus, because a CDN can check
  it with the key alone, without the store.

The opaque video id stays the last path segment and the signature rides in the query, the shape CDN
URL signing uses. A URL expires after the allotted time (``MVT_ALLOTTED_MINUTES``); a reload of the
task gets fresh ones.
"""

from __future__ import annotations

import base64
import hmac
import time

from kernel.errors import BadVideoLink
from kernel.store import keys
from kernel.store.scripts import scripts_for
from kernel.tokens import hmac_sha256

_FOREIGN = "this video link was not issued for this task; reload the task page"


def _signature(key: bytes, video_id: str, assignment_id: str, expiry_s: int) -> str:
    digest = hmac_sha256(key, f"video|{video_id}|{assignment_id}|{expiry_s}".encode())
    return base64.urlsafe_b64encode(digest[:18]).decode()


def _list_signature(key: bytes, assignment_id: str, link_id: str, expiry_s: int) -> str:
    digest = hmac_sha256(key, f"videos|{assignment_id}|{link_id}|{expiry_s}".encode())
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signed_query(key: bytes, video_id: str, assignment_id: str, expiry_s: int) -> str:
    """The per-video query string (without ``?``) that lets ``assignment_id`` fetch ``video_id`` until ``expiry_s``."""
    return f"a={assignment_id}&e={expiry_s}&s={_signature(key, video_id, assignment_id, expiry_s)}"


def assignment_query(key: bytes, assignment_id: str, link_id: str, expiry_s: int) -> str:
    """The query string (without ``?``) that lets ``assignment_id`` fetch the videos of its list on
    ``link_id`` until ``expiry_s``: the same for every trial of the answer."""
    return f"a={assignment_id}&l={link_id}&e={expiry_s}&k={_list_signature(key, assignment_id, link_id, expiry_s)}"


def check(key: bytes, video_id: str, query, now_s: float | None = None) -> tuple[str, str | None]:
    """``(assignment id, link id)`` a video URL's ``query`` was signed for (link None for the per-video
    form, which names the video itself); raises `BadVideoLink` when it is missing, signed for something
    else, or expired. The per-assignment form still needs `allowed_video`."""
    assignment_id, expiry, link_id = query.get("a"), query.get("e"), query.get("l")
    signature = query.get("s") if link_id is None else query.get("k")
    if not (assignment_id and expiry and signature and expiry.isdigit()):
        raise BadVideoLink("this video link is incomplete: videos are fetched only through the task page")
    if link_id is None:
        expected = _signature(key, video_id, assignment_id, int(expiry))
    else:
        expected = _list_signature(key, assignment_id, link_id, int(expiry))
    if not hmac.compare_digest(expected, signature):
        raise BadVideoLink(_FOREIGN)
    if int(expiry) < (time.time() if now_s is None else now_s):
        raise BadVideoLink("this video link has expired; reload the task page to continue")
    return assignment_id, link_id


async def allowed_video(r, assignment_id: str, link_id: str, video_id: str) -> None:
    """Raise `BadVideoLink` unless ``assignment_id`` holds a list of ``link_id`` containing ``video_id``
    (one Lua script, ``video.lua``, on the link's slot: the record and the list in one round trip)."""
    outcome = await scripts_for(r).video(keys=[keys.link_assignments(link_id), keys.link_lists(link_id)],
                                         args=[assignment_id, video_id])
    outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
    if outcome in ("replaced", "expired"):
        raise BadVideoLink(f"this video link belonged to assignment {assignment_id}, which was {outcome}; "
                           "its videos can no longer be fetched")
    if outcome != "ok":
        raise BadVideoLink(_FOREIGN)
