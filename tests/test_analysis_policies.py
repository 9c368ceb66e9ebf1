"""Issue 12 policies with hand-computed values: control, screening, intervals, durations,
psychometric guess rate and range; simulated within- and between-subjects studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.accuracy import accuracy_table, proportion_interval
from analysis.analyze import analyze, mvt_histogram
from analysis.crowdmos import crowdmos
from analysis.durations import duration_ms
from analysis.mvt import estimate_mvt
from analysis.psychometric import threshold_status
from analysis.rules import mvt_index
from analysis.screening import screen_workers
from analysis.synthetic import synthetic_responses
from tests.test_analysis_mvt import _responses


def test_durations_are_written_as_papers_write_them():
    # round half up of frames * 1000 / 60: 16.67 -> 17, 50, 100, 150, 250, 10000
    assert duration_ms([1, 3, 6, 9, 15, 600], 60).tolist() == [17, 50, 100, 150, 250, 10000]


@pytest.mark.parametrize("rule", ["stable", "first", "isotonic"])
def test_failed_control_is_unrecognised_under_every_rule(rule):
    # 9/10 at d3 but 4/10 = 0.4 at the longest duration: not > 0.5, so unrecognised (index D = 5),
    # although the isotonic fit pools (9 + 4) / 20 = 0.65 there
    assert mvt_index([[1, 2, 3, 9, 4]], [[10] * 5], rule=rule).tolist() == [5]


def test_first_is_plain_first_passage():
    # 2/10, 6/10, 4/10, 8/10, 9/10: first p > 0.5 is 6/10 at index 1; stable needs 8/10 onwards (3)
    k, n = [[2, 6, 4, 8, 9]], [[10] * 5]
    assert mvt_index(k, n, rule="first").tolist() == [1]
    assert mvt_index(k, n, rule="stable").tolist() == [3]


def test_psychometric_threshold_follows_control_policy_and_range():
    df = _responses({"fails": [(1, 10, 1), (6, 10, 9), (60, 10, 4)],       # control 4/10: unrecognised
                 "good": [(1, 10, 1), (6, 10, 8), (60, 10, 10)]})
    t = estimate_mvt(df, n_bootstrap=0, psychometric=True, guess_rate=0.1, fps=60).table.set_index("image_id")
    assert t.loc["fails", "threshold_status"] == "unrecognised" and pd.isna(t.loc["fails", "threshold_ms"])
    assert t.loc["good", "threshold_status"] == "ok" and 17 < t.loc["good", "threshold_ms"] < 100
    # tested range 17..1000 ms: 10 ms is below it, 2000 above
    assert threshold_status([10.0, 2000.0], 16.7, 1000.0).tolist() == ["below_range", "above_range"]


def test_guess_rate_comes_from_options_shown_or_the_option():
    df = synthetic_responses(n_images=20, n_classes=4, frame_counts=(1, 6, 60), workers_per_link=3, rng=0)
    assert analyze(df, n_bootstrap=0, n_choices=10).mvt.guess_rate == pytest.approx(0.1)
    assert analyze(df, n_bootstrap=0, guess_rate=0.2).mvt.guess_rate == pytest.approx(0.2)
    # without the design: 4 distinct labels and answers -> 1/4
    assert analyze(df, n_bootstrap=0).mvt.guess_rate == pytest.approx(0.25)


def test_too_few_workers_fall_back_to_wilson():
    # 2 workers: nu = min(2, 2) - 1 = 1 < 2. Wilson for 3/4, z = 1.95996: centre (0.75 + z^2/8) / (1 + z^2/4)
    # = 0.6275, half = z sqrt(0.75*0.25/4 + z^2/64) / (1 + z^2/4) = 0.3269 -> [0.3006, 0.9544]
    res = crowdmos([1, 1, 1, 0], ["a", "a", "b", "b"], [1, 2, 1, 2])
    out = proportion_interval(res, 3, 4)
    assert out["ci_method"] == "wilson: too few for crowdMOS" and out["df"] == 1
    assert (round(out["ci_low"], 4), round(out["ci_high"], 4)) == (0.3006, 0.9544)


def test_crowdmos_interval_is_clipped_into_zero_one():
    # 4 workers x 4 images, one wrong: mean 15/16 = 0.9375; the t interval (nu = 3, t = 3.182)
    # reaches above 1 and is clipped there; the unclipped limit stays in crowdmos_high
    workers = np.repeat(list("abcd"), 4)
    items = np.tile([1, 2, 3, 4], 4)
    scores = np.ones(16)
    scores[0] = 0
    res = crowdmos(scores, workers, items)
    assert res.df == 3 and res.ci_high > 1
    out = proportion_interval(res, 15, 16)
    assert out["ci_method"] == "crowdmos clipped to [0, 1]" and out["ci_clipped"]
    assert out["ci_high"] == 1.0 and out["ci_low"] == res.ci_low and out["crowdmos_high"] == res.ci_high


def test_accuracy_table_states_ddof_and_nu():
    df = synthetic_responses(n_images=30, n_classes=3, frame_counts=(1, 6, 60), workers_per_link=4, rng=1)
    acc = accuracy_table(df, fps=60)
    overall = acc[acc["scope"] == "overall"]
    assert (overall["ddof"] == 1).all() and overall["df"].notna().all()
    assert acc["ci_low"].dropna().between(0, 1).all() and acc["ci_high"].dropna().between(0, 1).all()


def _population(rng=0, between=False, extra=()):
    """Honest simulated workers; `between`: each worker sees one duration (3 durations)."""
    df = synthetic_responses(n_images=60, n_classes=5, frame_counts=(1, 6, 60), workers_per_link=4,
                             images_per_task=60, share_random_workers=0, rng=rng)
    if between:
        # list l shows image m at duration (l + m) mod 3; make it l mod 3 for every image by
        # renaming workers: one worker per (list, duration) so each saw exactly one duration
        df["worker_id"] = df["worker_id"] + "-f" + df["frames"].astype(str)
        df["assignment_id"] = df["assignment_id"] + "-f" + df["frames"].astype(str)
    for name, p_correct in extra:
        frames = np.tile([1, 6, 60], 20)
        correct = np.random.default_rng(7).random(60) < p_correct
        df = pd.concat([df, pd.DataFrame({
            "link_id": "syn-001", "assignment_id": f"A-{name}", "worker_id": name, "hit_id": "H0",
            "trial": np.arange(60), "image_id": [f"img{i}" for i in range(60)], "label": df["label"].iloc[:60].to_numpy(),
            "frames": frames, "duration_ms": frames * 1000 / 60, "response": "x", "correct": correct,
            "response_time_ms": 900.0, "presented_frames": pd.array(frames, dtype="Int64"), "submitted_at": "",
            "timing_ok": pd.array(np.ones(60, bool), dtype="boolean"), "assignment_status": "complete"})],
            ignore_index=True)
    return df


def test_within_subjects_population_with_a_perfect_and_a_random_worker():
    df = _population(extra=[("PERFECT", 1.0), ("RANDOM", 0.2)])
    w = screen_workers(df, frame_counts=[1, 6, 60]).workers.set_index("worker_id")
    assert not w.loc["PERFECT", "flagged"] and w.loc["PERFECT", "reason"] == ""
    assert w.loc["PERFECT", "correlation_status"].startswith("not applicable: accuracy is the same (1.00)")
    assert w.loc["RANDOM", "flagged"] and w.loc["RANDOM", "reason"].startswith("control rule: accuracy ")
    honest = w.drop(index=["PERFECT", "RANDOM"])
    assert (honest["correlation_status"] == "applied").all() and (honest["control_status"] == "applied").all()
    # honest workers are rarely below r = 0.25 with 3 durations; none below the control threshold
    assert honest["flag_control"].sum() == 0 and honest["flagged"].mean() < 0.1


def test_between_subjects_population_is_not_flagged():
    df = _population(between=True)
    assert df.groupby("worker_id")["frames"].nunique().max() == 1
    result = analyze(df, n_bootstrap=50)
    w = result.screening.workers
    assert not w["flagged"].any() and result.screening.flagged_assignments() == []
    assert w["correlation_status"].str.startswith("not applicable: 1 duration(s) seen").all()
    at_control = w["control_frames"] == 60
    assert (w.loc[at_control, "control_status"] == "applied").all()
    assert w.loc[~at_control, "control_status"].str.startswith("not applicable: the longest duration seen").all()
    assert result.mvt.status_counts()["ok"] > 40


def test_between_subjects_cohorts_are_drawn_as_separate_points():
    """Issue 22: a cohort (every worker of one duration) was a stack of one-point lines, one dot
    per accuracy value. Now each worker is a point of its own, plus the cohort's pooled accuracy."""
    from analysis.figures import workers_figure
    from analysis.report import unjudged_note

    result = analyze(_population(between=True), n_bootstrap=20)
    profiles = result.screening.profiles
    ax = workers_figure(result.screening, 60.0).axes[0]
    (points,) = ax.collections
    xy = points.get_offsets()
    assert len(xy) == profiles["worker_id"].nunique() == len(np.unique(np.asarray(xy)[:, 0]))
    assert sorted(np.round(np.asarray(xy)[:, 1], 9)) == sorted(np.round(profiles["accuracy"], 9))
    pooled = profiles.groupby("frames").apply(lambda g: g["k"].sum() / g["n"].sum(), include_groups=False)
    bars = sorted(round(float(line.get_ydata()[0]), 9) for line in ax.lines)
    assert bars == sorted(np.round(pooled, 9)) and len(ax.lines) == 3  # no worker is drawn as a line
    # the 17 ms cohort (honest accuracy 0.23, guess rate 0.20) cannot be screened, and the report says why
    # (the sentence in a rendered report: test_analysis_experiments' between-subjects study)
    assert unjudged_note(result.screening, 60.0, 0.2).startswith(
        "No rule could judge 12 worker(s) of between-subjects cohorts: 12 who saw only 17 ms (accuracy there 0.23). "
        "With so few trials, a count of correct answers this near the guess rate (0.20) cannot tell a random "
        "responder from an honest worker")
    assert analyze(_population(), n_bootstrap=20).screening.unjudged_cohorts().empty  # within-subjects: none


def test_histogram_intervals_come_from_the_draws():
    df = _population()
    result = analyze(df, n_bootstrap=200, rng=3)
    h = result.histogram
    assert h["n_images"].sum() == len(result.mvt.table)
    # per draw the bins partition the images: the draws' bin counts sum to the number of images
    draws = result.mvt.draws
    assert draws.shape == (len(result.mvt.table), 200)
    assert (h["ci_low"] <= h["ci_high"]).all()
    again = mvt_histogram(result.mvt)
    pd.testing.assert_frame_equal(again, h)


@pytest.mark.parametrize("correct, expected", [(1, (0.8454, 1.0)), (0, (0.0, 0.1546))])
def test_all_right_or_all_wrong_cells_get_wilson_not_zero_width(correct, expected):
    # 3 workers x 7 images, every answer right (21/21) or wrong (0/21): every crowdMOS variance is 0
    # and its interval [1, 1] / [0, 0]; Wilson of 21/21: low = 21 / (21 + z^2) = 0.8454
    df = pd.DataFrame({"worker_id": np.repeat(list("abc"), 7), "image_id": np.tile(range(7), 3),
                       "label": "cat", "frames": 6, "correct": correct})
    row = accuracy_table(df).query("scope == 'overall'").iloc[0]
    assert row.ci_method == "wilson: crowdMOS variance 0" and row.df == 2
    assert row.crowdmos_low == row.crowdmos_high == correct
    assert (round(row.ci_low, 4), round(row.ci_high, 4)) == expected and row.ci_high > row.ci_low


@pytest.mark.parametrize("ddof", [0, 1])
def test_ddof_reaches_accuracy_csv(ddof):
    df = synthetic_responses(n_images=30, n_classes=3, frame_counts=(1, 6, 60), workers_per_link=4, rng=1)
    acc = analyze(df, n_bootstrap=0, ddof=ddof).accuracy
    assert (acc["ddof"] == ddof).all()
    one = accuracy_table(df, ddof=1).set_index(["scope", "label", "frames"])["sigma_u2"]
    assert (acc.set_index(["scope", "label", "frames"])["sigma_u2"] == one).all() == (ddof == 1)
