"""Our Prolific studies: create the draft, then publish, pause, resume, stop it.

Endpoints (https://docs.prolific.com/api-reference/studies/create-study and
https://docs.prolific.com/api-reference/studies/transition-study): ``POST /api/v1/studies/``
makes an UNPUBLISHED draft; ``POST /api/v1/studies/{id}/transition/`` with ``action`` PUBLISH,
PAUSE, START (resume) or STOP. Fields: ``external_study_url`` (placeholders
``{{%PROLIFIC_PID%}}``, ``{{%STUDY_ID%}}``, ``{{%SESSION_ID%}}``), ``total_available_places``,
``reward`` (cents of the account's currency), ``estimated_completion_time`` (minutes),
``completion_codes`` (``code``, ``code_type``, ``actions``), ``device_compatibility``,
``filters`` (``filter_id`` + ``selected_values``; block lists: ``participant_group_blocklist``
and ``custom_blocklist``; country: ``current-country-of-residence`` with Prolific's choice ids
from ``GET /api/v1/filters/``). See https://docs.prolific.com/api-reference/studies/the-study-object

Codes: a finished task is ``COMPLETED`` (reviewed by hand). A participant our device rules turn
away before consent gets the screened-out code, as ``INCOMPATIBLE_DEVICE`` with the action
``REQUEST_RETURN`` (``return_reason``: they did no work, so they return the study); with a
screen-out reward it is ``FIXED_SCREENOUT`` with ``FIXED_SCREEN_OUT_PAYMENT``
(``fixed_screen_out_reward`` in cents, ``slots``: how many may be screened out), Prolific's
in-study screening, which pays that amount. (``OTHER``, used before, is an ordinary completion
that waits for manual review.) ``custom_blocklist`` is used only after ``GET /api/v1/filters/``
lists it, as it is not in Prolific's published reference.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from decimal import Decimal

from platforms.fees import PROLIFIC_ACADEMIC, PROLIFIC_CORPORATE, PROLIFIC_MIN_HOURLY, percent
from platforms.ledger import Action, Report, forget_done, now_iso
from platforms.inputs import parse_amount
from platforms.prolific.client import ProlificBadInput, ProlificClient
from platforms.prolific.records import execute, new_report, scope, select_study, store, stored

ARRIVAL_PATH = "/prolific"
ARRIVAL_QUERY = "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
COMPLETE_URL = "https://app.prolific.com/submissions/complete?cc="
DEVICES = ("desktop", "tablet", "mobile")
TRANSITIONS = {"publish": "PUBLISH", "pause": "PAUSE", "resume": "START", "stop": "STOP"}
_UNDOES = {"PAUSE": "START", "START": "PAUSE"}
SCREENED_OUT_REASON = ("Your device does not meet this study's requirements (screen size, input or display), "
                       "so the study could not start; please return it.")
NO_CONSENT_REASON = "You did not agree to take part, so the study did not start; please return it."
BLOCKLIST_FILTER = "custom_blocklist"


@dataclass(frozen=True)
class Experiment:
    """What create-study needs from an experiment folder: its name, server and number of lists."""

    name: str
    base_url: str
    n_lists: int

    @property
    def study_url(self) -> str:
        """Where Prolific sends participants: the server's Prolific arrival page."""
        return f"{self.base_url}{ARRIVAL_PATH}?experiment={self.name}&{ARRIVAL_QUERY}"

    @classmethod
    def from_folder(cls, source: Path) -> Experiment:
        """Read ``design.json`` (the folder or the file): each list is one place."""
        path = Path(source) / "design.json" if Path(source).is_dir() else Path(source)
        if not path.exists():
            raise ProlificBadInput(f"{path} does not exist; give an experiment folder or its design.json")
        design = json.loads(path.read_text())
        per_link = design.get("workers", 0) * len(design.get("frame_counts", []))
        n_lists = sum(len(link.get("lists", [])) or per_link for link in design["links"])
        name = design.get("experiment_id") or design.get("name") or path.parent.name
        return cls(name, design["base_url"].rstrip("/"), n_lists)


def default_completion_code(key: bytes, experiment: str) -> str:
    """A completion code fixed by the experiment's name and the server's secret ``key`` (8 capitals
    and digits). Unkeyed, anyone who knows the experiment's name could compute it offline and submit
    the study without working."""
    digest = hmac.new(key, f"prolific-completion|{experiment}".encode(), hashlib.sha256).hexdigest()
    return "C" + digest[:7].upper()


def default_no_consent_code(key: bytes, experiment: str) -> str:
    """The code a participant who declines consent is sent back with, fixed like
    `default_completion_code` (it pays nothing: Prolific asks them to return the study)."""
    digest = hmac.new(key, f"prolific-no-consent|{experiment}".encode(), hashlib.sha256).hexdigest()
    return "N" + digest[:7].upper()


@dataclass(frozen=True)
class StudySettings:
    """The draft's pay, time, codes and who may take it.

    ``reward`` is per participant in the account's currency (e.g. ``"1.50"``); ``countries`` are
    Prolific's choice ids of ``current-country-of-residence``; ``exclude_groups`` participant
    group ids and ``exclude_participants`` participant ids kept out of the study.
    """

    name: str
    description: str
    reward: str
    estimated_minutes: int
    completion_code: str
    screened_out_code: str = ""
    no_consent_code: str = ""
    devices: tuple[str, ...] = ("desktop",)
    countries: tuple[str, ...] = ()
    exclude_groups: tuple[str, ...] = ()
    exclude_participants: tuple[str, ...] = ()
    screen_out_reward: str = ""

    def __post_init__(self):
        reward = parse_amount(self.reward, "reward")
        if self.screen_out_reward:
            if not self.screened_out_code:
                raise ProlificBadInput("a screen-out reward needs a screened-out code (--screened-out-code)")
            if parse_amount(self.screen_out_reward, "screen-out reward") >= reward:
                raise ProlificBadInput(f"screen-out reward ({self.screen_out_reward}) must be less than the "
                                       f"reward ({self.reward}), as Prolific requires")
        if self.estimated_minutes < 1:
            raise ProlificBadInput(f"estimated minutes ({self.estimated_minutes}) must be at least 1")
        for device in self.devices:
            if device not in DEVICES:
                raise ProlificBadInput(f"device ({device!r}) must be one of {', '.join(DEVICES)}")
        codes = [c for c in (self.completion_code, self.screened_out_code, self.no_consent_code) if c]
        if len(codes) != len(set(codes)):
            raise ProlificBadInput(f"completion, screened-out and no-consent codes ({', '.join(codes)}) must differ")
        for code in codes:
            if not code.isalnum():
                raise ProlificBadInput(f"completion code ({code!r}) must be letters and digits")

    @property
    def reward_cents(self) -> int:
        """The reward in cents (pence), as the API takes it."""
        return int(parse_amount(self.reward, "reward") * 100)

    def body(self, experiment: Experiment) -> dict:
        """The JSON of ``POST /api/v1/studies/``."""
        codes = [{"code": self.completion_code, "code_type": "COMPLETED",
                  "actions": [{"action": "MANUALLY_REVIEW"}]}]
        if self.screened_out_code and self.screen_out_reward:
            cents = int(parse_amount(self.screen_out_reward, "screen-out reward") * 100)
            codes.append({"code": self.screened_out_code, "code_type": "FIXED_SCREENOUT",
                          "actions": [{"action": "FIXED_SCREEN_OUT_PAYMENT", "fixed_screen_out_reward": cents,
                                       "slots": experiment.n_lists}]})
        elif self.screened_out_code:
            codes.append({"code": self.screened_out_code, "code_type": "INCOMPATIBLE_DEVICE",
                          "actions": [{"action": "REQUEST_RETURN", "return_reason": SCREENED_OUT_REASON}]})
        if self.no_consent_code:
            codes.append({"code": self.no_consent_code, "code_type": "NO_CONSENT",
                          "actions": [{"action": "REQUEST_RETURN", "return_reason": NO_CONSENT_REASON}]})
        filters = []
        if self.countries:
            filters.append({"filter_id": "current-country-of-residence", "selected_values": list(self.countries)})
        if self.exclude_groups:
            filters.append({"filter_id": "participant_group_blocklist", "selected_values": list(self.exclude_groups)})
        if self.exclude_participants:
            filters.append({"filter_id": BLOCKLIST_FILTER, "selected_values": list(self.exclude_participants)})
        return {"name": self.name, "internal_name": experiment.name, "description": self.description,
                "external_study_url": experiment.study_url, "prolific_id_option": "url_parameters",
                "completion_codes": codes, "total_available_places": experiment.n_lists,
                "estimated_completion_time": self.estimated_minutes, "reward": self.reward_cents,
                "device_compatibility": list(self.devices), "filters": filters}

    def summary(self, experiment: Experiment) -> str:
        """One sentence saying what the draft offers and who may take it."""
        who = [f"devices: {', '.join(self.devices)}",
               f"countries (Prolific ids): {', '.join(self.countries)}" if self.countries else "",
               f"excluding {len(self.exclude_participants)} participants" if self.exclude_participants else "",
               f"excluding groups {', '.join(self.exclude_groups)}" if self.exclude_groups else ""]
        return (f"Draft study {self.name!r} for experiment {experiment.name}: {experiment.n_lists} places "
                f"at {parse_amount(self.reward, 'reward')} each, about {self.estimated_minutes} min; "
                f"{'; '.join(w for w in who if w)}. Participants finish at {COMPLETE_URL}{self.completion_code}")


def prolific_cost_note(reward: Decimal, places: int, minutes: int | None, where: str = "") -> str:
    """The study's cost with Prolific's fee (both account rates) and, given the task's ``minutes``, the
    pay per hour (`platforms.fees`); ``where`` follows the word Cost."""
    rewards, academic = PROLIFIC_ACADEMIC.cost(reward, [1] * places)
    _, corporate = PROLIFIC_CORPORATE.cost(reward, [1] * places)
    hourly = (reward * 60 / minutes).quantize(Decimal("0.01")) if minutes else None
    pay = (f"pay {hourly} an hour at {minutes} min" if minutes else f"pay per hour {reward} × 60 / the task's minutes")
    return (f"Cost{where}: rewards {rewards} + fee {academic} = {rewards + academic} (academic or non-profit rate "
            f"{percent(PROLIFIC_ACADEMIC.rate)} %; corporate {percent(PROLIFIC_CORPORATE.rate)} %: "
            f"{rewards + corporate}), from {PROLIFIC_ACADEMIC.source} read {PROLIFIC_ACADEMIC.read_on}; "
            f"{pay} (Prolific's minimum: {PROLIFIC_MIN_HOURLY} an hour).")


def earlier_participants(r, env: str) -> list[str]:
    """Participants of every study we stored submissions of, and those our server blocks."""
    from kernel.admin import blocked_workers

    seen = {s["participant_id"] for s in stored(r, env, "submissions").values()}
    return sorted(seen | set(blocked_workers(r)))


def create_study(client: ProlificClient, r, experiment: Experiment, settings: StudySettings, *,
                 commit: bool, batch: str = "") -> Report:
    """Create the draft study (once per experiment and batch) and record its id."""
    env = client.environment
    report = new_report(client, "create-study", commit)
    report.notes.append(settings.summary(experiment))

    def on_success(response: dict) -> dict:
        study_id = response["id"]
        store(r, env, "studies", study_id, {
            "study_id": study_id, "experiment": experiment.name, "name": settings.name,
            "places": experiment.n_lists, "reward_cents": settings.reward_cents,
            "completion_code": settings.completion_code,
            "screened_out_code": settings.screened_out_code, "no_consent_code": settings.no_consent_code,
            "created_at": now_iso(), "source": "create-study"})
        return {"study_id": study_id}

    if settings.exclude_participants:
        check_filter(client, BLOCKLIST_FILTER, f"keep {len(settings.exclude_participants)} participants out")
    reward = parse_amount(settings.reward, "reward")
    report.notes.append(prolific_cost_note(reward, experiment.n_lists, settings.estimated_minutes))
    action = Action("create-study", f"{experiment.name}:{batch}" if batch else experiment.name,
                    f"create draft study {settings.name!r}: {experiment.n_lists} places at {reward}, "
                    f"{experiment.study_url}", "POST /studies/", settings.body(experiment),
                    subject=f"experiment {experiment.name}", amount=reward * experiment.n_lists,
                    on_success=on_success)
    return execute(client, r, [action], commit=commit, report=report)


def check_filter(client: ProlificClient, filter_id: str, purpose: str) -> None:
    """Raise `ProlificBadInput` unless ``GET /api/v1/filters/`` lists ``filter_id`` (needs the token)."""
    known = {f.get("filter_id") for f in client.pages("/filters/", subject="the filter list")}
    if filter_id not in known:
        raise ProlificBadInput(
            f"Prolific's filter list (GET /api/v1/filters/) has no {filter_id!r} to {purpose}; put them in a "
            "participant group instead (mvt prolific block --workers-file FILE --group-id GROUP --commit) and "
            "give --exclude-group GROUP")


def created_study(r, env: str, experiment: str) -> str | None:
    """The id of the latest study `create_study` made for ``experiment``."""
    made = [s for s in stored(r, env, "studies").values() if s.get("experiment") == experiment]
    return max(made, key=lambda s: s["created_at"])["study_id"] if made else None


def transition_study(client: ProlificClient, r, study_id: str | None, verb: str, *,
                     commit: bool) -> Report:
    """Publish, pause, resume or stop the study (``verb`` as in `TRANSITIONS`).

    Each is done once; pausing and resuming undo each other, so pause → resume → pause works.
    """
    env = client.environment
    action = TRANSITIONS[verb]
    study = select_study(r, env, study_id)
    report = new_report(client, verb, commit)
    sid = study["study_id"]

    def on_success(_response: dict) -> None:
        if action in _UNDOES:
            forget_done(r, scope(client), "study-transition", f"{sid}:{_UNDOES[action]}")

    act = Action("study-transition", f"{sid}:{action}", f"{verb} study {sid} ({action})",
                 f"POST /studies/{sid}/transition/", {"action": action}, subject=f"study {sid}",
                 on_success=on_success)
    return execute(client, r, [act], commit=commit, report=report)

