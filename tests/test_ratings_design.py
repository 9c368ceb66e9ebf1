"""Rating designs: every sample rated exactly R times, never twice by one list, balanced tasks."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stimuli.ratings_design import plan_tasks


def grid(n_sources: int, algorithms) -> list[tuple[str, str]]:
    return [(f"s{i}", a) for i in range(n_sources) for a in algorithms]


def check_common(samples, tasks, k: int, r: int) -> None:
    """Invariants of every design: a partition into tasks, R lists each holding the task once."""
    placed = Counter(s for t in tasks for s in t.samples)
    assert placed == Counter(samples)  # every sample in exactly one task (one link)
    for t in tasks:
        assert len(t.lists) == r
        for trials in t.lists:
            assert Counter(s for _, s in trials) == Counter(t.samples)  # once per list: no repeat
            assert all(t.screens[screen].count(s) == 1 for screen, s in trials)
    ratings = Counter(s for t in tasks for trials in t.lists for _, s in trials)
    assert set(ratings.values()) == {r}  # each sample rated exactly R times
    assert all(len(t.samples) == k for t in tasks[:-1]) and 0 < len(tasks[-1].samples) <= k


designs = st.fixed_dictionaries({
    "n_sources": st.integers(1, 9), "n_algorithms": st.integers(1, 5), "r": st.integers(1, 6),
    "seed": st.integers(0, 2**32 - 1), "k_frac": st.floats(0, 1)})


@settings(max_examples=60, deadline=None)
@given(designs)
def test_random_tasks_balance_algorithms(p):
    samples = grid(p["n_sources"], [f"a{j}" for j in range(p["n_algorithms"])])
    k = 1 + int(p["k_frac"] * (len(samples) - 1))
    tasks = plan_tasks(samples, "random", k, p["r"], rng=p["seed"])
    check_common(samples, tasks, k, p["r"])
    for t in tasks[:-1]:
        counts = Counter(a for _, a in t.samples)
        per_alg = [counts.get(f"a{j}", 0) for j in range(p["n_algorithms"])]
        assert max(per_alg) - min(per_alg) <= 1


@settings(max_examples=60, deadline=None)
@given(designs)
def test_diff_source_never_two_samples_of_one_source(p):
    samples = grid(p["n_sources"], [f"a{j}" for j in range(p["n_algorithms"])])
    k = 1 + int(p["k_frac"] * (p["n_sources"] - 1))
    tasks = plan_tasks(samples, "diff-source", k, p["r"], rng=p["seed"])
    check_common(samples, tasks, k, p["r"])
    for t in tasks:
        sources = [s for s, _ in t.samples]
        assert len(sources) == len(set(sources))


@settings(max_examples=40, deadline=None)
@given(designs)
def test_same_source_screens_hold_one_whole_source(p):
    algorithms = [f"a{j}" for j in range(p["n_algorithms"])]
    samples = grid(p["n_sources"], algorithms)
    k = p["n_algorithms"] * (1 + int(p["k_frac"] * (p["n_sources"] - 1)))
    tasks = plan_tasks(samples, "same-source", k, p["r"], rng=p["seed"])
    check_common(samples, tasks, k, p["r"])
    for t in tasks:
        for screen in t.screens:
            assert sorted(a for _, a in screen) == algorithms and len({s for s, _ in screen}) == 1
        for trials in t.lists:  # a screen's trials are consecutive
            screens = [screen for screen, _ in trials]
            assert screens == sorted(screens, key=screens.index)


@settings(max_examples=30, deadline=None)
@given(designs)
def test_mushra_screens_hold_hidden_reference_and_anchor(p):
    algorithms = sorted(["REF", "ANC", *(f"a{j}" for j in range(p["n_algorithms"]))])
    samples = grid(p["n_sources"], algorithms)
    k = len(algorithms)
    tasks = plan_tasks(samples, "mushra", k, p["r"], rng=p["seed"])
    check_common(samples, tasks, k, p["r"])
    assert all({"REF", "ANC"} <= {a for _, a in screen} for t in tasks for screen in t.screens)


@settings(max_examples=30, deadline=None)
@given(designs)
def test_dsis_rates_every_sample_including_the_null_pair(p):
    samples = grid(p["n_sources"], ["REF", *(f"a{j}" for j in range(p["n_algorithms"]))])
    k = 1 + int(p["k_frac"] * (len(samples) - 1))
    tasks = plan_tasks(samples, "dsis", k, p["r"], rng=p["seed"])
    check_common(samples, tasks, k, p["r"])
    assert all(len(screen) == 1 for t in tasks for screen in t.screens)


def test_same_seed_same_design_other_seed_other_order():
    samples = grid(6, "ABC")
    one = plan_tasks(samples, "random", 6, 3, rng=5)
    assert one == plan_tasks(samples, "random", 6, 3, rng=5)
    assert one != plan_tasks(samples, "random", 6, 3, rng=6)


@pytest.mark.parametrize(("design", "k", "r", "algorithms", "message"), [
    ("random", 0, 3, "AB", r"--samples-per-task \(0\) must be at least 1"),
    ("random", 2, 0, "AB", r"--ratings-per-sample \(0\) must be at least 1"),
    ("diff-source", 4, 2, "AB", r"--samples-per-task \(4\) must be at most the number of sources \(3\)"),
    ("same-source", 3, 2, "AB", r"--samples-per-task \(3\) must be a multiple of the 2 algorithms"),
    ("mushra", 2, 2, ["REF", "B"], r"--design mushra needs algorithm ANC"),
    ("dsis", 2, 2, "AB", r"--design dsis needs algorithm REF"),
    ("acr", 2, 2, "AB", r"--design \('acr'\) must be one of"),
])
def test_bad_options_are_refused(design, k, r, algorithms, message):
    with pytest.raises(ValueError, match=message):
        plan_tasks(grid(3, algorithms), design, k, r, rng=0)
