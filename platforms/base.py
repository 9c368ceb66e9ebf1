"""The interface a recruitment platform implements (docs/contracts.md, "Recruitment platforms").

A platform supplies three things: how a participant arrives (`Platform.arrival`, from the
query string of the page the platform opens), how they finish (`Platform.finish`, what the
runner does with the completion code), and its operations (`Platform.register_commands`,
commands that follow the ledger: dry run by default, every action recorded, never twice).
Allocation, gating, tokens and storage are the server's and the same for every platform.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass


class ArrivalError(ValueError):
    """The page's address lacks an id the platform always sends; the message tells the participant."""


@dataclass(frozen=True)
class Arrival:
    """Who arrived, as the server's allocation knows them.

    ``worker_id`` and ``assignment_id`` follow `app.ids`; ``hit_id`` is the platform's grouping
    id when it has one (MTurk's HIT); ``link`` is None when the server is to choose the link.
    ``preview`` means the participant only looks (MTurk's preview): no list is given.
    """

    link: str | None
    worker_id: str | None
    assignment_id: str | None
    hit_id: str | None
    preview: bool = False


class Platform(ABC):
    """One recruitment platform (MTurk, Prolific, a URL-parameter panel)."""

    #: the platform's name (``mturk``)
    name: str

    @abstractmethod
    def arrival(self, query: Mapping[str, str]) -> Arrival:
        """Read the participant's ids from the page's query; raises `ArrivalError`."""

    @abstractmethod
    def finish(self, query: Mapping[str, str], own_origin: str) -> dict:
        """The runner's ``finish`` config: how the completion code reaches the platform.

        ``{"method": "mturk_submit", "submit_to": origin | None}`` posts MTurk's
        externalSubmit form (or, framed in the landing layout, tells the layout to submit);
        a redirecting platform returns ``{"method": "redirect", "url": …}``.
        """

    @abstractmethod
    def register_commands(self, cli) -> None:
        """Add the platform's operations (``mvt mturk …``) to the ``mvt`` CLI."""
