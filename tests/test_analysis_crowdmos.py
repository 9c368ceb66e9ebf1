"""crowdMOS: hand-computed cases, degenerate designs, statsmodels ANOVA cross-check, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm

from analysis.crowdmos import crowdmos


def test_hand_computed_two_workers_three_items():
    # worker a: 4 5 3 (var 1), b: 4 2 3 (var 1) -> A = 1
    # items: (4,4) var 0, (5,2) var 4.5, (3,3) var 0 -> B = 1.5; total var 5.5 / 5 = 1.1
    res = crowdmos([4, 5, 3, 4, 2, 3], ["a", "a", "a", "b", "b", "b"], [1, 2, 3, 1, 2, 3])
    assert res.mean == 3.5
    assert res.sigma_w2 == pytest.approx(0.1)      # 1.1 - 1
    assert res.sigma_s2 == 0.0                     # 1.1 - 1.5 < 0, clipped
    assert res.sigma_u2 == pytest.approx(1.4)      # 1 + 1.5 - 1.1
    assert res.var_mean == pytest.approx(0.1 * 18 / 36 + 1.4 / 6)
    assert (res.n_workers, res.n_items, res.n_scores, res.df) == (2, 3, 6, 1)
    half = stats.t.ppf(0.975, 1) * np.sqrt(res.var_mean)
    assert (res.ci_low, res.ci_high) == pytest.approx((3.5 - half, 3.5 + half))


def test_hand_computed_ddof_zero():
    # same data, population variances: A = 2/3, B = 0.75, total = 5.5 / 6
    res = crowdmos([4, 5, 3, 4, 2, 3], ["a", "a", "a", "b", "b", "b"], [1, 2, 3, 1, 2, 3], ddof=0)
    total = 5.5 / 6
    assert res.sigma_w2 == pytest.approx(total - 2 / 3)
    assert res.sigma_s2 == pytest.approx(total - 0.75)
    assert res.sigma_u2 == pytest.approx(2 / 3 + 0.75 - total)


def test_each_worker_one_score():
    # item-wise variances 0.5 and 0.5 estimate sigma_w^2 + sigma_u^2 (inseparable; all in sigma_u^2)
    res = crowdmos([1, 2, 3, 4], ["a", "b", "c", "d"], ["x", "x", "y", "y"])
    total = 5 / 3
    assert (res.sigma_w2, res.sigma_u2) == (0.0, pytest.approx(0.5))
    assert res.sigma_s2 == pytest.approx(total - 0.5)
    assert res.var_mean == pytest.approx((total - 0.5) * 8 / 16 + 0.5 / 4)
    assert res.df == 1


def test_each_item_one_score():
    res = crowdmos([1, 2, 3, 4], ["a", "a", "b", "b"], ["x", "y", "z", "w"])
    total = 5 / 3
    assert (res.sigma_s2, res.sigma_u2) == (0.0, pytest.approx(0.5))
    assert res.sigma_w2 == pytest.approx(total - 0.5)
    assert res.var_mean == pytest.approx((total - 0.5) * 8 / 16 + 0.5 / 4)


def test_every_worker_and_item_once_is_iid():
    res = crowdmos([1, 2, 3], ["a", "b", "c"], ["x", "y", "z"])
    assert (res.sigma_w2, res.sigma_s2, res.sigma_u2) == (0.0, 0.0, 1.0)
    assert res.var_mean == pytest.approx(1 / 3)
    assert res.df == 2
    half = stats.t.ppf(0.975, 2) * np.sqrt(1 / 3)
    assert (res.ci_low, res.ci_high) == pytest.approx((2 - half, 2 + half))


@pytest.mark.parametrize(("scores", "workers", "items"), [
    ([3.0], ["a"], ["x"]),                  # one score
    ([1, 0, 1], ["a", "a", "a"], [1, 2, 3]),  # one worker: min(N, M) - 1 = 0
])
def test_undefined_interval_is_nan(scores, workers, items):
    res = crowdmos(scores, workers, items)
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high)
    assert res.mean == pytest.approx(np.mean(scores))


def test_constant_scores_give_zero_width():
    res = crowdmos([1, 1, 1, 1], ["a", "a", "b", "b"], [1, 2, 1, 2])
    assert (res.ci_low, res.ci_high, res.var_mean) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    (([1, 2], ["a"], ["x", "y"]), {}, "must be 1-D of one length"),
    (([], [], []), {}, "at least one score"),
    (([1, np.nan], ["a", "b"], ["x", "y"]), {}, "must be finite"),
    (([1, 2], ["a", "b"], ["x", "y"]), {"ddof": 2}, r"ddof \(2\) must be in \[0, 2\)"),
    (([1, 2], ["a", "b"], ["x", "y"]), {"confidence": 1.5}, r"confidence \(1.5\) must be between 0 and 1"),
])
def test_rejects_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        crowdmos(*args, **kwargs)


def _simulate(n_workers, n_items, sw, ss, su, rng, keep=1.0):
    rng = np.random.default_rng(rng)
    w, s = np.meshgrid(np.arange(n_workers), np.arange(n_items), indexing="ij")
    w, s = w.ravel(), s.ravel()
    x = 3 + rng.normal(0, sw, n_workers)[w] + rng.normal(0, ss, n_items)[s] + rng.normal(0, su, w.size)
    mask = rng.random(w.size) < keep
    return x[mask], w[mask], s[mask]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_statsmodels_two_way_anova_on_balanced_data(seed):
    n_w, n_s = 30, 25
    x, w, s = _simulate(n_w, n_s, 0.5, 0.8, 0.6, seed)
    df = pd.DataFrame({"score": x, "worker": w, "item": s})
    table = anova_lm(smf.ols("score ~ C(worker) + C(item)", data=df).fit())
    ss_w, ss_s, ss_e = table.loc["C(worker)", "sum_sq"], table.loc["C(item)", "sum_sq"], table.loc["Residual", "sum_sq"]
    ms_w, ms_s, ms_e = ss_w / (n_w - 1), ss_s / (n_s - 1), ss_e / ((n_w - 1) * (n_s - 1))
    # ANOVA method-of-moments (expected mean squares) variance components
    anova_w, anova_s, anova_u = (ms_w - ms_e) / n_s, (ms_s - ms_e) / n_w, ms_e
    res = crowdmos(x, w, s)
    # The worker-wise and item-wise variance averages equal the ANOVA sums exactly ...
    assert res.sigma_s2 + res.sigma_u2 == pytest.approx(anova_s + anova_u, rel=1e-10)
    assert res.sigma_w2 + res.sigma_u2 == pytest.approx(anova_w + anova_u, rel=1e-10)
    # ... and the total variance is the ANOVA total sum of squares over T - 1.
    total = res.sigma_w2 + res.sigma_s2 + res.sigma_u2
    assert total == pytest.approx((ss_w + ss_s + ss_e) / (x.size - 1), rel=1e-10)
    # Components then differ from ANOVA's only by the O(1/N + 1/M) bias of the total variance.
    for ours, theirs in [(res.sigma_w2, anova_w), (res.sigma_s2, anova_s), (res.sigma_u2, anova_u)]:
        assert ours == pytest.approx(theirs, abs=0.05 * total)
    # Var(mean) of a balanced design: sigma_w^2 / N + sigma_s^2 / M + sigma_u^2 / (N M)
    assert res.var_mean == pytest.approx(res.sigma_w2 / n_w + res.sigma_s2 / n_s + res.sigma_u2 / (n_w * n_s))


def test_interval_covers_true_mean_on_unbalanced_data():
    hits = 0
    reps = 300
    for rep in range(reps):
        x, w, s = _simulate(15, 20, 0.4, 0.5, 0.7, 1000 + rep, keep=0.6)
        res = crowdmos(x, w, s)
        hits += res.ci_low <= 3 <= res.ci_high
    assert 0.89 <= hits / reps <= 0.995


def test_matches_statsmodels_crossed_random_effects_reml():
    import warnings

    n_w, n_s = 20, 16
    x, w, s = _simulate(n_w, n_s, 0.5, 0.8, 0.6, 11)
    df = pd.DataFrame({"score": x, "worker": w, "item": s, "all": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("score ~ 1", df, groups="all", re_formula="0",
                          vc_formula={"worker": "0 + C(worker)", "item": "0 + C(item)"}).fit(reml=True)
    reml = dict(zip(fit.model.exog_vc.names, fit.vcomp))
    reml_w, reml_s, reml_u = reml["worker"], reml["item"], fit.scale
    res = crowdmos(x, w, s)
    # On complete balanced data REML equals the ANOVA moments, so the sums match crowdMOS ...
    assert res.sigma_w2 + res.sigma_u2 == pytest.approx(reml_w + reml_u, rel=1e-3)
    assert res.sigma_s2 + res.sigma_u2 == pytest.approx(reml_s + reml_u, rel=1e-3)
    # ... and the variance of the mean agrees up to the bias of crowdMOS's total variance, whose
    # expectation weights sigma_w^2 by M(N-1)/(NM-1) and sigma_s^2 by N(M-1)/(NM-1) (about 0.95 here).
    reml_var_mean = reml_w / n_w + reml_s / n_s + reml_u / (n_w * n_s)
    assert res.var_mean == pytest.approx(reml_var_mean, rel=0.2)
    assert res.var_mean < reml_var_mean
