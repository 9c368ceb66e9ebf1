"""MVT rules on crafted profiles, isotonic fit, bootstrap, psychometric fit, estimate_mvt
(analysis.rules, analysis.bootstrap, analysis.psychometric, analysis.mvt)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from analysis.bootstrap import bootstrap_mvt, ordered_interval
from analysis.mvt import MVT_COLUMNS, count_cells, estimate_mvt
from analysis.psychometric import fit_psychometric, psychometric_thresholds
from analysis.rules import isotonic_fit, mvt_index
from analysis.synthetic import synthetic_responses

D = 5
UNREC, INSUFF = D, D + 1
TEN = [10] * D


@pytest.mark.parametrize(("k", "n", "rule", "inclusive", "expected"), [
    # monotone profile: every rule agrees
    ([1, 3, 6, 8, 10], TEN, "stable", False, 2),
    ([1, 3, 6, 8, 10], TEN, "first", False, 2),
    ([1, 3, 6, 8, 10], TEN, "isotonic", False, 2),
    # non-monotone: recognised at d1, lost at d2, back from d3
    ([2, 6, 4, 8, 9], TEN, "stable", False, 3),
    ([2, 6, 4, 8, 9], TEN, "first", False, 1),
    # PAVA pools 0.6 and 0.4 into 0.5: not > 0.5, but >= 0.5
    ([2, 6, 4, 8, 9], TEN, "isotonic", False, 3),
    ([2, 6, 4, 8, 9], TEN, "isotonic", True, 1),
    # not recognised at the longest duration
    ([1, 2, 3, 9, 4], TEN, "stable", False, UNREC),
    ([1, 2, 3, 9, 4], TEN, "first", False, UNREC),
    # the isotonic fit pools 0.9 and 0.4 into 0.65, but the control policy (the observed
    # longest cell, 4/10 = 0.4, is not > 0.5) makes it unrecognised under every rule
    ([1, 2, 3, 9, 4], TEN, "isotonic", False, UNREC),
    ([0, 0, 0, 0, 0], TEN, "isotonic", False, UNREC),
    # exactly theta everywhere: strict says never, inclusive says from the first
    ([5, 5, 5, 5, 5], TEN, "stable", False, UNREC),
    ([5, 5, 5, 5, 5], TEN, "stable", True, 0),
    ([5, 5, 5, 5, 5], TEN, "first", True, 0),
    # a missing cell that decides between d1 and d2
    ([1, 0, 8, 9, 10], [10, 0, 10, 10, 10], "stable", False, INSUFF),
    ([1, 0, 8, 9, 10], [10, 0, 10, 10, 10], "first", False, INSUFF),
    ([1, 0, 8, 9, 10], [10, 0, 10, 10, 10], "isotonic", False, INSUFF),
    # a missing cell that cannot matter: d2 is not recognised, so stable starts at d3
    ([1, 0, 2, 9, 10], [10, 0, 10, 10, 10], "stable", False, 3),
    # ... but "first" could stop at d1
    ([1, 0, 2, 9, 10], [10, 0, 10, 10, 10], "first", False, INSUFF),
    # isotonic: responses at d1 would pool with d0 (0 of 10 there: 6 of 20, not recognised)
    ([6, 0, 8, 9, 10], [10, 0, 10, 10, 10], "isotonic", False, INSUFF),
    # ... a missing cell before a failed control (5/10 is not > 0.5) cannot rescue it
    ([10, 0, 0, 8, 5], [10, 10, 0, 10, 10], "isotonic", False, UNREC),
    # ... and a missing control cell leaves an otherwise recognised image undecided
    ([10, 10, 10, 10, 0], [10, 10, 10, 10, 0], "isotonic", False, INSUFF),
    ([10, 10, 10, 10, 0], [10, 10, 10, 10, 0], "first", False, INSUFF),
    # ... but not when even all-correct responses there could not lift it past theta
    ([0, 0, 0, 0, 0], [0, 10, 10, 10, 10], "isotonic", False, UNREC),
    # ... nor when all-wrong ones after the MVT would still leave it above theta (16 of 30)
    ([6, 10, 0, 10, 10], [10, 10, 0, 10, 10], "isotonic", False, 0),
    # a missing cell before the MVT of an already recognised run
    ([0, 8, 9, 10, 10], [0, 10, 10, 10, 10], "stable", False, INSUFF),
    # missing longest duration: recognised-or-not there decides everything
    ([1, 5, 8, 9, 0], [10, 10, 10, 10, 0], "stable", False, INSUFF),
    # no data at all
    ([0] * D, [0] * D, "stable", False, INSUFF),
    ([0] * D, [0] * D, "isotonic", False, INSUFF),
    # small cells: 1 of 1 is recognised, 1 of 2 is not (strictly)
    ([0, 1, 1, 1, 1], [1, 2, 1, 1, 1], "stable", False, 2),
])
def test_mvt_index_crafted_profiles(k, n, rule, inclusive, expected):
    assert mvt_index([k], [n], rule=rule, inclusive=inclusive).tolist() == [expected]


def test_mvt_index_theta_other_than_half():
    k = [[2, 6, 7, 8, 10]]
    assert mvt_index(k, [TEN], theta=0.7).tolist() == [3]
    assert mvt_index(k, [TEN], theta=0.7, inclusive=True).tolist() == [2]


def test_mvt_index_vectorises_over_leading_axes():
    k = np.array([[1, 3, 6, 8, 10], [1, 2, 3, 9, 4]])
    n = np.full_like(k, 10)
    stacked = mvt_index(np.stack([k, k, k]), np.stack([n, n, n]))
    assert stacked.shape == (3, 2)
    assert stacked.tolist() == [[2, UNREC]] * 3


@pytest.mark.parametrize(("rule", "theta", "match"), [
    ("median", 0.5, "rule .*'median'.* must be one of stable, first, isotonic"),
    ("stable", 1.0, r"theta \(1.0\) must be a proportion in \[0, 1\)"),
    ("stable", -0.1, r"theta \(-0.1\) must be"),
])
def test_mvt_index_rejects_bad_arguments(rule, theta, match):
    with pytest.raises(ValueError, match=match):
        mvt_index([[1, 2]], [[2, 2]], rule=rule, theta=theta)


def _brute_force(k, n, rule, theta=0.5):
    """MVT by enumerating every true/false recognition of the missing cells (stable, first)."""
    d = len(k)
    missing = [j for j in range(d) if n[j] == 0]
    answers = set()
    for fill in itertools.product([False, True], repeat=len(missing)):
        rec = [n[j] > 0 and k[j] / n[j] > theta for j in range(d)]
        for j, value in zip(missing, fill):
            rec[j] = value
        if not rec[-1]:
            answers.add(d)
        elif rule == "stable":
            answers.add(min(j for j in range(d) if all(rec[j:])))
        else:
            answers.add(rec.index(True))
    return answers.pop() if len(answers) == 1 else d + 1


cells = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=7)


@settings(max_examples=300, deadline=None)
@given(cells, st.sampled_from(["stable", "first"]))
def test_mvt_index_matches_brute_force(pairs, rule):
    n = [a for a, _ in pairs]
    k = [min(b, a) for a, b in pairs]
    assert mvt_index([k], [n], rule=rule).tolist() == [_brute_force(k, n, rule)]


def _brute_force_isotonic(k, n, theta=0.5):
    """Isotonic MVT by enumerating every content of the missing cells (up to the fullest cell's n)."""
    d = len(k)
    missing = [j for j in range(d) if n[j] == 0]
    fullest = max(max(n), 1)
    answers = set()
    for sizes in itertools.product(range(1, fullest + 1), repeat=len(missing)):
        for correct in itertools.product(*[range(m + 1) for m in sizes]):
            kk, nn = list(k), list(n)
            for j, m, c in zip(missing, sizes, correct):
                kk[j], nn[j] = c, m
            answers.add(int(mvt_index([kk], [nn], rule="isotonic", theta=theta)[0]))
    return answers.pop() if len(answers) == 1 else d + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=4),
       st.sampled_from([0.0, 0.3, 0.5]))
def test_isotonic_missing_cells_match_brute_force(pairs, theta):
    """A missing cell's responses would pool with its neighbours: insufficient unless no
    content of it could change the answer."""
    n = [a for a, _ in pairs]
    k = [min(b, a) for a, b in pairs]
    assert mvt_index([k], [n], rule="isotonic", theta=theta).tolist() == [_brute_force_isotonic(k, n, theta)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.floats(0, 1)), min_size=1, max_size=8))
def test_isotonic_fit_matches_scipy(pairs):
    n = np.array([a for a, _ in pairs])
    k = np.round(np.array([f for _, f in pairs]) * n)
    expected = optimize.isotonic_regression(k / n, weights=n).x
    np.testing.assert_allclose(isotonic_fit(k, n), expected, atol=1e-12)


def test_isotonic_fit_hand_computed_and_missing_cells():
    np.testing.assert_allclose(isotonic_fit([2, 9, 6], [10, 10, 10]), [0.2, 0.75, 0.75])
    # weights: (9 + 1*... ) pooled mean of 9/10 and 2/2 is not a violation; 9/10 then 1/5 is
    np.testing.assert_allclose(isotonic_fit([9, 1], [10, 5]), [10 / 15, 10 / 15])
    fit = isotonic_fit([3, 0, 1], [10, 0, 10])
    assert np.isnan(fit[1])
    np.testing.assert_allclose(fit[[0, 2]], [0.2, 0.2])


def test_bootstrap_is_reproducible_by_seed():
    k = np.array([[1, 4, 6, 7, 9], [0, 2, 5, 6, 7]])
    n = np.array([[7] * 5, [7] * 5])
    a = bootstrap_mvt(k, n, n_bootstrap=500, rng=42)
    b = bootstrap_mvt(k, n, n_bootstrap=500, rng=42)
    c = bootstrap_mvt(k, n, n_bootstrap=500, rng=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.sum(axis=1).tolist() == [500, 500]


def test_bootstrap_does_not_depend_on_threads():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 9, (3000, 4))
    k = rng.binomial(n, 0.6)
    np.testing.assert_array_equal(bootstrap_mvt(k, n, n_bootstrap=700, rng=1, n_threads=1),
                                  bootstrap_mvt(k, n, n_bootstrap=700, rng=1, n_threads=2))


def test_bootstrap_of_certain_profiles():
    counts = bootstrap_mvt([[0, 10, 10], [0, 0, 0], [3, 0, 9]], [[10, 10, 10], [10, 10, 10], [10, 0, 10]],
                           n_bootstrap=50, rng=0)
    assert counts.tolist() == [[0, 50, 0, 0, 0], [0, 0, 0, 50, 0], [0, 0, 0, 0, 50]]


def _exact_stable_distribution(k, n, theta=0.5):
    """P(stable MVT = j) when each cell is resampled: q_j = P(Binomial(n, k/n) > theta n)."""
    q = np.array([stats.binom.sf(np.floor(theta * nn), nn, kk / nn) for kk, nn in zip(k, n)])
    d = len(k)
    probs = [(1 - (q[j - 1] if j else 0)) * np.prod(q[j:]) for j in range(d)]
    return np.array(probs + [1 - q[-1]])


@pytest.mark.parametrize(("k", "n"), [([1, 3, 4, 6], [7, 7, 7, 7]), ([2, 5, 3, 8], [6, 8, 5, 9])])
def test_bootstrap_stable_matches_exact_distribution(k, n):
    counts = bootstrap_mvt([k], [n], n_bootstrap=40_000, rng=3)[0]
    np.testing.assert_allclose(counts[:-1] / 40_000, _exact_stable_distribution(k, n), atol=0.01)


def test_bootstrap_isotonic_matches_resampling_responses():
    k, n = [1, 4, 3, 6], [6, 6, 6, 6]
    rng = np.random.default_rng(5)
    b = 4000
    # Resample each cell's individual responses with replacement, the textbook way.
    resampled = np.stack([rng.choice(np.r_[np.ones(kk), np.zeros(nn - kk)], size=(b, nn)).sum(axis=1)
                          for kk, nn in zip(k, n)], axis=1)
    direct = np.bincount(mvt_index(resampled, np.broadcast_to(n, resampled.shape), rule="isotonic"),
                         minlength=6) / b
    ours = bootstrap_mvt([k], [n], rule="isotonic", n_bootstrap=b, rng=6)[0] / b
    np.testing.assert_allclose(ours, direct, atol=0.035)


@pytest.mark.parametrize(("counts", "low", "high"), [
    ([10, 80, 10, 0, 0], 0, 2),
    ([0, 0, 100, 0, 0], 2, 2),
    ([2, 0, 96, 2, 0], 2, 2),       # 2 % in each tail: within the 2.5 % tails
    ([3, 0, 94, 3, 0], 0, 3),       # 3 % in each tail: both limits outside index 2
    ([0, 0, 0, 0, 100], -1, -1),    # only insufficient resamples
    ([0, 50, 0, 40, 10], 1, 3),     # insufficient resamples left out
])
def test_ordered_interval(counts, low, high):
    lo, hi = ordered_interval(np.array([counts]))
    assert (int(lo[0]), int(hi[0])) == (low, high)


def test_psychometric_fit_recovers_threshold():
    durations = np.array([16.7, 33.3, 50, 100, 150, 250, 10000])
    guess, lapse, mu, sigma = 0.1, 0.02, np.log(60), 0.4
    p = guess + (1 - guess - lapse) * stats.norm.cdf((np.log(durations) - mu) / sigma)
    n = np.full(durations.size, 4000)
    fit = fit_psychometric(durations, np.round(p * n), n, n_choices=10)
    true_threshold = np.exp(mu + sigma * stats.norm.ppf((0.5 - guess) / (1 - guess - lapse)))
    assert fit.converged
    assert fit.threshold_ms == pytest.approx(true_threshold, rel=0.03)
    assert fit.lapse == pytest.approx(lapse, abs=0.01)
    bulk = psychometric_thresholds(durations, [np.round(p * n), np.zeros(7)], [n, np.zeros(7)], n_choices=10)
    assert bulk[0] == pytest.approx(true_threshold, rel=0.05)
    assert np.isnan(bulk[1])   # no responses, no threshold


def test_bulk_psychometric_thresholds_agree_with_single_fits():
    df = synthetic_responses(n_images=20, rng=4)
    _, grid, k, n = count_cells(df)
    duration_ms = grid * 1000 / 60
    bulk = psychometric_thresholds(duration_ms, k, n, n_choices=10)
    single = np.array([fit_psychometric(duration_ms, k[i], n[i], n_choices=10).threshold_ms for i in range(len(k))])
    assert np.median(np.abs(np.log(bulk / single))) < 0.02
    assert np.mean(np.abs(np.log(bulk / single)) < 0.1) >= 0.9


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(duration_ms=[0, 10], k=[1, 1], n=[2, 2], n_choices=4), "must be positive milliseconds"),
    (dict(duration_ms=[5, 10], k=[1, 1], n=[2, 2], n_choices=1), r"n_choices \(1\) must be at least 2"),
])
def test_psychometric_fit_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_psychometric(**kwargs)


def _responses(profile: dict[str, list[tuple[int, int, int]]]) -> pd.DataFrame:
    """Responses from {image: [(frames, n, k), ...]}."""
    rows = []
    for image, cells_ in profile.items():
        for frames, n, k in cells_:
            rows += [{"image_id": image, "label": "cat", "frames": frames, "correct": i < k} for i in range(n)]
    return pd.DataFrame(rows)


def test_estimate_mvt_table():
    df = _responses({
        "a": [(1, 4, 1), (6, 4, 3), (60, 4, 4)],
        "b": [(1, 4, 0), (6, 4, 1), (60, 4, 1)],
        "c": [(1, 4, 4), (60, 4, 4)],
    })
    result = estimate_mvt(df, n_bootstrap=200, rng=0)
    t = result.table.set_index("image_id")
    assert list(result.table.columns[:len(MVT_COLUMNS)]) == MVT_COLUMNS
    assert [c for c in result.table.columns if c.startswith("p_mvt_")] == ["p_mvt_f1", "p_mvt_f6", "p_mvt_f60"]
    assert t.loc["a", "status"] == "ok" and t.loc["a", "mvt_frames"] == 6 and t.loc["a", "mvt_ms"] == 100.0
    assert t.loc["b", "status"] == "unrecognised" and pd.isna(t.loc["b", "mvt_ms"])
    assert t.loc["c", "status"] == "insufficient" and pd.isna(t.loc["c", "mvt_frames"])
    assert t["n_responses"].tolist() == [12, 12, 8]
    probs = result.table[["p_mvt_f1", "p_mvt_f6", "p_mvt_f60", "p_unrecognised", "p_insufficient"]].to_numpy(float)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert t.loc["c", "p_insufficient"] == 1.0
    assert bool(t.loc["b", "ci_high_unrecognised"]) is True
    cells_ = result.cells.set_index(["image_id", "frames"])
    assert cells_.loc[("a", 6), "p"] == 0.75
    assert cells_.loc[("c", 6), "n"] == 0 and np.isnan(cells_.loc[("c", 6), "wilson_low"])
    assert result.status_counts() == {"ok": 1, "unrecognised": 1, "insufficient": 1}


def test_estimate_mvt_design_grid_marks_missing_duration():
    df = _responses({"a": [(1, 4, 0), (6, 4, 4)]})
    assert estimate_mvt(df, n_bootstrap=0).table.loc[0, "status"] == "ok"
    # with the design's longest duration never answered the MVT is undecided
    assert estimate_mvt(df, frame_counts=[1, 6, 600], n_bootstrap=0).table.loc[0, "status"] == "insufficient"


def _isotonic_reference(k, n, theta=0.5):
    """Isotonic MVT from the explicit fit, with the missing cells filled with the extremes:
    all correct or all wrong, as many responses as the fullest cell."""
    d = len(k)
    fullest = max(max(n), 1)
    answers = set()
    for fill in (fullest, 0):
        kk = [k[j] if n[j] else fill for j in range(d)]
        nn = [n[j] if n[j] else fullest for j in range(d)]
        rec = [v > theta for v in isotonic_fit(kk, nn)]
        control = kk[-1] / nn[-1] > theta   # control policy: the observed longest cell decides
        answers.add(rec.index(True) if rec[-1] and control else d)
    return answers.pop() if len(answers) == 1 else d + 1


@settings(max_examples=300, deadline=None)
@given(cells)
def test_isotonic_index_matches_explicit_fit(pairs):
    n = [a for a, _ in pairs]
    k = [min(b, a) for a, b in pairs]
    assert mvt_index([k], [n], rule="isotonic").tolist() == [_isotonic_reference(k, n)]


@pytest.mark.parametrize("rule", ["stable", "first", "isotonic"])
def test_proportion_equal_to_theta_is_exact(rule):
    # 7 of 10 is exactly 0.7: not recognised strictly, recognised inclusively (no float slop)
    k, n = [[0, 7, 7]], [[10, 10, 10]]
    assert mvt_index(k, n, rule=rule, theta=0.7).tolist() == [3]
    assert mvt_index(k, n, rule=rule, theta=0.7, inclusive=True).tolist() == [1]
    if rule == "isotonic":
        return  # pooling with the middle cell changes the unrecognised probability
    counts = bootstrap_mvt(k, n, rule=rule, theta=0.7, inclusive=True, n_bootstrap=2000, rng=0)[0]
    # unrecognised iff the last cell's resample has < 7 of 10 correct
    assert counts[3] / 2000 == pytest.approx(stats.binom.cdf(6, 10, 0.7), abs=0.04)


@pytest.mark.parametrize("chunk, threads", [(16, 2), (5, 1), (64, 3)])
def test_psychometric_grid_fit_does_not_depend_on_chunks_or_threads(chunk, threads):
    """The grid fit works through the distinct profiles in small, cache-sized products spread over
    threads: every profile gets exactly the parameters that one product of all profiles gives."""
    from analysis.psychometric import _grid_search

    x = np.log([16.7, 50, 100, 150, 250, 10000])
    rng = np.random.default_rng(5)
    n = rng.integers(0, 12, (301, 6)).astype(float)
    k = np.floor(n * rng.random((301, 6)))
    whole = _grid_search(x, k, n, 0.1, 0.1, chunk=len(k), n_threads=1)
    parts = _grid_search(x, k, n, 0.1, 0.1, chunk=chunk, n_threads=threads)
    for name, a, b in zip(("mu", "sigma", "lapse"), whole, parts):
        assert np.array_equal(a, b), name


def test_psychometric_fits_of_repeated_and_shuffled_counts_match():
    """Images with the same counts are fitted once: each image of a table with repeated, shuffled
    rows gets exactly the parameters its counts get in the table without repeats."""
    from analysis.psychometric import psychometric_fits

    d = np.array([16.7, 50, 100, 150, 250, 10000])
    rng = np.random.default_rng(3)
    n = rng.integers(0, 8, (40, 6))
    k = np.floor(n * rng.random((40, 6))).astype(int)
    order = rng.permutation(60) % 40                                    # every row, 20 of them twice
    once = psychometric_fits(d, k, n, guess=0.1, chunk=7)
    again = psychometric_fits(d, k[order], n[order], guess=0.1, chunk=7)
    for name in ("mu_log_ms", "sigma_log", "lapse", "threshold_ms"):
        assert np.array_equal(getattr(again, name), getattr(once, name)[order], equal_nan=True), name
    assert again.status.tolist() == once.status[order].tolist()
