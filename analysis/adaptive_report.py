"""``report.html`` of an adaptive MVT study: batches, the posterior MVT of every image, screening.

Rendered by the MVT report's template (`analysis.report`, Jinja2 with autoescape on), so every
image id, label, worker id and reason from the data is HTML-escaped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.durations import duration_ms
from analysis.report import _ENV, Section, _table

MODEL_TEXT = (
    "Each image's MVT is the most probable bin of its posterior: per image, accuracy by duration follows "
    "P(correct | d) = g + (1 - g - lapse) Phi((ln d - mu) / sigma) (monotone; g the guess rate, lapse up to 0.1) on a "
    "grid of 960 curves, under a prior over the grid learned from every image of the study (empirical Bayes, "
    "Laird 1978); a curve's bin is the shortest duration where its accuracy exceeds theta, or unrecognised. "
    "The interval is the {mass:.0%} equal-tailed credible interval on the ordered bins (unrecognised after the "
    "longest duration). Details and measured agreement: docs/analysis.md, \"Adaptive studies\".")

SCREENING_TEXT = (
    "A worker is flagged when their correct answers fall below what the posterior predicts for their own trials: "
    "z = (k + 0.5 - sum p) / sqrt(sum p (1 - p)) below the one-sided {alpha:g} quantile of the normal "
    "(Poisson-binomial count, normal approximation). Their answers enter no estimate. The fixed design's control "
    "rule does not apply: an adaptive batch asks the longest duration mostly of hard images.")


def _ms(value) -> str:
    return "" if value is None or value is pd.NA else f"{int(value)} ms"


def image_rows(mvt: pd.DataFrame) -> pd.DataFrame:
    """Per image as the report shows it: batches, answers per batch, MVT and its credible interval."""
    high = [("unrecognised" if unrec else _ms(h)) for h, unrec in zip(mvt["mvt_ms_ci_high"], mvt["ci_high_unrecognised"])]
    low = [("unrecognised" if s != "insufficient" and (lo is None or lo is pd.NA) else _ms(lo))
           for lo, s in zip(mvt["mvt_ms_ci_low"], mvt["status"])]
    estimate = [_ms(m) if s == "ok" else s for m, s in zip(mvt["mvt_ms"], mvt["status"])]
    return pd.DataFrame({
        "image_id": mvt["image_id"], "label": mvt["label"], "batches": mvt["batches"],
        "answers_by_batch": mvt["answers_by_batch"], "answers": mvt["n_responses"], "MVT": estimate,
        "P(MVT)": mvt["p_mvt"], "interval": [f"{a} to {b}" if a or b else "" for a, b in zip(low, high)],
        "finished": mvt["finished"]})


def render_adaptive_report(analysis) -> str:
    """The report of an `analysis.adaptive_analysis.AdaptiveAnalysis` as one HTML string."""
    mvt, workers, screened = analysis.mvt, analysis.workers, analysis.screened
    counts = analysis.status_counts()
    grid = screened.frame_counts
    histogram = pd.DataFrame({
        "MVT": [f"{ms} ms" for ms in duration_ms(grid, analysis.fps)] + ["unrecognised", "insufficient"],
        "images": [int(((mvt["status"] == "ok") & (mvt["mvt_frames"] == f)).sum()) for f in grid]
                  + [counts["unrecognised"], counts["insufficient"]]})
    overview = [
        ("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("experiments", ", ".join(analysis.experiments) or "(not named)"), ("source", analysis.source),
        ("responses", len(analysis.responses)), ("answers used", int(screened.usable["kept"].sum())),
        ("batches", len(analysis.batches)), ("images", len(mvt)),
        ("answers per image (mean)", f"{mvt['n_responses'].mean():.1f}" if len(mvt) else "0"),
        ("images finished (one bin holds >= 0.9)", int(mvt["finished"].sum())),
        ("workers", len(workers)), ("workers flagged", int(workers["flagged"].sum())),
        ("model", analysis.guess_source),
    ]
    flagged = workers[workers["flagged"]][["worker_id", "reason", "model_n", "model_k", "model_expected", "model_z"]]
    sections = [
        Section("Adaptive MVT analysis", 1).add("kv", overview),
        Section("Batches").add("p", "Links, images and trials of every batch, the responses recorded on them and "
                                    "the answers used (usable, worker not flagged); batches.csv.").add(
            "table", _table(analysis.batches)),
        Section("Minimum viewing time").add("p", MODEL_TEXT.format(mass=float(mvt["ci_mass"].iloc[0])
                                                                   if len(mvt) else 0.95)).add(
            "table", _table(histogram, text_columns=("MVT",))),
        Section("Images", 3).add(
            "p", "Per image: the batches whose links showed it, the answers used from each, the MVT with its "
                 "posterior probability and credible interval (every bin's posterior: mvt.csv).").add(
            "table", _table(image_rows(mvt), text_columns=("image_id", "label", "batches", "answers_by_batch", "MVT",
                                                           "interval"))),
        Section("Screening").add("p", SCREENING_TEXT.format(alpha=analysis.alpha)),
        Section("Flagged workers", 3).add(*(("table", _table(flagged, text_columns=("worker_id", "reason")))
                                           if len(flagged) else ("p", "No worker is flagged."))),
    ]
    return _ENV.get_template("report.html").render(sections=sections)


def write_adaptive_report(analysis, path: Path | str) -> Path:
    """Write `render_adaptive_report` output to `path` (UTF-8, replaced atomically)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_adaptive_report(analysis), encoding="utf-8")
    tmp.replace(path)
    return path

