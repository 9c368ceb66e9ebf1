"""Worker screening: which responses feed the estimates and which workers are flagged.

Responses used for estimates are those of ``complete`` assignments whose timing was not found
wrong (``timing_ok`` false: the browser measured a presented frame count that differs from the
intended one; unmeasured trials are kept), from workers who are not flagged. Both rules look
at the worker's usable trials only, and each says per worker whether it applied
(``control_status``, ``correlation_status``: ``applied`` or ``not applicable: <why>``). A
worker is flagged only by a rule that applied:

control rule
    The control duration is the longest duration of the design (of the duration grid). The
    rule uses the longest duration the worker saw; it applies when that is the control
    duration, and flags the worker when their accuracy there, ``k/n``, is below
    `control_threshold` (default 0.6; strict: 0.6 itself passes). A worker who saw only shorter
    durations (between-subjects designs) is "not applicable": low accuracy at a short
    duration is what the experiment measures, not inattention.
correlation rule (crowdMOS)
    Pearson r between the worker's accuracy per duration and everybody else's
    (leave-one-out: ``(K_d - k_d) / (N_d - n_d)``) over the durations the worker saw. It
    applies only where the worker saw at least 3 durations (r from 2 points is always ±1) in at
    least ``MIN_CORRELATION_TRIALS`` (20) usable trials (with fewer it flagged 3–6 % of honest
    simulated workers) and both profiles vary; otherwise it is "not applicable", never flagged. So a constant
    profile — e.g. right on every trial — is not flagged by it (and passes the control rule);
    a constant wrong profile is caught by the control rule. It flags when ``r < min_r``
    (default 0.25).

chance rule (any design, between-subjects included)
    Over all the worker's usable trials, ``k`` correct of ``n``: the one-sided binomial test of
    guessing, ``P(X >= k | n, g)`` with ``g`` the study's guess rate (1 / answer options). The
    worker is flagged when guessing cannot be rejected at ``CHANCE_ALPHA`` (5 %), i.e. ``k`` is
    below the critical count ``c`` (the least ``c`` with ``P(X >= c | n, g) <= 0.05``): a random
    responder is flagged with probability ``P(X < c | n, g) >= 95 %``.

Every rule applies only where it has a known, small error rate on honest workers. An honest
worker is modelled by the accuracy everybody else had on the same durations (leave-one-out,
weighted by the worker's trials per duration: ``p_w``); the rule applies when an honest worker
with that accuracy would be flagged with probability at most ``MAX_HONEST_FLAG`` (2 %):
``P(Binomial(n, p_w) < c) <= 0.02`` for the chance rule; for the control rule (``n_c`` control
trials, the others ``K`` right of ``N`` there, ``p_c = K/N``) the posterior predictive
``P(X < threshold * n_c) <= 0.02`` with ``X ~ BetaBinomial(n_c, K + 1, N - K + 1)``, the count of
a new worker like the others when their accuracy is only known from ``K`` of ``N`` (uniform
prior). For large ``N`` it is the binomial with ``p_c``; for a small study it is what keeps the
rule honest: with the others right on all 18 control trials the plug-in binomial (p = 1) said an
honest worker never fails, and the rule flagged an honest simulated worker at 1 of 2 control
trials (`mvt demo` + `mvt simulate`, 10 workers); the predictive gives 9.5 % there, so the rule
does not apply. Otherwise the status says ``not applicable: … an honest worker would be flagged with
probability x %``. (The binomial is conservative: trials of unequal difficulty have a
Poisson-binomial count with less variance than a binomial of the same mean.) So the control rule
no longer flags at 1 of 2 control trials, and the chance rule is not applicable where honest
accuracy is near chance (between-subjects at the shortest durations): there no rule can tell a
random responder from an honest worker, and the report says so.

Every flag's ``reason`` names the rule and its numbers, e.g. ``control rule: accuracy 0.40
(2/5) at 600 frames (10000 ms), the longest duration seen, is below 0.6``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.durations import duration_ms
from analysis.responses import USABLE_STATUSES

MIN_CORRELATION_DURATIONS = 3
"""The correlation rule needs at least this many durations seen by the worker."""
MIN_CORRELATION_TRIALS = 20
"""... and at least this many usable trials: measured by `analysis.screening_rates` (one task per
worker, 6 durations, 10 classes), r < 0.25 flagged 5.7 % of honest workers with 6 trials, 5.9 % with
8, 2.6 % with 12 and none with 20."""

WORKER_COLUMNS = ["worker_id", "flagged", "reason", "flag_control", "flag_correlation",
                  "control_frames", "control_n", "control_accuracy", "profile_r", "profile_n_durations",
                  "n_responses", "n_used", "n_incomplete_excluded", "n_timing_excluded",
                  "n_assignments", "n_complete_assignments", "complete_assignment_ids",
                  "control_status", "correlation_status", "n_durations_seen", "flag_stored",
                  "flag_chance", "chance_status", "chance_k", "chance_n", "chance_p_value"]
"""Columns of ``workers.csv``, in order. ``control_frames`` is the longest duration the worker
saw (``control_n``/``control_accuracy`` there); ``*_status`` say whether each rule applied;
``flag_stored`` is true for a standing flag of an earlier analysis run (`analysis.flags`);
``chance_k``/``chance_n`` are the usable trials the chance rule tests, ``chance_p_value`` its
one-sided binomial p-value against the guess rate."""

CHANCE_ALPHA = 0.05
"""Level of the chance rule's binomial test of guessing (random responders flagged >= 95 %)."""
MAX_HONEST_FLAG = 0.02
"""A rule applies to a worker only where an honest worker would be flagged with at most this probability."""


def chance_critical(n, guess: float, alpha: float = CHANCE_ALPHA) -> np.ndarray:
    """Least correct count ``c`` with ``P(X >= c | n, guess) <= alpha`` (X binomial), per ``n``.

    Examples
    --------
    >>> chance_critical([6, 8, 50], 0.1).tolist()
    [3, 3, 10]
    """
    n = np.asarray(n, dtype=np.int64)
    # once per distinct count (thousands of workers share a few)
    distinct, inverse = np.unique(n, return_inverse=True)
    out = np.zeros(distinct.shape, dtype=np.int64)
    for i, m in enumerate(distinct):
        counts = np.arange(m + 2)
        tail = stats.binom.sf(counts - 1, m, guess)  # P(X >= c)
        out[i] = int(counts[np.argmax(tail <= alpha)]) if (tail <= alpha).any() else m + 1
    return out[inverse].reshape(n.shape)

PROFILE_COLUMNS = ["worker_id", "frames", "duration_ms", "n", "k", "accuracy", "others_accuracy"]
"""Columns of ``worker_profiles.csv``: each worker's accuracy per duration seen, and everybody
else's there (the leave-one-out profile the correlation rule uses)."""


@dataclass(frozen=True)
class ScreeningResult:
    """Outcome of `screen_workers`.

    Attributes
    ----------
    workers : pandas.DataFrame
        One row per worker, columns `WORKER_COLUMNS`: the flags (``flag_control``,
        ``flag_correlation``, ``flagged``) and ``reason`` (sentences, empty when not flagged);
        ``control_n``/``control_accuracy`` at ``control_frames``; ``profile_r`` (NaN when
        undefined) over ``profile_n_durations`` durations; response counts: all, used for
        estimates, excluded as incomplete/replaced/expired, excluded for timing;
        ``complete_assignment_ids`` space-separated.
    used : pandas.DataFrame
        The responses that feed the estimates.
    control_threshold, min_r : float
        The thresholds applied.
    profiles : pandas.DataFrame
        `PROFILE_COLUMNS`: accuracy per worker and duration seen (usable trials).
    control_frames : int
        The control (longest design) duration in frames.
    """

    workers: pd.DataFrame
    used: pd.DataFrame
    control_threshold: float
    min_r: float
    profiles: pd.DataFrame | None = None
    control_frames: int = 0

    def flagged_assignments(self) -> list[str]:
        """Complete assignment ids of flagged workers (what ``--replace`` marks), sorted."""
        ids = self.workers.loc[self.workers["flagged"], "complete_assignment_ids"]
        return sorted({a for text in ids for a in text.split()})

    def unjudged_cohorts(self) -> pd.DataFrame:
        """Between-subjects cohorts no rule could judge: per duration ``frames``, ``n_workers`` who
        saw only that duration and to whom no rule applied, and ``accuracy``, the pooled k/n of
        every worker who saw only that duration (what an honest worker there scores, random
        responders included). Empty when every one-duration worker was judged by some rule.

        Why they cannot be judged: where honest accuracy is near the guess rate for the worker's
        number of trials (17 ms; 50 ms with 8 or 20 trials), a random responder's count of correct
        answers is distributed almost like an honest worker's, so no test of a worker's accuracy
        flags the one at 2 % honest error without missing the other (docs/analysis.md, measured by
        `analysis.screening_rates`; catch trials at the control duration are the remedy).
        """
        w = self.workers.set_index("worker_id")
        none = (w["control_status"].str.startswith("not applicable")
                & w["correlation_status"].str.startswith("not applicable")
                & w["chance_status"].str.startswith("not applicable") & (w["n_durations_seen"] == 1))
        prof = self.profiles if self.profiles is not None else pd.DataFrame(columns=PROFILE_COLUMNS)
        single = prof[prof["worker_id"].isin(w.index[w["n_durations_seen"] == 1])]
        pooled = single.groupby("frames")[["k", "n"]].sum()
        unjudged = single[single["worker_id"].isin(w.index[none])].groupby("frames")["worker_id"].nunique()
        out = pd.DataFrame({"frames": unjudged.index.astype(np.int64), "n_workers": unjudged.to_numpy(np.int64)})
        out["accuracy"] = (pooled["k"] / pooled["n"]).reindex(unjudged.index).to_numpy(float)
        return out

    def summary(self) -> dict[str, int]:
        """Counts for reports: workers, flagged by each rule, responses used and excluded."""
        w = self.workers
        return {
            "workers": len(w), "flagged": int(w["flagged"].sum()),
            "flag_control": int(w["flag_control"].sum()), "flag_correlation": int(w["flag_correlation"].sum()),
            "flag_chance": int(w["flag_chance"].sum()),
            "chance_not_applicable": int(w["chance_status"].str.startswith("not applicable").sum()),
            "no_rule_applied": int((w["control_status"].str.startswith("not applicable")
                                    & w["correlation_status"].str.startswith("not applicable")
                                    & w["chance_status"].str.startswith("not applicable")).sum()),
            "control_not_applicable": int(w["control_status"].str.startswith("not applicable").sum()),
            "correlation_not_applicable": int(w["correlation_status"].str.startswith("not applicable").sum()),
            "responses": int(w["n_responses"].sum()), "used": int(w["n_used"].sum()),
            "incomplete_excluded": int(w["n_incomplete_excluded"].sum()),
            "timing_excluded": int(w["n_timing_excluded"].sum()),
            "flagged_excluded": int((w["n_responses"] - w["n_used"] - w["n_incomplete_excluded"]
                                     - w["n_timing_excluded"]).sum()),
        }


def below(value: float, limit: float) -> str:
    """`value` printed with as many decimals as it takes to read below `limit` (r = 0.2499 is not "0.25").

    >>> below(0.2499, 0.25), below(-0.31, 0.25)
    ('0.2499', '-0.31')
    """
    for digits in range(2, 7):
        text = f"{value:.{digits}f}"
        if float(text) < limit:
            return text
    return repr(value)


def _rowwise_pearson(x: np.ndarray, y: np.ndarray, mask: np.ndarray):
    """Pearson r of x and y per row over the masked columns; NaN when undefined.

    Returns r, the number of columns used, and whether x and y vary there (a profile that is
    constant up to rounding has no correlation).
    """
    m = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = np.where(mask, x, 0).sum(axis=1) / m
        my = np.where(mask, y, 0).sum(axis=1) / m
        dx = np.where(mask, x - mx[:, None], 0)
        dy = np.where(mask, y - my[:, None], 0)
        sxx, syy = (dx**2).sum(axis=1), (dy**2).sum(axis=1)
        r = (dx * dy).sum(axis=1) / np.sqrt(sxx * syy)
    x_varies, y_varies = sxx > 1e-12, syy > 1e-12
    degenerate = (m < 2) | ~x_varies | ~y_varies
    return np.where(degenerate, np.nan, np.clip(r, -1, 1)), m, x_varies, y_varies


def _distinct_calls(fn, *args):
    """``fn(*args)`` elementwise, computed once per distinct combination of the arguments (1-D, one
    value per worker): `scipy.stats.betabinom.cdf` sums a pmf in a Python call per element, and the
    workers share a few dozen combinations. The same calls on the same values, so the same numbers."""
    _, first, inverse = np.unique(np.stack([np.asarray(a, dtype=float) for a in args]), axis=1,
                                  return_index=True, return_inverse=True)
    return fn(*(np.asarray(a)[first] for a in args))[inverse.ravel()]


def screen_workers(responses: pd.DataFrame, *, control_threshold: float = 0.6, min_r: float = 0.25,
                   frame_counts=None, fps: float = 60, standing: dict[str, str] | None = None,
                   guess_rate: float | None = None,
                   min_correlation_trials: int = MIN_CORRELATION_TRIALS) -> ScreeningResult:
    """Flag workers and select the responses that feed the estimates (module docstring).

    Parameters
    ----------
    responses : pandas.DataFrame
        A prepared responses table (`analysis.responses.prepare_responses`).
    control_threshold : float, optional
        Minimum accuracy at the control duration, default 0.6.
    min_r : float, optional
        Minimum Pearson r of the accuracy profile against everybody else's, default 0.25.
    frame_counts : sequence of int, optional
        The duration grid; the longest is the control duration. Default: frame counts present.
    fps : float, optional
        Frame rate, for the milliseconds in reasons, default 60.
    standing : dict, optional
        Worker id → reason of a standing flag from an earlier analysis (`analysis.flags`): such a
        worker stays flagged (``flag_stored``) and their responses feed no estimate.
    guess_rate : float, optional
        The study's guess rate (1 / answer options shown per trial) for the chance rule; without it
        the chance rule is not applicable.
    min_correlation_trials : int, optional
        Usable trials the correlation rule needs, default `MIN_CORRELATION_TRIALS` (20).

    Returns
    -------
    ScreeningResult

    Raises
    ------
    ValueError
        If `control_threshold` is not in [0, 1] or `min_r` not in [-1, 1].
    """
    if not 0 <= control_threshold <= 1:
        raise ValueError(f"control_threshold ({control_threshold!r}) must be a proportion in [0, 1]")
    if not -1 <= min_r <= 1:
        raise ValueError(f"min_r ({min_r!r}) must be a correlation in [-1, 1]")
    grid = np.unique(np.asarray(frame_counts if frame_counts is not None else responses["frames"], dtype=np.int64))
    complete = responses["assignment_status"].isin(USABLE_STATUSES).to_numpy()
    timing_bad = (responses["timing_ok"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    usable = complete & ~timing_bad
    codes, worker_ids = pd.factorize(responses["worker_id"], sort=True)
    n_workers = worker_ids.size

    frames = responses["frames"].to_numpy(dtype=np.int64)
    col = np.clip(np.searchsorted(grid, frames), 0, max(grid.size - 1, 0))
    on_grid = (grid[col] == frames) if grid.size else np.zeros(len(frames), bool)
    sel = usable & on_grid
    d = max(grid.size, 1)
    flat = codes[sel] * d + col[sel]
    correct = responses["correct"].to_numpy(dtype=bool)[sel]
    n = np.bincount(flat, minlength=n_workers * d).reshape(n_workers, d).astype(float)
    k = np.bincount(flat, weights=correct, minlength=n_workers * d).reshape(n_workers, d)

    seen = n > 0
    has_data = seen.any(axis=1)
    longest = np.where(has_data, d - 1 - np.argmax(seen[:, ::-1], axis=1), d - 1)
    rows = np.arange(n_workers)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = k / n
        n_rest = n.sum(axis=0)[None, :] - n
        loo = (k.sum(axis=0)[None, :] - k) / n_rest
        control_acc = acc[rows, longest]
    control_n = n[rows, longest].astype(np.int64)
    control_k = k[rows, longest].astype(np.int64)
    # an honest worker: the others' accuracy on the worker's durations, weighted by their trials
    with np.errstate(divide="ignore", invalid="ignore"):
        finite = np.isfinite(loo)
        column_mean = np.where(finite, loo, 0).sum(axis=0) / finite.sum(axis=0)
        loo_filled = np.where(finite, loo, column_mean[None, :])
        honest_p = np.clip(np.nansum(np.nan_to_num(loo_filled) * n, axis=1) / n.sum(axis=1), 0, 1)
        honest_pc = np.clip(np.nan_to_num(loo_filled[rows, longest]), 0, 1)
    # flagged at the control duration iff k < threshold * n, i.e. k <= ceil(threshold * n) - 1
    control_max_k = np.ceil(control_threshold * control_n - 1e-9).astype(np.int64) - 1
    # an honest worker's chance of that, predicted from the others' K of N there (beta-binomial,
    # uniform prior): the plug-in binomial at K/N = 18/18 said an honest worker never fails
    rest_k = (k.sum(axis=0)[None, :] - k)[rows, longest]
    rest_n = np.maximum(n_rest[rows, longest], 0)
    control_honest = np.where(control_n > 0, _distinct_calls(stats.betabinom.cdf, control_max_k, control_n,
                                                             rest_k + 1, rest_n - rest_k + 1), 1.0)
    control_on_grid = has_data & (longest == d - 1)
    control_applies = control_on_grid & (control_honest <= MAX_HONEST_FLAG)
    flag_control = control_applies & (control_acc < control_threshold)
    chance_n = n.sum(axis=1).astype(np.int64)
    chance_k = k.sum(axis=1).astype(np.int64)
    if guess_rate is not None and n_workers:
        critical = chance_critical(chance_n, guess_rate)
        chance_p = stats.binom.sf(chance_k - 1, chance_n, guess_rate)
        chance_honest = stats.binom.cdf(critical - 1, chance_n, honest_p)
    else:
        critical = np.zeros(n_workers, np.int64)
        chance_p = np.full(n_workers, np.nan)
        chance_honest = np.ones(n_workers)
    chance_applies = has_data & (guess_rate is not None) & (chance_honest <= MAX_HONEST_FLAG)
    flag_chance = chance_applies & (chance_k < critical)
    r, m, own_varies, rest_varies = _rowwise_pearson(acc, loo, seen & (n_rest > 0))
    corr_applies = (has_data & (m >= MIN_CORRELATION_DURATIONS) & own_varies & rest_varies
                    & (n.sum(axis=1) >= min_correlation_trials))
    flag_corr = corr_applies & (r < min_r)
    control_frames = int(grid[-1]) if grid.size else 0
    grid_ms = duration_ms(grid, fps) if grid.size else np.zeros(1, dtype=np.int64)

    reasons, control_status, corr_status, chance_status = [], [], [], []
    for i in range(n_workers):
        f, ms = int(grid[longest[i]]) if grid.size else 0, int(grid_ms[longest[i]])
        if not has_data[i]:
            control_status.append("not applicable: no usable trials")
        elif control_applies[i]:
            control_status.append("applied")
        elif control_on_grid[i]:
            control_status.append(f"not applicable: with {control_n[i]} control trial(s) an honest worker (others' "
                                  f"accuracy there {honest_pc[i]:.2f}) would be flagged with probability "
                                  f"{control_honest[i]:.1%} (the rule needs at most {MAX_HONEST_FLAG:.0%})")
        else:
            control_status.append(f"not applicable: the longest duration seen, {f} frames ({ms} ms), is shorter "
                                  f"than the control duration {control_frames} frames ({int(grid_ms[-1])} ms)")
        if not has_data[i]:
            corr_status.append("not applicable: no usable trials")
        elif m[i] < MIN_CORRELATION_DURATIONS:
            corr_status.append(f"not applicable: {m[i]} duration(s) seen, the rule needs "
                               f"{MIN_CORRELATION_DURATIONS}")
        elif n[i].sum() < min_correlation_trials:
            corr_status.append(f"not applicable: {int(n[i].sum())} trial(s), the rule needs {min_correlation_trials} "
                               f"(fewer flag honest workers too often)")
        elif not own_varies[i]:
            corr_status.append(f"not applicable: accuracy is the same ({acc[i, seen[i]][0]:.2f}) at every duration")
        elif not rest_varies[i]:
            corr_status.append("not applicable: everybody else's accuracy is the same at these durations")
        else:
            corr_status.append("applied")
        if not has_data[i]:
            chance_status.append("not applicable: no usable trials")
        elif guess_rate is None:
            chance_status.append("not applicable: no guess rate")
        elif chance_applies[i]:
            chance_status.append("applied")
        else:
            chance_status.append(f"not applicable: with {chance_n[i]} trial(s) an honest worker (others' accuracy on "
                                 f"these durations {honest_p[i]:.2f}) would be flagged with probability "
                                 f"{chance_honest[i]:.1%} (the rule needs at most {MAX_HONEST_FLAG:.0%})")
        parts = []
        if flag_control[i]:
            parts.append(f"control rule: accuracy {control_acc[i]:.2f} ({control_k[i]}/{control_n[i]}) at {f} frames "
                         f"({ms} ms), the longest duration seen, is below {control_threshold:g}")
        if flag_corr[i]:
            parts.append(f"correlation rule: r = {below(r[i], min_r)} over {m[i]} durations is below {min_r:g}")
        if flag_chance[i]:
            parts.append(f"chance rule: {chance_k[i]}/{chance_n[i]} correct is consistent with guessing at "
                         f"{guess_rate:.3g} (binomial p = {chance_p[i]:.2f} > {CHANCE_ALPHA:g}; needs {critical[i]})")
        reasons.append("; ".join(parts))

    def per_worker(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=n_workers)

    status = responses["assignment_status"].to_numpy()
    # (worker, assignment) pairs as integer codes, assignments numbered in sorted order of their ids
    a_codes, a_ids = pd.factorize(responses["assignment_id"], sort=True)
    n_ids = max(a_ids.size, 1)
    pairs = codes.astype(np.int64) * n_ids + a_codes
    n_assign = np.bincount(np.unique(pairs) // n_ids, minlength=n_workers)
    done_worker, done_assignment = np.divmod(np.unique(pairs[complete]), n_ids)
    n_done = np.bincount(done_worker, minlength=n_workers)
    done_ids = np.full(n_workers, "", dtype=object)
    bounds = np.flatnonzero(np.diff(done_worker)) + 1
    for worker, ids in zip(done_worker[np.r_[0, bounds]] if done_worker.size else [],
                           np.split(np.asarray(a_ids, dtype=object)[done_assignment], bounds)):
        done_ids[worker] = " ".join(ids)
    standing = standing or {}
    flag_stored = np.isin(np.asarray(worker_ids, dtype=object), list(standing)) if n_workers else np.zeros(0, bool)
    for i in np.flatnonzero(flag_stored & ~(flag_control | flag_corr | flag_chance)):
        reasons[i] = standing[worker_ids[i]]
    flagged = flag_control | flag_corr | flag_chance | flag_stored
    used_mask = usable & ~flagged[codes] if n_workers else usable
    workers = pd.DataFrame({
        "worker_id": np.asarray(worker_ids, dtype=object),
        "flagged": flagged, "reason": reasons, "flag_control": flag_control, "flag_correlation": flag_corr,
        "control_frames": np.where(has_data, grid[longest] if grid.size else 0, control_frames).astype(np.int64),
        "control_n": control_n,
        "control_accuracy": np.where(control_n > 0, control_acc, np.nan),
        "profile_r": r, "profile_n_durations": m.astype(np.int64),
        "n_responses": per_worker(np.ones(len(codes), bool)),
        "n_used": per_worker(used_mask),
        "n_incomplete_excluded": per_worker(~np.isin(status, USABLE_STATUSES)),
        "n_timing_excluded": per_worker(complete & timing_bad),
        "n_assignments": n_assign, "n_complete_assignments": n_done,
        "complete_assignment_ids": done_ids,
        "control_status": control_status, "correlation_status": corr_status,
        "n_durations_seen": seen.sum(axis=1).astype(np.int64), "flag_stored": flag_stored,
        "flag_chance": flag_chance, "chance_status": chance_status, "chance_k": chance_k, "chance_n": chance_n,
        "chance_p_value": chance_p,
    }, columns=WORKER_COLUMNS)
    used = responses[used_mask].reset_index(drop=True)
    wi, di = np.nonzero(seen)
    profiles = pd.DataFrame({
        "worker_id": np.asarray(worker_ids, dtype=object)[wi], "frames": grid[di] if grid.size else di,
        "duration_ms": grid_ms[di], "n": n[wi, di].astype(np.int64), "k": k[wi, di].astype(np.int64),
        "accuracy": acc[wi, di], "others_accuracy": loo[wi, di],
    }, columns=PROFILE_COLUMNS)
    return ScreeningResult(workers=workers, used=used, control_threshold=control_threshold, min_r=min_r,
                           profiles=profiles, control_frames=control_frames)
