"""Every recorded response, one row each: ``mvt export``, ``GET /admin/export.csv``, analysis.

A row is the kernel's common columns (`COMMON_COLUMNS`: whose answer to which trial, timing,
presentation, the assignment's state; filled here, in one place, for every kind) and the study kind's
own (an MVT trial's ``image_id``, ``label``, ``frames``; a rating's ``sample_id``, ``rating``), in the
kind's ``export_columns`` order. The kinds register their columns and row function here
(`register_export`, called by `studies.register_kind`), so the kernel never imports a kind; one file
holds one kind's responses (`export_kind`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import orjson
import redis as redis_py

from kernel import csvsafe
from kernel.store import keys
from kernel.assignments import iso_ms
from kernel.errors import ExperimentChoice, OutputUnwritable
from kernel.responses import PRESENTATION_FIELDS, TIMING_FIELDS, decode_response

LEAD_COLUMNS = ("experiment", "link_id", "assignment_id", "worker_id", "hit_id", "trial")
"""The columns that say whose answer to which trial a row is; a kind's own columns follow them."""

TAIL_COLUMNS = ("response_time_ms", "submitted_at", "assignment_status", "list_index", "timing_ok", "timing_reason",
                *(name for name in TIMING_FIELDS if name != "response_time_ms"), *PRESENTATION_FIELDS, "comment")
"""How the trial was presented and answered, and the assignment's state and debrief: after a kind's own columns."""

COMMON_COLUMNS = (*LEAD_COLUMNS, *TAIL_COLUMNS)
"""Every column the kernel fills, for every kind, from the stored response and its assignment (one place):
``submitted_at`` is the server's time of receipt (ISO 8601 UTC), ``assignment_status`` one of ``complete``,
``in_progress``, ``replaced``, ``expired``, ``comment`` the assignment's debrief, the rest the response's
stored fields (`kernel.responses.TIMING_FIELDS`, `kernel.responses.PRESENTATION_FIELDS`, ``timing_ok``
and ``timing_reason`` from record.lua)."""

REQUIRED_COLUMNS = (*LEAD_COLUMNS, "response_time_ms", "submitted_at", "assignment_status")
"""The common columns every kind's export must have: analysis, verification and progress read them."""

_STATUS = {"in_progress": "in_progress", "complete": "complete", "to_replace": "replaced",
           "replaced": "replaced", "expired": "expired"}


class KindExport(Protocol):
    """What the export needs of a study kind (`studies.base.StudyKind` supplies it)."""

    name: str
    export_columns: tuple[str, ...]

    def export_fields(self, link_meta: dict) -> Callable[[dict, list, str], dict]:
        """For one link (its stored meta), the function turning a stored response, the trial's hidden
        answer record and its list item into the kind's own columns."""


_KINDS: dict[str, KindExport] = {}
_DEFAULT: list[KindExport] = []


def register_export(kind: KindExport, *, default: bool = False) -> None:
    """Export the responses of links of ``kind.name`` with ``kind.export_columns`` (`studies.register_kind`
    calls this); ``default``: also links stored without a kind (loaded before kinds existed).

    Raises
    ------
    ValueError
        If the columns repeat a name or leave out one of `REQUIRED_COLUMNS`.
    """
    columns = tuple(kind.export_columns)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing or len(set(columns)) != len(columns):
        raise ValueError(f"export_columns of study kind {kind.name!r} must name each column once and include "
                         f"{', '.join(REQUIRED_COLUMNS)}" + (f" (missing {', '.join(missing)})" if missing else ""))
    _KINDS[kind.name] = kind
    if default:
        _DEFAULT[:] = [kind]


def _kind_export(name: str | None) -> KindExport:
    kind = _KINDS.get(name) if name else (_DEFAULT[0] if _DEFAULT else None)
    if kind is None:
        raise ExperimentChoice(f"the store holds responses of study kind {name!r}, which has no export columns "
                               f"here (is its plug-in named in MVT_PLUGINS?)")
    return kind


def experiment_links(r: redis_py.Redis) -> dict[str, list[str]]:
    """Every loaded experiment id with its link ids (sorted), from the links' metadata."""
    out: dict[str, list[str]] = {}
    links = sorted(r.smembers(keys.links_index()))
    pipe = r.pipeline(transaction=False)  # one round trip, not one per link
    for link_id in links:
        pipe.hget(keys.link_meta(link_id), "experiment_id")
    for link_id, experiment in zip(links, pipe.execute()):
        out.setdefault(experiment or "", []).append(link_id)
    return dict(sorted(out.items()))


def choose_experiments(available, names=None, *, where: str = "the store") -> list[str]:
    """The experiments to work on: all of `available` when there is one, else the `names` given.

    Raises
    ------
    ExperimentChoice
        If several experiments are available and none is named, or a name is not available.
    """
    available = sorted(available)
    listing = ", ".join(available) or "none"
    if names:
        unknown = [name for name in names if name not in available]
        if unknown:
            raise ExperimentChoice(f"no experiment named {unknown[0]!r} in {where}; it holds {listing}")
        return sorted(set(names))
    if len(available) > 1:
        raise ExperimentChoice(f"{where} holds {len(available)} experiments ({listing}); "
                               f"name one or more with --experiment NAME")
    return available


def experiment_kinds(r: redis_py.Redis, experiments=None) -> dict[str, str]:
    """The study kind of every loaded experiment (of `experiments`, when given), from its links' metadata;
    an experiment whose links were stored without a kind has ``""``."""
    by_experiment = experiment_links(r)
    names = sorted(by_experiment if experiments is None else set(experiments) & set(by_experiment))
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.hget(keys.link_meta(by_experiment[name][0]), "kind")
    return {name: kind or "" for name, kind in zip(names, pipe.execute())}


def export_kind(r: redis_py.Redis, experiments=None) -> KindExport:
    """The one study kind whose columns the responses of `experiments` (default: every loaded one) are
    written with.

    Raises
    ------
    ExperimentChoice
        If the experiments are of different kinds (their rows have different columns), listing each
        experiment with its kind; or a kind has no export registered.
    """
    kinds = experiment_kinds(r, experiments)
    chosen = {_kind_export(kind).name for kind in kinds.values()}
    if len(chosen) > 1:
        listing = ", ".join(f"{name} ({_kind_export(kind).name})" for name, kind in kinds.items())
        raise ExperimentChoice(f"the experiments are of different study kinds, whose responses have different "
                               f"columns: {listing}; export each kind to its own file with --experiment NAME")
    return _kind_export(next(iter(kinds.values()), None))


def stored_responses(r: redis_py.Redis, link_id: str) -> Iterator[tuple[str, int, dict]]:
    """``(assignment_id, trial, response)`` of every response stored for ``link_id``, in store order: the one
    reader of the stored responses (record.lua writes them) that the export builds its rows from."""
    for field, raw in r.hscan_iter(keys.link_responses(link_id), count=1000):
        assignment_id, trial = field.rsplit(":", 1)
        yield assignment_id, int(trial), decode_response(raw, int(trial))


_CLIENT_FIELDS = (*TIMING_FIELDS, *PRESENTATION_FIELDS, "timing_ok", "timing_reason")


def _link_rows(r: redis_py.Redis, link_id: str) -> list[dict]:
    meta = r.hgetall(keys.link_meta(link_id))
    raw_assignments = r.hgetall(keys.link_assignments(link_id))
    if not raw_assignments:
        return []
    experiment = meta.get("experiment_id") or ""
    fields_of = _kind_export(meta.get("kind")).export_fields(meta)
    # What a row takes from its assignment, once per assignment rather than once per trial.
    assignments = {}
    for assignment_id, raw in raw_assignments.items():
        rec = orjson.loads(raw)
        assignments[assignment_id] = (rec["list"], {
            "experiment": experiment, "link_id": link_id, "assignment_id": assignment_id, "worker_id": rec["worker"],
            "hit_id": rec["hit"], "list_index": rec["list"],
            "assignment_status": _STATUS.get(rec["status"], rec["status"]), "comment": rec.get("comment")})
    raw_answers, raw_lists = r.hgetall(keys.link_answers(link_id)), r.hgetall(keys.link_lists(link_id))
    answers: dict[str, list] = {}   # decoded once per (list, trial), shared by the assignments holding it
    lists: dict[int, list] = {}
    rows = []
    for assignment_id, trial, resp in stored_responses(r, link_id):
        held = assignments.get(assignment_id)
        if held is None:
            continue
        list_index, base = held
        key = f"{list_index}:{trial}"
        answer = answers.get(key)
        if answer is None:
            answer = answers[key] = orjson.loads(raw_answers[key])
        items = lists.get(list_index)
        if items is None:
            items = lists[list_index] = orjson.loads(raw_lists.get(str(list_index)) or "[]")
        row = {**base, "trial": trial, "submitted_at": iso_ms(resp["received_ms"])}
        row.update(zip(_CLIENT_FIELDS, map(resp.get, _CLIENT_FIELDS)))
        row.update(fields_of(resp, answer, items[trial] if trial < len(items) else ""))
        rows.append(row)
    rows.sort(key=lambda row: (row["assignment_id"], row["trial"]))
    return rows


def iter_response_rows(r: redis_py.Redis, experiments=None) -> Iterator[dict]:
    """One dict per recorded response, links in sorted order: the columns of its experiment's kind
    (`export_kind`; `COMMON_COLUMNS` and the kind's own).

    Missing values are None; ``timing_ok`` and the ``*_during_video`` flags are bools (or None);
    ``submitted_at`` is ISO 8601 UTC (server time of receipt). With `experiments` (ids), only their
    links' responses.
    """
    if experiments is None:
        links = sorted(r.smembers(keys.links_index()))
    else:
        by_experiment = experiment_links(r)
        links = sorted(link for name in experiments for link in by_experiment.get(name, []))
    for link_id in links:
        yield from _link_rows(r, link_id)


def _cell(value) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def write_rows(rows, out, columns) -> int:
    """Write ``rows`` as CSV with the header ``columns`` to the text stream ``out``; return the row count."""
    writer = csvsafe.writer(out)
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
        n += 1
    return n


def check_writable(path: Path | str) -> Path:
    """``path`` as a `Path`, after checking that a file can be written there.

    Raises
    ------
    OutputUnwritable
        If the folder does not exist, is not a folder, or ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputUnwritable(f"cannot write {path}: it is a folder; name a file, e.g. {path / 'responses.csv'}")
    if not path.parent.is_dir():
        raise OutputUnwritable(f"cannot write {path}: the folder {path.parent} does not exist")
    return path


def write_csv(r: redis_py.Redis, path: Path | str, experiments=None) -> int:
    """Write every recorded response (of `experiments`, when given) to ``path`` (CSV, header row, the
    columns of their kind: `export_kind`); return the number of rows.

    Raises
    ------
    ExperimentChoice
        If the experiments are of different kinds (nothing is written).
    OutputUnwritable
        If ``path`` cannot be written (`check_writable`, or the system refuses it).
    """
    path = check_writable(path)
    columns = export_kind(r, experiments).export_columns
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            n = write_rows(iter_response_rows(r, experiments), f, columns)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputUnwritable(f"cannot write {path}: {exc.strerror or exc}") from None
    return n


def csv_text(r: redis_py.Redis, experiments=None) -> str:
    """The responses CSV (of `experiments`, when given) as one string; raises `ExperimentChoice` as
    `write_csv` does."""
    out = io.StringIO()
    columns = export_kind(r, experiments).export_columns
    write_rows(iter_response_rows(r, experiments), out, columns)
    return out.getvalue()
