"""``report.html`` of a rating study: a Jinja2 template (autoescaped) with one embedded chart.

Ids, sources and algorithm names come from the experimenter's input and the workers; the
template escapes every one of them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.figures import png_base64  # noqa: E402
from kernel.scales import scale_bounds  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def bar_chart(table, scale: str, title: str) -> str:
    """PNG (base64) of one bar per algorithm with its interval as error bars."""
    low, high = scale_bounds(scale)
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(table) + 2), 3.4))
    means = table["mos"].to_numpy(float)
    err = np.vstack([means - table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float) - means])
    ax.bar(table["algorithm"].astype(str), means - low, bottom=low, yerr=np.nan_to_num(err), capsize=5,
           color="#4c78a8")
    ax.set_ylim(low, high)
    ax.set_ylabel("MUSHRA score" if scale == "mushra" else "MOS")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return png_base64(fig)


def workers_chart(workers, settings: dict) -> str:
    """PNG (base64): each worker's correlation r with the others' item means (x) against their share of
    z-score outliers (y), flagged workers in red, with the two rules' limits as dashed lines.
    Workers whose r is undefined are drawn at r = -1.05 (left of the axis, grey band)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    r = workers["correlation"].astype(float).to_numpy()
    share = workers["outlier_share"].astype(float).fillna(0).to_numpy()
    flagged = workers["flagged"].astype(bool).to_numpy()
    x = np.where(np.isnan(r), -1.05, r)
    ax.axvspan(-1.1, -1.0, color="#eeeeee")
    for mask, color, label in ((~flagged, "#4477aa", "kept"), (flagged, "#cc3311", "flagged (any rule)")):
        if mask.any():
            ax.scatter(x[mask], share[mask], s=16, color=color, alpha=0.7, label=f"{label} ({int(mask.sum())})")
    ax.axvline(settings["min_r"], color="#cc3311", ls="--", lw=0.8)
    ax.axhline(settings["max_outlier_share"], color="#cc3311", ls="--", lw=0.8)
    ax.set_xlim(-1.1, 1.02)
    ax.set_xlabel("r with the other workers' item means (grey: undefined)")
    ax.set_ylabel("share of z-score outliers")
    ax.set_title(f"workers ({len(workers)}); dashed: --min-r {settings['min_r']:g}, "
                 f"--max-outlier-share {settings['max_outlier_share']:g}", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    return png_base64(fig)


def render_report(result, *, source: str = "") -> str:
    """The report's HTML for a `analysis.ratings.RatingsResult`."""
    # The crowdMOS interval also for MUSHRA: BS.1534's t interval ignores worker and sample
    # variance and under-covers (tests/test_ratings_analysis.py); both are in the table.
    table = result.by_algorithm
    pivot = result.by_sample.pivot(index="source", columns="algorithm", values="mos")
    return _ENV.get_template("ratings_report.html").render(
        result=result, source=source, generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        chart=bar_chart(table, result.scale,
                        f"mean per algorithm, {result.settings['confidence']:.0%} intervals (method: table)")
        if len(table) else "",
        algorithms=result.by_algorithm.to_dict("records"), samples=result.by_sample.to_dict("records"),
        per_source=pivot.reset_index().to_dict("records"), per_source_columns=list(pivot.columns),
        workers=result.workers.to_dict("records"), n_flagged=int(result.workers["flagged"].sum()),
        workers_chart=workers_chart(result.workers, result.settings) if len(result.workers) else "",
        fmt=lambda v, d=2: "" if v is None or (isinstance(v, float) and np.isnan(v)) else
        (f"{v:.{d}f}" if isinstance(v, (float, np.floating)) else str(v)))
