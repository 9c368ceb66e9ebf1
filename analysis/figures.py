"""Figures of the report that papers show: MVT histogram with bootstrap intervals, accuracy
profiles with fitted curves, workers' profiles and screening statistics.

Each function takes the `analysis.analyze.Analysis` parts it draws and returns a matplotlib
figure (the caller embeds and closes it); every number drawn is in a CSV
(`analysis.analyze.OUTPUT_FILES`).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.durations import duration_ms, duration_ms_exact  # noqa: E402

MAX_PROFILE_PANELS = 16
"""Images drawn in the grid of accuracy profiles (a seeded random sample; all are in cells.csv)."""


def png_base64(fig) -> str:
    """The figure as base64 PNG text (the reports embed it), and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plot_text(value) -> str:
    """A data string as literal matplotlib text: ``$`` would start mathtext (and an unknown
    command in it stops the whole report), a leading ``_`` hides a legend entry."""
    text = str(value).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def shorten(name, width: int) -> str:
    """`name` (any text) in at most `width` characters: the middle replaced by ``…`` when longer,
    so both the start and the end of a file name stay readable."""
    text = str(name)
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = width // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def panel_title(name, value: str, width: int = 48) -> str:
    """``name: value`` in about `width` characters, shortening the name and never the value.

    Titles used to be cut at 48 characters, which cut the MVT after long (ImageNet-style) file
    names: "MVT 10000 ms" became "MVT 1000". The value is kept whole even when it alone is
    longer than `width`.

    Examples
    --------
    >>> panel_title("n01440764_10026_a_very_long_imagenet_file_name.JPEG (tench)", "MVT 10000 ms")
    'n01440764_10026_a…ame.JPEG (tench): MVT 10000 ms'
    """
    tail = f": {value}"
    return plot_text(shorten(name, max(width - len(tail), 8))) + plot_text(tail)


def histogram_figure(histogram: pd.DataFrame, fps: float):
    """Images per MVT bin with 95 % bootstrap intervals (error bars), one bar per group."""
    groups = list(dict.fromkeys(histogram["group"]))
    groups = [g for g in groups if g] or [""]
    bins = list(dict.fromkeys(histogram["bin"]))
    labels = [f"{duration_ms(int(b), fps)} ms\n({b} fr)" if b.isdigit() else b[:5] + "." for b in bins]
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    width = 0.8 / len(groups)
    x = np.arange(len(bins)) + np.r_[np.zeros(len(bins) - 2), [0.4, 0.4]]
    for i, g in enumerate(groups):
        h = histogram[histogram["group"] == g].set_index("bin").reindex(bins)
        est = h["n_images"].to_numpy(dtype=float)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, est, width=width * 0.95, label=plot_text(g) if g else None,
               color=None if g else ["#4477aa"] * (len(bins) - 2) + ["#cc6677", "#bbbbbb"])
        low, high = h["ci_low"].astype("Float64").to_numpy(dtype=float, na_value=np.nan), \
            h["ci_high"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        if np.isfinite(low).any():
            # A segment, not an error bar around the estimate: the bootstrap interval of a bin's
            # count need not contain the point estimate (rules are thresholds, so biased).
            ax.vlines(pos, low, high, color="k", lw=1.2)
            ax.plot(np.r_[pos, pos], np.r_[low, high], "_", color="k", ms=6)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("images")
    n_boot = int(histogram["n_bootstrap"].iloc[0]) if len(histogram) else 0
    ax.set_title("MVT histogram" + (f"; black segments: 2.5–97.5 % quantiles of the bin's count over {n_boot} "
                                    "bootstrap resamples\n(not an interval around the bar: it need not contain it)"
                                    if n_boot else ""), fontsize=9)
    if groups != [""]:
        ax.legend(fontsize=8, title="group")
    return fig


def accuracy_figure(accuracy: pd.DataFrame, guess: float, by: str | None = None):
    """Proportion correct versus duration (log axis) with intervals, per class (<= 12) or per
    group, and the chance line at the guess rate."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    scope = "group" if by else "class"
    part = accuracy[accuracy["scope"] == scope]
    key = "group" if by else "label"
    names = sorted(part[key].unique())
    if len(names) <= 12:
        for name in names:
            g = part[(part[key] == name) & (part["n_responses"] > 0)]
            (line,) = ax.plot(g["duration_ms_exact"], g["accuracy"], marker=".", lw=1.4 if by else 1,
                              alpha=0.8, label=plot_text(name))
            ax.fill_between(g["duration_ms_exact"], g["ci_low"].astype(float), g["ci_high"].astype(float),
                            color=line.get_color(), alpha=0.1, lw=0)
    overall = accuracy[(accuracy["scope"] == "overall") & (accuracy["n_responses"] > 0)]
    yerr = np.vstack([overall["accuracy"] - overall["ci_low"], overall["ci_high"] - overall["accuracy"]])
    ax.errorbar(overall["duration_ms_exact"], overall["accuracy"], yerr=np.nan_to_num(yerr.astype(float)),
                color="k", lw=2.2, marker="o", capsize=4, label="all images (95% CI, see accuracy.csv)")
    if np.isfinite(guess):
        ax.axhline(guess, color="#888", ls="--", lw=1, label=f"chance ({guess:.3g})")
    ax.set_xscale("log")
    ax.set_xticks(overall["duration_ms_exact"], [str(d) for d in overall["duration_ms"]])
    ax.minorticks_off()
    ax.set_xlabel("presentation duration (ms)")
    ax.set_ylabel("proportion correct")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    return fig


def profile_sample(table: pd.DataFrame, rng=0, k: int = MAX_PROFILE_PANELS) -> list[str]:
    """Up to `k` image ids drawn at random (seeded) for the profile grid, sorted."""
    ids = table["image_id"].to_numpy()
    if len(ids) <= k:
        return sorted(ids)
    return sorted(np.random.default_rng(rng).choice(ids, size=k, replace=False))


def profiles_figure(mvt, image_ids: list[str], image_group: dict[str, str] | None = None):
    """A grid of per-image accuracy profiles: k/n per duration with Wilson intervals, the
    isotonic fit, the psychometric curve, theta and chance lines, the MVT as a vertical line.
    With `image_group` (image id → group name) each panel's title gets a second line naming
    the image's group."""
    cols = 4
    rows = max(1, -(-len(image_ids) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.5 * rows), squeeze=False, sharex=True, sharey=True)
    cells = mvt.cells.set_index("image_id")
    table = mvt.table.set_index("image_id")
    psy = mvt.psychometric.set_index("image_id")
    x_all = duration_ms_exact(mvt.frame_counts, mvt.fps)
    curve_x = np.geomspace(x_all.min() * 0.8, x_all.max() * 1.2, 120) if len(x_all) else np.zeros(0)
    for ax, image in zip(axes.ravel(), image_ids):
        c = cells.loc[[image]]
        seen = c["n"] > 0
        p = c["p"].to_numpy(dtype=float)
        # clip: at k = 0 or k = n the Wilson limit equals p up to rounding
        err = np.clip(np.vstack([p - c["wilson_low"].to_numpy(float), c["wilson_high"].to_numpy(float) - p]), 0, None)
        ax.errorbar(c["duration_ms_exact"][seen], p[seen], yerr=err[:, seen.to_numpy()], fmt="o", ms=3, color="k",
                    capsize=2, lw=0.8)
        ax.plot(c["duration_ms_exact"][seen], c["isotonic_p"][seen], color="#4477aa", lw=0.8, ls=":")
        fit = psy.loc[image]
        if np.isfinite(fit["mu_log_ms"]):
            z = (np.log(curve_x) - fit["mu_log_ms"]) / fit["sigma_log"]
            from scipy import stats

            ax.plot(curve_x, fit["guess"] + (1 - fit["guess"] - fit["lapse"]) * stats.norm.cdf(z), color="#cc6677",
                    lw=1.2)
            ax.axhline(fit["guess"], color="#888", ls="--", lw=0.7)
        ax.axhline(mvt.theta, color="#228833", lw=0.7)
        row = table.loc[image]
        if row["status"] == "ok":
            ax.axvline(float(row["mvt_ms_exact"]), color="#4477aa", lw=1)
        status = f"MVT {row['mvt_ms']} ms" if row["status"] == "ok" else str(row["status"])
        title = panel_title(f"{image} ({row['label']})", status)
        if image_group is not None:
            title += "\n" + plot_text(shorten(image_group[image], 48))
        ax.set_title(title, fontsize=7)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
    for ax in axes.ravel()[len(image_ids):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xticks(x_all, [str(v) for v in duration_ms(mvt.frame_counts, mvt.fps)], fontsize=6, rotation=45)
        ax.minorticks_off()
        ax.set_xlabel("ms", fontsize=7)
    fig.suptitle("accuracy profiles (points: k/n with 95% Wilson; dotted: isotonic; red: psychometric fit; "
                 "green: theta; dashed: chance)", fontsize=8)
    fig.tight_layout()
    return fig


def _worker_lines(ax, prof: pd.DataFrame, fps: float) -> None:
    """Each worker's accuracy per duration (rows of ``worker_id, frames, accuracy, flagged``),
    flagged workers in red, on a log duration axis.

    A worker who saw several durations is a line. A worker who saw one duration (a between-subjects
    cohort: every worker of one duration) is a point, jittered sideways within the duration's column
    (seeded, ±12 % of the duration) so that a cohort's workers with the same accuracy are separate
    points rather than one dot; the cohort's pooled accuracy (k/n over its workers, flagged ones
    included) is a black bar across the column.
    """
    n_durations = prof.groupby("worker_id")["frames"].transform("nunique")
    # One collection per colour rather than one Line2D per worker: the same lines, drawn in the
    # same order, at a fraction of the cost with thousands of workers.
    lines = prof[n_durations > 1].sort_values("worker_id", kind="stable")
    x = duration_ms_exact(lines["frames"], fps)
    ids = lines["worker_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, dtype=np.int64)
    xy = np.column_stack([x, lines["accuracy"].to_numpy(dtype=float)])
    segments = np.split(xy, starts[1:])
    bad = lines["flagged"].to_numpy(bool)[starts]
    for flagged, style in ((False, {"colors": "#999", "alpha": 0.35, "linewidths": 0.7, "zorder": 2}),
                           (True, {"colors": "#cc3311", "alpha": 0.9, "linewidths": 1.2, "zorder": 3})):
        chosen = [seg for seg, b in zip(segments, bad) if b == flagged]
        if chosen:
            ax.add_collection(LineCollection(chosen, capstyle="projecting", joinstyle="round", **style))
    if len(lines):
        ax.autoscale_view()
    single = prof[n_durations == 1].sort_values(["frames", "worker_id"])
    if not single.empty:
        x = duration_ms_exact(single["frames"], fps) * np.exp(
            np.random.default_rng(0).uniform(-0.12, 0.12, len(single)))
        bad = single["flagged"].to_numpy(bool)
        ax.scatter(x, single["accuracy"], s=12, c=np.where(bad, "#cc3311", "#777"), alpha=0.8, zorder=3,
                   label="one point per worker who saw one duration")
        for frames, g in single.groupby("frames"):
            centre = float(duration_ms_exact([frames], fps)[0])
            pooled = g["k"].sum() / g["n"].sum()
            ax.plot([centre * 0.85, centre / 0.85], [pooled, pooled], color="black", lw=1.5, zorder=4)
    ax.set_xscale("log")
    frames = sorted(prof["frames"].unique())
    ax.set_xticks(duration_ms_exact(frames, fps), [str(duration_ms(f, fps)) for f in frames], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("duration (ms)")
    ax.set_ylabel("worker's proportion correct")
    ax.set_ylim(-0.03, 1.03)


def workers_figure(screening, fps: float, group_profiles: pd.DataFrame | None = None, by: str | None = None):
    """Left: every worker's accuracy per duration seen (flagged in red). Middle and right: the
    distributions of the screening statistics where the rule applied, with the thresholds.

    With `group_profiles` (`analysis.analyze.WORKER_GROUP_COLUMNS`) further rows below hold one
    panel per group of `by`: each worker's accuracy within that group.
    """
    groups = sorted(group_profiles["group"].unique()) if group_profiles is not None else []
    if not groups:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    else:
        extra = -(-len(groups) // 3)
        fig, grid_axes = plt.subplots(1 + extra, 3, figsize=(12, 3.4 * (1 + extra)), squeeze=False)
        axes = grid_axes[0]
        for ax, g in zip(grid_axes[1:].ravel(), groups):
            _worker_lines(ax, group_profiles[group_profiles["group"] == g], fps)
            part = group_profiles[group_profiles["group"] == g]
            n_flagged = part.loc[part["flagged"], "worker_id"].nunique()
            ax.set_title(panel_title(f"{by} = {g if g else '(none)'}",
                                     f"{part['worker_id'].nunique()} workers, {n_flagged} flagged (red)", 70), fontsize=9)
        for ax in grid_axes[1:].ravel()[len(groups):]:
            ax.set_visible(False)
    w = screening.workers.set_index("worker_id")
    flagged = set(w.index[w["flagged"]])
    prof = screening.profiles.assign(flagged=screening.profiles["worker_id"].isin(flagged))
    ax = axes[0]
    _worker_lines(ax, prof, fps)
    one = prof.groupby("worker_id")["frames"].nunique().eq(1).any()
    ax.set_title(f"workers' profiles ({len(flagged)} flagged, red)"
                 + ("\na point: a worker who saw one duration; bar: pooled" if one else ""), fontsize=9)
    applied = w["control_status"] == "applied"
    axes[1].hist(w.loc[applied, "control_accuracy"].dropna(), bins=np.linspace(0, 1, 21), color="#4477aa")
    axes[1].axvline(screening.control_threshold, color="#cc3311", ls="--")
    axes[1].set_title(f"control accuracy ({int(applied.sum())} workers; rule applied)", fontsize=9)
    axes[1].set_xlabel("accuracy at the control duration")
    applied = w["correlation_status"] == "applied"
    axes[2].hist(w.loc[applied, "profile_r"].dropna(), bins=np.linspace(-1, 1, 21), color="#4477aa")
    axes[2].axvline(screening.min_r, color="#cc3311", ls="--")
    axes[2].set_title(f"profile r ({int(applied.sum())} workers; rule applied)", fontsize=9)
    axes[2].set_xlabel("r with everybody else's profile")
    fig.tight_layout()
    return fig


def mvt_vs_threshold_figure(mvt):
    """Per image: the rule's MVT (x, tested durations) against the psychometric threshold (y, log ms).

    Thresholds outside the tested durations are censored: drawn at the bound as open triangles
    (▼ "< shortest", ▲ "> longest"), never at their extrapolated value. Images without an MVT or a
    threshold are left out (counted in the title). Points are jittered sideways so that images at
    one duration do not hide each other.
    """
    table = mvt.table
    grid = duration_ms_exact(mvt.frame_counts, mvt.fps)
    lo, hi = float(grid[0]), float(grid[-1])
    ok = (table["status"] == "ok").to_numpy()
    t = table["threshold_ms"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    status = table["threshold_status"].to_numpy(dtype=object)
    x = table["mvt_ms_exact"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    jitter = np.exp(np.random.default_rng(0).uniform(-0.08, 0.08, len(table)))
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    shown = 0
    for mask, y, marker, label in (
            (ok & (status == "ok"), t, "o", "threshold inside the tested durations"),
            (ok & (status == "below_range"), np.full(len(t), lo), "v", f"below {duration_ms([mvt.frame_counts[0]], mvt.fps)[0]} ms (censored)"),
            (ok & (status == "above_range"), np.full(len(t), hi), "^", f"above {duration_ms([mvt.frame_counts[-1]], mvt.fps)[0]} ms (censored)")):
        if mask.any():
            ax.scatter(x[mask] * jitter[mask], y[mask], marker=marker, s=14, alpha=0.6,
                       facecolors="none" if marker != "o" else None, edgecolors="#4477aa", label=label)
            shown += int(mask.sum())
    ax.plot([lo * 0.8, hi * 1.2], [lo * 0.8, hi * 1.2], color="#888", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(grid, [str(v) for v in duration_ms(mvt.frame_counts, mvt.fps)], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel(f"MVT, rule '{mvt.rule}' (ms)")
    ax.set_ylabel("psychometric threshold (ms)")
    ax.set_title(f"{shown} of {len(table)} images (with an MVT and a threshold); dashed: equal", fontsize=9)
    if shown:
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
