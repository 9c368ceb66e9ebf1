"""analysis.suspicion: hand-computed z-scores and response-time ratios."""

from __future__ import annotations

import doctest
import math

import pandas as pd
import pytest

import analysis.suspicion
from analysis.suspicion import SUSPICION_COLUMNS, suspicious_workers


def table(rows):
    return pd.DataFrame(rows, columns=["worker_id", "frames", "correct", "response_time_ms"])


def test_hand_computed_flags():
    # shortest duration 1 frame; CHEAT 9/10 there and slow, FAST 9/10 but quick, the rest 2/10 at 1000 ms.
    rows = [("CHEAT", 1, i < 9, 3000) for i in range(10)] + [("FAST", 1, i < 9, 1000) for i in range(10)]
    rows += [(w, 1, i < 2, 1000) for w in ("H1", "H2") for i in range(10)]
    rows += [(w, 60, True, 1000) for w in ("CHEAT", "FAST", "H1", "H2") for _ in range(4)]
    got = suspicious_workers(table(rows)).set_index("worker_id")
    assert list(got.reset_index().columns) == SUSPICION_COLUMNS
    # CHEAT: others 13/30 correct at 1 frame; z = (9 - 10*13/30) / sqrt(10 * 13/30 * 17/30) = 4.6667 / 1.5670 = 2.9780
    assert got.loc["CHEAT", "others_accuracy_short"] == pytest.approx(13 / 30)
    assert got.loc["CHEAT", "z_short"] == pytest.approx((9 - 13 / 3) / math.sqrt(10 * 13 / 30 * 17 / 30), abs=1e-4)
    assert got.loc["CHEAT", "z_short"] == pytest.approx(2.9780, abs=1e-4)
    # median RT 3000 (all of its trials), the others' medians 1000, 1000, 1000 -> ratio 3
    assert got.loc["CHEAT", "rt_ratio"] == 3.0
    assert not got.loc["CHEAT", "suspicious"], "z 2.98 is below the default 3"
    assert suspicious_workers(table(rows), z_min=2.9).set_index("worker_id")["suspicious"].to_dict() == {
        "CHEAT": True, "FAST": False, "H1": False, "H2": False}
    # FAST is as accurate but answers at the others' pace: ratio 1
    assert got.loc["FAST", "rt_ratio"] == 1.0


def test_too_few_trials_and_missing_columns():
    rows = [("A", 1, True, 5000)] * 4 + [("B", 1, False, 1000)] * 40
    got = suspicious_workers(table(rows)).set_index("worker_id")
    # p for A is clipped from 0/40 to 0.5/40 = 0.0125; z = (4 - 0.05) / sqrt(4 * 0.0125 * 0.9875) = 17.7764
    assert got.loc["A", "z_short"] == pytest.approx(17.7764, abs=1e-4)
    assert not got.loc["A", "suspicious"], "4 trials is below min_trials 5"
    with pytest.raises(ValueError, match=r"responses lack the columns \['response_time_ms'\]"):
        suspicious_workers(table(rows).drop(columns="response_time_ms"))


def test_doctest():
    assert doctest.testmod(analysis.suspicion).failed == 0


def test_others_median_is_the_median_without_the_worker():
    """The one-sort median of the other workers' medians equals dropping each worker in turn (ties,
    missing response times, one or two workers)."""
    import numpy as np

    from analysis.suspicion import _others_median

    rng = np.random.default_rng(0)
    for _ in range(200):
        values = rng.integers(0, 8, int(rng.integers(0, 25))) * rng.choice([1.0, 0.1, 1 / 3])
        values[rng.random(values.size) < 0.2] = np.nan
        rt = pd.Series(values, index=[f"W{i}" for i in range(values.size)])
        expected = [float(rt.drop(w).median()) if len(rt) > 1 else math.nan for w in rt.index]
        assert np.array_equal(_others_median(values), np.array(expected, dtype=float), equal_nan=True), values
