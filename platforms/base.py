"""The interface a recruitment platform implements (docs/contracts.md, "Recruitment platforms").

A platform supplies: how a participant arrives (`Platform.arrival`, from the query string of
the page the platform opens) and the routes that page is served on (`Platform.router`); how they
finish (`Platform.finish`, what the runner does with the completion code); the words its
participants read (`Platform.words`); which submissions its own records confirm
(`Platform.confirmed`, for ``mvt analyze``'s verified rows); and its operations
(`Platform.register_commands`, commands that follow the ledger: dry run by default, every action
recorded, never twice). Allocation, gating, tokens and storage are the kernel's and the same for
every platform; the server (`app`) composes the platforms' routers and never names one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from platforms.fees import FeeRule


DEFAULT_LISTING = ("Recognise briefly shown images",
                   "Watch short videos of briefly flashed images and say what each one showed. Needs a desktop browser.")
"""(title, description) a study is listed under when neither the command, the study file nor the study
kind gives them (`platforms.cli.listed`)."""


class ArrivalError(ValueError):
    """The page's address lacks an id the platform always sends; the message tells the participant."""


@dataclass(frozen=True)
class Finished:
    """A completed assignment, as `Platform.completion_url` sees it: the link's ``experiment``, the
    ``link``, the participant's ``worker_id``, ``assignment_id`` and ``hit_id`` (group: MTurk's HIT,
    Prolific's study), and the server's signed completion ``code``."""

    experiment: str
    link: str
    worker_id: str
    assignment_id: str
    hit_id: str
    code: str


@dataclass(frozen=True)
class Arrival:
    """Who arrived, as the server's allocation knows them.

    ``worker_id`` and ``assignment_id`` follow `kernel.ids`; ``hit_id`` is the platform's grouping
    id when it has one (MTurk's HIT); ``link`` is None when the server is to choose the link.
    ``preview`` means the participant only looks (MTurk's preview): no list is given.
    """

    link: str | None
    worker_id: str | None
    assignment_id: str | None
    hit_id: str | None
    preview: bool = False


@dataclass(frozen=True)
class SpendRule:
    """What a platform pays for one experiment's work, for the control room's spend
    (`app.control.spend_of`): the ``reward`` per assignment in ``currency`` (``$``, ``£``, or a code),
    the fee ``rule`` (`platforms.fees`), ``task_sizes`` (link id → assignments of the platform's task
    holding the link: an MTurk HIT's MaxAssignments, which sets its fee; 1 elsewhere; links not
    posted on the platform are absent), the ``bonuses`` paid so far (one amount per payment, from the
    ledger), the platform's ``minimum_hourly`` pay (text, empty: none) and a ``note`` on the rule."""

    platform: str
    environment: str
    reward: Decimal
    currency: str
    rule: FeeRule
    task_sizes: dict[str, int]
    bonuses: list[Decimal] = field(default_factory=list)
    minimum_hourly: str = ""
    note: str = ""


class Platform(ABC):
    """One recruitment platform (MTurk, Prolific, a URL-parameter panel)."""

    #: the platform's name (``mturk``)
    name: str
    #: what its participants read (the page config's ``words``, the templates): ``platform`` (its
    #: name as participants know it), ``task`` (what they accept: HIT, study), ``participant_id``
    #: (what their id is called) and ``return_sentence`` (how they give a task back)
    words: ClassVar[dict[str, str]] = {
        "platform": "the panel", "task": "study", "participant_id": "participant ID",
        "return_sentence": "Please close this page and tell the researcher.",
    }
    #: assignment ids the platform sends while a participant only looks (MTurk's preview): the
    #: server allocates nothing for them
    preview_ids: ClassVar[frozenset[str]] = frozenset()
    #: origins that may frame the worker pages (CSP ``frame-ancestors``) and receive their forms
    #: (``form-action``), e.g. MTurk's sites
    frame_ancestors: ClassVar[tuple[str, ...]] = ()
    form_action: ClassVar[tuple[str, ...]] = ()
    #: whether the participant finishes at a URL holding the platform's completion code
    #: (`completion_url`); the server then notes the platform at arrival and answers
    #: ``POST /api/complete`` with the URL
    codes_at_completion: ClassVar[bool] = False

    @abstractmethod
    def arrival(self, query: Mapping[str, str]) -> Arrival:
        """Read the participant's ids from the page's query; raises `ArrivalError`."""

    @abstractmethod
    def finish(self, query: Mapping[str, str], own_origin: str) -> dict:
        """The runner's ``finish`` config: how the completion code reaches the platform.

        ``{"method": "mturk_submit", "submit_to": origin | None}`` posts MTurk's
        externalSubmit form (or, framed in the landing layout, tells the layout to submit);
        a redirecting platform returns ``{"method": "redirect", …}`` without a URL: the page
        config is readable before any work, so a URL holding the platform's completion code is
        given only in the answer to ``POST /api/complete`` (`completion_url`).
        """

    async def completion_url(self, r, settings, done: Finished) -> str | None:
        """Where the participant of ``done`` goes with the platform's completion code, built when the
        work is complete (``POST /api/complete``, `codes_at_completion`); None: nowhere (MTurk)."""
        return None

    @abstractmethod
    def register_commands(self, cli) -> None:
        """Add the platform's operations (``mvt mturk …``) to the ``mvt`` CLI."""

    def router(self, pages: Any):
        """The platform's routes (a FastAPI ``APIRouter``), or None.

        ``pages`` is the server's page kit (`app.routes.pages.PAGES`): ``error_page``,
        ``preview_page``, ``runner_page``, ``place_and_run``, ``experiment_study``, ``link_title``, ``templates``,
        ``security_headers``, ``own_origin``. The platform parses its arrival and hands the
        participant to the kit; it never touches allocation or the store directly.
        """
        return None

    def control_summary(self, r, experiment_id: str, link_ids: list[str], records: list[dict]) -> str | None:
        """One line on the experiment as this platform knows it, for the control room (``/admin/``,
        ``mvt status``): its HITs, its study, its participants. ``records`` are the experiment's
        assignment records (each with its ``assignment_id``). None (the default): not on this platform."""
        return None

    #: operations the control room offers (``/admin/plans/<platform>/<operation>``): name → what it
    #: does; each is shown as the dry-run plan the command would print and done only after the
    #: researcher confirms that plan (`page_operation`)
    page_operations: ClassVar[dict[str, str]] = {}
    #: the options each operation takes from the page: operation → ((field, label, default), …)
    page_options: ClassVar[dict[str, tuple[tuple[str, str, str], ...]]] = {}

    def page_operation(self, r, settings, operation: str, options: Mapping[str, str], *, commit: bool):
        """Run one of `page_operations` through the platform's ledger (dry run unless ``commit``:
        what is done is recorded and never done twice) and return its `platforms.ledger.Report`.
        ``options`` are the page's fields of `page_options`; raises ValueError or a
        `kernel.errors.MVTError` naming a bad one."""
        raise ValueError(f"{self.name} offers no operation {operation!r} on the page")

    def launch_cost(self, reward: Decimal, lists_per_link: list[int]) -> str | None:
        """The cost line of a built design posted on this platform at ``reward`` a task (one
        participant's list), fees included (``mvt build --reward``, through `kernel.costs`).
        Default: None (the platform charges nothing we know of)."""
        return None

    def spend_rules(self, r, experiment_id: str, link_ids: list[str]) -> list[SpendRule]:
        """What the platform pays for the experiment's work, one `SpendRule` per environment it was
        posted in, from the records its commands stored (``create-hits``, ``create-study``) and its
        ledger's bonuses. Default: none (the platform pays nothing we know of)."""
        return []

    def worker_status(self, r, worker_id: str) -> list[str]:
        """Lines on one worker as this platform's records know them (their submissions and the
        platform actions done on them), for ``/admin/workers/<id>``. Default: none."""
        return []

    def confirmed(self, r, responses, settings) -> dict[str, dict]:
        """Which of ``responses``' assignments the platform's own records speak for.

        ``{assignment_id: {"worker_id": …, "status": "confirmed" | "rejected" | "other"}}``
        (``responses`` is the export's table: ``assignment_id``, ``worker_id``,
        ``assignment_status``). ``mvt analyze`` (`analysis.verified`) keeps a row whose
        assignment is confirmed for its worker. Default: nothing (no records).
        """
        return {}

