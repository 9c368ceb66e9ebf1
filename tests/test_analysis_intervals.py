"""Wilson and Clopper-Pearson intervals: hand-computed values and scipy cross-checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from analysis.intervals import clopper_pearson_interval, wilson_interval


def test_wilson_hand_computed():
    # k = 7, n = 10, z = 1.959964: centre (0.7 + z^2/20) / (1 + z^2/10), half-width over the same
    z = 1.959963984540054
    centre = (0.7 + z**2 / 20) / (1 + z**2 / 10)
    half = z * np.sqrt(0.7 * 0.3 / 10 + z**2 / 400) / (1 + z**2 / 10)
    ci = wilson_interval(7, 10)
    assert (float(ci.low), float(ci.high)) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert (round(float(ci.low), 4), round(float(ci.high), 4)) == (0.3968, 0.8922)


def test_clopper_pearson_hand_computed():
    # k = 0 of n: upper limit solves (1 - p)^n = alpha / 2; k = n: lower limit solves p^n = alpha / 2
    ci = clopper_pearson_interval([0, 5], [5, 5])
    assert ci.low[0] == 0 and ci.high[1] == 1
    assert ci.high[0] == pytest.approx(1 - 0.025 ** (1 / 5))
    assert ci.low[1] == pytest.approx(0.025 ** (1 / 5))


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 7), (3, 7), (7, 7), (1, 2), (13, 40), (499, 1000)])
def test_matches_scipy(k, n, confidence):
    ref = binomtest(k, n)
    w = wilson_interval(k, n, confidence)
    cp = clopper_pearson_interval(k, n, confidence)
    ref_w = ref.proportion_ci(confidence_level=confidence, method="wilson")
    ref_cp = ref.proportion_ci(confidence_level=confidence, method="exact")
    assert (float(w.low), float(w.high)) == pytest.approx((ref_w.low, ref_w.high), abs=1e-9)
    assert (float(cp.low), float(cp.high)) == pytest.approx((ref_cp.low, ref_cp.high), abs=1e-7)


def test_vectorised_with_empty_cells():
    k = np.array([[0, 3], [0, 5]])
    n = np.array([[0, 7], [5, 5]])
    for ci in (wilson_interval(k, n), clopper_pearson_interval(k, n)):
        assert ci.low.shape == (2, 2)
        assert np.isnan(ci.low[0, 0]) and np.isnan(ci.high[0, 0])
        assert np.all((ci.low[~np.isnan(ci.low)] >= 0) & (ci.high[~np.isnan(ci.high)] <= 1))


@pytest.mark.parametrize(("k", "n", "confidence", "match"), [
    (3, 2, 0.95, "0 <= k <= n"),
    (-1, 2, 0.95, "0 <= k <= n"),
    (1.5, 3, 0.95, "whole numbers"),
    (1, 3, 1.0, r"confidence \(1.0\) must be between 0 and 1"),
])
@pytest.mark.parametrize("func", [wilson_interval, clopper_pearson_interval])
def test_rejects_bad_input(func, k, n, confidence, match):
    with pytest.raises(ValueError, match=match):
        func(k, n, confidence)
