"""Rating analysis: crowdMOS per algorithm, t intervals per sample and for MUSHRA, screening, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.intervals import bounded_mean_interval
from analysis.ratings import analyze_ratings, t_interval, write_outputs
from kernel.errors import NoResponses, ResponsesInvalid
from simulation.ratings import Population, simulate_ratings, synthetic_design

ALGS = ["ANC", "REF", "lowpass", "noise"]
ACR_POP = Population({"REF": 4.3, "lowpass": 3.6, "noise": 2.9, "ANC": 1.8}, n_workers=30)


def hand_design(algorithms=("A",), n_sources=3, design="random"):
    """A design that knows samples src0/A ... (lists do not matter to the analysis)."""
    scale = "mushra" if design == "mushra" else "acr"
    trials = [{"sample_id": f"src{i}/{a}"} for i in range(n_sources) for a in algorithms]
    return {"design": design, "scale": scale, "links": [{"lists": [trials]}], "study": {},
            "options": [str(v) for v in (range(101) if scale == "mushra" else range(1, 6))]}


def table(rows) -> pd.DataFrame:
    """Responses from (worker, sample, score[, response_time_ms]) tuples, one assignment per worker."""
    return pd.DataFrame([{"link_id": "L", "assignment_id": f"as-{w}", "worker_id": w, "sample_id": s,
                          "rating": str(x), "assignment_status": "complete",
                          "response_time_ms": rest[0] if rest else 3000.0} for w, s, x, *rest in rows])


def test_per_algorithm_is_the_crowdmos_hand_computed_case():
    # tests/test_analysis_crowdmos.py: workers a (4 5 3), b (4 2 3) on items 1..3: mean 3.5,
    # sigma_w^2 0.1, sigma_s^2 0, sigma_u^2 1.4, var of the mean 0.1 * 18/36 + 1.4/6, df 1.
    rows = [(w, f"src{i}/A", x) for w, xs in (("a", (4, 5, 3)), ("b", (4, 2, 3))) for i, x in enumerate(xs)]
    res = analyze_ratings(table(rows), hand_design(), min_r=-2)
    row = res.by_algorithm.iloc[0]
    half = stats.t.ppf(0.975, 1) * np.sqrt(0.1 * 18 / 36 + 1.4 / 6)
    assert (row.algorithm, row.mos, row.df, row.n_workers, row.n_samples, row.n_ratings) == ("A", 3.5, 1, 2, 3, 6)
    assert (row.crowdmos_low, row.crowdmos_high) == pytest.approx((3.5 - half, 3.5 + half))  # [-3.26, 10.26]
    assert (row.sigma_w2, row.sigma_s2, row.sigma_u2) == pytest.approx((0.1, 0.0, 1.4))
    # nu = 1 < 2: the bounded fallback, Wilson of p = (3.5 - 1) / 4 with n = 6 ratings, on the scale
    wilson = bounded_mean_interval(3.5, 6, 1, 5)
    assert row.ci_method == "wilson on the rescaled mean: ν < 2" and not row.ci_clipped
    assert (row.ci_low, row.ci_high) == pytest.approx((float(wilson.low), float(wilson.high)))
    assert 1 < row.ci_low < 3.5 < row.ci_high < 5
    sample = res.by_sample.set_index("sample_id").loc["src1/A"]  # ratings 5 and 2
    assert (sample.mos, sample.n_ratings, sample.df) == (3.5, 2, 1)
    assert sample.ci_method == "wilson on the rescaled mean: ν < 2" and 1 < sample.ci_low < sample.ci_high < 5


def test_t_interval_edges():
    assert t_interval(np.array([60.0, 70, 80]))[1:] == pytest.approx((70 - 4.302653 * 10 / np.sqrt(3),
                                                                    70 + 4.302653 * 10 / np.sqrt(3)), rel=1e-6)
    mean, low, high = t_interval(np.array([50.0]))
    assert mean == 50 and np.isnan(low) and np.isnan(high)
    assert t_interval(np.array([4.0, 4.0]))[1:] == (4.0, 4.0)


def test_correlation_rule_flags_a_worker_who_inverts_the_scale():
    items = [f"src{i}/A" for i in range(5)]
    truth = [1, 2, 3, 4, 5]
    rows = [(w, s, x) for w in ("h1", "h2", "h3") for s, x in zip(items, truth)]
    rows += [("inv", s, 6 - x) for s, x in zip(items, truth)]
    res = analyze_ratings(table(rows), hand_design(n_sources=5))
    w = res.workers.set_index("worker_id")
    assert w.loc["inv", "flagged"] and w.loc["inv", "correlation"] == pytest.approx(-1.0)
    assert w.loc["inv", "reason"] == "scores correlate with the other workers' item means at r = -1.00 < 0.25"
    assert not w.loc[["h1", "h2", "h3"], "flagged"].any()
    assert res.flagged_assignments() == ["as-inv"]
    assert res.by_algorithm.iloc[0].n_workers == 3  # the flagged worker's ratings are not used


def test_correlation_rule_needs_two_other_raters_per_sample():
    """One other rater's score is no item mean: an honest worker paired only with a careless one
    (`mvt demo --ratings --design mushra`: r = 0.08, flagged) is not judged by the rule."""
    items = [f"src{i}/A" for i in range(5)]
    rows = [("honest", s, x) for s, x in zip(items, [1, 2, 3, 4, 5])]
    rows += [("careless", s, x) for s, x in zip(items, [4, 1, 5, 2, 3])]
    w = analyze_ratings(table(rows), hand_design(n_sources=5), z_limit=99).workers.set_index("worker_id")
    assert w.loc["honest", "correlation_status"] == "not applicable: fewer than 3 samples rated by at least 2 others too"
    assert w.loc["honest", "n_r_items"] == 0 and not w["flagged"].any()
    # a third rater makes every sample's leave-one-out mean rest on two others: the rule applies
    rows += [("third", s, x) for s, x in zip(items, [1, 2, 3, 5, 5])]
    w = analyze_ratings(table(rows), hand_design(n_sources=5), z_limit=99).workers.set_index("worker_id")
    assert (w["correlation_status"] == "applied").all() and w.loc["careless", "flag_correlation"]


def test_z_rule_flags_more_than_5_percent_outliers():
    # 20 honest workers rate 4 on 20 items of A; "odd" rates 4 except 2 of 20 (10 %) at 1.
    items = [f"src{i}/A" for i in range(20)]
    rows = [(f"h{k}", s, 4 if (k + i) % 4 else 5) for k in range(20) for i, s in enumerate(items)]
    rows += [("odd", s, 1 if i < 2 else 4) for i, s in enumerate(items)]
    res = analyze_ratings(table(rows), hand_design(n_sources=20), min_r=-2)
    w = res.workers.set_index("worker_id")
    assert w.loc["odd", "outlier_share"] == pytest.approx(0.10) and w.loc["odd", "flag_outliers"]
    assert w["flag_outliers"].sum() == 1


def test_mushra_post_screening_bs1534():
    algs = ("REF", "ANC", "B")
    design = hand_design(algs, n_sources=8, design="mushra")
    rows = []
    # (hidden reference, anchor) per item; BS.1534-3 §4.1.2: REF below 90, or the anchor above 90,
    # on more than 15 % of items excludes
    for w, ref_scores, anchor in (("good", [100] * 7 + [85], [20] * 7 + [95]), ("bad", [100] * 6 + [70, 60], [20] * 8),
                                  ("ok", [95] * 8, [90] * 8), ("loud", [100] * 8, [20] * 6 + [91, 100])):
        for i in range(8):
            rows += [(w, f"src{i}/REF", ref_scores[i]), (w, f"src{i}/ANC", anchor[i]), (w, f"src{i}/B", 60 + i)]
    res = analyze_ratings(table(rows), design, min_r=-2, z_limit=99)  # this rule alone
    w = res.workers.set_index("worker_id")
    assert w.loc["good", "hidden_ref_below_share"] == 0.125 and not w.loc["good", "flagged"]  # 12.5 % <= 15 %
    assert w.loc["good", "anchor_above_share"] == 0.125 and w.loc["ok", "anchor_above_share"] == 0  # 90 is not above
    assert w.loc["bad", "hidden_ref_below_share"] == 0.25 and w.loc["bad", "flag_mushra_reference"]
    assert w.loc["bad", "reason"] == ("rated the hidden reference below 90 for 25% of items, more than 15%")
    assert w.loc["loud", "anchor_above_share"] == 0.25 and w.loc["loud", "flag_mushra_reference"]
    assert w.loc["loud", "reason"] == "rated the anchor above 90 for 25% of items, more than 15%"
    assert not w.loc["ok", "flagged"]
    b = res.by_algorithm.set_index("algorithm").loc["B"]
    mean, low, high = t_interval(np.array([60 + i for i in range(8)] * 2, float))
    assert (b.mushra_mean, b.mushra_ci_low, b.mushra_ci_high) == pytest.approx((mean, low, high))


@pytest.mark.parametrize("slip", [0.0, 0.05])
def test_honest_simulated_mushra_workers_give_the_hidden_reference_100_unless_they_slip(slip):
    """Issue 22: the simulation drew the hidden reference like any condition (99 ± 7), so BS.1534
    excluded 7 of 34 honest simulated workers. An honest worker now gives it 100, except on the
    stated share of slipped items, where they rate it as the best other condition."""
    design = synthetic_design(16, ALGS, "mushra", 4, 8, seed=0)
    pop = Population({"REF": 99, "lowpass": 72, "noise": 55, "ANC": 30}, sd_worker=4, sd_item=3, sd_noise=5,
                     n_workers=40, n_spammers=4, ref_slip=slip)
    raw = simulate_ratings(design, pop, rng=1)
    ref = raw[raw["sample_id"].str.endswith("/REF") & ~raw["spammer"]]["rating"].astype(int)
    assert len(ref) > 100 and (ref < 90).mean() == pytest.approx(slip, abs=0.03)
    assert pop.true_mos("mushra")["REF"] == pytest.approx((1 - slip) * 100 + slip * pop.true_mos("mushra")["lowpass"])
    w = analyze_ratings(raw, design).workers.set_index("worker_id")
    spam = set(raw.loc[raw["spammer"], "worker_id"])
    honest_flagged = w.loc[~w.index.isin(spam), "flag_mushra_reference"]
    assert w.loc[w.index.isin(spam), "flag_mushra_reference"].all()
    if slip == 0:
        assert not honest_flagged.any()
    else:  # a worker is flagged exactly when one of their few items slipped (fewer than 7 each)
        below = raw[raw["sample_id"].str.endswith("/REF") & ~raw["spammer"]].assign(
            low=lambda d: d["rating"].astype(int) < 90).groupby("worker_id")["low"].mean()
        assert honest_flagged.sort_index().tolist() == (below > 0.15).sort_index().tolist()


def test_minimum_working_time_excludes_fast_assignments():
    rows = [(w, f"src{i}/A", 3 + (i % 2), ms) for w, ms in (("fast", 400.0), ("a", 3000.0), ("b", 2500.0))
            for i in range(3)]
    design = hand_design()
    design["study"] = {"min_sample_ms": 1000}
    res = analyze_ratings(table(rows), design, min_r=-2)
    assert res.slow_assignments == ["as-fast"] and "as-fast" in res.flagged_assignments()
    assert res.workers.set_index("worker_id").loc["fast", "n_slow_excluded"] == 3
    assert res.by_algorithm.iloc[0].n_workers == 2


def test_working_time_per_sample_counts_a_multi_stimulus_screen_once():
    """A screen of 4 samples rated in 6 s: every row says 6000 ms, the time per sample is 1500 ms."""
    from analysis.ratings import time_per_sample

    design = {"links": [{"link_id": "L", "lists": [[{"sample_id": f"src0/{a}", "screen": 0} for a in "ABCD"] +
                                                   [{"sample_id": f"src1/{a}", "screen": 1} for a in "ABCD"]]}]}
    rows = table([("w", f"src{i}/{a}", 3, ms) for i, ms in ((0, 6000.0), (1, 2000.0)) for a in "ABCD"])
    assert time_per_sample(rows, design).to_dict() == {"as-w": (6000 + 2000) / 8}
    single = table([("w", f"src{i}/A", 3, ms) for i, ms in enumerate((1000.0, 2000.0, 6000.0))])
    assert time_per_sample(single, hand_design()).to_dict() == {"as-w": 3000.0}  # one sample a screen: the mean


@pytest.mark.parametrize(("response", "sample", "error", "message"), [
    ("6", "src0/A", ResponsesInvalid, r"rating '6' is not a point of the acr scale \(1..5\)"),
    ("Good", "src0/A", ResponsesInvalid, r"rating 'Good' is not a point"),
    ("3", "src9/A", ResponsesInvalid, r"sample 'src9/A' is not in the design"),
])
def test_bad_responses_are_refused(response, sample, error, message):
    with pytest.raises(error, match=message):
        analyze_ratings(table([("a", sample, response)]), hand_design())


def test_a_study_with_every_assignment_too_fast_says_so_and_keeps_them_to_replace(tmp_path):
    design = hand_design()
    design["study"] = {"min_sample_ms": 3000}
    rows = [(w, f"src{i}/A", 3 + (i % 2), ms) for w, ms in (("a", 800.0), ("b", 1200.0)) for i in range(3)]
    res = analyze_ratings(table(rows), design)
    assert res.nothing_left == ("all 2 complete assignment(s) took less than the study's min_sample_ms (3000 ms) per "
                                "sample on average (their means: 800 to 1200 ms), so none is left to analyse")
    assert res.flagged_assignments() == ["as-a", "as-b"] and res.by_algorithm.empty
    assert res.workers.set_index("worker_id")["n_slow_excluded"].to_dict() == {"a": 3, "b": 3}
    paths = write_outputs(res, tmp_path)
    assert "No estimate:" in paths["report"].read_text() and pd.read_csv(paths["workers"])["worker_id"].tolist() == ["a", "b"]


def test_a_study_with_every_worker_flagged_says_why():
    rows = [(w, f"src{i}/A", 3 + (i % 2)) for w in ("a", "b") for i in range(3)]
    rows += [("a", "trap/2", 5), ("b", "trap/2", 4)]
    res = analyze_ratings(table(rows), hand_design(), min_r=-2)
    assert res.nothing_left == ("every worker was flagged by screening; nothing is left to estimate from "
                                "(a: chose another score than asked on 1 of 1 trapping trial(s); "
                                "b: chose another score than asked on 1 of 1 trapping trial(s))")
    assert res.flagged_assignments() == ["as-a", "as-b"] and res.used.empty


def test_nothing_left_is_refused():
    with pytest.raises(NoResponses, match="there are no responses to analyse"):
        analyze_ratings(table([]).reindex(columns=["worker_id", "assignment_id", "sample_id", "link_id",
                                                   "rating"]), hand_design())


def test_simulated_study_recovers_mos_and_flags_spammers():
    design = synthetic_design(16, ALGS, "random", 8, 8, seed=0)
    pop = Population(ACR_POP.mu, n_workers=40, n_spammers=4)
    raw = simulate_ratings(design, pop, rng=7)
    res = analyze_ratings(raw, design)
    truth = pop.true_mos("acr")
    for row in res.by_algorithm.itertuples():
        assert row.ci_low <= truth[row.algorithm] <= row.ci_high
    spammers = set(raw.loc[raw["spammer"], "worker_id"])
    flagged = set(res.workers.loc[res.workers["flagged"], "worker_id"])
    assert len(spammers & flagged) >= 3 and len(flagged - spammers) <= 4


def coverage(design, pop, scale, n_studies, algorithms=ALGS, **options):
    """Share of intervals (crowdMOS, and the t interval for MUSHRA) that hold the true MOS."""
    truth = pop.true_mos(scale)
    crowd, t = [], []
    for rep in range(n_studies):
        res = analyze_ratings(simulate_ratings(design, pop, rng=rep), design, **options)
        for r in res.by_algorithm.itertuples():
            if r.algorithm in algorithms:
                crowd.append(r.ci_low <= truth[r.algorithm] <= r.ci_high)
                if scale == "mushra":
                    t.append(r.mushra_ci_low <= truth[r.algorithm] <= r.mushra_ci_high)
    return float(np.mean(crowd)), float(np.mean(t)) if t else None, len(crowd)


@pytest.mark.slow
def test_acr_crowdmos_intervals_have_nominal_coverage():
    # Measured: 0.950 of 800 intervals (200 studies x 4 algorithms) without screening, nominal 0.95.
    # With the default screening 0.931: the correlation rule also drops ~2 of 30 honest workers
    # (r over 8 items is noisy), a selection the interval does not know about.
    rate, _, n = coverage(synthetic_design(16, ALGS, "random", 8, 8, seed=0), ACR_POP, "acr", 200,
                          min_r=-2, z_limit=99)
    assert n == 800 and 0.93 <= rate <= 0.97, rate


@pytest.mark.slow
def test_mushra_crowdmos_intervals_cover_and_the_bs1534_t_interval_does_not():
    # Honest simulated workers give the hidden reference 100 (simulation.ratings), so REF, constant,
    # is left out of the claim. Measured: crowdMOS 0.936, t interval 0.707 of 450 intervals. The
    # t interval treats all ratings of a condition as independent; workers and samples vary.
    pop = Population({"REF": 99, "lowpass": 72, "noise": 55, "ANC": 30}, sd_worker=4, sd_item=3, sd_noise=5,
                     n_workers=30)
    rate, t_rate, n = coverage(synthetic_design(16, ALGS, "mushra", 4, 8, seed=0), pop, "mushra", 150,
                               algorithms=("ANC", "lowpass", "noise"))
    assert n == 450 and 0.92 <= rate <= 0.975 and t_rate < 0.8, (rate, t_rate)


def test_outputs_are_written_and_the_report_escapes_ids(tmp_path):
    design = synthetic_design(8, ALGS, "mushra", 4, 6, seed=1)
    raw = simulate_ratings(design, Population({"REF": 99, "lowpass": 72, "noise": 55, "ANC": 30}, sd_worker=4,
                                              sd_item=3, sd_noise=5, n_workers=12), rng=0)
    raw.loc[raw["worker_id"] == raw["worker_id"].iloc[0], "worker_id"] = "<script>alert(1)</script>"
    paths = write_outputs(analyze_ratings(raw, design), tmp_path, source="test")
    html = paths["report"].read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'src="data:image/png;base64,' in html and "Per source" in html and "MUSHRA mean" in html
    assert "no interval" not in html  # every algorithm has an interval here
    by_alg = pd.read_csv(paths["by_algorithm"])
    assert list(by_alg["algorithm"]) == sorted(ALGS) and by_alg["mushra_mean"].between(0, 100).all()
    assert len(pd.read_csv(paths["by_sample"])) == 32 and len(pd.read_csv(paths["workers"])) == 12


@pytest.mark.parametrize("design, traps, rules", [
    ("random", False, []),
    ("mushra", False, [("when they rate the hidden reference below 90 for more than 15 % of items, or the anchor "
                        "above 90 for more than 15 % (BS.1534)")]),
    ("random", True, ["when they choose another score than a trapping trial asks for (P.808)"]),
])
def test_the_report_states_every_screening_rule_in_one_sentence(tmp_path, design, traps, rules):
    """The screening note lists the rules that applied, ending in a full stop (it ended in ';'
    without MUSHRA or gold, and never named the trap rule)."""
    import re

    algorithms = ("REF", "ANC", "B") if design == "mushra" else ("A",)
    rows = [(w, f"src{i}/{a}", (100 if a == "REF" else 40 + 10 * i) if design == "mushra" else 2 + i)
            for w in ("a", "b", "c") for i in range(3) for a in algorithms]
    if traps:
        rows += [(w, "trap/2", 2) for w in ("a", "b", "c")]
    result = analyze_ratings(table(rows), hand_design(algorithms, design=design), min_r=-2)
    html = write_outputs(result, tmp_path)["report"].read_text()
    note = " ".join(re.search(r'<h2>Worker screening</h2>\s*<p class="note">(.*?)</p>', html, re.S)[1].split())
    assert note == " ".join([
        "A worker is flagged when their scores correlate with the other workers' item means below -2 (over at",
        "least 3 samples, each rated by at least 2 others); when more than 5 % of their ratings (at least 20) lie more than 2.5 standard deviations",
        "from the mean of all ratings of their algorithm (|z| &gt; 2.5) and more than 1 scale step from both that",
        "mean and the sample's mean"
        + "".join("; " + rule for rule in rules) + ". A flagged worker's ratings enter no estimate."])


def test_workers_csv_feeds_mturk_review_and_bonus_unchanged(tmp_path):
    from platforms.mturk.workers import Screening

    design = synthetic_design(16, ALGS, "random", 8, 8, seed=0)
    raw = simulate_ratings(design, Population(ACR_POP.mu, n_workers=30, n_spammers=3), rng=3)
    result = analyze_ratings(raw, design)
    screening = Screening.from_csv(write_outputs(result, tmp_path)["workers"])
    workers = result.workers.set_index("worker_id")
    assert set(screening.flagged) == set(workers.index[workers["flagged"]])
    assert screening.correlation == pytest.approx(workers["correlation"].dropna().to_dict())


def test_a_failed_trap_flags_the_worker_and_traps_stay_out_of_the_estimates():
    rows = [(w, f"src{i}/A", 3 + (i % 2)) for w in ("a", "b", "c") for i in range(3)]
    rows += [("a", "trap/2", 2), ("b", "trap/2", 2), ("c", "trap/2", 5)]
    res = analyze_ratings(table(rows), hand_design(), min_r=-2)
    w = res.workers.set_index("worker_id")
    assert w.loc["c", "flag_trap"]
    assert w.loc["c", "reason"] == "chose another score than asked on 1 of 1 trapping trial(s)"
    assert not w.loc[["a", "b"], "flagged"].any() and (w["n_traps"] == 1).all()
    assert res.by_algorithm.iloc[0].n_ratings == 6 and "trap/2" not in set(res.by_sample["sample_id"])


def gold_design(scores=(5,)):
    """`hand_design` with gold samples gold/g0, gold/g1, ... of known ``scores``."""
    design = hand_design()
    design["links"][0]["lists"][0] += [{"sample_id": f"gold/g{k}", "gold": s} for k, s in enumerate(scores)]
    return design


@pytest.mark.parametrize(("answers", "limit", "flagged"), [
    ((5, 1), 0.0, False),       # always the known score: never flagged
    ((4, 2), 0.0, False),       # one point off is within P.808's tolerance
    ((1, 1), 0.0, True),        # 1 on a 5-gold: 4 points off
    ((3, 1), 0.0, True),        # two points off on one of two
    ((3, 1), 0.5, False),       # 1 of 2 missed is not more than half
    ((3, 4), 0.5, True),        # 2 of 2
])
def test_gold_flags_a_worker_by_definition(answers, limit, flagged):
    rows = [(w, f"src{i}/A", 3 + (i % 2)) for w in ("a", "b", "x") for i in range(3)]
    rows += [(w, f"gold/g{k}", s) for w in ("a", "b") for k, s in enumerate((5, 1))]
    rows += [("x", f"gold/g{k}", s) for k, s in enumerate(answers)]
    res = analyze_ratings(table(rows), gold_design((5, 1)), min_r=-2, max_gold_miss_share=limit)
    w = res.workers.set_index("worker_id")
    missed = sum(abs(a - s) > 1 for a, s in zip(answers, (5, 1)))
    assert (w.loc["x", "flag_gold"], w.loc["x", "flagged"], w.loc["x", "n_gold_missed"]) == (flagged, flagged, missed)
    if flagged:
        assert w.loc["x", "reason"] == (f"rated {missed} of 2 gold sample(s) more than 1 point from the known score "
                                        f"({missed / 2:.0%}, more than {limit:.0%})")
        assert res.flagged_assignments() == ["as-x"]
    assert not w.loc[["a", "b"], "flagged"].any() and (w["n_gold"] == 2).all()
    assert res.by_algorithm.iloc[0].n_ratings == (9 if not flagged else 6)
    assert not res.by_sample["sample_id"].str.startswith("gold/").any()


def test_gold_limit_comes_from_the_study_file_and_is_checked():
    rows = [(w, f"src{i}/A", 3 + (i % 2)) for w in ("a", "b") for i in range(3)] + [("a", "gold/g0", 3)]
    design = gold_design()
    design["study"] = {"max_gold_miss_share": 1}
    res = analyze_ratings(table(rows), design, min_r=-2)
    assert res.settings["max_gold_miss_share"] == 1 and not res.workers["flagged"].any()
    with pytest.raises(ValueError, match=r"max_gold_miss_share \(1.5\) must be a share from 0 to 1"):
        analyze_ratings(table(rows), design, max_gold_miss_share=1.5)
    with pytest.raises(ResponsesInvalid, match=r"sample 'gold/g9' is not in the design"):
        analyze_ratings(table(rows + [("b", "gold/g9", 5)]), design)


def with_gold(design, scores, per_task, rng=0):
    """Add ``per_task`` gold trials (known ``scores``, taken in turn) to every list, at random positions."""
    rng = np.random.default_rng(rng)
    for k, link in enumerate(design["links"]):
        for t in range(per_task):
            g = (k * per_task + t) % len(scores)
            trial = {"sample_id": f"gold/g{g}", "media_id": f"{900 + g:016x}", "screen": 500 + t, "gold": scores[g]}
            for trials in link["lists"]:
                trials.insert(int(rng.integers(len(trials) + 1)), dict(trial))
    return design


def test_gold_flags_simulated_random_raters_and_passes_honest_ones():
    # 8 links x 8 lists, 2 gold (known 5 and 1) per list; 40 workers, 8 rate uniformly at random.
    # A random rater misses a gold with p = 3/5, an honest one (bias sd 0.4, noise sd 0.6) with
    # p = P(N(0, 0.72^2) < -1.5) = 0.019 per gold; a worker takes ~1.6 lists (3.2 gold). Measured
    # over 50 simulated studies (rng 0..49): 92 % of random raters and 5.1 % of honest ones
    # flagged; with rng=1 here, 8 of 8 and 3.6 %.
    design = with_gold(synthetic_design(16, ALGS, "random", 8, 8, seed=0), [5, 1], 2)
    raw = simulate_ratings(design, Population(ACR_POP.mu, n_workers=40, n_spammers=8), rng=1)
    res = analyze_ratings(raw, design, min_r=-2, z_limit=99)  # the gold rule alone
    w = res.workers.set_index("worker_id")
    gold = raw[raw["sample_id"].str.startswith("gold/")]
    missed = (gold["rating"].astype(int) - gold["sample_id"].map({"gold/g0": 5, "gold/g1": 1})).abs() > 1
    assert w["flag_gold"].to_dict() == (missed.groupby(gold["worker_id"]).sum() > 0).to_dict()
    spammers = set(raw.loc[raw["spammer"], "worker_id"])
    assert w.loc[sorted(spammers), "flag_gold"].sum() >= 6
    assert w.loc[~w.index.isin(spammers), "flag_gold"].mean() <= 0.1


@pytest.mark.parametrize("required, media, outcomes, flagged", [
    (True, "audio", {"a": "6/6", "b": "5/6", "c": "4/6"}, {"c"}),
    (True, "audio", {"a": "6/6", "b": None, "c": "5/6"}, {"b"}),  # no outcome: not through the page
    (False, "audio", {"a": None, "b": "1/6", "c": None}, set()),  # the study runs no check
    (True, "image", {"a": None, "b": None, "c": None}, set()),  # images: the page runs none
])
def test_a_headphone_study_flags_ratings_without_a_passed_check(required, media, outcomes, flagged):
    rows = table([(w, f"src{i}/A", 3 + (i % 2)) for w in "abc" for i in range(3)])
    rows["headphone_check"] = rows["worker_id"].map(outcomes)
    design = {**hand_design(), "media_kind": media, "study": {"headphone_check": required}}
    w = analyze_ratings(rows, design, min_r=-2).workers.set_index("worker_id")
    assert set(w.index[w["flag_headphones"]]) == flagged == set(w.index[w["flagged"]])
    for worker in flagged:
        assert w.loc[worker, "reason"] == "rated without a passed headphone check (the study requires one)"


def test_rating_outputs_neutralise_formula_cells(tmp_path):
    """Worker ids and algorithm names come from outside: written CSVs quote a leading = + - @ (kernel.csvsafe)."""
    rows = [(w, f"src{i}/=1+2", 3 + (i % 2)) for w in ("=HYPERLINK(1)", "b", "c") for i in range(3)]
    res = analyze_ratings(table(rows), hand_design(algorithms=("=1+2",)), min_r=-2)
    paths = write_outputs(res, tmp_path)
    workers = (tmp_path / "workers.csv").read_text()
    assert "'=HYPERLINK(1)" in workers and "\n=HYPERLINK" not in workers
    assert all(line.startswith("'=1+2,") for line in paths["by_algorithm"].read_text().splitlines()[1:])


def ceiling_study(seed=0, n_workers=30, n_sources=8):
    """Honest raters of REF near the ceiling (5 with probability 0.9, else 4: 4.9 ± 0.3) and of two
    lower algorithms (B: 3 or 4, C: 1, 2 or 3), each rating within one step of the algorithm's
    mean; each worker rates every sample once (3 n_sources ratings)."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(n_workers):
        for i in range(n_sources):
            rows.append((f"h{w}", f"src{i}/REF", 5 if rng.random() < 0.9 else 4))
            rows.append((f"h{w}", f"src{i}/B", int(rng.choice([3, 4], p=[0.6, 0.4]))))
            rows.append((f"h{w}", f"src{i}/C", int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25]))))
    return rows


def test_an_algorithm_rated_near_the_ceiling_keeps_every_honest_rater():
    """Issue 22: a single honest "4" for a reference rated 4.9 ± 0.3 has |z| ≈ 3; with the z-score taken
    within the algorithm, every worker with two such 4s among 24 ratings (8 % > 5 %) was removed. A
    rating within one scale step of the mean is never an outlier; a worker rating the reference 1 is."""
    rows = ceiling_study()
    rows += [("liar", s, 1 if s.endswith("/REF") else 3) for s in {s for _, s, _ in rows}]
    res = analyze_ratings(table(rows), hand_design(("REF", "B", "C"), n_sources=8))
    w = res.workers.set_index("worker_id")
    honest = w.drop(index="liar")
    fours = pd.Series([x for _, s, x in rows if s.endswith("/REF")]).eq(4).sum()
    assert fours > 10 and not honest["flagged"].any(), honest.loc[honest["flagged"], "reason"]
    assert (honest["n_outliers"] == 0).all() and (honest["outlier_status"] == "applied").all()
    assert w.loc["liar", "flag_outliers"] and w.loc["liar", "n_outliers"] == 8
    assert w.loc["liar", "reason"].endswith("; 8 of 24 ratings (33%) are z-score outliers (|z| > 2.5 and more than 1 "
                                            "scale step from the mean), more than 5%")
    ref = res.by_algorithm.set_index("algorithm").loc["REF"]
    assert ref.n_workers == 30 and 4.8 < ref.mos < 5
    assert 1 <= ref.ci_low < ref.mos < ref.ci_high <= 5


def test_the_outlier_rule_needs_a_minimum_of_ratings():
    """18 ratings (below 20): one far rating (5.6 %) no longer flags; the row says the rule did not apply."""
    rows = ceiling_study(n_sources=6)
    rows += [("few", f"src{i}/{a}", 1 if (i, a) == (0, "REF") else {"REF": 5, "B": 3, "C": 2}[a])
             for i in range(6) for a in ("REF", "B", "C")]
    res = analyze_ratings(table(rows), hand_design(("REF", "B", "C"), n_sources=6))
    few = res.workers.set_index("worker_id").loc["few"]
    assert few.n_outliers == 1 and not few.flag_outliers and not few.flagged
    assert few.outlier_status == "not applicable: fewer than 20 ratings"
    res = analyze_ratings(table(rows), hand_design(("REF", "B", "C"), n_sources=6), min_screen_ratings=18)
    assert res.workers.set_index("worker_id").loc["few", "flag_outliers"]


def test_screen_off_keeps_a_scale_inverter():
    items = [f"src{i}/A" for i in range(5)]
    rows = [(w, s, x) for w in ("h1", "h2", "h3") for s, x in zip(items, range(1, 6))]
    rows += [("inv", s, 6 - x) for s, x in zip(items, range(1, 6))]
    res = analyze_ratings(table(rows), hand_design(n_sources=5), screen=False)
    inv = res.workers.set_index("worker_id").loc["inv"]
    assert not inv.flagged and inv.correlation_status == "not applicable: rating screen off"
    assert res.by_algorithm.iloc[0].n_workers == 4


@pytest.mark.parametrize("ddof", [0, 1])
def test_every_rating_interval_is_on_the_scale_with_positive_width(ddof):
    """Every REF rating 5 (variance 0): crowdMOS gives [5, 5]; the bounded fallback is used. A crowdMOS
    interval reaching past 5 is clipped and says so. Samples with one rating still get an interval."""
    rows = [(f"h{w}", f"src{i}/REF", 5) for w in range(6) for i in range(4)]
    rows += [(f"h{w}", f"src{i}/B", 5 if (w + i) % 6 else 3) for w in range(6) for i in range(4)]
    rows += [("h0", "src0/C", 2), ("h1", "src1/C", 4)]
    res = analyze_ratings(table(rows), hand_design(("REF", "B", "C"), n_sources=4), min_r=-1, ddof=ddof)
    alg = res.by_algorithm.set_index("algorithm")
    assert (alg["ddof"] == ddof).all()
    assert alg.loc["REF", "ci_method"] == "wilson on the rescaled mean: variance 0"
    assert alg.loc["REF", "crowdmos_low"] == alg.loc["REF", "crowdmos_high"] == 5
    assert alg.loc["REF", "ci_low"] == pytest.approx(1 + 4 * 24 / (24 + stats.norm.ppf(0.975) ** 2))
    assert alg.loc["B", "crowdmos_high"] > 5 and alg.loc["B", "ci_high"] == 5 and alg.loc["B", "ci_clipped"]
    assert alg.loc["B", "ci_method"] == "crowdmos clipped to [1, 5]"
    assert alg.loc["C", "ci_method"] == "wilson on the rescaled mean: ν < 2"
    for t in (alg, res.by_sample):
        assert (t["ci_low"] >= 1).all() and (t["ci_high"] <= 5).all() and (t["ci_high"] > t["ci_low"]).all()
        assert ((t["ci_low"] <= t["mos"]) & (t["mos"] <= t["ci_high"])).all()


def test_the_rating_report_has_a_per_worker_figure(tmp_path):
    rows = ceiling_study(n_workers=10, n_sources=4)
    res = analyze_ratings(table(rows), hand_design(("REF", "B", "C"), n_sources=4))
    html = write_outputs(res, tmp_path)["report"].read_text()
    assert html.count("data:image/png;base64,") == 2
    assert 'alt="per worker: correlation with the other workers\' item means against the share' in html
