"""Rating studies: MOS (ACR, DCR) and MUSHRA statistics with worker screening.

Inputs are the responses of a ``ratings`` experiment (``sample_id`` is ``source/algorithm``, ``rating``
the scale point: `studies.ratings.RatingsKind.export_columns`) and the study's ``design.json``. A file
exported before the ratings kind had its own columns (``image_id`` held the sample id, ``response`` the
scale point) is read too (`OLD_COLUMNS`).

Which ratings are used
    Ratings of ``complete`` assignments, from assignments whose working time per sample is at
    least ``min_sample_ms`` (crowdMOS's MinSampleWorkingTime; `time_per_sample`), from workers not
    flagged by a screening rule.

Screening (a worker is flagged by any rule; the rules look at the ratings of complete, fast
enough assignments)
    - correlation (crowdMOS): Pearson r between the worker's scores and the leave-one-out item
      means (the mean of the other workers' ratings of the same sample) over the worker's items
      that at least ``MIN_OTHER_RATERS`` (2) others rated too; flagged when r < ``min_r`` (0.25).
      Undefined r (fewer than 3 such items, or constant scores on either side) does not flag
      (``correlation_status`` says why). With one other rater the "mean" is that rater's score, and
      an honest worker whose only comparator was careless was flagged (`mvt demo --ratings
      --design mushra`, 8 simulated raters, 2 ratings a sample: r = 0.08).
    - z-score outliers: each rating's ``z = (x - m_a) / s_a``, with ``m_a`` and ``s_a`` (ddof 1)
      the mean and standard deviation of all ratings of the same algorithm (the condition, whose
      items the crowdMOS model treats as exchangeable). A rating is an outlier when |z| >
      ``z_limit`` (2.5) **and** it lies more than one scale step (1 point on ACR/DCR, 1 on
      MUSHRA's 0..100) from both the algorithm's mean ``m_a`` and the sample's mean (all its
      ratings): a rating within one step of its item's mean is never an outlier. Near the ceiling
      (a reference rated 4.9 ± 0.3) ``s_a`` is small and a single honest "4" has |z| ≈ 3; the
      one-step guard keeps it. A worker is flagged when more than ``max_outlier_share`` (5 %) of
      their ratings are outliers **and** they gave at least ``min_screen_ratings`` (20) ratings:
      with fewer, one outlier alone exceeds 5 % (1 of 18 = 5.6 %), so the rule is ``not
      applicable`` (``outlier_status``). (Per sample this rule could never fire with few ratings:
      with n ratings |z| <= (n - 1) / sqrt(n).) Sources: crowdMOS (Ribeiro et al. 2011) screens by
      correlation and by outlying ratings; ITU-R BT.500-14 Annex 1 §2.3.2 rejects an observer by
      the share of scores outside mean ± 2 (normal) or √20 (non-normal) standard deviations,
      counted against a share (5 %); the one-step guard and the minimum count are this project's,
      for integer scales (a one-point disagreement is the smallest an integer scale can show).
    - ``screen=False`` (``mvt analyze --no-rating-screen``) turns the correlation and z-score rules
      off (``not applicable: rating screen off``); the rules below stay, as they check what the
      study itself asked (reference, traps, gold, headphones).
    - MUSHRA post-screening (ITU-R BS.1534-3, §4.1.2): a worker who rates the hidden reference
      (``REF``) below ``mushra_ref_min`` (90) for more than ``mushra_ref_share`` (15 %) of the
      items (screens: sources) they rated, or the anchor (``ANC``) above ``mushra_anchor_max`` (90)
      for more than 15 % of them, is excluded. BS.1534-3 names the mid-range anchor (7 kHz
      low-pass) for the second clause; a study here has one anchor, ``ANC`` (3.5 kHz low-pass,
      the low-range one), which a worker rating it above 90 hears as transparent, so the clause
      reads it. The shares count the worker's items in this analysis (all their tasks). No minimum
      count: the standard has none, so with fewer than 7 items (1/6 = 16.7 % > 15 %) a single item
      below 90 excludes the worker. Measured (`scripts/bench_screening`, `simulation.ratings`):
      honest workers who always find the hidden reference are never flagged; with an assumed
      slip rate (the hidden reference not found on 2 % or 5 % of items) the share flagged grows
      with it, a careless worker (uniform ratings) is flagged nearly always; figures in
      docs/analysis.md.
    - headphones: in an audio study that requires the headphone check, a worker with a rating that
      carries no passed check (`without_headphones`).
    - trapping (ITU-T P.808): a worker who did not choose the asked-for score on a trapping trial
      (sample id ``trap/<score>``) is flagged. Traps never enter an estimate.
    - gold samples (ITU-T P.808 gold-standard questions; `stimuli.ratings_gold`): a gold answer is
      missed when ``|rating - known score| > GOLD_TOLERANCE`` (1 point), the rule of the P.808
      reference implementation (microsoft/P.808 ``acr_result_parser``: ``variance: 1``). A worker
      with ``n_gold_missed / n_gold > max_gold_miss_share`` is flagged; the default 0 flags any
      miss, as P.808's implementation uses a session only when its gold answer is right
      (``gold_standard_bigger_equal: 1`` with one gold clip per session). Workers who met no gold
      trial are not judged by this rule. Gold trials (sample id ``gold/<name>``) never enter an
      estimate.

Estimates
    - per algorithm: the crowdMOS mean and interval (`analysis.crowdmos.crowdmos`, workers x
      samples, df ν = min(N workers, M samples) - 1, variances with ``ddof`` 1 by default;
      ``mvt analyze --ddof 0`` for the plain mean of squares);
    - per (source, algorithm), i.e. one sample: the mean and the Student interval
      ``mean +- t_{n-1} s / sqrt(n)`` (s with ddof 1) over its n ratings (the crowdMOS interval's
      one-item case, where only the worker and noise terms vary);
    - MUSHRA per algorithm: mean and 95 % interval ``mean +- t_{n-1} s / sqrt(n)`` over the
      algorithm's n ratings (BS.1534-3, 9.3), next to the crowdMOS interval.

Interval policy (`rating_interval`; every row names its method in ``ci_method``)
    - the t-based interval (crowdMOS or Student) is used where ν >= 2 and its variance is > 0;
      a limit beyond the scale (1..5, 0..100) is clipped to it, ``ci_clipped`` is true and
      ``ci_method`` says ``clipped to [1, 5]``; the unclipped crowdMOS limits stay in
      ``crowdmos_low``/``crowdmos_high``;
    - otherwise (ν < 2: one or two workers or samples, one or two ratings of a sample; or
      variance 0: every rating equal) the Wilson score interval of the mean rescaled to [0, 1]
      with n = the number of ratings (`analysis.intervals.bounded_mean_interval`), mapped back to
      the scale: bounded, of positive width, conservative in variance (a variable on [0, 1] with
      mean p has variance at most p(1 - p)); it treats ratings as independent.
    So every interval lies on the scale and has positive width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.crowdmos import crowdmos
from analysis.intervals import bounded_mean_interval
from analysis.responses import USABLE_STATUSES, status_note
from kernel import csvsafe
from kernel.errors import NoResponses, ResponsesInvalid
from kernel.scales import scale_bounds

WORKER_COLUMNS = ["worker_id", "flagged", "reason", "flag_correlation", "flag_outliers", "flag_mushra_reference",
                  "flag_trap", "flag_gold", "flag_headphones", "correlation", "n_r_items", "correlation_status",
                  "outlier_share", "n_outliers", "outlier_status", "hidden_ref_below_share", "anchor_above_share",
                  "n_traps", "n_traps_failed", "n_gold", "n_gold_missed", "n_ratings", "n_used",
                  "n_slow_excluded", "n_incomplete_excluded", "complete_assignment_ids", "flag_stored"]
"""Columns of ``workers.csv``, in order."""
ALGORITHM_COLUMNS = ["algorithm", "mos", "ci_low", "ci_high", "ci_method", "ci_clipped", "df", "ddof", "n_workers",
                     "n_samples", "n_ratings", "sigma_w2", "sigma_s2", "sigma_u2", "crowdmos_low", "crowdmos_high"]
MUSHRA_COLUMNS = ["mushra_mean", "mushra_ci_low", "mushra_ci_high", "mushra_ci_method"]
"""Columns of ``mos_by_algorithm.csv`` (MUSHRA adds the BS.1534 ones)."""
SAMPLE_COLUMNS = ["sample_id", "source", "algorithm", "mos", "ci_low", "ci_high", "ci_method", "ci_clipped", "df",
                  "n_ratings"]
"""Columns of ``mos_by_sample.csv``."""

MIN_SCREEN_RATINGS = 20
"""Ratings a worker needs before the z-score outlier rule applies (1 / 5 %: below it one outlier flags)."""
MIN_OTHER_RATERS = 2
"""The correlation rule counts a sample only where at least this many other workers rated it."""
MIN_T_DF = 2
"""A t-based rating interval needs ν of at least this (ν = 1: t = 12.7); below, the bounded fallback."""

GOLD_TOLERANCE = 1
"""How far (scale points) a gold answer may be from the known score and still count (P.808)."""


def gold_scores(design: dict) -> dict[str, int]:
    """The known score of every gold sample id (``gold/<name>``) of a design."""
    return {t["sample_id"]: t["gold"] for link in design["links"] for trials in link["lists"] for t in trials
            if t.get("gold") is not None}


@dataclass(frozen=True)
class RatingsResult:
    """Everything `analyze_ratings` found; `write_outputs` writes each table as CSV."""

    design: str
    scale: str
    by_algorithm: pd.DataFrame
    by_sample: pd.DataFrame
    workers: pd.DataFrame
    used: pd.DataFrame
    slow_assignments: list[str]
    settings: dict = field(default_factory=dict)
    responses: pd.DataFrame | None = None
    """Every rating response (typed, traps and gold included), for ``progress.csv``."""
    nothing_left: str = ""
    """Why no estimate could be made (every assignment too fast, every worker flagged), else empty:
    the workers' table and the marks for replacement are still there to act on."""

    def flagged_assignments(self) -> list[str]:
        """Complete assignments of flagged workers and too-fast assignments (what ``--replace`` marks), sorted."""
        ids = self.workers.loc[self.workers["flagged"], "complete_assignment_ids"]
        return sorted({a for text in ids for a in text.split()} | set(self.slow_assignments))


OLD_COLUMNS = {"image_id": "sample_id", "response": "rating"}
"""A ratings CSV of ``mvt export`` before the ratings kind had its own columns: old name -> name now."""

NEEDED_COLUMNS = ("link_id", "assignment_id", "worker_id", "sample_id", "rating")
"""Columns a rating analysis cannot do without (after `OLD_COLUMNS`)."""


def rating_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``raw`` with the ratings kind's column names: a file written before them (``image_id``,
    ``response``, and no ``sample_id``) has its columns renamed by `OLD_COLUMNS`.

    Raises `ResponsesInvalid` naming a needed column (`NEEDED_COLUMNS`) that the file lacks.
    """
    renames = {old: new for old, new in OLD_COLUMNS.items() if new not in raw.columns and old in raw.columns}
    df = raw.rename(columns=renames) if renames else raw.copy()
    missing = [col for col in NEEDED_COLUMNS if col not in df.columns]
    if missing:
        raise ResponsesInvalid(f"the ratings responses lack the column(s) {', '.join(missing)}; expected the "
                               f"columns of mvt export ({', '.join(NEEDED_COLUMNS)}, ...)")
    return df


def ratings_table(raw: pd.DataFrame, design: dict) -> pd.DataFrame:
    """Typed ratings: the response columns plus ``score`` (float), ``source`` and ``algorithm``.

    Raises `ResponsesInvalid` for a response that is not a number of the scale or a sample id
    the design does not know.
    """
    if raw.empty:
        raise NoResponses("there are no responses to analyse")
    df = rating_columns(raw)
    for col in ("worker_id", "assignment_id", "sample_id", "link_id"):
        df[col] = df[col].astype(str)
    score = pd.to_numeric(df["rating"], errors="coerce")
    points = {float(o) for o in design["options"]}
    bad = ~score.isin(points)
    if bad.any():
        raise ResponsesInvalid(f"rating {df.loc[bad, 'rating'].iloc[0]!r} is not a point of the "
                               f"{design['scale']} scale ({design['options'][0]}..{design['options'][-1]})")
    df["score"] = score.astype(float)
    df["trap"] = df["sample_id"].str.startswith("trap/")
    df["gold"] = df["sample_id"].isin(gold_scores(design))
    samples = {t["sample_id"] for link in design["links"] for trials in link["lists"] for t in trials
               if t.get("trap") is None}
    samples |= set(df.loc[df["trap"], "sample_id"])
    unknown = ~df["sample_id"].isin(samples)
    if unknown.any():
        raise ResponsesInvalid(f"sample {df.loc[unknown, 'sample_id'].iloc[0]!r} is not in the design")
    df[["source", "algorithm"]] = df["sample_id"].str.rsplit("/", n=1, expand=True)
    # a missing status is "unknown" and kept like "complete" (analysis.responses)
    status = df.get("assignment_status", pd.Series("", index=df.index))
    status = status.astype(object).where(status.notna(), "").astype(str).str.strip().replace("", "unknown")
    df["assignment_status"] = status
    df["response_time_ms"] = pd.to_numeric(df.get("response_time_ms"), errors="coerce")
    return df


HEADPHONE_PASS = 5 / 6
"""Share of the headphone screening's trials a worker must get right (Woods et al. 2017: 5 of 6)."""


def without_headphones(ratings: pd.DataFrame, design: dict) -> set[str]:
    """Workers with a rating that carries no passed headphone check, in a study that requires one.

    An audio study whose study file sets ``headphone_check`` runs the screening before the task
    (``static/ratings/headphone_check.js``) and sends its outcome, ``"correct/trials"``, with every
    rating; the page lets only a pass (`HEADPHONE_PASS`) through. A rating without a passing
    outcome did not come through that page. Other studies: nobody.
    """
    if not ((design.get("study") or {}).get("headphone_check") is True and design.get("media_kind") == "audio"):
        return set()
    outcome = ratings.get("headphone_check", pd.Series(None, index=ratings.index, dtype=object))
    parts = outcome.astype("string").str.extract(r"^(\d+)/(\d+)$").astype(float)
    passed = (parts[1] > 0) & (parts[0] >= HEADPHONE_PASS * parts[1] - 1e-9)
    return set(ratings.loc[~passed.fillna(False).astype(bool), "worker_id"])


def time_per_sample(ratings: pd.DataFrame, design: dict) -> pd.Series:
    """Working time per sample of each assignment (ms): the sum of its screens' times over its samples.

    ``response_time_ms`` is the time from a screen shown to its Next, and every sample of a
    multi-stimulus screen (same-source, MUSHRA) carries that one screen time; so a screen counts
    once (its longest time), and the sum is divided by the number of samples rated. For
    single-stimulus designs (one sample a screen) this is the mean ``response_time_ms``.
    """
    screen_of = {(link.get("link_id"), t["sample_id"]): t["screen"] for link in design.get("links", [])
                 for trials in link["lists"][:1] for t in trials if "screen" in t}
    # a sample the design does not place on a screen is a screen of its own
    screens = pd.Series([screen_of.get(key, f"row{i}") for i, key in enumerate(zip(ratings["link_id"],
                                                                                    ratings["sample_id"]))],
                        index=ratings.index, dtype=object)
    per_screen = ratings.groupby([ratings["assignment_id"], screens])["response_time_ms"].max()
    total = per_screen.groupby(level=0).sum(min_count=1)
    return total / ratings.groupby("assignment_id").size()


def t_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval ``mean +- t_{n-1} s / sqrt(n)`` (s with ddof 1); NaN limits for n < 2.

    Examples
    --------
    >>> [round(v, 3) for v in t_interval(np.array([60.0, 70, 80]))]
    [70.0, 45.159, 94.841]
    """
    x = np.asarray(x, dtype=float)
    mean = float(x.mean()) if x.size else np.nan
    if x.size < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return mean, float(mean - half), float(mean + half)


def rating_interval(mean: float, low: float, high: float, df: int, n: int, scale: str, method: str,
                    confidence: float = 0.95) -> dict:
    """The rating interval policy for one row (module docstring): t-based, clipped to the scale, or bounded.

    Parameters
    ----------
    mean : float
        The mean score.
    low, high : float
        The t-based limits (crowdMOS or Student); NaN when there are none.
    df : int
        Their degrees of freedom ν.
    n : int
        Ratings behind the mean (for the fallback).
    scale : str
        ``acr``, ``dcr`` or ``mushra`` (`kernel.scales.scale_bounds`).
    method : str
        Name of the t-based method (``crowdmos``, ``t``).
    confidence : float, optional
        Level of the fallback interval, default 0.95.

    Returns
    -------
    dict
        ``ci_low, ci_high, ci_method, ci_clipped``.

    Examples
    --------
    Every rating 5 (variance 0): the t interval would be [5, 5]; the bounded fallback is used.

    >>> out = rating_interval(5.0, 5.0, 5.0, 19, 20, "acr", "t")
    >>> out["ci_method"], round(out["ci_low"], 2), out["ci_high"], out["ci_clipped"]
    ('wilson on the rescaled mean: variance 0', 4.36, 5.0, False)
    >>> rating_interval(4.9, 4.78, 5.02, 29, 30, "acr", "crowdmos")["ci_method"]
    'crowdmos clipped to [1, 5]'
    """
    lower, upper = scale_bounds(scale)
    why = ("ν < 2" if df < MIN_T_DF or not (np.isfinite(low) and np.isfinite(high)) else
           "variance 0" if not high - low > 0 else "")
    if why:
        ci = bounded_mean_interval(min(max(mean, lower), upper), n, lower, upper, confidence)
        return {"ci_low": float(ci.low), "ci_high": float(ci.high), "ci_method": f"{ci.method}: {why}",
                "ci_clipped": False}
    clipped_low, clipped_high = max(low, lower), min(high, upper)
    clipped = (clipped_low, clipped_high) != (low, high)
    return {"ci_low": float(clipped_low), "ci_high": float(clipped_high), "ci_clipped": clipped,
            "ci_method": f"{method} clipped to [{lower}, {upper}]" if clipped else method}


def scale_step(design: dict) -> float:
    """The smallest distance between two points of the design's scale (1 for ACR, DCR and MUSHRA's 0..100)."""
    points = np.unique(np.asarray([float(o) for o in design["options"]]))
    return float(np.diff(points).min()) if points.size > 1 else 1.0


def _screen(df: pd.DataFrame, design: dict, min_r: float, z_limit: float, max_outlier_share: float,
            mushra_ref_min: float, mushra_ref_share: float, min_screen_ratings: int = MIN_SCREEN_RATINGS,
            screen: bool = True, mushra_anchor_max: float = 90) -> pd.DataFrame:
    """One row per worker with each rule's statistic, status and flag (`WORKER_COLUMNS` minus the counts)."""
    item = df.groupby("sample_id")["score"]
    item_n = item.transform("count")
    others = (item.transform("sum") - df["score"]) / (item_n - 1).where(item_n > 1)
    alg = df.groupby("algorithm")["score"]
    z = (df["score"] - alg.transform("mean")) / alg.transform("std")
    step = scale_step(design)
    # one scale step (plus round-off) from the algorithm's or the sample's mean is never an outlier
    far = ((df["score"] - alg.transform("mean")).abs() > step + 1e-9) & \
          ((df["score"] - item.transform("mean")).abs() > step + 1e-9)
    outlier = (z.abs() > z_limit) & far
    # an item's leave-one-out mean from one other rater is that rater's score: an honest worker whose
    # only comparators are careless ones would correlate with noise (seen on mvt demo --ratings mushra)
    others = others.where(item_n - 1 >= MIN_OTHER_RATERS)
    pair = pd.DataFrame({"worker_id": df["worker_id"], "x": df["score"], "y": others}).dropna()
    pair = pair.assign(xx=pair["x"] ** 2, yy=pair["y"] ** 2, xy=pair["x"] * pair["y"])
    sums = pair.groupby("worker_id")[["x", "y", "xx", "yy", "xy"]].sum()
    n = pair.groupby("worker_id").size()
    sxx, syy = sums["xx"] - sums["x"] ** 2 / n, sums["yy"] - sums["y"] ** 2 / n
    sxy = sums["xy"] - sums["x"] * sums["y"] / n
    eps = 1e-12 * n  # constant scores leave round-off only
    r = (sxy / np.sqrt(sxx * syy)).where((n >= 3) & (sxx > eps) & (syy > eps))
    workers = pd.DataFrame(index=pd.Index(sorted(df["worker_id"].unique()), name="worker_id"))
    workers["correlation"] = r
    workers["n_r_items"] = n.reindex(workers.index).fillna(0).astype(int)
    n_ratings = df.groupby("worker_id").size().reindex(workers.index)
    workers["n_outliers"] = outlier.groupby(df["worker_id"]).sum().reindex(workers.index).astype(int)
    workers["outlier_share"] = workers["n_outliers"] / n_ratings
    if screen:
        workers["correlation_status"] = np.where(
            workers["correlation"].notna(), "applied",
            np.where(workers["n_r_items"] < 3, f"not applicable: fewer than 3 samples rated by at least "
                                                f"{MIN_OTHER_RATERS} others too",
                     "not applicable: constant scores"))
        workers["outlier_status"] = np.where(n_ratings >= min_screen_ratings, "applied",
                                             f"not applicable: fewer than {min_screen_ratings} ratings")
    else:
        workers["correlation_status"] = workers["outlier_status"] = "not applicable: rating screen off"
    mushra = design["design"] == "mushra"
    ref, anchor = df[df["algorithm"] == "REF"], df[df["algorithm"] == "ANC"]
    below = (ref["score"] < mushra_ref_min).groupby(ref["worker_id"]).mean()
    above = (anchor["score"] > mushra_anchor_max).groupby(anchor["worker_id"]).mean()
    workers["hidden_ref_below_share"] = below if mushra else np.nan
    workers["anchor_above_share"] = above if mushra else np.nan
    workers["flag_correlation"] = (workers["correlation_status"] == "applied") & (workers["correlation"] < min_r)
    workers["flag_outliers"] = (workers["outlier_status"] == "applied") & (workers["outlier_share"] > max_outlier_share)
    workers["flag_mushra_reference"] = ((workers["hidden_ref_below_share"] > mushra_ref_share)
                                        | (workers["anchor_above_share"] > mushra_ref_share))
    workers["flagged"] = workers[["flag_correlation", "flag_outliers", "flag_mushra_reference"]].any(axis=1)
    workers["reason"] = [
        "; ".join(text for flag, text in (
            (w.flag_correlation, f"scores correlate with the other workers' item means at r = {w.correlation:.2f} "
                                 f"< {min_r}"),
            (w.flag_outliers, f"{w.n_outliers} of {w.n_outliers / w.outlier_share:.0f} ratings "
                              f"({w.outlier_share:.0%}) are z-score outliers (|z| > {z_limit:g} and more than "
                              f"{step:g} scale step from the mean), more than {max_outlier_share:.0%}"
                              if w.flag_outliers else ""),
            (w.hidden_ref_below_share > mushra_ref_share,
             (f"rated the hidden reference below {mushra_ref_min:g} for {w.hidden_ref_below_share:.0%} of items, "
              f"more than {mushra_ref_share:.0%}")),
            (w.anchor_above_share > mushra_ref_share,
             (f"rated the anchor above {mushra_anchor_max:g} for {w.anchor_above_share:.0%} of items, "
              f"more than {mushra_ref_share:.0%}")))
                  if flag)
        for w in workers.itertuples()]
    return workers.reset_index()


def _t_table(used: pd.DataFrame, scale: str, confidence: float) -> pd.DataFrame:
    """`t_interval` of every sample at once, through `rating_interval` (bounded, positive width)."""
    g = used.groupby("sample_id", sort=True)
    out = g.agg(source=("source", "first"), algorithm=("algorithm", "first"), mos=("score", "mean"),
                sd=("score", "std"), n_ratings=("score", "size"))
    t = stats.t.ppf(0.5 + confidence / 2, np.maximum(out["n_ratings"] - 1, 1))
    half = (t * out["sd"] / np.sqrt(out["n_ratings"])).where(out["n_ratings"] >= 2)
    out["df"] = out["n_ratings"] - 1
    limits = [rating_interval(m, m - h, m + h, d, n, scale, "t", confidence)
              for m, h, d, n in zip(out["mos"], half, out["df"], out["n_ratings"])]
    out = out.join(pd.DataFrame(limits, index=out.index, columns=["ci_low", "ci_high", "ci_method", "ci_clipped"]))
    return out.reset_index()[SAMPLE_COLUMNS]


def analyze_ratings(raw: pd.DataFrame, design: dict, *, min_r: float = 0.25, z_limit: float = 2.5,
                    max_outlier_share: float = 0.05, mushra_ref_min: float = 90, mushra_ref_share: float = 0.15,
                    mushra_anchor_max: float = 90,
                    min_sample_ms: float | None = None, max_gold_miss_share: float | None = None,
                    confidence: float = 0.95, ddof: int = 1, min_screen_ratings: int = MIN_SCREEN_RATINGS,
                    screen: bool = True, standing_flags: dict[str, str] | None = None) -> RatingsResult:
    """Screen workers and estimate MOS (or MUSHRA means) per algorithm and per sample.

    Parameters
    ----------
    raw : pandas.DataFrame
        Responses (`kernel.export.RESPONSE_COLUMNS`, or a CSV of ``mvt export``).
    design : dict
        The study's ``design.json`` (``kind`` ``ratings``).
    min_r, z_limit, max_outlier_share, mushra_ref_min, mushra_ref_share, mushra_anchor_max : float
        Screening thresholds (module docstring).
    min_sample_ms : float, optional
        Minimum mean working time per sample in ms; default the study file's ``min_sample_ms``, else 0.
    max_gold_miss_share : float, optional
        Largest share (0..1) of a worker's gold trials that may be missed (more than
        `GOLD_TOLERANCE` from the known score) without a flag; default the study file's
        ``max_gold_miss_share``, else 0 (any miss flags).
    confidence : float
        Level of every interval, default 0.95.
    ddof : {0, 1}, optional
        Delta degrees of freedom of the crowdMOS variances, default 1.
    min_screen_ratings : int, optional
        Ratings a worker needs before the z-score outlier rule applies, default `MIN_SCREEN_RATINGS` (20).
    screen : bool, optional
        False turns the correlation and z-score rules off (``--no-rating-screen``).
    standing_flags : dict, optional
        Worker id → reason of a flag stored by an earlier analysis (`analysis.flags`): the worker
        stays flagged (``flag_stored``) and their ratings enter no estimate.

    Returns
    -------
    RatingsResult
        ``by_algorithm`` (`ALGORITHM_COLUMNS`, for MUSHRA also `MUSHRA_COLUMNS`), ``by_sample``
        (`SAMPLE_COLUMNS`), ``workers`` (`WORKER_COLUMNS`).

    Raises
    ------
    NoResponses
        If no rating survives the exclusions.
    ResponsesInvalid
        For a response off the scale or an unknown sample.
    ValueError
        For a ``max_gold_miss_share`` outside 0..1.
    """
    df = ratings_table(raw, design)
    df_all = df
    if min_sample_ms is None:
        min_sample_ms = float(design.get("study", {}).get("min_sample_ms", 0))
    if max_gold_miss_share is None:
        max_gold_miss_share = float(design.get("study", {}).get("max_gold_miss_share", 0))
    if not 0 <= max_gold_miss_share <= 1:
        raise ValueError(f"max_gold_miss_share ({max_gold_miss_share!r}) must be a share from 0 to 1")
    traps = df[df["trap"] & df["assignment_status"].isin(USABLE_STATUSES)]
    failed = traps["score"] != traps["sample_id"].str.split("/").str[1].astype(float)
    trap_counts = pd.DataFrame({"n_traps": traps.groupby("worker_id").size(),
                                "n_traps_failed": failed.groupby(traps["worker_id"]).sum()})
    gold = df[df["gold"] & df["assignment_status"].isin(USABLE_STATUSES)]
    missed = (gold["score"] - gold["sample_id"].map(gold_scores(design))).abs() > GOLD_TOLERANCE
    gold_counts = pd.DataFrame({"n_gold": gold.groupby("worker_id").size(),
                                "n_gold_missed": missed.groupby(gold["worker_id"]).sum()})
    df = df[~df["trap"] & ~df["gold"]]
    if df.empty:
        raise NoResponses("there are no ratings to analyse (only trapping and gold trials)")
    complete = df[df["assignment_status"].isin(USABLE_STATUSES)]
    per_assignment = time_per_sample(complete, design)
    slow = sorted(per_assignment.index[per_assignment < min_sample_ms]) if min_sample_ms > 0 else []
    usable = complete[~complete["assignment_id"].isin(slow)]
    nothing_left = ""
    if usable.empty and slow:
        nothing_left = (
            f"all {len(slow)} complete assignment(s) took less than the study's min_sample_ms ({min_sample_ms:g} ms) "
            f"per sample on average (their means: {per_assignment.min():.0f} to {per_assignment.max():.0f} ms), so "
            "none is left to analyse")
    elif usable.empty:
        raise NoResponses("no complete assignment is left to analyse")
    workers = _screen(usable, design, min_r, z_limit, max_outlier_share, mushra_ref_min, mushra_ref_share,
                      min_screen_ratings, screen, mushra_anchor_max)
    unheard = without_headphones(complete, design)
    trapped = set(trap_counts.index[trap_counts["n_traps_failed"] > 0])
    gold_flagged = set(gold_counts.index[gold_counts["n_gold_missed"] > max_gold_miss_share * gold_counts["n_gold"]])
    standing_flags = standing_flags or {}
    flagged = set(workers.loc[workers["flagged"], "worker_id"]) | trapped | gold_flagged | unheard | set(standing_flags)
    used = usable[~usable["worker_id"].isin(flagged)]
    counts = df.groupby("worker_id").agg(n_ratings=("score", "size"))
    counts["n_used"] = used.groupby("worker_id").size()
    counts["n_slow_excluded"] = complete[complete["assignment_id"].isin(slow)].groupby("worker_id").size()
    counts["n_incomplete_excluded"] = df[~df["assignment_status"].isin(USABLE_STATUSES)].groupby("worker_id").size()
    counts = counts.fillna(0).astype(int)
    counts["complete_assignment_ids"] = complete.groupby("worker_id")["assignment_id"].agg(
        lambda s: " ".join(sorted(set(s))))
    workers = workers.merge(counts.reset_index(), on="worker_id", how="right")
    workers = workers.merge(trap_counts.rename_axis("worker_id").reset_index(), on="worker_id", how="left")
    workers = workers.merge(gold_counts.rename_axis("worker_id").reset_index(), on="worker_id", how="left")
    counted = ["n_traps", "n_traps_failed", "n_gold", "n_gold_missed"]
    workers[counted] = workers[counted].fillna(0).astype(int)
    workers["flag_trap"] = workers["n_traps_failed"] > 0
    workers["flag_gold"] = workers["worker_id"].isin(gold_flagged)
    workers["flag_headphones"] = workers["worker_id"].isin(unheard)
    workers["reason"] = workers["reason"].astype(object).where(workers["reason"].notna(), "")
    trap_reason = [f"chose another score than asked on {n} of {m} trapping trial(s)"
                   for n, m in zip(workers["n_traps_failed"], workers["n_traps"])]
    gold_reason = [f"rated {n} of {m} gold sample(s) more than {GOLD_TOLERANCE} point from the known score "
                   f"({n / max(m, 1):.0%}, more than {max_gold_miss_share:.0%})"
                   for n, m in zip(workers["n_gold_missed"], workers["n_gold"])]
    headphone_reason = "rated without a passed headphone check (the study requires one)"
    workers["reason"] = ["; ".join(filter(None, [r, t if by_trap else "", g if by_gold else "",
                                                 headphone_reason if by_ear else ""]))
                         for r, t, by_trap, g, by_gold, by_ear in zip(workers["reason"], trap_reason, workers["flag_trap"],
                                                                      gold_reason, workers["flag_gold"],
                                                                      workers["flag_headphones"])]
    workers["flag_stored"] = workers["worker_id"].isin(standing_flags)
    only_stored = workers["flag_stored"] & ~(workers["flagged"].astype("boolean").fillna(False).astype(bool)
                                             | workers["flag_trap"] | workers["flag_gold"] | workers["flag_headphones"])
    workers.loc[only_stored, "reason"] = workers.loc[only_stored, "worker_id"].map(standing_flags)
    workers["flagged"] = (workers["flagged"].astype("boolean").fillna(False).astype(bool) | workers["flag_trap"]
                          | workers["flag_gold"] | workers["flag_headphones"] | workers["flag_stored"])
    for col in ("flag_correlation", "flag_outliers", "flag_mushra_reference"):
        workers[col] = workers[col].astype("boolean").fillna(False).astype(bool)
    workers["n_outliers"] = workers["n_outliers"].fillna(0).astype(int)
    for col in ("correlation_status", "outlier_status"):
        workers[col] = workers[col].astype(object).where(workers[col].notna(), "not applicable: no usable ratings")
    workers["complete_assignment_ids"] = workers["complete_assignment_ids"].fillna("")
    if used.empty and not nothing_left:
        why = [f"{w}: {r}" for w, r in zip(workers["worker_id"], workers["reason"]) if r]
        more = f"; and {len(why) - 5} more" if len(why) > 5 else ""
        nothing_left = ("every worker was flagged by screening; nothing is left to estimate from ("
                        + "; ".join(why[:5]) + more + ")")

    rows = []
    for algorithm, g in used.groupby("algorithm", sort=True):
        res = crowdmos(g["score"], g["worker_id"], g["sample_id"], confidence=confidence, ddof=ddof)
        row = {"algorithm": algorithm, "mos": res.mean, "df": res.df, "ddof": ddof,
               "n_workers": res.n_workers, "n_samples": res.n_items, "n_ratings": res.n_scores,
               "sigma_w2": res.sigma_w2, "sigma_s2": res.sigma_s2, "sigma_u2": res.sigma_u2,
               "crowdmos_low": res.ci_low, "crowdmos_high": res.ci_high,
               **rating_interval(res.mean, res.ci_low, res.ci_high, res.df, res.n_scores, design["scale"],
                                 "crowdmos", confidence)}
        if design["design"] == "mushra":
            mean, low, high = t_interval(g["score"], confidence)
            bounded = rating_interval(mean, low, high, len(g) - 1, len(g), design["scale"], "t", confidence)
            row.update(mushra_mean=mean, mushra_ci_low=bounded["ci_low"], mushra_ci_high=bounded["ci_high"],
                       mushra_ci_method=bounded["ci_method"])
        rows.append(row)
    by_sample = _t_table(used, design["scale"], confidence)
    return RatingsResult(design["design"], design["scale"], pd.DataFrame(rows, columns=ALGORITHM_COLUMNS + (
                             MUSHRA_COLUMNS if design["design"] == "mushra" else [])), by_sample,
                         workers[WORKER_COLUMNS], used, slow,
                         {"min_r": min_r, "z_limit": z_limit, "max_outlier_share": max_outlier_share,
                          "mushra_ref_min": mushra_ref_min, "mushra_ref_share": mushra_ref_share,
                          "mushra_anchor_max": mushra_anchor_max,
                          "min_sample_ms": min_sample_ms, "max_gold_miss_share": max_gold_miss_share,
                          "gold_tolerance": GOLD_TOLERANCE, "n_gold_trials": int(len(gold)),
                          "confidence": confidence, "ddof": ddof, "min_screen_ratings": min_screen_ratings,
                          "screen": screen, "scale_step": scale_step(design),
                          "status_note": status_note(df_all)}, responses=df_all, nothing_left=nothing_left)


def write_outputs(result: RatingsResult, out_dir: Path | str, *, source: str = "") -> dict[str, Path]:
    """Write ``mos_by_algorithm.csv``, ``mos_by_sample.csv``, ``workers.csv`` and ``report.html``."""
    from analysis.ratings_report import render_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"by_algorithm": out / "mos_by_algorithm.csv", "by_sample": out / "mos_by_sample.csv",
             "workers": out / "workers.csv", "report": out / "report.html"}
    # Sources, algorithms and worker ids come from outside: cells go through the CSV rule of kernel.csvsafe.
    for table, name in ((result.by_algorithm, "by_algorithm"), (result.by_sample, "by_sample"),
                        (result.workers, "workers")):
        csvsafe.write_frame(table, paths[name])
    paths["report"].write_text(render_report(result, source=source), encoding="utf-8")
    return paths
