"""What the worker-facing API accepts and returns: the request and reply models.

One module for payload validation: the FastAPI routes (`app.routes.api`) declare these models,
so ``/docs`` is exact, and the hot paths (`app.fastpath`) validate the same bodies with them.
Ids follow `kernel.ids`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel.ids import ID_PATTERN
from kernel.reasons import ELIGIBILITY_REASONS
from kernel.responses import FRAME_TIMES_COMPACT_RE, frame_times_range, frame_times_text

Id = Annotated[str, Field(pattern=ID_PATTERN, description="1–64 characters from A–Z, a–z, 0–9, _ and -")]
FRAME_LOG_RE = re.compile(r"^[0-9]{1,7}-[0-9]{1,7}(,[0-9]{1,7}-[0-9]{1,7})*$")
FRAME_TIMES_RE = re.compile(r"^[0-9]{1,7}:[0-9]{1,7}(\.[0-9])?(,[0-9]{1,7}:[0-9]{1,7}(\.[0-9])?)*$")
_NEGATIVE_TIME_RE = re.compile(r"(?:^|,)([0-9]+):(-[0-9.]+)")
_LONG_FRAME_TIMES_RE = re.compile(r"^[0-9]+:[0-9]+(\.[0-9])?(,[0-9]+:[0-9]+(\.[0-9])?)*$")
HEADPHONE_RE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})$")
MEDIA_NAME_RE = re.compile(r"^([0-9a-f]{16})\.([a-z0-9]{1,5})$")
"""A stimulus file name: an opaque id and an extension, which must be one of a registered study
kind's media types (`studies.media_types`)."""
"""Media type of each stimulus extension (MVT videos; rating studies' audio and images)."""


class EligibilityOut(BaseModel):
    """Whether the worker may start (or resume) a task on the link."""

    eligible: bool
    reason: Literal[ELIGIBILITY_REASONS] | None
    study_title: str | None = Field(
        default=None, description="with a refusal only: the title of the link's study as its study file set it "
                                  "(null when the link is unknown or the study has none), for the landing layout "
                                  "to name the study that refused")


class Refusal(BaseModel):
    """A refusal: a sentence for people and a reason word for programs."""

    detail: str
    reason: str


class AssignmentIn(BaseModel):
    """A worker asks for (or back) the list of their assignment on a link."""

    model_config = ConfigDict(extra="ignore")
    link: Id
    worker_id: Id
    assignment_id: Id
    hit_id: Id | None = None
    placement: str | None = Field(default=None, max_length=200,
                                  description="a placed arrival's ticket (Prolific, a panel: the page's config): the "
                                              "server places the participant in the ticket's experiment, "
                                              "``link`` being only the arrival page's guess")


class TrialOut(BaseModel):
    """One trial as the browser sees it."""

    trial: int
    video_url: str
    options: list[str] | None = Field(default=None, description="this trial's own options, when they differ from "
                                                               "the assignment's (MVT: never sent)")


class AssignmentOut(BaseModel):
    """The assignment's list, and where to resume."""

    assignment_token: str
    assignment_id: str
    link: str
    n_trials: int
    resume_from: int
    completed: bool
    completion_code: str | None
    completion_url: str | None = Field(default=None, description="where the participant goes with the "
                                       "platform's completion code (Prolific, panels), once completed")
    options: list[str]
    trials: list[TrialOut]


class ResponseIn(BaseModel):
    """One trial's answer with the browser's timing measurements (all timing fields nullable)."""

    model_config = ConfigDict(extra="ignore")
    assignment_token: str = Field(max_length=300)
    trial: int = Field(ge=0, le=100_000)
    response: str = Field(min_length=1, max_length=200)
    response_time_ms: float | None = Field(default=None, ge=0, le=86_400_000)
    presented_frames: int | None = Field(default=None, description="ignored: computed from frame_log")
    dropped_frames: int | None = Field(default=None, ge=0, le=10_000_000)
    refresh_interval_ms: float | None = Field(default=None, ge=0, le=10_000)
    hidden_during_video: bool | None = None
    blurred_during_video: bool | None = None
    timing_source: Literal["rvfc", "playback_quality", "none"] | None = None
    frame_log: str | None = Field(default=None, max_length=4000, json_schema_extra={"pattern": FRAME_LOG_RE.pattern},
                                  description="ascending, disjoint inclusive ranges of confirmed frame indices "
                                              "(e.g. '0-30,32-65'; otherwise 422)")
    frames_presented_total: int | None = Field(default=None, ge=0, le=10_000_000)
    frame_times: str | None = Field(
        default=None, max_length=12_000,
        json_schema_extra={"pattern": f"{FRAME_TIMES_RE.pattern}|{FRAME_TIMES_COMPACT_RE.pattern}"},
        description="the requestVideoFrameCallback samples: each sample's frame index and expected display time in "
                    "ms since the first sample's (one decimal), either as 'index:ms,...' with indices ascending or "
                    "compact as the runner page sends it: 'first index;' and one character a-y, or '(g,d)', per "
                    "later sample (docs/contracts.md); in either form times 0 or more and indices and ms below 10000000; "
                    "otherwise 422")
    interrupted: Literal["navigation"] | None = Field(
        default=None, description="the video's page was left (Back, Forward, reload, closed) while it played")
    drawn_device_px: float | None = Field(
        default=None, ge=0, le=100_000, description="the video's side as drawn, device px (CSS px x devicePixelRatio,"
                                                     " which includes the browser's zoom)")
    top_viewport_w: int | None = Field(default=None, ge=0, le=100_000,
                                       description="the top-level window's viewport, CSS px (inside the landing "
                                                   "layout: the layout's window, not the frame)")
    top_viewport_h: int | None = Field(default=None, ge=0, le=100_000)
    # How the stimulus was presented (docs/contracts.md): all nullable, all stored and exported.
    stimulus_visible: bool | None = Field(
        default=None, description="the whole video was inside the worker's visible viewport for the whole stimulus")
    plays: int | None = Field(default=None, ge=0, le=1000, description="times this trial's video was started")
    replays: int | None = Field(default=None, ge=0, le=1000,
                                description="rating studies: times the sample was played again (replays allowed)")
    playback_completed: bool | None = Field(
        default=None, description="rating studies: the audio or video sample played to its end before the rating")
    view_ms: int | None = Field(
        default=None, ge=0, le=86_400_000,
        description="rating studies, images: time the sample was on view while the page was visible, ms (flip-compare: "
                    "the shown image; single-stimulus screens: wholly inside the worker's viewport); DSIS/DCR "
                    "sounds: time the sample played; videos: time it played wholly inside the viewport")
    reference_view_ms: int | None = Field(
        default=None, ge=0, le=86_400_000,
        description="rating studies, DSIS/DCR screens: time the reference picture was wholly inside the "
                    "worker's viewport while the page was visible, ms; a reference sound: time it played; a "
                    "reference video: time it played wholly inside the viewport")
    reference_visible: bool | None = Field(
        default=None, description="rating studies, DSIS/DCR screens: the whole reference picture (or playing "
                                  "video) was on the worker's screen at some time; null for a sound")
    viewport_w: int | None = Field(default=None, ge=0, le=100_000, description="the page's viewport, CSS px")
    viewport_h: int | None = Field(default=None, ge=0, le=100_000)
    screen_w: int | None = Field(default=None, ge=0, le=100_000, description="the screen, CSS px")
    screen_h: int | None = Field(default=None, ge=0, le=100_000)
    video_px: int | None = Field(default=None, ge=0, le=100_000, description="the video's side as shown, CSS px")
    dpr: float | None = Field(default=None, gt=0, le=100, description="devicePixelRatio")
    fullscreen: bool | None = None
    input_type: Literal["mouse", "touch", "pen", "keyboard"] | None = Field(
        default=None, description="what started the video")
    tab_id: Id | None = Field(default=None, description="the answering tab; another tab's late answer is refused")
    headphone_check: str | None = Field(
        default=None, json_schema_extra={"pattern": HEADPHONE_RE.pattern},
        description="rating studies: the headphone screening's outcome, correct/trials with 0 < trials and "
                    "correct <= trials (e.g. '5/6'; otherwise 422), sent with every rating of the assignment; "
                    "null when the study runs no check")

    @field_validator("headphone_check")
    @classmethod
    def _correct_of_trials(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = HEADPHONE_RE.fullmatch(value)
        if not match or int(match[1]) > int(match[2]) or int(match[2]) == 0:
            raise ValueError(f"headphone_check ({value[:20]!r}) must be correct/trials with 0 <= correct <= "
                             f"trials, e.g. '5/6'")
        return value

    @field_validator("frame_times")
    @classmethod
    def _times_ascending(cls, value: str | None) -> str | None:
        # Both forms hold the same samples, so both meet the text form's rules (FRAME_TIMES_RE's 7 digits, times
        # 0 or more); a compact value is ascending by construction, and read as its text only when refused.
        if value is None:
            return value
        text = value
        if FRAME_TIMES_COMPACT_RE.fullmatch(value):
            head, _, rest = value.partition(";")
            if "(" not in rest and int(head) + 5 * len(rest) < 10_000_000:
                return value  # a-y steps only: times rise from 0, indices by at most 5 a character
            last, lowest, highest = frame_times_range(value)
            if last < 10_000_000 and 0 <= lowest and highest < 100_000_000:
                return value
            text = frame_times_text(value)
        negative = _NEGATIVE_TIME_RE.search(text)
        if negative:
            raise ValueError(f"frame_times time {negative[2]} ms (frame {negative[1]}) must be 0 or more: times are "
                             f"ms since the first sample's")
        if _LONG_FRAME_TIMES_RE.fullmatch(text) and not FRAME_TIMES_RE.fullmatch(text):
            # well formed but past 7 digits (a compact value's decoded samples: no regular expression says so)
            raise ValueError(f"frame_times samples must stay below frame index 10000000 and 10000000 ms, 7 digits "
                             f"({text[:40]!r})")
        if not FRAME_TIMES_RE.fullmatch(text):
            raise ValueError(f"frame_times ({value[:40]!r}) must look like '0:0,1:16.7,3:50.0' or '0;bcdc(3,-167)c'")
        previous = -1
        for part in text.split(","):
            index = int(part.split(":")[0])
            if index <= previous:
                raise ValueError(f"frame_times index {index} must be greater than the one before ({previous})")
            previous = index
        return value

    @field_validator("frame_log")
    @classmethod
    def _ranges_ascending(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not FRAME_LOG_RE.fullmatch(value):
            raise ValueError(f"frame_log ({value[:40]!r}) must look like '0-30,32-65'")
        previous = -1
        for part in value.split(","):
            a, b = (int(x) for x in part.split("-"))
            if a > b or a <= previous:
                raise ValueError(f"frame_log range {part!r} must be ascending and not overlap the one before")
            previous = b
        return value


class TrialStartIn(BaseModel):
    """The browser is about to play a trial's video (sent before every start)."""

    model_config = ConfigDict(extra="ignore")
    assignment_token: str = Field(max_length=300)
    trial: int = Field(ge=0, le=100_000)
    start_id: Id = Field(description="drawn by the page for this viewing; a retry of the request repeats it")


class TrialStartOut(BaseModel):
    """How many viewings of the trial the server knows of, this one included."""

    plays: int = Field(description="1 for a first viewing; more means the trial was started before (replayed)")


class ResponseOut(BaseModel):
    """The outcome of a response write."""

    recorded: bool
    duplicate: bool
    next_trial: int
    timing_ok: bool | None


class CompleteIn(BaseModel):
    """Ask for the completion code once every trial is recorded."""

    model_config = ConfigDict(extra="ignore")
    assignment_token: str = Field(max_length=300)
    comment: str | None = Field(default=None, max_length=2000, description="the worker's optional debrief comment")


class FailureIn(BaseModel):
    """The page gave up (a video that cannot be downloaded or played): why, for the record."""

    model_config = ConfigDict(extra="ignore")
    assignment_token: str = Field(max_length=300)
    trial: int | None = Field(default=None, ge=0, le=100_000)
    reason: str = Field(min_length=1, max_length=300)


class CompleteOut(BaseModel):
    """The server-issued completion code, and where a redirecting platform's participant goes now."""

    completion_code: str
    assignment_id: str
    n_trials: int
    completion_url: str | None = Field(default=None, description="the platform's completion URL with its "
                                       "code (Prolific, panels); given only here, never before the work")


REFUSALS = {409: {"model": Refusal, "description": "not eligible (see reason)"},
            403: {"model": Refusal, "description": "bad assignment token"},
            422: {"model": Refusal, "description": "invalid request"},
            429: {"model": Refusal, "description": "too many requests from this client; retry after Retry-After s"}}
