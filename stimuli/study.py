"""The study's own words and rules: ``mvt build --study study.toml`` → ``EXP_DIR/study.json``.

Everything a worker reads about the study (title, description, estimated time, pay, contact,
consent text) and the rules their device must meet come from the study file; what it leaves
out is derived from the design. ``mvt load`` stores the result per experiment
(``keys.experiment_study``) and the worker page gets it in its config (``study``).

Example ``study.toml`` (every key optional)::

    title = "Picture recognition"
    description = "Watch short videos and say what each one showed."
    pay = "$1.20"
    contact = "lab@example.org"
    consent = "This is a research study of the Example Lab ..."
    minutes = 8                    # estimated; default computed from the design
    practice_trials = 2            # from images outside the study set (the bundled samples)
    display_px = 512               # the video's side on screen, device px (default: the built --size)

    [device]
    min_stimulus_px = 256          # smallest video side the worker's window must show, CSS px
    touch_allowed = false          # phones and tablets
    refresh_tolerance_hz = 3       # how far from 60 Hz (or a multiple) the display may be
    max_rescale = 1.5              # drawn within 0.75-1.5x of display_px, else told / excluded

    [panel]                        # any panel that passes an id in the URL (SONA, Connect, ...)
    id_param = "participant"       # /panel?experiment=EXP&participant=ID
    completion_url = "https://panel.example.org/done?code={code}&id={id}"
    completion_code = "A1B2C3"
    screened_out_code = "SCREENED" # optional: sent instead when device rules turn them away
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from kernel.errors import BuildOptionError
from kernel.ids import is_id

# Per trial beyond the video: pressing Play, answering, loading (s); and once per task (min).
ANSWER_S = 4.0
OVERHEAD_MIN = 2.0

DEFAULT_DEVICE = {"min_stimulus_px": 256, "touch_allowed": False, "refresh_tolerance_hz": 3.0, "max_rescale": 1.5}
"""``max_rescale``: the video's side as drawn, in device pixels, must lie within max_rescale / 2
and max_rescale times the study's ``display_px`` (default: the built ``--size``), so 1.5 allows
0.75-1.5x; checked before consent and per trial."""
PANEL_KEYS = {"id_param": True, "completion_url": True, "completion_code": True, "screened_out_code": False}
"""The ``[panel]`` table: key → required."""
DEFAULT_CONSENT = (
    "This is a research study about how quickly people recognise pictures. We record your {participant_id}, "
    "your answers, how long you took to answer and how the videos played in your browser (e.g. whether "
    "frames were skipped, your window size). We use them only for this research and for paying you. "
    "Taking part is voluntary; you may stop at any time by returning the {task}.")
"""The default consent text. ``{participant_id}`` and ``{task}`` are the participant's platform's words
(worker ID and HIT on MTurk; the page fills them in), in a study file's own consent text too."""
DEFAULT_STUDY = {
    "title": "Picture recognition task",
    "description": "You will watch short videos and say what each one showed.",
    "minutes": None, "pay": None, "contact": None, "consent": DEFAULT_CONSENT, "practice_trials": 2,
    "device": DEFAULT_DEVICE, "panel": None, "display_px": None,
}
"""What the page says and checks when an experiment was built without a study file."""

_TEXT_KEYS = ("title", "description", "pay", "contact", "consent")
SHARED_KEYS = ("title", "description", "minutes", "pay", "contact", "consent", "panel", "device")
"""Keys every study kind honours (`mvt build` and `mvt build-ratings`)."""
SHARED_DEVICE_KEYS = ("min_stimulus_px", "touch_allowed")
"""``[device]`` rules every kind's page applies before consent (``static/common/device.js``); the
others (refresh rate, rescaling) only the MVT page, whose videos are timed frame by frame."""
KIND_KEYS = {"mvt": ("practice_trials",), "ratings": ("ratings",)}
DEVICE_KEYS = {"mvt": tuple(DEFAULT_DEVICE), "ratings": SHARED_DEVICE_KEYS}
"""The ``[device]`` rules each kind's page checks."""
"""Keys (and tables) of the study file that only one kind's build reads, by kind."""
_BUILD_OF = {"mvt": "mvt build", "ratings": "mvt build-ratings"}


def estimated_minutes(n_trials: int, mean_video_s: float, n_practice: int = 0) -> int:
    """Minutes a task takes: trials × (mean video length + answering) + overhead, rounded up.

    >>> estimated_minutes(50, 1.05, 2)
    7
    """
    per_trial_s = mean_video_s + ANSWER_S
    return math.ceil((n_trials + n_practice) * per_trial_s / 60 + OVERHEAD_MIN)


def read_study_file(path: Path | str | None, kind: str = "mvt") -> dict:
    """The study file's settings (empty without a file), for the build of study ``kind``.

    The one parser of study files: `SHARED_KEYS` are checked here for every kind, and so are the
    MVT-only keys; a kind's own table (``[ratings]``) is returned as it is, for its build to check.

    Raises
    ------
    BuildOptionError
        Naming an unknown key (a misspelling such as ``titel``), a key of another kind's build, or a
        bad value.
    """
    if path is None:
        return {}
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildOptionError(f"study file {path} cannot be read ({exc})") from None
    known = set(SHARED_KEYS) | set(KIND_KEYS[kind])
    for other, only in KIND_KEYS.items():
        misplaced = sorted(set(raw) & set(only) - known)
        if misplaced:
            raise BuildOptionError(f"study file {path}: {', '.join(misplaced)} is read only by {_BUILD_OF[other]}, "
                                   f"not by {_BUILD_OF[kind]}; remove it")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise BuildOptionError(f"study file {path}: unknown key{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}; expected some of {', '.join(sorted(known))}")
    for key in _TEXT_KEYS:
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            raise BuildOptionError(f"study file {path}: {key} ({raw[key]!r}) must be non-empty text")
    for key, types in (("minutes", (int, float)), ("practice_trials", int)):
        if key in raw and (not isinstance(raw[key], types) or isinstance(raw[key], bool) or raw[key] < 0):
            raise BuildOptionError(f"study file {path}: {key} ({raw[key]!r}) must be a number ≥ 0")
    if "display_px" in raw and (isinstance(raw["display_px"], bool) or not isinstance(raw["display_px"], int)
                                or raw["display_px"] < 16):
        raise BuildOptionError(f"study file {path}: display_px ({raw['display_px']!r}) must be a whole number of "
                               f"device pixels ≥ 16")
    device = raw.get("device", {})
    if not isinstance(device, dict) or set(device) - set(DEFAULT_DEVICE):
        raise BuildOptionError(f"study file {path}: [device] may hold only {sorted(DEFAULT_DEVICE)}")
    others = sorted(set(device) - set(DEVICE_KEYS[kind]))
    if others:
        readers = " and ".join(_BUILD_OF[k] for k, read in DEVICE_KEYS.items() if set(others) <= set(read))
        raise BuildOptionError(f"study file {path}: device.{', device.'.join(others)} is read only by {readers}, "
                               f"not by {_BUILD_OF[kind]} (whose page checks {' and '.join(DEVICE_KEYS[kind])}); "
                               "remove it")
    if "touch_allowed" in device and not isinstance(device["touch_allowed"], bool):
        raise BuildOptionError(f"study file {path}: device.touch_allowed must be true or false")
    if "max_rescale" in device and (isinstance(device["max_rescale"], bool)
                                    or not isinstance(device["max_rescale"], (int, float)) or device["max_rescale"] < 1):
        raise BuildOptionError(f"study file {path}: device.max_rescale ({device['max_rescale']!r}) must be a number ≥ 1")
    for key in ("min_stimulus_px", "refresh_tolerance_hz"):
        if key in device and (isinstance(device[key], bool) or not isinstance(device[key], (int, float))
                              or device[key] < 0):
            raise BuildOptionError(f"study file {path}: device.{key} ({device[key]!r}) must be a number ≥ 0")
    panel = raw.get("panel")
    if panel is not None:
        _check_panel(path, panel)
    return raw


def _check_panel(path: Path, panel) -> None:
    if not isinstance(panel, dict) or set(panel) - set(PANEL_KEYS):
        raise BuildOptionError(f"study file {path}: [panel] may hold only {sorted(PANEL_KEYS)}")
    for key, required in PANEL_KEYS.items():
        value = panel.get(key)
        if value is None and not required:
            continue
        if not (isinstance(value, str) and value.strip()):
            raise BuildOptionError(f"study file {path}: panel.{key} ({value!r}) must be non-empty text")
    if not panel["completion_url"].startswith(("https://", "http://")) or "{code}" not in panel["completion_url"]:
        raise BuildOptionError(f"study file {path}: panel.completion_url ({panel['completion_url']!r}) must be "
                               "an http(s) URL holding {code} (and optionally {id})")
    if not is_id(panel["id_param"]) or panel["id_param"] in ("experiment", "link"):
        raise BuildOptionError(f"study file {path}: panel.id_param ({panel['id_param']!r}) must be a plain "
                               "parameter name other than experiment and link")


def study_config(raw: dict, *, n_trials: int, mean_video_s: float, example: str | None = None,
                 practice: list[dict] | None = None) -> dict:
    """The ``study.json`` written by the build: the file's values over `DEFAULT_STUDY`.

    ``minutes`` defaults to `estimated_minutes`; ``practice`` is the list of practice trials
    ``{"video": file name, "label": class, "options": [...]}``; ``example`` the example image.
    """
    study = {**DEFAULT_STUDY, **raw, "device": {**DEFAULT_DEVICE, **raw.get("device", {})}}
    n_practice = len(practice or [])
    if study["minutes"] is None:
        study["minutes"] = estimated_minutes(n_trials, mean_video_s, n_practice)
    study["n_trials"] = n_trials
    study["practice"] = practice or []
    study["example"] = example
    return {"version": 1, **study}
