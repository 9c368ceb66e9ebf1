"""Recording trial responses and completing assignments (async client, hot path).

A response is stored once per (assignment, trial): the first write wins and repeats are
reported as duplicates, so retries and double clicks are harmless. ``correct`` is computed
in Redis from the hidden answer; so are ``presented_frames`` (the image frames the browser
confirmed in its ``frame_log``), ``image_ms_measured`` (first image frame to first mask frame on
screen, from ``frame_times``), ``mask_frames_presented``, ``plays`` (the starts the browser
announced, `record_start`) and ``timing_ok`` with its ``timing_reason`` (record.lua's header has
the rules). The page never learns a trial's duration: it sends measurements, the server decides.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from itertools import accumulate

import orjson

from kernel.store import keys
from kernel import tally
from kernel.control import count_event
from kernel.assignments import now_ms
from kernel.errors import WorkerBlocked
from kernel.quality import display_of
from kernel.reasons import refusal
from kernel.store.scripts import scripts_for
from kernel.tokens import TokenData

TIMING_FIELDS = ("response_time_ms", "dropped_frames", "refresh_interval_ms", "hidden_during_video",
                 "blurred_during_video", "timing_source", "frames_presented_total", "frame_log")
"""Client fields stored with a response; ``presented_frames`` is computed from ``frame_log``."""

PRESENTATION_FIELDS = ("stimulus_visible", "plays", "viewport_w", "viewport_h", "screen_w", "screen_h", "video_px",
                       "dpr", "fullscreen", "input_type", "tab_id", "replays", "playback_completed",
                       "view_ms", "headphone_check", "interrupted", "drawn_device_px", "top_viewport_w",
                       "top_viewport_h", "frame_times", "reference_view_ms", "reference_visible")
"""How the stimulus was presented (client fields, stored and exported as they came; ``plays`` is
replaced by the server's count of announced starts when there is one)."""

MEASURED_FIELDS = ("image_ms_measured", "mask_frames_presented", "timing_reason")
"""Computed by record.lua from the client's measurements and the hidden answer, exported."""

SERVER_SLOTS = ("correct", "timing_ok", "presented_frames", "image_ms_measured", "mask_frames_presented",
                "timing_reason", "plays", "tab_id")
"""The stored form's 8 leading values, in this order: computed by record.lua, then the answering tab's id
(record.lua reads these two on a repeat: `other_tab`); the mask follows."""

CLIENT_SLOTS = ("response", "received_ms", "response_time_ms", "dropped_frames", "refresh_interval_ms",
                "hidden_during_video", "blurred_during_video", "timing_source", "frames_presented_total", "frame_log",
                "stimulus_visible", "viewport_w", "viewport_h", "screen_w", "screen_h", "video_px", "dpr",
                "fullscreen", "input_type", "replays", "playback_completed", "view_ms", "headphone_check",
                "interrupted", "drawn_device_px", "top_viewport_w", "top_viewport_h", "frame_times",
                "reference_view_ms", "reference_visible")
"""The fields after them, bit ``i`` of the mask naming ``CLIENT_SLOTS[i]``. Append only: stored responses
name fields by position."""

USUAL = {"dropped_frames": 0, "hidden_during_video": False, "blurred_during_video": False, "timing_source": "rvfc",
         "stimulus_visible": True, "dpr": 1.0, "fullscreen": False, "input_type": "mouse"}
"""What a desktop browser usually sends: a field holding its usual value (same type and value) is not
stored; any other field not stored is null."""


FRAME_TIMES_COMPACT_RE = re.compile(r"^[0-9]{1,7};(?:[a-y]|\([1-9][0-9]{0,6},-?[0-9]{1,8}\))*$")
"""``frame_times`` as the runner page sends it (0.2.0; `frame_times_text` reads it): the first sample's frame index,
``;``, then one character per later sample (``a``–``y``), or ``(g,d)`` for one out of those characters' range."""

_SAMPLE_RE = re.compile(r"([a-y])|\(([0-9]+),(-?[0-9]+)\)")
_STEP = {chr(97 + c): (c // 5 + 1, c % 5 - 2) for c in range(25)}
_STEP_G, _STEP_D = ({char: step[k] for char, step in _STEP.items()} for k in (0, 1))


def _nominal_tenths(n_frames: int) -> int:
    """``n_frames`` frames of 60 fps video in tenths of a ms, rounded: round(n x 1000/60 x 10)."""
    return (500 * n_frames + 1) // 3


def frame_times_text(compact: str) -> str:
    """The ``index:ms,...`` form of a compact ``frame_times`` (`FRAME_TIMES_COMPACT_RE`), exactly the text the page
    sent before 0.2.0 for the same samples; any other text is returned as it is.

    The compact form is lossless at the text's precision (0.1 ms). With ``i0`` the first sample's frame index and
    ``T`` a sample's time in tenths of a ms since the first sample's, each later sample is its index step
    ``g = i - i_previous`` (>= 1) and ``d = R - R_previous``, where ``R = T - round((i - i0) x 1000/60 x 10)`` is its
    offset from the 60 fps grid (``R`` of the first sample is 0). On a 60 Hz display ``g`` is 1 or 2 and ``d`` within
    ±2 (the rounding of the times), written as one character ``chr(97 + 5(g - 1) + d + 2)``; another step is written
    ``(g,d)``. record.lua reads it the same way.

    Examples
    --------
    >>> frame_times_text("3;beb(3,-167)")
    '3:0.0,4:16.6,5:33.4,6:50.0,9:83.3'
    """
    head, sep, rest = compact.partition(";")
    if not sep:
        return compact
    first = int(head)
    if "(" in rest:
        steps = [_STEP[char] if char else (int(g), int(d)) for char, g, d in _SAMPLE_RE.findall(rest)]
        gs, ds = [g for g, _ in steps], [d for _, d in steps]
    else:
        gs, ds = map(_STEP_G.__getitem__, rest), map(_STEP_D.__getitem__, rest)
    out = [f"{first}:0.0"]
    # running sums of the steps: each sample's frames since the first, and its offset from the grid
    for n, offset in zip(accumulate(gs), accumulate(ds)):
        tenths = _nominal_tenths(n) + offset
        # the digits the page's toFixed(1) wrote; a negative time (never the page's) through float
        out.append(f"{first + n}:{tenths // 10}.{tenths % 10}" if tenths >= 0 else f"{first + n}:{tenths / 10:.1f}")
    return ",".join(out)


def frame_times_range(compact: str) -> tuple[int, int, int]:
    """The last sample's frame index and the lowest and highest sample times (tenths of a ms) of a compact
    ``frame_times`` (`FRAME_TIMES_COMPACT_RE`), without writing its text: an ``a``-``y`` step adds at least 164
    tenths, so within a run of them times rise and only the samples at a run's ends are looked at.

    Examples
    --------
    >>> frame_times_range("3;beb(3,-167)")
    (9, 0, 833)
    """
    head, _, rest = compact.partition(";")
    runs = rest.split("(")
    n, offset = sum(map(_STEP_G.__getitem__, runs[0])), sum(map(_STEP_D.__getitem__, runs[0]))
    lowest = highest = 0
    for run in runs[1:]:
        highest = max(highest, _nominal_tenths(n) + offset)
        step, _, chars = run.partition(")")
        g, d = step.split(",")
        n, offset = n + int(g), offset + int(d)
        lowest = min(lowest, _nominal_tenths(n) + offset)
        n, offset = n + sum(map(_STEP_G.__getitem__, chars)), offset + sum(map(_STEP_D.__getitem__, chars))
    return int(head) + n, lowest, max(highest, _nominal_tenths(n) + offset)


def compact_frame_times(text: str) -> str:
    """The compact form (`frame_times_text` describes it) of an ``index:ms,...`` ``frame_times`` whose first time is
    0 (the page's times are since the first sample's), as static/runner/timing.js's ``frameTimes`` writes it.

    Raises
    ------
    ValueError
        If the first time is not 0 or the indices do not ascend.

    Examples
    --------
    >>> compact_frame_times("3:0.0,4:16.6,5:33.4,6:50.0,9:83.3")
    '3;beb(3,-167)'
    """
    samples = [(int(i), round(float(t) * 10)) for i, t in (part.split(":") for part in text.split(","))]
    first, start = samples[0]
    if start != 0:
        raise ValueError(f"frame_times ({text[:40]!r}) must start at 0 ms to be written compactly")
    out, index, offset = [f"{first};"], first, 0
    for i, tenths in samples[1:]:
        g, r = i - index, tenths - _nominal_tenths(i - first)
        d = r - offset
        if g < 1:
            raise ValueError(f"frame_times index {i} must be greater than the one before ({index})")
        out.append(chr(97 + 5 * (g - 1) + d + 2) if g <= 5 and -2 <= d <= 2 else f"({g},{d})")
        index, offset = i, r
    return "".join(out)


_SLOTS = tuple((1 << i, name, USUAL.get(name)) for i, name in enumerate(CLIENT_SLOTS))
_NULLS = dict.fromkeys(CLIENT_SLOTS)


def encode_client(fields: dict) -> bytes:
    """The client's part of a stored response (record.lua's ARGV[4]): ``tab_id,mask,value,…`` (JSON without
    the brackets), the mask's bit ``i`` set when ``CLIENT_SLOTS[i]`` is stored, the values of those in order."""
    mask, values, get = 0, [fields.get("tab_id"), 0], fields.get
    for bit, name, usual in _SLOTS:
        value = get(name)
        # the same type too: 0 is not False, 1 is not 1.0
        if value is not usual and (usual is None or type(value) is not type(usual) or value != usual):
            mask |= bit
            values.append(value)
    values[1] = mask
    return orjson.dumps(values)[1:-1]


@functools.lru_cache(maxsize=1024)
def _layout(mask: int) -> tuple[tuple[str, ...], dict]:
    """For one mask: the stored fields' names in order, and every other field with its usual value."""
    names = tuple(name for i, name in enumerate(CLIENT_SLOTS) if mask >> i & 1)
    return names, {name: USUAL.get(name) for name in CLIENT_SLOTS if name not in names}


def decode_response(raw: str | bytes, trial: int) -> dict:
    """A stored response (``keys.link_responses``) as a dict of every field, the one reader of the stored form.

    Two forms are read alike: a JSON object with every field by name (stored before 0.2; a client field
    it lacks, one added since, reads null), and today's compact JSON array: `SERVER_SLOTS`, then a mask and the
    values of the `CLIENT_SLOTS` it names (the others hold their `USUAL` value or null). ``trial`` (the
    field's suffix) is not stored in the array. ``frame_times`` is kept as the page sent it and read as
    ``index:ms,...`` text whichever form that was (`frame_times_text`).
    """
    values = orjson.loads(raw)
    if type(values) is dict:
        return {**_NULLS, **values}
    names, usual = _layout(values[8])
    out = dict(zip(SERVER_SLOTS, values))
    out["trial"] = trial
    out.update(usual)
    out.update(zip(names, values[9:]))
    times = out["frame_times"]
    if times and ";" in times:
        out["frame_times"] = frame_times_text(times)
    return out


def presentation_failed(fields: dict) -> bool:
    """Whether the stimulus was not wholly on screen: ``timing_ok`` false (``not_visible``) even
    without a frame log, so analysis excludes it like a trial with a dropped frame."""
    return fields.get("stimulus_visible") is False


def distraction(fields: dict) -> str:
    """``hidden`` or ``blurred`` when the page was so during the video, else ``""``."""
    if fields.get("hidden_during_video"):
        return "hidden"
    return "blurred" if fields.get("blurred_during_video") else ""


@dataclass(frozen=True)
class Recorded:
    """The outcome of one response write."""

    duplicate: bool
    next_trial: int
    timing_ok: bool | None


@dataclass(frozen=True)
class Completion:
    """A completed assignment."""

    assignment_id: str
    completion_code: str
    n_trials: int
    completed_ms: int


def _refused(reason: str, token: TokenData, trial: int | None = None, n_done: int = 0, n_trials: int = 0,
             response: str | None = None):
    return refusal(reason, assignment=token.assignment_id, link=token.link_id, trial=trial, n_done=n_done,
                   n_trials=n_trials, response=response)


async def record_response(r, token: TokenData, trial: int, response: str, timing: dict,
                          now: int | None = None, user_agent: str | None = None) -> Recorded:
    """Store ``response`` to ``trial`` of the token's assignment with the client's ``timing``; a trial with
    a timing verdict is counted for the control room under the display it was shown on (``user_agent``'s
    browser and OS, `kernel.quality.display_of`).

    One script in the link's hash slot, which also refuses a blocked worker (their block is copied to the
    link, `kernel.admin.block_workers`): one round trip, where a read of the worker's key came first before.

    Raises `WorkerBlocked`, `BadTrial`, `AnsweredElsewhere`, `AssignmentExpired`, `AssignmentReplaced`
    or `UnknownAssignment`.
    """
    now = now_ms() if now is None else now
    record = encode_client({**timing, "response": response, "received_ms": now})
    refresh, plays = timing.get("refresh_interval_ms"), timing.get("plays")
    result = await scripts_for(r).record(
        keys=_record_keys(token.link_id),
        args=[token.assignment_id, token.list_index, trial, record, response,
              timing.get("frame_log") or "", now, distraction(timing), int(presentation_failed(timing)),
              timing.get("tab_id") or "", timing.get("frame_times") or "", "" if not refresh else refresh,
              timing.get("interrupted") or "", "" if plays is None else plays,
              "" if timing.get("drawn_device_px") is None else timing["drawn_device_px"],
              display_of(user_agent, timing.get("dpr"), refresh), token.worker_id, headphone_outcome(timing)])
    if result[0] == "refused":
        if result[1] == "blocked":
            raise _blocked(token)
        raise _refused(result[1], token, trial, response=response)
    flag = int(result[2])
    return Recorded(result[0] == "duplicate", int(result[1]), None if flag < 0 else bool(flag))


def _record_keys(link_id: str) -> list[str]:
    """record.lua's keys for a link, made once per link and process (eight names: ~2 µs a response)."""
    found = _RECORD_KEYS.get(link_id)
    if found is None:
        if len(_RECORD_KEYS) >= 10_000:
            _RECORD_KEYS.clear()
        found = _RECORD_KEYS[link_id] = [
            keys.link_assignments(link_id), keys.link_answers(link_id), keys.link_responses(link_id),
            keys.link_activity(link_id), keys.link_options(link_id), keys.link_starts(link_id),
            keys.link_timing(link_id), keys.link_blocked(link_id)]
    return found


_RECORD_KEYS: dict[str, list[str]] = {}

_OUTCOME = re.compile(r"\d{1,3}/\d{1,3}")


def headphone_outcome(timing: dict) -> str:
    """The task's headphone check outcome ``"<correct>/<trials>"`` the page sent, "" when none or malformed
    (record.lua counts it for the control room, `kernel.quality.add_kind_counts`)."""
    value = timing.get("headphone_check")
    return value if isinstance(value, str) and _OUTCOME.fullmatch(value) else ""


async def record_start(r, token: TokenData, trial: int, start_id: str) -> int:
    """Count one announced start of ``trial``'s video (``POST /api/trial-start``); the trial's plays so far.

    Idempotent per ``start_id`` (a retried request counts once); any other start of the same trial,
    from whatever browser, profile or device, counts again, and record.lua then stores the
    response with ``timing_ok`` false, ``timing_reason`` ``replayed``. Raises `BadTrial`,
    `AssignmentExpired`, `AssignmentReplaced` or `UnknownAssignment`.
    """
    result = await scripts_for(r).start(
        keys=[keys.link_assignments(token.link_id), keys.link_answers(token.link_id), keys.link_starts(token.link_id)],
        args=[token.assignment_id, token.list_index, trial, start_id])
    if result[0] == "refused":
        raise _refused(result[1], token, trial)
    return int(result[1])


async def refuse_blocked(r, token: TokenData) -> None:
    """Raise `WorkerBlocked` when the token's worker is blocked now (a block takes effect mid-task).

    A separate read, before completion: the worker's key is in another hash slot than the link's, and
    each script stays in one slot (Redis Cluster). A response's check is record.lua's (`record_response`).
    """
    if await r.execute_command("EXISTS", keys.worker_blocked(token.worker_id)):
        raise _blocked(token)


def _blocked(token: TokenData) -> WorkerBlocked:
    return WorkerBlocked(f"worker {token.worker_id} is blocked from this experiment")


async def complete(r, token: TokenData, code: str, now: int | None = None, comment: str | None = None) -> Completion:
    """Mark the token's assignment complete with ``code`` (idempotent: the first code stays).

    ``comment`` (the worker's debrief text) is kept with the assignment when it is first
    completed. Raises `WorkerBlocked`, `Incomplete` while a trial has no response, or
    `AssignmentExpired`, `AssignmentReplaced`, `UnknownAssignment`.
    """
    now = now_ms() if now is None else now
    await refuse_blocked(r, token)
    result = await scripts_for(r).complete(
        keys=[keys.link_meta(token.link_id), keys.link_assignments(token.link_id), keys.link_activity(token.link_id)],
        args=[token.assignment_id, token.list_index, now, code, comment or ""])
    if result[0] == "refused":
        raise _refused(result[1], token, n_done=int(result[2]), n_trials=int(result[3]))
    if int(result[3]) == now:
        # Completed by this call (a repeat answers the first completion's time): count it once.
        pipe = r.pipeline(transaction=False)
        count_event(pipe, "completions", token.link_id, now)
        pipe.hdel(keys.link_served(token.link_id), token.assignment_id)  # its answer, kept while unfinished
        if len(result) > 4 and result[4]:  # the control room's counts (kernel/tally.py); not on a repeat
            tally.completed(pipe, result[4], token.link_id, token.assignment_id, int(result[5]) == 1,
                            (now - int(result[6])) / 1000)
        await pipe.execute()
    return Completion(token.assignment_id, result[1], int(result[2]), int(result[3]))


async def record_failure(r, token: TokenData, trial: int | None, reason: str, now: int | None = None) -> None:
    """Keep the page's last reason for giving up on the token's assignment (``keys.link_failures``)."""
    now = now_ms() if now is None else now
    await r.execute_command("HSET", keys.link_failures(token.link_id), token.assignment_id,
                            orjson.dumps({"trial": trial, "reason": reason, "at_ms": now}))
