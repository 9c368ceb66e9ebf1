"""The whole analysis of one responses table: screening, MVT, accuracy, progress, timing.

`analyze` computes everything as an `Analysis`; `write_outputs` writes ``mvt.csv``,
``accuracy.csv``, ``workers.csv``, ``cells.csv`` and ``report.html`` and, beside them, every other
number the report shows (`OUTPUT_FILES`); `repost_table` lists the links that need assignments
again (``repost.csv``). `select_experiments`, `read_metadata` and `add_metadata` prepare the
responses (one or more experiments; image metadata for ``--by``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.accuracy import accuracy_table
from analysis.background import in_background
from analysis.durations import duration_ms
from analysis.mvt import MVT_COLUMNS, MVTResult, estimate_mvt
from analysis.responses import REQUIRED_COLUMNS, USABLE_STATUSES, status_note
from analysis.screening import WORKER_COLUMNS, ScreeningResult, screen_workers
from analysis.suspicion import suspicious_workers
from kernel import csvsafe
from kernel.errors import ExperimentChoice, NoResponses, ResponsesInvalid

PROGRESS_COLUMNS = ["link_id", "n_lists", "complete", "in_progress", "to_replace", "free", "replaced",
                    "expired", "flagged", "unknown"]
"""Columns of `Analysis.progress`; counts of assignments per link. From Redis, ``n_lists``,
``complete``, ``in_progress``, ``to_replace`` and ``free`` come from ``kernel.admin.link_progress``;
from a CSV ``n_lists``, ``to_replace`` and ``free`` are unknown (empty). ``flagged`` counts
complete assignments of flagged workers (what ``--replace`` would mark); ``unknown`` assignments
whose responses carry no ``assignment_status`` (kept and used, `analysis.responses`)."""

READ_COLUMNS = REQUIRED_COLUMNS + ("assignment_status", "timing_ok", "experiment", "hidden_during_video",
                                   "blurred_during_video", "dropped_frames", "timing_reason")
"""The columns of a responses CSV that `analyze` (and ``mvt analyze`` before it) reads; ``mvt analyze
--responses`` reads only these, the ``--by`` column and the metadata's columns (so a clash with
one is still refused by `add_metadata`), and skips the export's other columns."""

TIMING_COLUMNS = ["frames", "duration_ms", "n_trials", "n_measured", "n_timing_ok", "n_timing_wrong",
                  "share_ok", "n_fewer_frames", "n_more_frames", "mean_abs_frame_error", "n_hidden", "n_blurred",
                  "n_rescaled"]
"""Columns of `Analysis.timing`, one row per intended frame count, over complete assignments:
trials, trials whose presented frames were measured, ``timing_ok`` true / false (the server
also counts a hidden or blurred page as wrong), share of true among known, measured trials
that showed fewer / more frames than intended, mean absolute difference in frames, trials
with the page hidden or blurred during the video, trials drawn outside the study's
``max_rescale`` (``timing_reason`` ``rescaled``: stored ``timing_ok`` false, so excluded)."""


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
    by : str or None
        The grouping column (``--by``), when given.
    histogram : pandas.DataFrame
        `HISTOGRAM_COLUMNS`: images per MVT bin, with bootstrap intervals, overall and per group.
    guess_source : str
        Where the psychometric guess rate came from, for the report.
    experiments : tuple of str
        The experiments analysed (empty when the responses do not say).
    """

    responses: pd.DataFrame
    screening: ScreeningResult
    mvt: MVTResult
    accuracy: pd.DataFrame
    progress: pd.DataFrame
    timing: pd.DataFrame
    source: str = ""
    by: str | None = None
    histogram: pd.DataFrame | None = None
    guess_source: str = ""
    experiments: tuple[str, ...] = ()
    worker_groups: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    """Lines ``mvt analyze`` prints about the input (e.g. `analysis.responses.status_note`)."""
    suspicion: pd.DataFrame | None = None
    """`analysis.suspicion.suspicious_workers` of the responses (``suspicion.csv``), computed beside the
    MVT estimates; None: computed when written."""


def infer_fps(responses: pd.DataFrame, default: float = 60.0) -> float:
    """The videos' frame rate from ``frames * 1000 / duration_ms`` (median, rounded), else `default`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = responses["frames"].to_numpy(dtype=float) * 1000.0 / responses["duration_ms"].to_numpy(dtype=float)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return float(np.round(np.median(ratio), 3)) if ratio.size else default


def timing_summary(responses: pd.DataFrame, *, fps: float = 60) -> pd.DataFrame:
    """Timing fidelity per intended frame count, over trials of complete assignments."""
    # only the columns read below: each group is then a small copy, not all of the export's columns
    columns = ["frames", "presented_frames", "timing_ok"] + [
        c for c in ("hidden_during_video", "blurred_during_video", "timing_reason") if c in responses]
    df = responses.loc[responses["assignment_status"].isin(USABLE_STATUSES).to_numpy(), columns]
    rows = []
    for f, g in df.groupby("frames", sort=True):
        presented = g["presented_frames"].astype("Float64")
        measured = presented.notna()
        ok = (g["timing_ok"] == True).fillna(False)  # noqa: E712
        wrong = (g["timing_ok"] == False).fillna(False)  # noqa: E712
        diff = presented[measured] - f
        err = diff.abs()
        rows.append({
            "frames": int(f), "duration_ms": int(duration_ms(f, fps)), "n_trials": len(g), "n_measured": int(measured.sum()),
            "n_timing_ok": int(ok.sum()), "n_timing_wrong": int(wrong.sum()),
            "share_ok": float(ok.sum() / (ok.sum() + wrong.sum())) if (ok.sum() + wrong.sum()) else np.nan,
            "n_fewer_frames": int((diff < 0).sum()), "n_more_frames": int((diff > 0).sum()),
            "mean_abs_frame_error": float(err.mean()) if len(err) else np.nan,
            "n_hidden": int(g["hidden_during_video"].fillna(False).sum()) if "hidden_during_video" in g else 0,
            "n_blurred": int(g["blurred_during_video"].fillna(False).sum()) if "blurred_during_video" in g else 0,
            "n_rescaled": int((g["timing_reason"] == "rescaled").sum()) if "timing_reason" in g else 0,
        })
    return pd.DataFrame(rows, columns=TIMING_COLUMNS)


def progress_from_responses(responses: pd.DataFrame, screening: ScreeningResult,
                            link_progress=None) -> pd.DataFrame:
    """Assignments per link: from ``kernel.admin.link_progress`` rows when given, else counted
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
               "flagged": int(flagged.get(link, 0)), "unknown": int(c.get("unknown", 0))}
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


HISTOGRAM_COLUMNS = ["group", "bin", "frames", "duration_ms", "n_images", "ci_low", "ci_high", "n_bootstrap"]
"""Columns of ``mvt_histogram.csv``: per group (empty: all images) and MVT bin (a duration,
``unrecognised`` or ``insufficient``) the number of images, and the equal-tailed 95 % bootstrap
interval of that number (each bootstrap replicate resamples every cell of every image once;
`analysis.bootstrap.bootstrap_mvt` draws), empty without a bootstrap."""


WORKER_GROUP_COLUMNS = ["group", "worker_id", "flagged", "frames", "duration_ms", "n", "k", "accuracy"]
"""Columns of ``worker_profiles_by_group.csv`` (written with ``--by``): each worker's accuracy
per group and duration, over the same usable trials as ``worker_profiles.csv`` (complete
assignments, timing not measured wrong, durations of the grid); a worker who saw images of
several groups has rows in each."""


def worker_group_profiles(responses: pd.DataFrame, screening: ScreeningResult, by: str, frame_counts,
                          fps: float = 60) -> pd.DataFrame:
    """Each worker's ``k/n`` per group of `by` and duration (`WORKER_GROUP_COLUMNS`), sorted."""
    grid = np.asarray(frame_counts, dtype=np.int64)
    usable = (responses["assignment_status"].isin(USABLE_STATUSES).to_numpy()
              & ~(responses["timing_ok"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
              & responses["frames"].isin(grid).to_numpy())
    df = pd.DataFrame({"group": responses[by].astype(str), "worker_id": responses["worker_id"],
                       "frames": responses["frames"].astype(np.int64),
                       "correct": responses["correct"].astype(bool).astype(int)})[usable]
    out = df.groupby(["group", "worker_id", "frames"], sort=True)["correct"].agg(n="size", k="sum").reset_index()
    flagged = set(screening.workers.loc[screening.workers["flagged"], "worker_id"])
    out["flagged"] = out["worker_id"].isin(flagged)
    out["duration_ms"] = np.asarray(duration_ms(out["frames"].to_numpy(), fps), dtype=np.int64)
    out["n"] = out["n"].astype(np.int64)
    out["k"] = out["k"].astype(np.int64)
    out["accuracy"] = out["k"] / out["n"]
    return out[WORKER_GROUP_COLUMNS].reset_index(drop=True)


def select_experiments(responses: pd.DataFrame, names=None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Keep the responses of the named experiments (column ``experiment``).

    With no names: all responses when they hold one experiment (or do not say), else
    `ExperimentChoice` listing them. Returns the selected rows and the experiment ids.
    """
    from kernel.export import choose_experiments

    # The column's few distinct values, each read once (missing ones as ""), not a million cells.
    values = pd.unique(responses["experiment"]) if "experiment" in responses.columns else []
    names_present = {"" if pd.isna(v) else str(v) for v in values}
    if not names_present - {""}:
        if names:
            raise ExperimentChoice(f"the responses do not say which experiment they belong to (no 'experiment' "
                                   f"column), so --experiment {names[0]} cannot be applied; export them again "
                                   f"with mvt export")
        return responses, ()
    available = sorted(names_present - {""})
    chosen = choose_experiments(available, names, where="the responses")
    every_row = all(not pd.isna(v) and v in set(chosen) for v in values)
    if every_row and isinstance(responses.index, pd.RangeIndex) and responses.index.start == 0 \
            and responses.index.step == 1:
        return responses, tuple(chosen)  # every row kept: the same table, without copying a million rows
    return responses[responses["experiment"].isin(chosen)].reset_index(drop=True), tuple(chosen)


def read_metadata(path: Path | str) -> pd.DataFrame:
    """Image metadata for ``--metadata``: a CSV with ``image_id`` and any other columns (text).

    Raises
    ------
    ResponsesInvalid
        If the file is missing, has no ``image_id`` column or lists an image twice.
    """
    path = Path(path)
    if not path.is_file():
        raise ResponsesInvalid(f"metadata file {str(path)!r} does not exist")
    meta = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "image_id" not in meta.columns:
        raise ResponsesInvalid(f"metadata file {str(path)!r} has columns {', '.join(meta.columns)}; "
                               f"expected image_id and any others (image_id,<column>,...)")
    twice = meta["image_id"][meta["image_id"].duplicated()]
    if len(twice):
        raise ResponsesInvalid(f"metadata file {str(path)!r} lists image {twice.iloc[0]!r} more than once")
    return meta


def add_metadata(responses: pd.DataFrame, metadata: pd.DataFrame | None, by: str | None) -> pd.DataFrame:
    """Join image metadata onto the responses (images it lacks get empty values) and check `by`.

    A metadata column that the responses already have is refused (it would be ambiguous);
    `by` must name a column of the result, e.g. ``experiment``, ``label`` or a metadata column.
    """
    out = responses
    if metadata is not None:
        clash = [c for c in metadata.columns if c != "image_id" and c in responses.columns]
        if clash:
            raise ResponsesInvalid(f"metadata column {clash[0]!r} is also a responses column; rename it")
        out = responses.merge(metadata, on="image_id", how="left")
        for col in metadata.columns:
            out[col] = out[col].fillna("")
    if by is not None and by not in out.columns:
        extra = [c for c in (metadata.columns if metadata is not None else []) if c != "image_id"]
        raise ResponsesInvalid(f"--by {by!r} is not a column; use one of {', '.join(extra + ['experiment', 'label'])}"
                               f"{'' if metadata is not None else ' (or give --metadata FILE)'}")
    return out


def mvt_histogram(mvt: MVTResult, groups: pd.Series | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Images per MVT bin with bootstrap intervals, overall and per group (`HISTOGRAM_COLUMNS`).

    The count of a bin in bootstrap replicate ``b`` is the number of images whose draw ``b``
    falls in it; the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles (inverted CDF, so whole numbers) of those counts.
    """
    grid = np.asarray(mvt.frame_counts)
    d = grid.size
    index = np.where(mvt.table["status"] == "ok",
                     np.searchsorted(grid, mvt.table["mvt_frames"].fillna(grid[0] if d else 0).to_numpy(dtype=np.int64)),
                     np.where(mvt.table["status"] == "unrecognised", d, d + 1))
    bins = [str(f) for f in grid] + ["unrecognised", "insufficient"]
    shown = list(duration_ms(grid, mvt.fps)) + [pd.NA, pd.NA]
    frames = list(grid) + [pd.NA, pd.NA]
    parts = [("", np.ones(len(index), bool))]
    if groups is not None:
        parts += [(str(v), (groups == v).to_numpy()) for v in sorted(groups.unique())]
    rows = []
    draws = mvt.draws if mvt.draws is not None else np.zeros((len(index), 0), dtype=np.int16)
    tail = (1 - confidence) / 2
    for name, mask in parts:
        est = np.bincount(index[mask], minlength=d + 2)
        if draws.shape[1]:
            sub = draws[mask]
            per_draw = np.stack([(sub == j).sum(axis=0) for j in range(d + 2)], axis=1)   # (B, D + 2)
            low = np.quantile(per_draw, tail, axis=0, method="inverted_cdf")
            high = np.quantile(per_draw, 1 - tail, axis=0, method="inverted_cdf")
        else:
            low = high = [pd.NA] * (d + 2)
        for j in range(d + 2):
            rows.append({"group": name, "bin": bins[j], "frames": frames[j], "duration_ms": shown[j],
                         "n_images": int(est[j]), "ci_low": low[j], "ci_high": high[j],
                         "n_bootstrap": int(draws.shape[1])})
    out = pd.DataFrame(rows, columns=HISTOGRAM_COLUMNS)
    for col in ("frames", "duration_ms", "ci_low", "ci_high"):
        out[col] = out[col].astype("Int64")
    return out


def guess_rate_for(responses: pd.DataFrame, n_options: int | None, guess_rate: float | None) -> tuple[float, str]:
    """The psychometric guess rate and a sentence saying where it came from.

    Precedence: `guess_rate` (``--guess-rate``); ``1 / n_options`` with the number of answer
    options shown per trial from the design (``design.json`` classes: every trial shows them
    all); else ``1 / m`` with ``m`` the distinct labels and responses in the data (the options
    that were shown and either correct or chosen: a lower bound of the options shown).
    """
    if guess_rate is not None:
        if not 0 < guess_rate < 1:
            raise ValueError(f"guess_rate ({guess_rate!r}) must be a rate in (0, 1)")
        return guess_rate, f"guess rate {guess_rate:g} (--guess-rate)"
    if n_options:
        return 1.0 / n_options, f"guess rate 1/{n_options} (answer options shown per trial, from the design)"
    m = max(2, len(set(responses["label"].unique()) | set(responses["response"].unique())))
    return 1.0 / m, (f"guess rate 1/{m} (distinct labels and answers in the responses; the design was not "
                     "available — set --guess-rate if more options were shown)")


def analyze(responses: pd.DataFrame, *, rule: str = "stable", theta: float = 0.5, inclusive: bool = False,
            n_bootstrap: int = 1000, rng=0, control_threshold: float = 0.6, min_r: float = 0.25,
            frame_counts=None, psychometric: bool = True, n_choices: int | None = None,
            link_progress=None, source: str = "", fps: float | None = None, guess_rate: float | None = None,
            by: str | None = None, experiments: tuple[str, ...] = (), ddof: int = 1,
            standing_flags: dict[str, str] | None = None, min_correlation_trials: int = 20) -> Analysis:
    """Screen workers, estimate MVTs and accuracies, and summarise progress and timing.

    Parameters
    ----------
    responses : pandas.DataFrame
        A prepared responses table (`analysis.responses`), one experiment or several with the
        same durations (`select_experiments`), with image metadata joined when grouping.
    rule, theta, inclusive, n_bootstrap, rng, psychometric
        As in `analysis.mvt.estimate_mvt` (the psychometric fit runs by default).
    control_threshold, min_r
        As in `analysis.screening.screen_workers`.
    frame_counts : sequence of int, optional
        The design's duration grid; default the frame counts present.
    n_choices : int, optional
        Answer options shown per trial (the design's classes), for the guess rate.
    link_progress : list of kernel.admin.LinkProgress, optional
        Progress per link from Redis; without it progress is counted from the responses.
    source : str, optional
        Where the responses came from, for the report.
    fps : float, optional
        Frame rate of the videos; default inferred from ``frames`` and ``duration_ms``
        (60 when that is not possible).
    guess_rate : float, optional
        Psychometric guess rate, overriding `n_choices` (`guess_rate_for`).
    ddof : {0, 1}, optional
        Delta degrees of freedom of the crowdMOS variances of ``accuracy.csv`` (default 1:
        unbiased sample variances; 0 is the plain mean of squares).
    standing_flags : dict, optional
        Worker id → reason of flags stored by earlier analyses (`analysis.flags`); they stay flagged.
    min_correlation_trials : int, optional
        Usable trials a worker needs for the correlation rule (`analysis.screening`), default 20.
    by : str, optional
        Column of `responses` that splits tables and figures (``--by``).
    experiments : tuple of str, optional
        The experiments the responses belong to, for the report.

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
    guess, guess_source = guess_rate_for(responses, n_choices, guess_rate)
    screening = screen_workers(responses, control_threshold=control_threshold, min_r=min_r, frame_counts=grid,
                               fps=fps, standing=standing_flags, guess_rate=guess,
                               min_correlation_trials=min_correlation_trials)
    used = screening.used
    if len(used) == 0:
        s = screening.summary()
        raise NoResponses(
            f"no responses are left after screening ({s['responses']} recorded: {s['incomplete_excluded']} in "
            f"incomplete/replaced/expired assignments, {s['timing_excluded']} with wrong timing, "
            f"{s['flagged']} of {s['workers']} workers flagged); lower --control-threshold or --min-r to keep more workers")
    # Accuracy, progress, timing and suspicion (single-threaded pandas) are computed in a child process
    # while the MVT estimates (threaded bootstrap and grid fit) are computed here.
    side = in_background(_side_tables, responses, used, screening, grid, fps, by, ddof, link_progress)
    try:
        mvt = estimate_mvt(used, frame_counts=grid, rule=rule, theta=theta, inclusive=inclusive,
                           n_bootstrap=n_bootstrap, rng=rng, psychometric=psychometric, guess_rate=guess, fps=fps)
        groups = worker_groups = None
        if by is not None:
            worker_groups = worker_group_profiles(responses, screening, by, grid, fps)
            per_image = used.groupby("image_id", sort=True)[by].first().astype(str)
            groups = per_image.reindex(mvt.table["image_id"]).reset_index(drop=True)
            for frame in (mvt.table, mvt.rules, mvt.psychometric):
                frame.insert(2, by, groups.to_numpy()) if by not in frame.columns else None
    except BaseException:
        side.cancel()
        raise
    accuracy, progress, timing, suspicion = side.result()
    return Analysis(responses=responses, screening=screening, mvt=mvt, accuracy=accuracy, progress=progress,
                    timing=timing, source=source, by=by,
                    histogram=mvt_histogram(mvt, groups), guess_source=guess_source, experiments=tuple(experiments),
                    worker_groups=worker_groups, notes=tuple(filter(None, [status_note(responses)])),
                    suspicion=suspicion)


def _side_tables(responses, used, screening, grid, fps, by, ddof, link_progress):
    """`analyze`'s accuracy, progress, timing and suspicion tables (computed beside the MVT estimates)."""
    return (accuracy_table(used, frame_counts=grid, fps=fps, by=by, ddof=ddof),
            progress_from_responses(responses, screening, link_progress), timing_summary(responses, fps=fps),
            suspicious_workers(responses))


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV: empty fields for missing values, booleans as true/false (as `mvt export`)."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == bool or str(df[col].dtype) == "boolean":
            df[col] = df[col].map({True: "true", False: "false"}).astype(object)
    csvsafe.write_frame(df, path, float_format="%.6g")


OUTPUT_FILES = ("mvt.csv", "accuracy.csv", "workers.csv", "cells.csv", "report.html", "worker_profiles.csv",
                "psychometric.csv", "rules.csv", "mvt_histogram.csv", "summary.csv", "progress.csv", "timing.csv",
                "suspicion.csv")
"""What `write_outputs` writes: the first five as before, then every other number the report shows."""

BY_OUTPUT_FILES = ("worker_profiles_by_group.csv",)
"""Written besides `OUTPUT_FILES` only with ``--by`` (the per-group figures' numbers that no
other file holds), so the output without ``--by`` is unchanged."""


def bootstrap_table(mvt: MVTResult) -> pd.DataFrame:
    """Every bootstrap draw, one row per image: ``image_id`` then ``b1 .. bB``, each the MVT of
    that resample in frames, or ``unrecognised`` / ``insufficient`` (``bootstrap_draws.csv``)."""
    d = len(mvt.frame_counts)
    codes = np.array([str(f) for f in mvt.frame_counts] + ["unrecognised", "insufficient"], dtype=object)
    draws = mvt.draws if mvt.draws is not None else np.zeros((len(mvt.table), 0), dtype=np.int16)
    table = pd.DataFrame(codes[np.clip(draws, 0, d + 1)], columns=[f"b{b + 1}" for b in range(draws.shape[1])])
    table.insert(0, "image_id", mvt.table["image_id"].to_numpy())
    return table


def write_outputs(analysis: Analysis, out_dir: Path | str, *, draws: bool = False) -> dict[str, Path]:
    """Write `OUTPUT_FILES` (and `BY_OUTPUT_FILES` with a `by` column, ``bootstrap_draws.csv``
    with `draws`) into `out_dir`.

    ``cells.csv`` has one row per (image, duration): ``image_id, label, frames, duration_ms, n,
    k, p, wilson_low, wilson_high, cp_low, cp_high, recognised`` (95 % Wilson and
    Clopper-Pearson intervals of the proportion correct), then ``duration_ms_exact``,
    ``isotonic_p`` and ``fitted_p``. ``summary.csv`` holds the report's overview and screening
    counts as ``item,value``; ``progress.csv`` and ``timing.csv`` its progress and timing tables.

    Returns
    -------
    dict
        File name → path written.
    """
    from analysis.report import draw_figures, summary_table, write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = OUTPUT_FILES + (BY_OUTPUT_FILES if analysis.worker_groups is not None else ()) + (
        ("bootstrap_draws.csv",) if draws else ())
    paths = {name: out / name for name in names}
    summary = summary_table(analysis)
    # The report's costliest figures (most of the writing time) are drawn in a child process while the
    # CSVs and the report's other figures are written and drawn here.
    shared = in_background(draw_figures, analysis, summary)
    try:
        _write_tables(analysis, paths, summary, draws)
        write_report(analysis, paths["report.html"], summary, shared)
    except BaseException:
        shared.cancel()
        raise
    return paths


def _write_tables(analysis: Analysis, paths: dict[str, Path], summary: pd.DataFrame, draws: bool) -> None:
    """Every CSV of `write_outputs`."""
    mvt = analysis.mvt
    mvt_cols = MVT_COLUMNS + [c for c in mvt.table.columns if c not in MVT_COLUMNS]
    _write_csv(mvt.table[mvt_cols], paths["mvt.csv"])
    _write_csv(analysis.accuracy, paths["accuracy.csv"])
    _write_csv(analysis.screening.workers[WORKER_COLUMNS], paths["workers.csv"])
    _write_csv(analysis.suspicion if analysis.suspicion is not None else suspicious_workers(analysis.responses),
               paths["suspicion.csv"])
    _write_csv(mvt.cells, paths["cells.csv"])
    _write_csv(analysis.screening.profiles, paths["worker_profiles.csv"])
    _write_csv(mvt.psychometric, paths["psychometric.csv"])
    _write_csv(mvt.rules, paths["rules.csv"])
    _write_csv(analysis.histogram, paths["mvt_histogram.csv"])
    _write_csv(summary, paths["summary.csv"])
    _write_csv(analysis.progress, paths["progress.csv"])
    _write_csv(analysis.timing, paths["timing.csv"])
    if analysis.worker_groups is not None:
        _write_csv(analysis.worker_groups, paths["worker_profiles_by_group.csv"])
    if draws:
        _write_csv(bootstrap_table(mvt), paths["bootstrap_draws.csv"])


REPOST_COLUMNS = ["HIT_Link", "n_assignments", "link_id"]
"""Columns of ``repost.csv``: the experiment URL of the link (the link id when no base URL is
known), how many assignments it needs again, and the link id."""


def repost_table(link_progress, *, base_url: str | Mapping[str, str] | None = None) -> pd.DataFrame:
    """Links with assignments marked for replacement, and how many, for ``repost.csv``.

    Parameters
    ----------
    link_progress : list of kernel.admin.LinkProgress
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
        writer = csvsafe.writer(f)
        writer.writerow(REPOST_COLUMNS)
        writer.writerows(table[REPOST_COLUMNS].itertuples(index=False, name=None))
    return path
