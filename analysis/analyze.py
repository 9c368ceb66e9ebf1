"""The whole analysis of one responses table: screening, MVT, accuracy, progress, timing.

`analyze` computes everything as an `Analysis`; `write_outputs` writes ``mvt.csv``,
``accuracy.csv``, ``workers.csv``, ``cells.csv`` and ``report.html``; `repost_table` lists the links that
need assignments again (``repost.csv``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.accuracy import accuracy_table
from analysis.mvt import MVT_COLUMNS, MVTResult, estimate_mvt
from analysis.screening import WORKER_COLUMNS, ScreeningResult, screen_workers
from app.csvsafe import safe_frame, safe_row
from app.errors import NoResponses

PROGRESS_COLUMNS = ["link_id", "n_lists", "complete", "in_progress", "to_replace", "free", "replaced",
                    "expired", "flagged"]
"""Columns of `Analysis.progress`; counts of assignments per link. From Redis, ``n_lists``,
``complete``, ``in_progress``, ``to_replace`` and ``free`` come from ``app.admin.link_progress``;
from a CSV ``n_lists``, ``to_replace`` and ``free`` are unknown (empty). ``flagged`` counts
complete assignments of flagged workers (what ``--replace`` would mark)."""

TIMING_COLUMNS = ["frames", "duration_ms", "n_trials", "n_measured", "n_timing_ok", "n_timing_wrong",
                  "share_ok", "n_fewer_frames", "n_more_frames", "mean_abs_frame_error", "n_hidden", "n_blurred"]
"""Columns of `Analysis.timing`, one row per intended frame count, over complete assignments:
trials, trials whose presented frames were measured, ``timing_ok`` true / false (the server
also counts a hidden or blurred page as wrong), share of true among known, measured trials
that showed fewer / more frames than intended, mean absolute difference in frames, trials
with the page hidden or blurred during the video."""


@dataclass(frozen=True)
class Analysis:
    """Everything `mvt analyze` reports.

    Attributes
    ----------
    responses : pandas.DataFrame
        All prepared responses.
    screening : ScreeningResult
    mvt : MVTResult
    accuracy : pandas.DataFrame
        `analysis.accuracy.ACCURACY_COLUMNS`.
    progress : pandas.DataFrame
        `PROGRESS_COLUMNS`, one row per link.
    timing : pandas.DataFrame
        `TIMING_COLUMNS`.
    source : str
        Where the responses came from (``redis`` or the CSV path), for the report.
    """

    responses: pd.DataFrame
    screening: ScreeningResult
    mvt: MVTResult
    accuracy: pd.DataFrame
    progress: pd.DataFrame
    timing: pd.DataFrame
    source: str = ""


def infer_fps(responses: pd.DataFrame, default: float = 60.0) -> float:
    """The videos' frame rate from ``frames * 1000 / duration_ms`` (median, rounded), else `default`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = responses["frames"].to_numpy(dtype=float) * 1000.0 / responses["duration_ms"].to_numpy(dtype=float)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return float(np.round(np.median(ratio), 3)) if ratio.size else default


def timing_summary(responses: pd.DataFrame, *, fps: float = 60) -> pd.DataFrame:
    """Timing fidelity per intended frame count, over trials of complete assignments."""
    df = responses[responses["assignment_status"] == "complete"]
    rows = []
    for f, g in df.groupby("frames", sort=True):
        presented = g["presented_frames"].astype("Float64")
        measured = presented.notna()
        ok = (g["timing_ok"] == True).fillna(False)  # noqa: E712
        wrong = (g["timing_ok"] == False).fillna(False)  # noqa: E712
        diff = presented[measured] - f
        err = diff.abs()
        rows.append({
            "frames": int(f), "duration_ms": f * 1000.0 / fps, "n_trials": len(g), "n_measured": int(measured.sum()),
            "n_timing_ok": int(ok.sum()), "n_timing_wrong": int(wrong.sum()),
            "share_ok": float(ok.sum() / (ok.sum() + wrong.sum())) if (ok.sum() + wrong.sum()) else np.nan,
            "n_fewer_frames": int((diff < 0).sum()), "n_more_frames": int((diff > 0).sum()),
            "mean_abs_frame_error": float(err.mean()) if len(err) else np.nan,
            "n_hidden": int(g["hidden_during_video"].fillna(False).sum()) if "hidden_during_video" in g else 0,
            "n_blurred": int(g["blurred_during_video"].fillna(False).sum()) if "blurred_during_video" in g else 0,
        })
    return pd.DataFrame(rows, columns=TIMING_COLUMNS)


def progress_from_responses(responses: pd.DataFrame, screening: ScreeningResult,
                            link_progress=None) -> pd.DataFrame:
    """Assignments per link: from ``app.admin.link_progress`` rows when given, else counted
    from the responses' ``assignment_status``; plus flagged complete assignments per link."""
    flagged_ids = set(screening.flagged_assignments())
    per_assignment = responses.drop_duplicates("assignment_id")[["link_id", "assignment_id", "assignment_status"]]
    counts = pd.crosstab(per_assignment["link_id"], per_assignment["assignment_status"])
    flagged = per_assignment[per_assignment["assignment_id"].isin(flagged_ids)].groupby("link_id").size()
    links = sorted(set(per_assignment["link_id"]) | {p.link_id for p in (link_progress or [])})
    rows = []
    known = {p.link_id: p for p in (link_progress or [])}
    for link in links:
        c = counts.loc[link] if link in counts.index else pd.Series(dtype=int)
        row = {"link_id": link, "replaced": int(c.get("replaced", 0)), "expired": int(c.get("expired", 0)),
               "flagged": int(flagged.get(link, 0))}
        if link_progress is not None:
            p = known.get(link)
            row.update(n_lists=p.n_lists if p else pd.NA, complete=p.complete if p else 0,
                       in_progress=p.in_progress if p else 0, to_replace=p.to_replace if p else 0,
                       free=p.free if p else pd.NA)
        else:
            row.update(n_lists=pd.NA, complete=int(c.get("complete", 0)), in_progress=int(c.get("in_progress", 0)),
                       to_replace=pd.NA, free=pd.NA)
        rows.append(row)
    out = pd.DataFrame(rows, columns=PROGRESS_COLUMNS)
    for col in ("n_lists", "to_replace", "free"):
        out[col] = out[col].astype("Int64")
    return out


def analyze(responses: pd.DataFrame, *, rule: str = "stable", theta: float = 0.5, inclusive: bool = False,
            n_bootstrap: int = 1000, rng=0, control_threshold: float = 0.6, min_r: float = 0.25,
            frame_counts=None, psychometric: bool = False, n_choices: int | None = None,
            link_progress=None, source: str = "", fps: float | None = None) -> Analysis:
    """Screen workers, estimate MVTs and accuracies, and summarise progress and timing.

    Parameters
    ----------
    responses : pandas.DataFrame
        A prepared responses table (`analysis.responses`).
    rule, theta, inclusive, n_bootstrap, rng, psychometric, n_choices
        As in `analysis.mvt.estimate_mvt`.
    control_threshold, min_r
        As in `analysis.screening.screen_workers`.
    frame_counts : sequence of int, optional
        The design's duration grid; default the frame counts present.
    link_progress : list of app.admin.LinkProgress, optional
        Progress per link from Redis; without it progress is counted from the responses.
    source : str, optional
        Where the responses came from, for the report.
    fps : float, optional
        Frame rate of the videos; default inferred from ``frames`` and ``duration_ms``
        (60 when that is not possible).

    Returns
    -------
    Analysis

    Raises
    ------
    NoResponses
        If there are no responses, or screening leaves none to estimate from.
    """
    if len(responses) == 0:
        raise NoResponses("there are no responses to analyse; run the experiment (or pass a non-empty --responses CSV)")
    grid = np.unique(np.asarray(frame_counts if frame_counts is not None else responses["frames"], dtype=np.int64))
    fps = fps or infer_fps(responses)
    screening = screen_workers(responses, control_threshold=control_threshold, min_r=min_r, frame_counts=grid)
    used = screening.used
    if len(used) == 0:
        s = screening.summary()
        raise NoResponses(
            f"no responses are left after screening ({s['responses']} recorded: {s['incomplete_excluded']} in "
            f"incomplete/replaced/expired assignments, {s['timing_excluded']} with wrong timing, "
            f"{s['flagged']} of {s['workers']} workers flagged); lower --control-threshold or --min-r to keep more workers")
    mvt = estimate_mvt(used, frame_counts=grid, rule=rule, theta=theta, inclusive=inclusive,
                       n_bootstrap=n_bootstrap, rng=rng, psychometric=psychometric,
                       n_choices=n_choices or max(2, responses["label"].nunique()), fps=fps)
    accuracy = accuracy_table(used, frame_counts=grid, fps=fps)
    progress = progress_from_responses(responses, screening, link_progress)
    return Analysis(responses=responses, screening=screening, mvt=mvt, accuracy=accuracy, progress=progress,
                    timing=timing_summary(responses, fps=fps), source=source)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV: empty fields for missing values, booleans as true/false (as `mvt export`)."""
    df = safe_frame(df)
    for col in df.columns:
        if df[col].dtype == bool or str(df[col].dtype) == "boolean":
            df[col] = df[col].map({True: "true", False: "false"}).astype(object)
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")
    tmp.replace(path)


def write_outputs(analysis: Analysis, out_dir: Path | str) -> dict[str, Path]:
    """Write ``mvt.csv``, ``accuracy.csv``, ``workers.csv``, ``cells.csv`` and ``report.html`` into `out_dir`.

    ``cells.csv`` has one row per (image, duration): ``image_id, label, frames, duration_ms, n,
    k, p, wilson_low, wilson_high, cp_low, cp_high, recognised`` (95 % Wilson and
    Clopper-Pearson intervals of the proportion correct).

    Returns
    -------
    dict
        File name → path written.
    """
    from analysis.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("mvt.csv", "accuracy.csv", "workers.csv", "cells.csv", "report.html")}
    mvt_cols = MVT_COLUMNS + [c for c in analysis.mvt.table.columns if c not in MVT_COLUMNS]
    _write_csv(analysis.mvt.table[mvt_cols], paths["mvt.csv"])
    _write_csv(analysis.accuracy, paths["accuracy.csv"])
    _write_csv(analysis.screening.workers[WORKER_COLUMNS], paths["workers.csv"])
    _write_csv(analysis.mvt.cells, paths["cells.csv"])
    write_report(analysis, paths["report.html"])
    return paths


REPOST_COLUMNS = ["HIT_Link", "n_assignments", "link_id"]
"""Columns of ``repost.csv``: the experiment URL of the link (the link id when no base URL is
known), how many assignments it needs again, and the link id."""


def repost_table(link_progress, *, base_url: str | Mapping[str, str] | None = None) -> pd.DataFrame:
    """Links with assignments marked for replacement, and how many, for ``repost.csv``.

    Parameters
    ----------
    link_progress : list of app.admin.LinkProgress
        Progress per link after marking (``to_replace`` counts lists awaiting a new worker).
    base_url : str or mapping of str to str, optional
        The experiment's base URL (``design.json``), or one per link id; links become
        ``{base_url}/experiment.html?link={link_id}``. Without one ``HIT_Link`` is the link id.

    Returns
    -------
    pandas.DataFrame
        Columns `REPOST_COLUMNS`, links sorted, only those with ``to_replace > 0``.
    """
    rows = []
    for p in link_progress:
        if p.to_replace > 0:
            base = base_url.get(p.link_id) if isinstance(base_url, Mapping) else base_url
            url = f"{base.rstrip('/')}/experiment.html?link={p.link_id}" if base else p.link_id
            rows.append({"HIT_Link": url, "n_assignments": int(p.to_replace), "link_id": p.link_id})
    return pd.DataFrame(rows, columns=REPOST_COLUMNS)


def write_repost(table: pd.DataFrame, path: Path | str) -> Path:
    """Write `repost_table` output as ``repost.csv`` (first header cell exactly ``HIT_Link``)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(REPOST_COLUMNS)
        writer.writerows(map(safe_row, table[REPOST_COLUMNS].itertuples(index=False, name=None)))
    return path
