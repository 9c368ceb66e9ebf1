"""The interface a study kind implements (docs/contracts.md, "Study kinds")."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import BadExperiment
from kernel.export import LEAD_COLUMNS, TAIL_COLUMNS


@dataclass(frozen=True)
class LinkData:
    """What ``mvt load`` stores for one link, in the kind-neutral shape the store knows.

    ``lists[i]`` is list ``i``'s item ids in trial order (the only per-trial data the browser
    may know: opaque media ids). ``answers[(i, j)]`` is trial ``j`` of list ``i``'s hidden record
    ``[correct_option or None, frames, item_id (e.g. image id), media_id, fixation_frames]``,
    read by ``record.lua`` to compute ``correct`` and ``presented_frames`` and never sent out.
    ``options`` are the answers a worker may give (``record.lua`` refuses any other).
    """

    link_id: str
    lists: list[list[str]]
    answers: dict[tuple[int, int], list]
    options: list[str]
    meta: dict[str, Any]


class StudyKind(ABC):
    """One kind of study (MVT recognition, rating, ...): the parts the rest of the system calls.

    The kind owns its whole path: its build command, what ``mvt load`` stores, the trials the
    browser gets, its page and browser module, its analysis (``mvt analyze`` runs the analysis of
    the chosen experiments' kind), its simulated answers and its media types. Nothing outside
    ``studies/`` compares a kind's name.
    """

    #: the kind's name, stored in each link's meta as ``kind``
    name: str
    #: the worker page (a template of ``app/templates``), its preview (what a participant sees
    #: before accepting) and the kind's browser module (served from ``static/``, run by the
    #: common session ``static/common/session.js``)
    page_template: str = "experiment.html"
    preview_template: str = "preview.html"
    page_module: str = "/static/runner/kind.js"
    #: a folder with the kind's own ``templates/`` and ``static/`` (served under
    #: ``/static/kinds/<name>/``), for a kind outside this repository; None: the project's own
    assets_dir: Path | None = None
    #: file extensions of the kind's media and their content types (``/videos/<id>.<ext>``)
    media_types: dict[str, str] = {"mp4": "video/mp4"}
    #: ``mvt simulate`` options the kind's simulated answers take (beyond the worker model)
    simulation_options: frozenset[str] = frozenset()
    #: what the control room (``/admin/``, ``mvt status``) calls the kind; empty: its name
    title: str = ""
    #: (title, description) a platform lists the kind's experiments under (a HIT, a Prolific study)
    #: when the study file gives none (`studies.loader.listing`); None: the platforms' default,
    #: worded for MVT (`platforms.base.DEFAULT_LISTING`)
    listing: tuple[str, str] | None = None
    #: the columns of a worker's trials on ``/admin/workers/<id>``: (heading, stored response field)
    control_trial_columns: tuple[tuple[str, str], ...] = (
        ("answer", "response"), ("correct", "correct"), ("timing ok", "timing_ok"),
        ("frames shown", "presented_frames"), ("answer time (ms)", "response_time_ms"), ("plays", "plays"))

    #: the columns of the kind's responses CSV (``mvt export``), in order: the kernel's common columns
    #: (`kernel.export.COMMON_COLUMNS`, at least `kernel.export.REQUIRED_COLUMNS`) and the kind's own,
    #: which `export_fields` gives. Default: the trial's item id, the answer and whether it was right.
    export_columns: tuple[str, ...] = (*LEAD_COLUMNS, "item_id", "media_id", "response", "correct", *TAIL_COLUMNS)

    def export_fields(self, link_meta: dict) -> Callable[[dict, list, str], dict]:
        """For one link (``link_meta``: what ``mvt load`` stored, e.g. ``fps``, ``design``), the function
        ``fields(response, answer, item) -> dict`` giving the kind's own columns of one row, from the
        stored response (a dict, as `kernel.export.stored_responses` reads it), the trial's hidden answer
        record (`LinkData.answers`) and its list item (`LinkData.lists`). Called once per link, its
        function once per response: keep per-link work out of the function."""

        def fields(response: dict, answer: list, item: str) -> dict:
            return {"item_id": answer[2], "media_id": answer[3], "response": response["response"],
                    "correct": response.get("correct")}

        return fields

    @abstractmethod
    def register_commands(self, cli) -> None:
        """Add the kind's build command(s) to the ``mvt`` CLI (e.g. ``mvt build``)."""

    @abstractmethod
    def link_data(self, design: dict, stimuli: dict, exp_dir: Path) -> list[LinkData]:
        """Validate a built experiment (its ``design.json`` and ``stimuli.json``) and give each
        link's data for the store; raises `kernel.errors.BadExperiment` naming what is wrong."""

    @abstractmethod
    def trials(self, item_ids: list[str], options: list[str], media_url: Callable[..., str]) -> list[dict]:
        """The browser's view of an allocated list: one JSON object per trial, in order.

        ``media_url(item_id, ext="mp4")`` gives the URL the server (or CDN) serves an item under. Never
        include a correct answer, a label, or anything that gives the condition away.
        """

    @abstractmethod
    def simulated_answers(self, exp_dir: Path, *, model, rng, options: dict):
        """How simulated workers answer this kind's trials (``mvt simulate``): an
        `simulation.workers.Answers` strategy for the experiment built in ``exp_dir``. ``model``
        is the `simulation.workers.WorkerModel`; ``options`` holds only `simulation_options`.
        Raises ValueError for options that do not fit the experiment."""

    @abstractmethod
    def analyze(self, request) -> list[str]:
        """``mvt analyze`` for experiments of this kind: read, analyse, write ``request.out``;
        the summary lines to print. ``request`` is an `analysis.commands.AnalysisRequest`."""

    def default_study(self) -> dict:
        """The study (words, rules) of an experiment loaded without ``study.json``."""
        from stimuli.study import DEFAULT_STUDY

        return dict(DEFAULT_STUDY)

    def control_figures(self, records: list[dict]) -> dict[str, str]:
        """The kind's own live figures in the control room (``/admin/``, ``mvt status``): label → text,
        from one experiment's assignment records (``keys.link_assignments`` values, never responses;
        a random sample of `app.control.SAMPLE_RECORDS` in a large experiment, so give shares and
        medians, not totals). Default: the median number of trials done by tasks in progress."""
        import statistics

        done = [int(rec.get("n_done") or 0) for rec in records if rec.get("status") == "in_progress"]
        return {"trials done per task in progress (median)": f"{statistics.median(done):g}" if done else "-"}

    def control_quality(self, counts: dict[str, int]) -> dict[str, str]:
        """The kind's own live data quality in the control room: label → text, from the counts
        ``record.lua`` keeps as responses are recorded, summed over the experiment's links
        (`kernel.quality.add_kind_counts`: ``<item class>|<distance from the known answer>`` for answers
        without frames whose hidden record knows the answer, ``headphone|<outcome>`` per task); never
        from responses. The share of trials timing_ok overall and by browser, OS, refresh rate and
        devicePixelRatio is shown for every kind from counts too (`kernel.quality`). Default: nothing."""
        return {}

    def page_study(self, design: dict) -> dict | None:
        """What the kind's worker page needs before a list is allocated, for an experiment whose
        build wrote no ``study.json``: stored as the experiment's study and served as the page
        config's ``study``. None (the default): the page gets `default_study`.
        Never anything that gives a sample or condition away."""
        return None


def checked_strings(design: dict, key: str, what: str) -> list[str]:
    """``design[key]`` as a non-empty list of non-empty strings, else `BadExperiment` naming it."""
    value = design.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadExperiment(f"{key} ({value!r}) in design.json must be a non-empty list of {what}")
    return value


def checked_links(design: dict, exp_dir: Path) -> list:
    """``design["links"]`` when it is a non-empty list, else `BadExperiment`."""
    links = design.get("links")
    if not isinstance(links, list) or not links:
        raise BadExperiment(f"design.json of {exp_dir} has no links")
    return links
