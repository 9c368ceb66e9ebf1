"""The worker-facing operations, called by both the FastAPI routes and the hot paths.

`app.routes.api` (FastAPI, OpenAPI) and `app.fastpath` (the same routes served before
FastAPI's routing, for throughput) parse requests with the models of `app.validation`, then
call one function here each; every business rule and payload lives here once. The study
kind's `trials` shapes the trial payload (`studies`); the JSON encoding both paths answer with
(gzip for a task's list when the client accepts it) is here too.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import re
import struct
import time
import zlib

import orjson
from isal import isal_zlib

from app import eventlog
from kernel import limits, loaded_study, videourls
from kernel.assignments import Allocation, allocate, eligibility, now_ms
from kernel.control import count_event
from kernel.reasons import refusal
from kernel.errors import MVTError, RateLimited, UnknownLink
from kernel.responses import complete, record_failure, record_response, record_start
from kernel.settings import Settings
from kernel.store import keys
from kernel.placement import place
from kernel.tokens import TokenData, completion_code, make_token, read_placement, read_token
from app.validation import CompleteIn, FailureIn, ResponseIn, TrialStartIn
from platforms import PLATFORMS, Finished, preview_ids
from studies import get_kind

UNAVAILABLE = {"detail": "the database is unavailable right now; try again in a minute",
               "reason": "redis_unavailable"}
RETRY_AFTER = {"Retry-After": "1"}
"""Sent with `UNAVAILABLE`: a stalled or failing-over Redis is usually back within seconds."""

GZIP_MIN_BYTES = 1024
"""JSON answers at least this long are gzip-compressed for clients that accept it (an assignment's)."""


GZIP_LEVEL = 2
"""ISA-L level (0–3) of `encode_json`'s gzip. A 50-trial answer of 7.1 KB (random video ids, one
signature) took 10.1 µs at ISA-L level 2 for 1,066 bytes, 19.3 at level 1 (1,066 B), 6.7 at level 0
(1,640 B), against 114.8 µs at zlib's fastest level 1 (1,110 B) and 146.3 at its level 6 (1,090 B)
(min of 9 x 500 calls, 2026-12-06, load 6–10): every first visit of an assignment to a server
process builds and compresses its answer."""


def accepts_gzip(accept_encoding: str | bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``q=0`` refusals are taken at their word)."""
    if not accept_encoding:
        return False
    text = accept_encoding.decode("latin-1") if isinstance(accept_encoding, bytes) else accept_encoding
    for part in text.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def encode_json(payload, gzip_ok: bool) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The JSON body and its extra headers: gzip-compressed when allowed and long enough."""
    body = orjson.dumps(payload)
    if gzip_ok and len(body) >= GZIP_MIN_BYTES:
        # wbits 31: a gzip member (header with mtime 0, so the same answer gives the same bytes)
        return isal_zlib.compress(body, GZIP_LEVEL, wbits=31), [(b"content-encoding", b"gzip"),
                                                               (b"vary", b"Accept-Encoding")]
    return body, []



# Where MTurk shows the landing layout (worker site, sandbox, legacy sites, layout content domain).
MTURK_ORIGINS = frozenset({
    "https://worker.mturk.com", "https://workersandbox.mturk.com", "https://www.mturk.com",
    "https://www.mturkcontent.com",
})
# Design-Layout (HTMLQuestion) pages are served from MTurk's content domain; which host the
# sandbox uses is not documented, so any host of that domain (which only Amazon controls) is allowed.
_MTURK_CONTENT_ORIGIN = re.compile(r"https://([a-z0-9-]+\.)*mturkcontent\.com")


def cors_headers(origin: str | None) -> dict:
    """CORS headers for the eligibility answer: the origin echoed only for MTurk's sites."""
    if origin in MTURK_ORIGINS or (origin and _MTURK_CONTENT_ORIGIN.fullmatch(origin)):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


async def eligibility_answer(r, settings: Settings, link: str, worker_id: str, assignment_id: str | None,
                             origin: str | None, client: str | None = None) -> tuple[dict, dict]:
    """The JSON of `EligibilityOut` and its CORS headers.

    With a ``client`` address the question is charged to it (`kernel.limits`); raises `RateLimited`
    (carrying the CORS headers, so that MTurk's page can read the refusal).
    """
    now = now_ms()
    charge = None if client is None else limits.eligibility_charge(settings, client, worker_id, now)
    try:
        result = await eligibility(r, link, worker_id, assignment_id, cap=settings.max_tasks_per_worker,
                                   allotted_ms=settings.allotted_minutes * 60_000, now=now,
                                   first_trial_ms=settings.first_trial_minutes * 60_000, charge=charge)
    except RateLimited as exc:
        exc.headers.update(cors_headers(origin))
        raise
    # An unknown link answers as a full one (link ids are guessable, so the study's links are not
    # listed); a refusal on a link whose study has a title carries that title, which tells them
    # apart no more than the link's public preview page already does.
    reason = "link_full" if result.reason == "unknown_link" else result.reason
    answer = {"eligible": result.eligible, "reason": reason}
    if not result.eligible:
        # The landing layout names the study that refused (a worker may have several HITs open). Only
        # on a refusal, so the common answer costs nothing more; the title is what the link's public
        # preview page shows anyway (`app.routes.pages.preview_page`).
        answer["study_title"] = await loaded_study.link_title(r, link)
    return answer, cors_headers(origin)


def media_url(settings: Settings, video_id: str, assignment_id: str, expiry_s: int, ext: str = "mp4") -> str:
    """Where the browser fetches a stimulus: this server's ``/videos/`` or ``MVT_VIDEO_BASE_URL``,
    with the query that lets only ``assignment_id`` fetch it until ``expiry_s`` (`kernel.videourls`;
    the signature covers the id, not the extension ``ext``)."""
    base = settings.video_base_url.rstrip("/") if settings.video_base_url else "/videos"
    return f"{base}/{video_id}.{ext}?{videourls.signed_query(settings.signing_key, video_id, assignment_id, expiry_s)}"


def url_expiry_s(settings: Settings, now_s: int | None = None) -> int:
    """When video URLs issued now expire: 0–10 minutes after the allotted time, rounded up to
    10 minutes so that a resume within those minutes gets the same payload."""
    end_s = (int(time.time()) if now_s is None else now_s) + settings.allotted_minutes * 60
    return (end_s // 600 + 1) * 600


def assignment_payload(a: Allocation, settings: Settings, now_s: int | None = None) -> dict:
    """The JSON of `AssignmentOut` for an allocation; the trials come from the link's study kind.

    Video URLs are signed for this assignment (once, `kernel.videourls.assignment_query`, or per video
    for a CDN) and expire with `url_expiry_s`.
    """
    return _payload(a, settings, url_expiry_s(settings, now_s))


def _payload(a: Allocation, settings: Settings, expiry_s: int) -> dict:
    if settings.video_base_url:  # a CDN checks per-video signatures with the key alone
        def url(v, ext="mp4"):
            return media_url(settings, v, a.assignment_id, expiry_s, ext)
    else:  # one signature for the whole list: /videos/ checks the assignment's record. Building and
        # gzip-encoding a 50-trial answer: 120-125 us of CPU per video, 28-29 us so (min of 12 x 300
        # calls, 2026-12-06, load 11-13)
        query = videourls.assignment_query(settings.signing_key, a.assignment_id, a.link_id, expiry_s)

        def url(v, ext="mp4"):
            return f"/videos/{v}.{ext}?{query}"
    return {
        "assignment_token": make_token(settings.signing_key, a.assignment_id, a.link_id, a.worker_id, a.list_index),
        "assignment_id": a.assignment_id, "link": a.link_id, "n_trials": a.n_trials,
        "resume_from": a.next_trial, "completed": a.completed, "completion_code": a.completion_code,
        "completion_url": None, "options": a.options,
        "trials": get_kind(a.kind).trials(a.video_ids, a.options, url),
    }


async def _place(r, settings: Settings, placement: str, worker_id: str, assignment_id: str, hit_id: str | None,
                 client: str | None, now: int) -> Allocation:
    """A placed arrival's allocation, after consent (`kernel.placement.place` in the ticket's experiment):
    charged to the client like a task request and, for a participant not yet holding a list, to the
    experiment's arrivals; the platform the ticket names is noted for the completion URL."""
    experiment, platform = read_placement(settings.signing_key, placement, worker_id, assignment_id)
    if client is not None:
        await limits.admit_participant(r, settings, client, worker_id, assignment_id, now, experiment_id=experiment)
    a = await place(r, settings, experiment, worker_id, assignment_id, hit_id)
    if client is not None and a.assignment_id != assignment_id:  # resumed their unfinished earlier assignment
        await limits.release(r, settings, client, assignment_id)
    if platform in PLATFORMS and PLATFORMS[platform].codes_at_completion:
        # The completion URL holds the platform's code: built and sent only at POST /api/complete.
        await r.execute_command("HSET", keys.link_platforms(a.link_id), a.assignment_id, platform)
    return a


async def assignment_answer(r, settings: Settings, link: str, worker_id: str, assignment_id: str,
                            hit_id: str | None, client: str | None, gzip_ok: bool,
                            placement: str | None = None) -> tuple[bytes, list]:
    """Allocate (or resume) the assignment's list; the JSON of `AssignmentOut`, encoded as `encode_json`
    does (body, extra headers).

    An unfinished assignment's answer is built and compressed once more when the assignment first comes
    back, and kept in Redis (`kept_answer`, ``keys.link_served``): a returning worker is answered
    from it by any server process after the one round trip that also checks their block, cap and limits
    and the list's status (`kernel.assignments.allocate`).

    Refuses a platform's preview assignment id (MTurk's), then, with a ``client`` address, a client over its
    limits (`kernel.limits`, `RateLimited`), then whatever `allocate` refuses. With a ``placement`` ticket
    (a Prolific or panel arrival's page) the participant is placed in its experiment instead (`_place`;
    the answer's ``link`` says where).

    The answer of an unfinished assignment is a function of the allocation, the signing key, the
    video base URL and the 10-minute expiry bucket of its URLs (`url_expiry_s`): so it is kept in Redis
    under those (`answer_tag`), and a placed arrival's bytes per server process (`ANSWER_CACHE_SIZE`)
    under exactly those inputs: a returning worker
    (a reload, a second tab, the page's retry) is answered without building and
    gzip-compressing ~6 KB again: the route's handler (allocation included) took 164–174 µs of CPU
    with the answer kept against 343–375 µs without (minimum of 12 x 150 calls, 50 trials, local
    Redis, 2026-12-06 on a loaded machine; docs/reliability.md).
    The URLs are the ones the same request would sign, so what a URL unlocks is unchanged; an
    assignment that lost its list is refused by `allocate` before the cache is read.
    """
    expiry_s = url_expiry_s(settings)
    a = await _allocate(r, settings, link, worker_id, assignment_id, hit_id, client, placement, expiry_s)
    if a.completed:  # rare (a reload after the work) and carries the platform's URL: not kept
        return encode_json(await _full_payload(r, settings, a), gzip_ok)
    if a.answer is not None:
        return answer_from_kept(a.answer, a.next_trial, gzip_ok)
    key = (settings.signing_key, settings.video_base_url, expiry_s, gzip_ok, a.kind, a.assignment_id, a.link_id,
           a.worker_id, a.list_index, a.next_trial, a.n_trials, tuple(a.video_ids), tuple(a.options))
    found = _ANSWERS.get(key)
    if found is None:
        if len(_ANSWERS) >= ANSWER_CACHE_SIZE:
            _ANSWERS.clear()  # whole-cache reset: the answers of the last minutes come back within one request each
        found = _ANSWERS[key] = encode_json(_payload(a, settings, expiry_s), gzip_ok)
    return found


def answer_tag(settings: Settings, expiry_s: int) -> str:
    """What a kept answer (`kept_answer`) was built under: its URLs' expiry (`url_expiry_s`) and a digest of
    the signing key and video base URL (a server restarted with another key builds its answers again)."""
    return f"{expiry_s} {_settings_digest(settings.signing_key, settings.video_base_url or '')}"


@functools.lru_cache(maxsize=16)
def _settings_digest(signing_key: bytes, video_base_url: str) -> str:
    return hashlib.sha256(signing_key + b"\0" + video_base_url.encode()).hexdigest()[:16]


def kept_answer(a: Allocation, settings: Settings, expiry_s: int) -> str:
    """An unfinished assignment's answer as kept in Redis (``keys.link_served``) for any server process:
    ``<crc32> <length> <base64 of raw deflate>`` of its JSON without ``resume_from`` and the closing brace,
    compressed once (ISA-L, `GZIP_LEVEL`) and ended by a sync flush, so that `answer_from_kept` appends the
    worker's ``resume_from`` as a stored block and sends a gzip member without compressing anything."""
    payload = _payload(a, settings, expiry_s)
    del payload["resume_from"]  # the one field that changes while the list is held: added per request
    head = orjson.dumps(payload)[:-1]
    deflate = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, -15)
    data = deflate.compress(head) + deflate.flush(isal_zlib.Z_SYNC_FLUSH)
    return f"{zlib.crc32(head)} {len(head)} {binascii.b2a_base64(data, newline=False).decode()}"


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0 (the same answer, the same bytes)
GZIP_HEADERS = [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]


def answer_from_kept(kept: str, next_trial: int, gzip_ok: bool) -> tuple[bytes, list]:
    """The body and extra headers of `kept_answer`'s answer with ``resume_from`` ``next_trial``, as
    `encode_json` would send them (gzip when allowed and at least `GZIP_MIN_BYTES` long; the JSON's keys in
    another order). The gzip member is the kept deflate data, a final stored block with the tail, and the
    trailer (CRC-32 continued over the tail, RFC 1952)."""
    crc, size, data = kept.split(" ", 2)
    tail = b',"resume_from":%d}' % next_trial
    length = int(size) + len(tail)
    deflated = binascii.a2b_base64(data)
    if gzip_ok and length >= GZIP_MIN_BYTES:
        return b"".join((_GZIP_HEADER, deflated, struct.pack("<BHH", 1, len(tail), len(tail) ^ 0xFFFF), tail,
                         struct.pack("<II", zlib.crc32(tail, int(crc)), length & 0xFFFFFFFF))), GZIP_HEADERS
    return isal_zlib.decompressobj(-15).decompress(deflated) + tail, []


ANSWER_CACHE_SIZE = 2048
"""Encoded assignment answers kept per server process by `assignment_answer` (about 2 KB each gzipped,
6 KB plain: at most ~13 MB)."""
_ANSWERS: dict[tuple, tuple[bytes, list]] = {}


async def _allocate(r, settings: Settings, link: str, worker_id: str, assignment_id: str, hit_id: str | None,
                    client: str | None, placement: str | None, expiry_s: int) -> Allocation:
    """The allocation behind `assignment_answer`, with their refusals and events; a placed arrival's
    answer is not kept (`kept_answer`)."""
    if assignment_id in preview_ids():
        raise refusal("preview")
    now = now_ms()
    admit = None if client is None or placement is not None else \
        limits.Admission(r, settings, client, worker_id, assignment_id, now, link_id=link)
    try:
        if placement is not None:
            a = await _place(r, settings, placement, worker_id, assignment_id, hit_id, client, now)
        else:
            tag = answer_tag(settings, expiry_s)
            a = await allocate(r, link, worker_id, assignment_id, hit_id or "", cap=settings.max_tasks_per_worker,
                               allotted_ms=settings.allotted_minutes * 60_000, now=now, admit=admit,
                               first_trial_ms=settings.first_trial_minutes * 60_000, answer_tag=tag,
                               keep_answer=lambda a: f"{tag}\n{kept_answer(a, settings, expiry_s)}")
    except RateLimited:
        # Not logged: a flood would become a flood of log lines (the limiter is its own record).
        raise
    except MVTError as exc:
        eventlog.event("refusal", reason=exc.reason, link=link, worker=worker_id, assignment=assignment_id,
                       client=client)
        if not isinstance(exc, UnknownLink):
            # Counted for the control room; an unknown link is not, so made-up ids add no fields.
            pipe = r.pipeline(transaction=False)
            count_event(pipe, "refusals", f"{link}:{exc.reason}", now)
            await pipe.execute()
        if client is not None:
            await limits.release(r, settings, client, assignment_id)
        if isinstance(exc, UnknownLink):
            raise refusal("link_full", link=link, worker=worker_id, assignment=assignment_id) from None
        raise
    if a.completed and client is not None:
        await limits.release(r, settings, client, assignment_id)
    eventlog.event("allocation", link=a.link_id, worker=worker_id, assignment=assignment_id, list=a.list_index,
                   new=a.new, client=client)
    return a


async def _full_payload(r, settings: Settings, a: Allocation) -> dict:
    payload = assignment_payload(a, settings)
    if a.completed:  # a reload after the work: the platform's URL again
        token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
        payload["completion_url"] = await completion_url(r, settings, token, a.completion_code)
    return payload


async def completion_url(r, settings: Settings, token: TokenData, code: str, platform=None) -> str | None:
    """The completion URL of the platform the token's participant arrived from (`Platform.completion_url`;
    None for MTurk and for assignments begun without a page of such a platform). ``platform``, when the
    caller read it already (``keys.link_platforms``), saves reading it here."""
    if platform is None:
        platform = await r.execute_command("HGET", keys.link_platforms(token.link_id), token.assignment_id)
    found = PLATFORMS.get(platform.decode() if isinstance(platform, bytes) else platform) if platform else None
    if found is None:
        return None
    experiment, record = await asyncio.gather(
        r.execute_command("HGET", keys.link_meta(token.link_id), "experiment_id"),
        r.execute_command("HGET", keys.link_assignments(token.link_id), token.assignment_id))
    hit_id = (orjson.loads(record).get("hit") if record else "") or ""
    experiment = experiment.decode() if isinstance(experiment, bytes) else experiment or ""
    return await found.completion_url(r, settings, Finished(experiment, token.link_id, token.worker_id,
                                                            token.assignment_id, hit_id, code))


async def record(r, settings: Settings, body: ResponseIn, user_agent: str | None = None) -> dict:
    """Check the token, record the response (``user_agent``: the request's, for the control room's
    timing by browser and OS); the JSON of `ResponseOut`."""
    token = read_token(settings.signing_key, body.assignment_token)
    timing = vars(body)  # every field by name; record_response reads the timing and presentation ones
    try:
        rec = await record_response(r, token, body.trial, body.response, timing, user_agent=user_agent)
    except MVTError as exc:
        eventlog.event("refusal", reason=exc.reason, link=token.link_id, worker=token.worker_id,
                       assignment=token.assignment_id, trial=body.trial)
        raise
    return {"recorded": True, "duplicate": rec.duplicate, "next_trial": rec.next_trial, "timing_ok": rec.timing_ok}


async def start_trial(r, settings: Settings, body: TrialStartIn) -> dict:
    """Check the token, count the announced start (``POST /api/trial-start``); the JSON of `TrialStartOut`."""
    token = read_token(settings.signing_key, body.assignment_token)
    return {"plays": await record_start(r, token, body.trial, body.start_id)}


async def finish(r, settings: Settings, body: CompleteIn, client: str | None = None) -> dict:
    """Check the token, complete the assignment; the JSON of `CompleteOut`. The ``client`` no longer holds it."""
    token = read_token(settings.signing_key, body.assignment_token)
    # the platform's name is read alongside (one round trip); its URL is built only once the work is complete
    try:
        done, platform = await asyncio.gather(
            complete(r, token, completion_code(settings.signing_key, token), comment=body.comment),
            r.execute_command("HGET", keys.link_platforms(token.link_id), token.assignment_id))
    except MVTError as exc:
        eventlog.event("refusal", reason=exc.reason, link=token.link_id, worker=token.worker_id,
                       assignment=token.assignment_id, client=client)
        raise
    eventlog.event("completion", link=token.link_id, worker=token.worker_id, assignment=token.assignment_id,
                   client=client)
    if client is not None:
        await limits.release(r, settings, client, done.assignment_id)
    url = await completion_url(r, settings, token, done.completion_code, platform) if platform else None
    return {"completion_code": done.completion_code, "assignment_id": done.assignment_id, "n_trials": done.n_trials,
            "completion_url": url}


async def report_failure(r, settings: Settings, body: FailureIn) -> dict:
    """Check the token, keep why the page gave up (``POST /api/failure``); ``{"recorded": true}``."""
    token = read_token(settings.signing_key, body.assignment_token)
    await record_failure(r, token, body.trial, body.reason)
    return {"recorded": True}
