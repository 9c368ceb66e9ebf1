"""Every recorded response, one row each: ``mvt export``, ``GET /admin/export.csv``, analysis."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import redis as redis_py

from kernel import csvsafe
from kernel.store import keys
from kernel.assignments import iso_ms
from kernel.errors import ExperimentChoice, OutputUnwritable
from kernel.responses import MEASURED_FIELDS, PRESENTATION_FIELDS

RESPONSE_COLUMNS = (
    "link_id", "assignment_id", "worker_id", "hit_id", "trial", "image_id", "label", "frames", "duration_ms",
    "response", "correct", "response_time_ms", "presented_frames", "submitted_at", "dropped_frames",
    "refresh_interval_ms", "hidden_during_video", "blurred_during_video", "timing_ok", "assignment_status",
    "video_id", "list_index", "timing_source", "frames_presented_total", "frame_log", "experiment",
    *PRESENTATION_FIELDS, "comment", *MEASURED_FIELDS,
)
"""Columns of the responses CSV, in order (docs/interfaces.md's, then docs/contracts.md's, then
extras: ``experiment`` (the link's ``experiment_id``), the presentation fields of
`kernel.responses.PRESENTATION_FIELDS` and the assignment's debrief ``comment``)."""

_STATUS = {"in_progress": "in_progress", "complete": "complete", "to_replace": "replaced",
           "replaced": "replaced", "expired": "expired"}


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


def _link_rows(r: redis_py.Redis, link_id: str) -> list[dict]:
    experiment, fps = r.hmget(keys.link_meta(link_id), "experiment_id", "fps")
    experiment, fps = experiment or "", float(fps or 60)
    assignments = {a: orjson.loads(raw) for a, raw in r.hgetall(keys.link_assignments(link_id)).items()}
    if not assignments:
        return []
    answers = r.hgetall(keys.link_answers(link_id))
    rows = []
    for field, raw in r.hscan_iter(keys.link_responses(link_id), count=1000):
        assignment_id, trial = field.rsplit(":", 1)
        rec = assignments.get(assignment_id)
        if rec is None:
            continue
        resp = orjson.loads(raw)
        label, frames, image_id, video_id, *_ = orjson.loads(answers[f"{rec['list']}:{trial}"])
        rows.append({
            "link_id": link_id, "assignment_id": assignment_id, "worker_id": rec["worker"], "hit_id": rec["hit"],
            "trial": int(trial), "image_id": image_id, "label": label, "frames": frames,
            "duration_ms": round(frames * 1000.0 / fps, 3), "response": resp["response"],
            "correct": resp["correct"], "response_time_ms": resp.get("response_time_ms"),
            "presented_frames": resp.get("presented_frames"), "submitted_at": iso_ms(resp["received_ms"]),
            "dropped_frames": resp.get("dropped_frames"), "refresh_interval_ms": resp.get("refresh_interval_ms"),
            "hidden_during_video": resp.get("hidden_during_video"),
            "blurred_during_video": resp.get("blurred_during_video"), "timing_ok": resp.get("timing_ok"),
            "assignment_status": _STATUS.get(rec["status"], rec["status"]), "video_id": video_id,
            "list_index": rec["list"], "timing_source": resp.get("timing_source"),
            "frames_presented_total": resp.get("frames_presented_total"), "frame_log": resp.get("frame_log"),
            "experiment": experiment,
            **{name: resp.get(name) for name in PRESENTATION_FIELDS}, "comment": rec.get("comment"),
            **{name: resp.get(name) for name in MEASURED_FIELDS},
        })
    rows.sort(key=lambda row: (row["assignment_id"], row["trial"]))
    return rows


def iter_response_rows(r: redis_py.Redis, experiments=None) -> Iterator[dict]:
    """One dict per recorded response, keys `RESPONSE_COLUMNS`, links in sorted order.

    Missing values are None; ``correct``, ``timing_ok`` and the ``*_during_video`` flags are
    bools (or None); ``submitted_at`` is ISO 8601 UTC (server time of receipt). With
    `experiments` (ids), only their links' responses.
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


def write_rows(rows, out) -> int:
    """Write ``rows`` as CSV with a header to the text stream ``out``; return the row count."""
    writer = csvsafe.writer(out)
    writer.writerow(RESPONSE_COLUMNS)
    n = 0
    for row in rows:
        writer.writerow(_cell(row[c]) for c in RESPONSE_COLUMNS)
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
    """Write every recorded response (of `experiments`, when given) to ``path`` (CSV, header
    row); return the number of rows.

    Raises
    ------
    OutputUnwritable
        If ``path`` cannot be written (`check_writable`, or the system refuses it).
    """
    path = check_writable(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            n = write_rows(iter_response_rows(r, experiments), f)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputUnwritable(f"cannot write {path}: {exc.strerror or exc}") from None
    return n


def csv_text(r: redis_py.Redis) -> str:
    """The responses CSV as one string."""
    out = io.StringIO()
    write_rows(iter_response_rows(r), out)
    return out.getvalue()
