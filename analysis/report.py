"""``report.html``: one self-contained page (plots embedded as base64 PNG, no external files).

The page is rendered from the Jinja2 template ``analysis/templates/report.html`` with
autoescape on: every piece of text that comes from data (worker ids, labels, link ids,
reasons) is HTML-escaped by the template engine, since ids and class names are
user-controlled. Python builds the context (sections of paragraphs, key-value lists, tables
of formatted cells and figures); the template only lays it out.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MAX_CLASS_PANELS = 24
MAX_TABLE_ROWS = 500

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("analysis", "templates"),
                          autoescape=jinja2.select_autoescape(), keep_trailing_newline=True)
_ENV.globals["zip"] = zip


@dataclass(frozen=True)
class Column:
    """A table column: its heading and whether it holds text (left-aligned)."""

    title: str
    text: bool = False


@dataclass(frozen=True)
class Table:
    """A table for the template: columns, rows of formatted cells, and how many rows were left out."""

    columns: list[Column]
    rows: list[list[str]]
    hidden: int = 0


@dataclass
class Section:
    """A heading (level 1-3, or none) and its blocks: ``(kind, value)`` with kind ``p``, ``note``,
    ``kv`` (pairs), ``table`` (`Table`) or ``figure`` (base64 PNG)."""

    title: str = ""
    level: int = 2
    blocks: list[dict] = field(default_factory=list)

    def add(self, kind: str, value) -> Section:
        """Append a block (empty figures and texts are skipped); return self."""
        if value or kind == "table":
            self.blocks.append({"kind": kind, "value": value})
        return self


def _png(fig) -> str:
    """The figure as base64 PNG text (the template embeds it), and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _fmt(value, digits: int = 3) -> str:
    """A cell's text: empty for missing, yes/no for booleans, floats to `digits` significant digits."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return f"{value:.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"
    return str(value)


def _table(df: pd.DataFrame, text_columns=(), max_rows: int = MAX_TABLE_ROWS) -> Table:
    """A `Table` of the first `max_rows` rows; underscores in headings become spaces so that
    long column names can wrap."""
    columns = [Column(str(c).replace("_", " "), c in text_columns) for c in df.columns]
    rows = [[_fmt(v) for v in row] for row in df.head(max_rows).itertuples(index=False, name=None)]
    return Table(columns, rows, max(0, len(df) - max_rows))


def _plot_text(value) -> str:
    """A data string as literal matplotlib text: ``$`` would start mathtext (and an unknown
    command in it stops the whole report), a leading ``_`` hides a legend entry."""
    text = str(value).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _duration_labels(frame_counts, fps: float) -> list[str]:
    return [f"{f * 1000 / fps:.0f} ms\n({f} fr)" for f in frame_counts]


def _mvt_histogram(table: pd.DataFrame, frame_counts, ax, title: str, short: bool = False, fps: float = 60) -> None:
    labels = ([str(f) for f in frame_counts] if short else _duration_labels(frame_counts, fps)) + ["unrec.", "insuff."]
    ok = table[table["status"] == "ok"]["mvt_frames"].astype(int)
    counts = [int((ok == f).sum()) for f in frame_counts]
    counts += [int((table["status"] == "unrecognised").sum()), int((table["status"] == "insufficient").sum())]
    colors = ["#4477aa"] * len(frame_counts) + ["#cc6677", "#bbbbbb"]
    x = np.arange(len(labels)) + np.r_[np.zeros(len(frame_counts)), [0.5, 0.5]]
    bars = ax.bar(x, counts, color=colors)
    if not short:
        ax.bar_label(bars, fontsize=8, padding=2)
        ax.margins(y=0.12)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)


def _mvt_figures(analysis, section: Section) -> None:
    mvt = analysis.mvt
    table, grid = mvt.table, mvt.frame_counts
    fig, ax = plt.subplots(figsize=(8, 3.6))
    _mvt_histogram(table, grid, ax, f"MVT of {len(table)} images (all classes)", fps=mvt.fps)
    section.add("figure", _png(fig))
    labels = sorted(table["label"].unique())
    if 1 < len(labels) <= MAX_CLASS_PANELS:
        cols = min(4, len(labels))
        rows = -(-len(labels) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True)
        for ax, label in zip(axes.ravel(), labels):
            _mvt_histogram(table[table["label"] == label], grid, ax, _plot_text(label), short=True)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_xlabel("MVT (frames)", fontsize=8)
        fig.suptitle("MVT per class", fontsize=11)
        for ax in axes.ravel()[len(labels):]:
            ax.set_visible(False)
        fig.tight_layout()
        section.add("figure", _png(fig))
    # Per-class counts as a table too (also when there are too many classes to plot).
    ok = table[table["status"] == "ok"]
    cross = pd.crosstab(ok["label"], ok["mvt_frames"].astype(int)).reindex(columns=list(grid), fill_value=0)
    cross = cross.reindex(labels, fill_value=0)
    cross.columns = [f"{f * 1000 / mvt.fps:.0f} ms" for f in grid]
    cross["unrecognised"] = table[table["status"] == "unrecognised"].groupby("label").size().reindex(labels, fill_value=0)
    cross["insufficient"] = table[table["status"] == "insufficient"].groupby("label").size().reindex(labels, fill_value=0)
    cross.insert(0, "class", cross.index)
    section.add("table", _table(cross.reset_index(drop=True), text_columns=("class",)))


def _accuracy_figure(accuracy: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    classes = accuracy[accuracy["scope"] == "class"]
    labels = sorted(classes["label"].unique())
    if len(labels) <= 12:
        for label in labels:
            g = classes[(classes["label"] == label) & (classes["n_responses"] > 0)]
            (line,) = ax.plot(g["duration_ms"], g["accuracy"], marker=".", lw=1, alpha=0.7, label=_plot_text(label))
            ax.fill_between(g["duration_ms"], g["ci_low"].astype(float), g["ci_high"].astype(float),
                            color=line.get_color(), alpha=0.08, lw=0)
    overall = accuracy[(accuracy["scope"] == "overall") & (accuracy["n_responses"] > 0)]
    yerr = np.vstack([overall["accuracy"] - overall["ci_low"], overall["ci_high"] - overall["accuracy"]])
    ax.errorbar(overall["duration_ms"], overall["accuracy"], yerr=np.nan_to_num(yerr), color="k", lw=2.2,
                marker="o", capsize=4, label="all classes (95% crowdMOS CI)")
    ax.set_xscale("log")
    ax.set_xticks(overall["duration_ms"], [f"{d:.0f}" for d in overall["duration_ms"]])
    ax.minorticks_off()
    ax.set_xlabel("presentation duration (ms)")
    ax.set_ylabel("proportion correct")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    return _png(fig)


def _progress_figure(progress: pd.DataFrame) -> str:
    if len(progress) < 2:
        return ""
    fig, ax = plt.subplots(figsize=(9, 3))
    x = np.arange(1, len(progress) + 1)
    bottom = np.zeros(len(progress))
    parts = [("complete", "#228833"), ("in_progress", "#ccbb44"), ("to_replace", "#ee6677"), ("free", "#dddddd")]
    for column, color in parts:
        values = progress[column].astype("Float64").fillna(0).to_numpy(dtype=float)
        if values.any():
            ax.bar(x, values, bottom=bottom, color=color, width=1.0 if len(progress) > 60 else 0.8,
                   label=column.replace("_", " "))
            bottom += values
    ax.set_xlabel(f"link (1 to {len(progress)}, sorted by id)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("lists")
    ax.legend(fontsize=8, ncol=4, loc="lower right")
    ax.set_title("progress per link", fontsize=10)
    return _png(fig)


def _timing_figure(timing: pd.DataFrame) -> str:
    if timing["n_measured"].sum() == 0:
        return ""
    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(timing))
    ax.bar(x, timing["share_ok"].fillna(0), color="#228833")
    ax.set_xticks(x, [f"{f} fr" for f in timing["frames"]])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share presented as intended")
    ax.set_title("timing fidelity (measured trials)", fontsize=10)
    return _png(fig)


def _bootstrap_line(mvt) -> list[tuple[str, str]]:
    t = mvt.table[mvt.table["status"] == "ok"]
    if not mvt.n_bootstrap or t.empty:
        return []
    single = (t["mvt_frames_ci_low"] == t["mvt_frames_ci_high"]).fillna(False).mean()
    probs = t[[f"p_mvt_f{f}" for f in mvt.frame_counts]].to_numpy(dtype=float)
    column = np.searchsorted(np.asarray(mvt.frame_counts), t["mvt_frames"].to_numpy(dtype=np.int64))
    p_estimate = np.take_along_axis(probs, column[:, None], axis=1)[:, 0]
    return [("MVT certainty", f"{single:.0%} of images with an MVT have a 95% interval of one duration; median "
                              f"bootstrap probability of the estimated MVT {np.median(p_estimate):.2f}")]


def _psychometric_line(table: pd.DataFrame) -> list[tuple[str, str]]:
    thresholds = table["threshold_ms"].astype("Float64").dropna()
    if thresholds.empty:
        return []
    return [("psychometric thresholds", f"fitted for {len(thresholds)} images; median {float(thresholds.median()):.0f} ms "
                                        "(cumulative normal on log duration, guess rate 1/number of classes, lapse)")]


def render_report(analysis) -> str:
    """The report of an `analysis.analyze.Analysis` as one HTML string."""
    mvt = analysis.mvt
    s = analysis.screening.summary()
    status = mvt.status_counts()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    overview = pd.DataFrame([
        ("responses source", analysis.source or "table"),
        ("MVT rule", mvt.describe_rule()),
        ("bootstrap", f"{mvt.n_bootstrap} resamples of each (image, duration) cell; 95% intervals on the ordered "
                      "duration scale" if mvt.n_bootstrap else "not run"),
        (f"durations (frames at {mvt.fps:g} fps)", ", ".join(f"{f} ({f * 1000 / mvt.fps:.0f} ms)"
                                                              for f in mvt.frame_counts)),
        ("images", f"{len(mvt.table)}: {status['ok']} with an MVT, {status['unrecognised']} unrecognised, "
                   f"{status['insufficient']} insufficient"),
        ("responses", f"{s['responses']} recorded, {s['used']} used"),
        ("workers", f"{s['workers']}, {s['flagged']} flagged"),
    ] + _bootstrap_line(mvt) + _psychometric_line(mvt.table), columns=["item", "value"])
    unrec = mvt.table[mvt.table["status"] != "ok"][["image_id", "label", "status", "n_responses"]]
    acc = analysis.accuracy
    acc_overall = acc[acc["scope"] == "overall"][["frames", "duration_ms", "n_responses", "accuracy", "ci_low",
                                                  "ci_high", "n_workers", "n_images"]]

    screening_counts = pd.DataFrame([
        ("workers", s["workers"]), ("flagged (any rule)", s["flagged"]),
        (f"flagged: control accuracy below {analysis.screening.control_threshold:g}", s["flag_control"]),
        (f"flagged: profile correlation below {analysis.screening.min_r:g} or undefined", s["flag_correlation"]),
        ("responses excluded: incomplete, replaced or expired assignment", s["incomplete_excluded"]),
        ("responses excluded: presented frames differ from intended", s["timing_excluded"]),
        ("responses excluded: from flagged workers", s["flagged_excluded"]),
        ("responses used for estimates", s["used"]),
    ], columns=["item", "count"])
    w = analysis.screening.workers
    flagged = w[w["flagged"]][["worker_id", "reason", "control_accuracy", "profile_r", "n_complete_assignments"]]

    progress_note = ("lists per link from the server (Redis)" if analysis.progress["free"].notna().any()
                     else "counted from the responses CSV (lists never started and marks for replacement are not in it)")
    progress_note += ("; replaced and expired count assignments with responses that were marked for replacement "
                      "(or taken over) or expired; flagged counts complete assignments of flagged workers (to repost).")
    mvt_section = Section("Minimum viewing time").add("p", f"{mvt.describe_rule()}.")
    _mvt_figures(analysis, mvt_section)
    timing_section = Section("Timing fidelity").add(
        "p", "Trials of complete assignments per intended duration; a trial whose measured presented frames differ "
             "from the intended count is excluded.")
    timing_png = _timing_figure(analysis.timing)
    timing_section.add("figure", timing_png) if timing_png else timing_section.add(
        "note", "No trial had a measured presented-frame count.")
    sections = [
        Section("MVT analysis", 1).add("note", f"Generated {generated}.").add(
            "kv", list(overview.itertuples(index=False, name=None))),
        mvt_section,
        Section("Images without an MVT", 3).add(*(("table", _table(unrec, text_columns=("image_id", "label", "status")))
                                                 if len(unrec) else ("p", "Every image has an MVT."))),
        Section("Accuracy versus duration").add(
            "p", "Proportion correct with 95% crowdMOS intervals (workers × images variance components): bars for all "
                 "classes, shaded bands per class.").add("figure", _accuracy_figure(acc)).add("table", _table(acc_overall)),
        Section("Progress per link").add("note", progress_note).add("figure", _progress_figure(analysis.progress)).add(
            "table", _table(analysis.progress, text_columns=("link_id",))),
        Section("Screening").add("table", _table(screening_counts, text_columns=("item",))),
        Section("Flagged workers", 3).add(*(("table", _table(flagged, text_columns=("worker_id", "reason")))
                                           if len(flagged) else ("p", "No worker is flagged."))),
        timing_section.add("table", _table(analysis.timing)),
    ]
    return _ENV.get_template("report.html").render(sections=sections)


def write_report(analysis, path: Path | str) -> Path:
    """Write `render_report` output to `path` (UTF-8)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(analysis), encoding="utf-8")
    tmp.replace(path)
    return path
