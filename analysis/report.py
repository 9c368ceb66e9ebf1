"""``report.html``: one self-contained page (plots embedded as base64 PNG, no external files).

The page is rendered from the Jinja2 template ``analysis/templates/report.html`` with
autoescape on: every piece of text that comes from data (worker ids, labels, link ids,
reasons) is HTML-escaped by the template engine, since ids and class names are
user-controlled. Python builds the context (sections of paragraphs, key-value lists, tables
of formatted cells and figures); the template only lays it out.
"""

from __future__ import annotations

import re
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

from analysis import figures  # noqa: E402
from analysis.durations import duration_ms, duration_ms_exact  # noqa: E402
from analysis.figures import png_base64  # noqa: E402
from analysis.figures import plot_text as _plot_text  # noqa: E402
from analysis.psychometric import censored_median, format_ms  # noqa: E402
from analysis.rules import RULES  # noqa: E402

MAX_CLASS_PANELS = 24
MAX_TABLE_ROWS = 500
MAX_WORKER_GROUP_PANELS = 12
"""Groups (``--by``) up to which the workers' figure gets one panel per group."""

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

    def add(self, kind: str, value, alt: str = "") -> Section:
        """Append a block (empty figures and texts are skipped); return self. `alt`: a figure's
        alternative text (default ``plot``)."""
        if value or kind == "table":
            self.blocks.append({"kind": kind, "value": value, **({"alt": alt} if alt else {})})
        return self


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


def _mvt_histogram(table: pd.DataFrame, frame_counts, ax, title: str, fps: float = 60) -> None:
    """One small panel: images per MVT (whole ms, like the main histogram), then unrecognised and insufficient."""
    labels = [str(v) for v in duration_ms(np.asarray(frame_counts), fps)] + ["unrec.", "insuff."]
    ok = table[table["status"] == "ok"]["mvt_frames"].astype(int)
    counts = [int((ok == f).sum()) for f in frame_counts]
    counts += [int((table["status"] == "unrecognised").sum()), int((table["status"] == "insufficient").sum())]
    colors = ["#4477aa"] * len(frame_counts) + ["#cc6677", "#bbbbbb"]
    x = np.arange(len(labels)) + np.r_[np.zeros(len(frame_counts)), [0.5, 0.5]]
    ax.bar(x, counts, color=colors)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)


def _group_name(by: str, group: str) -> str:
    """A group as figure titles and alt texts name it: ``column = value``."""
    return f"{by} = {group if group else '(none)'}"


def _class_panels(grid, panels: list[tuple[str, pd.DataFrame]], title: str, fps: float = 60) -> str:
    """Per-class MVT histograms, one small panel per ``(title, rows)``, as base64 PNG."""
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharey=True)
    for ax, (name, part) in zip(axes.ravel(), panels):
        _mvt_histogram(part, grid, ax, _plot_text(name), fps)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("MVT (ms)", fontsize=8)
    fig.suptitle(title, fontsize=11)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return png_base64(fig)


def _class_cross(table: pd.DataFrame, labels, grid, fps: float) -> pd.DataFrame:
    ok = table[table["status"] == "ok"]
    cross = pd.crosstab(ok["label"], ok["mvt_frames"].astype(int)).reindex(columns=list(grid), fill_value=0)
    cross = cross.reindex(labels, fill_value=0)
    cross.columns = [f"{duration_ms(f, fps)} ms" for f in grid]
    cross["unrecognised"] = table[table["status"] == "unrecognised"].groupby("label").size().reindex(labels, fill_value=0)
    cross["insufficient"] = table[table["status"] == "insufficient"].groupby("label").size().reindex(labels, fill_value=0)
    cross.insert(0, "class", cross.index)
    return cross.reset_index(drop=True)


def _mvt_figures(analysis, section: Section, figure) -> None:
    mvt = analysis.mvt
    table, grid = mvt.table, mvt.frame_counts
    section.add("figure", figure("histogram",
                                 lambda: png_base64(figures.histogram_figure(analysis.histogram, mvt.fps))))
    labels = sorted(table["label"].unique())
    by = analysis.by
    if not by:
        if 1 < len(labels) <= MAX_CLASS_PANELS:
            section.add("figure", figure("class panels", lambda: _class_panels(
                grid, [(label, table[table["label"] == label]) for label in labels], "MVT per class", mvt.fps)))
        # Per-class counts as a table too (also when there are too many classes to plot).
        section.add("table", _table(_class_cross(table, labels, grid, mvt.fps), text_columns=("class",)))
        return
    # Split by group: one panel set per group (class x group), every panel titled with its group,
    # and the cross-table with a group column (the counts are those of mvt.csv's by column).
    group_of = table[by].astype(str)
    groups = sorted(group_of.unique())
    panels = [(f"{label}\n{_group_name(by, g)}", table[(group_of == g) & (table["label"] == label)])
              for g in groups for label in sorted(table.loc[group_of == g, "label"].unique())]
    if 1 < len(panels) <= MAX_CLASS_PANELS:
        section.add("figure", figure("class panels", lambda: _class_panels(grid, panels, f"MVT per class and {by}",
                                                                          mvt.fps)),
                    alt=f"MVT per class, split by {by}: " + "; ".join(_group_name(by, g) for g in groups))
    crosses = []
    for g in groups:
        part = table[group_of == g]
        cross = _class_cross(part, sorted(part["label"].unique()), grid, mvt.fps)
        cross.insert(0, "group", g)
        crosses.append(cross)
    section.add("table", _table(pd.concat(crosses, ignore_index=True), text_columns=("group", "class")))


def _accuracy_figure(accuracy: pd.DataFrame, guess: float = float("nan"), by: str | None = None) -> str:
    return png_base64(figures.accuracy_figure(accuracy, guess, by))


def _progress_figure(progress: pd.DataFrame) -> str:
    if len(progress) < 2:
        return ""
    fig, ax = plt.subplots(figsize=(9, 3))
    x = np.arange(1, len(progress) + 1)
    bottom = np.zeros(len(progress))
    parts = [("complete", "#228833"), ("unknown", "#88ccee"), ("in_progress", "#ccbb44"), ("to_replace", "#ee6677"),
             ("free", "#dddddd")]
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
    return png_base64(fig)


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
    return png_base64(fig)


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


def _psychometric_line(analysis) -> list[tuple[str, str]]:
    table = analysis.mvt.table
    thresholds = table["threshold_ms"].astype("Float64").dropna()
    if thresholds.empty:
        return []
    status = table["threshold_status"].value_counts()
    grid = duration_ms_exact(analysis.mvt.frame_counts, analysis.mvt.fps)
    median = censored_median(table["threshold_ms"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
                             table["threshold_status"].to_numpy(dtype=object), float(grid[0]), float(grid[-1]))
    return [("psychometric thresholds",
             f"{len(thresholds)} images; median {median} (thresholds outside the tested durations count as "
             f"censored: below {format_ms(grid[0])} as '< {format_ms(grid[0])}', above {format_ms(grid[-1])} as "
             f"'> {format_ms(grid[-1])}'; mvt.csv threshold_text); outside the tested durations: "
             f"{int(status.get('below_range', 0))} below, {int(status.get('above_range', 0))} above; "
             f"cumulative normal on log duration with lapse, {analysis.guess_source}")]


def _answers(status, frames) -> np.ndarray:
    """``status:frames`` per image as plain strings, a missing MVT written ``-``: so an image
    unrecognised under two rules reads the same under both (missing values never compare equal,
    and under pandas 3 ``astype(str)`` keeps them missing)."""
    status = pd.Series(status).astype(object)
    frames = pd.Series(frames).astype(object)
    status = status.where(status.notna(), "-").astype(str).to_numpy()
    frames = np.array(["-" if pd.isna(f) else str(int(f)) for f in frames], dtype=object)
    return np.array([f"{a}:{b}" for a, b in zip(status, frames)], dtype=object)


def rules_comparison(mvt) -> pd.DataFrame:
    """How the rules compare: per rule the images ``ok``/``unrecognised``/``insufficient`` and
    how many images get another answer (status or MVT) than under the rule used; the
    psychometric threshold counts as agreeing when it falls within (previous duration, MVT].
    Two rules agree on an image when both give the same status and the same MVT, a missing MVT
    (unrecognised, insufficient) being equal to a missing one: unrecognised = unrecognised."""
    r = mvt.rules
    chosen = _answers(r[f"status_{mvt.rule}"], r[f"mvt_frames_{mvt.rule}"])
    rows = []
    for rule in RULES:
        answer = _answers(r[f"status_{rule}"], r[f"mvt_frames_{rule}"])
        counts = r[f"status_{rule}"].value_counts()
        rows.append({"rule": rule, "ok": int(counts.get("ok", 0)), "unrecognised": int(counts.get("unrecognised", 0)),
                     "insufficient": int(counts.get("insufficient", 0)), "differ_from_used": int((answer != chosen).sum())})
    grid = duration_ms_exact(mvt.frame_counts, mvt.fps)
    t = r["threshold_ms"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    # the shortest tested duration at or above the threshold: the grid's reading of the threshold
    j = np.searchsorted(grid, t - 1e-9)
    t_status = np.where(np.isnan(t), r["threshold_status"].astype(object).map({"unrecognised": "unrecognised"})
                        .fillna("other").to_numpy(dtype=object),
                        np.where(j < grid.size, "ok", "unrecognised"))
    t_frames = [np.asarray(mvt.frame_counts)[min(k, grid.size - 1)] if not np.isnan(v) and k < grid.size else None
                for v, k in zip(t, j)]
    t_answer = _answers(t_status, t_frames)
    st = r["threshold_status"].value_counts()
    rows.append({"rule": "psychometric", "ok": int((~np.isnan(t)).sum()),
                 "unrecognised": int(st.get("unrecognised", 0)),
                 "insufficient": int(st.get("insufficient", 0) + st.get("not_reached", 0) + st.get("no_data", 0)),
                 "differ_from_used": int((t_answer != chosen).sum())})
    return pd.DataFrame(rows, columns=["rule", "ok", "unrecognised", "insufficient", "differ_from_used"])


def _interval_line(accuracy: pd.DataFrame) -> str:
    rows = accuracy[accuracy["n_responses"] > 0]
    fallback = int((rows["ci_method"] == "wilson: too few for crowdMOS").sum())
    flat = int((rows["ci_method"] == "wilson: crowdMOS variance 0").sum())
    clipped = int(rows["ci_clipped"].fillna(False).astype(bool).sum())
    dfs = rows["df"].dropna().astype(int)
    span = f"ν from {dfs.min()} to {dfs.max()}" if len(dfs) else "no rows"
    return (f"crowdMOS (workers × images variance components, ddof = {rows['ddof'].iloc[0] if len(rows) else 1:g}, "
            f"t quantile with ν = min(workers, images) − 1; {span}). {fallback} of {len(rows)} rows have ν < 2 or "
            f"fewer than 3 workers: too few for crowdMOS, Wilson interval instead; {flat} rows have every answer "
            f"right or every answer wrong (crowdMOS variance 0, a zero-width interval): Wilson interval instead; "
            f"{clipped} crowdMOS intervals "
            f"left [0, 1] and were clipped (see ci_method, crowdmos_low/high in accuracy.csv)")


def summary_table(analysis, rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """The report's loose numbers and sentences as ``item, value`` rows (``summary.csv``);
    ``rules`` is `rules_comparison` when the caller has it already."""
    mvt = analysis.mvt
    s = analysis.screening.summary()
    status = mvt.status_counts()
    rows = [
        ("responses source", analysis.source or "table"),
        ("experiments", ", ".join(analysis.experiments) or "(not recorded in the responses)"),
        ("MVT rule", mvt.describe_rule()),
        ("control policy", mvt.describe_control()),
        ("bootstrap", f"{mvt.n_bootstrap} resamples of each (image, duration) cell; 95% intervals on the ordered "
                      "duration scale" if mvt.n_bootstrap else "not run"),
        (f"durations (frames at {mvt.fps:g} fps)", ", ".join(f"{f} ({duration_ms(f, mvt.fps)} ms)"
                                                              for f in mvt.frame_counts)),
        ("images", f"{len(mvt.table)}: {status['ok']} with an MVT, {status['unrecognised']} unrecognised, "
                   f"{status['insufficient']} insufficient"),
        ("responses", f"{s['responses']} recorded, {s['used']} used"),
        ("workers", f"{s['workers']}, {s['flagged']} flagged"),
        ("intervals", _interval_line(analysis.accuracy)),
    ] + _bootstrap_line(mvt) + _psychometric_line(analysis)
    rows += [(f"screening: {k}", v) for k, v in _screening_counts(analysis)]
    rows += [(f"rules: {row.rule}", f"{row.ok} ok, {row.unrecognised} unrecognised, {row.insufficient} "
                                    f"insufficient; {row.differ_from_used} differ from rule '{mvt.rule}'")
             for row in (rules_comparison(mvt) if rules is None else rules).itertuples()]
    return pd.DataFrame(rows, columns=["item", "value"])


def _screening_counts(analysis) -> list[tuple[str, int]]:
    s = analysis.screening.summary()
    sc = analysis.screening
    return [
        ("workers", s["workers"]), ("flagged (any rule)", s["flagged"]),
        (f"flagged: control accuracy below {sc.control_threshold:g}", s["flag_control"]),
        (f"flagged: profile correlation below {sc.min_r:g}", s["flag_correlation"]),
        ("flagged: chance rule (accuracy consistent with guessing, binomial test at 5 %)", s["flag_chance"]),
        ("flagged: standing flag of an earlier analysis (mvt unflag clears one)",
         int(sc.workers["flag_stored"].sum())),
        ("control rule not applicable (never saw the control duration, or too few control trials to keep "
         "honest workers' flag rate at 2 %)", s["control_not_applicable"]),
        ("correlation rule not applicable (fewer than 3 durations or 20 trials, or a constant profile)",
         s["correlation_not_applicable"]),
        ("chance rule not applicable (too few trials, or honest accuracy too near chance, to keep honest "
         "workers' flag rate at 2 %)", s["chance_not_applicable"]),
        ("no rule could judge the worker: the design gives screening too little power for them",
         s["no_rule_applied"]),
        ("responses excluded: incomplete, replaced or expired assignment", s["incomplete_excluded"]),
        ("responses excluded: presented frames differ from intended", s["timing_excluded"]),
        ("responses excluded: from flagged workers", s["flagged_excluded"]),
        ("responses used for estimates", s["used"]),
    ]


SCREENING_POLICY = (
    "Control rule: uses the longest duration the worker saw; it applies when that is the control (longest) "
    "duration and flags accuracy there below the threshold. Correlation rule: Pearson r of the worker's accuracy "
    "per duration with everybody else's; it applies only where the worker saw at least 3 durations in at least 20 "
    "trials and both profiles vary, otherwise it is not applicable (never a flag). Chance rule: flags a worker whose "
    "correct count over all their trials is consistent with guessing (one-sided binomial test against the guess "
    "rate at 5 %), in any design. The control and chance rules apply only where an honest worker (everybody else's "
    "accuracy on the same durations) would be flagged with probability at most 2 %. A worker right on every trial "
    "is never flagged. Measured error rates by design: docs/analysis.md (scripts/bench_screening).")


def unjudged_note(screening, fps: float, guess_rate: float) -> str:
    """The report's sentence on between-subjects cohorts no rule could judge (empty when none):
    why a random responder there cannot be found by accuracy, and what can (catch trials)."""
    cohorts = screening.unjudged_cohorts()
    if cohorts.empty:
        return ""
    parts = [f"{r.n_workers} who saw only {duration_ms([r.frames], fps)[0]} ms (accuracy there {r.accuracy:.2f})"
             for r in cohorts.itertuples()]
    return (f"No rule could judge {int(cohorts['n_workers'].sum())} worker(s) of between-subjects cohorts: "
            + "; ".join(parts) + f". With so few trials, a count of correct answers this near the guess rate "
            f"({guess_rate:.2f}) cannot tell a random responder from an honest worker without flagging more than 2 % "
            "of honest ones (simulated with 8 or 20 trials a task: no random responder at 17 or 50 ms was flagged). "
            "Catch trials at the control duration mixed into every list let the control rule judge them "
            "(simulated, 8 trials a task: 5 catch trials flag every random responder and no honest worker when 5 % "
            "respond at random; with 20 % random responders even 8 catch trials did not suffice at 17 ms). "
            "Figures: docs/analysis.md.")


SHARED_FIGURES = ("profiles", "workers")
"""The report's costliest figures (the image profile grid, the workers' figure), which `write_report`
can take from another process (`draw_figures`) while it draws the others."""


def render_report(analysis, summary: pd.DataFrame | None = None, figure=None) -> str:
    """The report of an `analysis.analyze.Analysis` as one HTML string (``summary``: `summary_table`'s,
    when the caller has written it already). ``figure(name, draw)`` gives each figure as base64 PNG text
    (names: histogram, class panels, timing, rules, accuracy, profiles, progress, workers); default
    ``draw()``."""
    figure = figure or (lambda name, draw: draw())
    mvt = analysis.mvt
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rules = rules_comparison(mvt)
    summary = summary_table(analysis, rules) if summary is None else summary
    overview = summary[~summary["item"].str.startswith(("screening: ", "rules: "))]
    unrec = mvt.table[mvt.table["status"] != "ok"][["image_id", "label", "status", "n_responses"]]
    acc = analysis.accuracy
    by = analysis.by
    acc_cols = ["frames", "duration_ms", "n_responses", "accuracy", "ci_low", "ci_high", "ci_method", "df",
                "n_workers", "n_images"]
    acc_shown = acc[acc["scope"].isin(["overall", "group"])][["group"] + acc_cols] if by else \
        acc[acc["scope"] == "overall"][acc_cols]

    screening_counts = pd.DataFrame(_screening_counts(analysis), columns=["item", "count"])
    w = analysis.screening.workers
    flagged = w[w["flagged"]][["worker_id", "reason", "control_accuracy", "profile_r", "n_complete_assignments"]]

    progress_note = ("lists per link from the server (Redis)" if analysis.progress["free"].notna().any()
                     else "counted from the responses CSV (lists never started and marks for replacement are not in it)")
    progress_note += ("; replaced and expired count assignments with responses that were marked for replacement "
                      "(or taken over) or expired; flagged counts complete assignments of flagged workers (to repost).")
    mvt_section = Section("Minimum viewing time").add("p", f"{mvt.describe_rule()}; {mvt.describe_control()}.")
    _mvt_figures(analysis, mvt_section, figure)
    mvt_section.add("note", "Histogram numbers with their bootstrap intervals: mvt_histogram.csv; every image: "
                            "mvt.csv; bootstrap draws: mvt analyze --draws (bootstrap_draws.csv).")
    if by:
        mvt_section.add("table", _table(analysis.histogram[analysis.histogram["group"] != ""],
                                        text_columns=("group", "bin")))
    timing_section = Section("Timing fidelity").add(
        "p", "Trials of complete assignments per intended duration; a trial whose measured presented frames differ "
             "from the intended count is excluded. n_rescaled: trials whose video was drawn outside the study's "
             "max_rescale (browser zoom, a high-density screen), excluded too.")
    timing_png = figure("timing", lambda: _timing_figure(analysis.timing))
    timing_section.add("figure", timing_png) if timing_png else timing_section.add(
        "note", "No trial had a measured presented-frame count.")
    if by:
        group_of = mvt.table[by].astype(str)
        groups = sorted(group_of.unique())
        per_group = max(1, figures.MAX_PROFILE_PANELS // len(groups))
        # more groups than panels: one image from each of the first MAX_PROFILE_PANELS groups
        samples = {g: figures.profile_sample(mvt.table[group_of == g], k=per_group)
                   if i < figures.MAX_PROFILE_PANELS else [] for i, g in enumerate(groups)}
        sample = [image for g in groups for image in samples[g]]
        image_group = {image: _group_name(by, g) for g in groups for image in samples[g]}
        sample_text = (f"A random sample of {len(sample)} of {len(mvt.table)} images, up to {per_group} per {by} "
                       f"({', '.join(f'{len(samples[g])} of {int((group_of == g).sum())} {_group_name(by, g)}' for g in groups)})")
        profiles_alt = f"accuracy profiles of sampled images, split by {by}: " + "; ".join(
            _group_name(by, g) for g in groups)
        workers_alt = f"workers' profiles, split by {by}: " + "; ".join(_group_name(by, g) for g in groups)
    else:
        sample = figures.profile_sample(mvt.table)
        image_group = None
        sample_text = f"A random sample of {len(sample)} of {len(mvt.table)} images"
        profiles_alt = workers_alt = ""
    n_groups = analysis.worker_groups["group"].nunique() if by else 0
    plot_worker_groups = 0 < n_groups <= MAX_WORKER_GROUP_PANELS
    workers_note = ("" if not by or not len(analysis.screening.profiles) else
                    "Below the screening panels: each worker's proportion correct within each group "
                    "(worker_profiles_by_group.csv); a worker who saw several groups has a line in each."
                    if plot_worker_groups else
                    f"{n_groups} groups are too many to plot the workers per group (at most "
                    f"{MAX_WORKER_GROUP_PANELS}); each worker's accuracy per group is in worker_profiles_by_group.csv.")
    if not plot_worker_groups:
        workers_alt = ""
    sections = [
        Section("MVT analysis", 1).add("note", f"Generated {generated}.").add(
            "kv", list(overview.itertuples(index=False, name=None))),
        mvt_section,
        Section("Images without an MVT", 3).add(*(("table", _table(unrec, text_columns=("image_id", "label", "status")))
                                                 if len(unrec) else ("p", "Every image has an MVT."))),
        Section("Comparison of rules").add(
            "p", f"Every rule on the same counts, with the same control policy; 'differ' counts images whose status "
                 f"or MVT differs from rule '{mvt.rule}' (per image: rules.csv). The psychometric threshold is read "
                 f"as the shortest tested duration at or above it.").add(
            "table", _table(rules, text_columns=("rule",))).add(
            "figure", figure("rules", lambda: png_base64(figures.mvt_vs_threshold_figure(mvt))),
            alt="MVT of the rule against the psychometric threshold per image"),
        Section("Accuracy versus duration").add(
            "p", "Proportion correct with 95% intervals; dashed line: chance (the psychometric guess rate). "
                 + _interval_line(acc) + ".").add(
            "figure", figure("accuracy", lambda: _accuracy_figure(acc, mvt.guess_rate, by))).add(
            "table", _table(acc_shown, text_columns=("group", "ci_method"))),
        Section("Accuracy profiles of images").add(
            "p", f"{sample_text}; every image's counts, intervals and "
                 f"fitted values are in cells.csv, the fitted parameters in psychometric.csv.").add(
            "figure", figure("profiles", lambda: png_base64(figures.profiles_figure(mvt, sample, image_group))
                             if sample else ""), alt=profiles_alt),
        Section("Progress per link").add("note", progress_note).add(
            "figure", figure("progress", lambda: _progress_figure(analysis.progress))).add(
            "table", _table(analysis.progress, text_columns=("link_id",))),
        Section("Screening").add("p", SCREENING_POLICY).add(
            "p", unjudged_note(analysis.screening, mvt.fps, mvt.guess_rate)).add("note", workers_note).add(
            "figure", figure("workers", lambda: png_base64(figures.workers_figure(
                analysis.screening, mvt.fps, analysis.worker_groups if plot_worker_groups else None, by))
                if len(analysis.screening.profiles) else ""), alt=workers_alt).add(
            "table", _table(screening_counts, text_columns=("item",))),
        Section("Flagged workers", 3).add(*(("table", _table(flagged, text_columns=("worker_id", "reason")))
                                           if len(flagged) else ("p", "No worker is flagged."))),
        timing_section.add("table", _table(analysis.timing)),
    ]
    return _ENV.get_template("report.html").render(sections=sections)


def draw_figures(analysis, summary: pd.DataFrame | None = None, names=SHARED_FIGURES) -> dict[str, str]:
    """The report's figures `names` (of `SHARED_FIGURES`) as base64 PNG text by name, as `render_report` draws them."""
    drawn = {}

    def figure(name, draw):
        if name in names:
            drawn[name] = draw()
        return ""

    render_report(analysis, summary, figure)
    return drawn


def write_report(analysis, path: Path | str, summary: pd.DataFrame | None = None, shared=None) -> Path:
    """Write `render_report` output to `path` (UTF-8).

    ``shared``: an `analysis.background.Background` drawing `draw_figures` of `SHARED_FIGURES` (e.g. in
    a child process); the report then draws its other figures meanwhile and takes those from it, for
    the same bytes.
    """
    path = Path(path)
    if shared is None:
        html = render_report(analysis, summary)
    else:
        html = render_report(analysis, summary,
                             lambda name, draw: f"@figure-{name}@" if name in SHARED_FIGURES else draw())
        for name, png in shared.result().items():
            # The token is matched with its src="..." quotes, which no escaped text holds; an empty figure
            # is no <img> at all (the template's figure macro), as when drawn in place.
            src = f'src="data:image/png;base64,@figure-{name}@"'
            html = re.sub(rf'<img alt="[^"]*" {re.escape(src)}>', "", html) if not png \
                else html.replace(src, f'src="data:image/png;base64,{png}"')
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
