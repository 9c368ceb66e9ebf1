"""Issue 22: the report never cuts a number, and compares rules with unrecognised = unrecognised."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from analysis.analyze import analyze  # noqa: E402
from analysis.report import rules_comparison  # noqa: E402
from analysis.synthetic import synthetic_responses  # noqa: E402


@pytest.fixture(scope="module")
def with_unrecognised():
    """40 images, the first 4 answered wrong by everybody at the longest duration: unrecognised."""
    df = synthetic_responses(n_images=40, n_classes=4, frame_counts=(1, 3, 6, 60), workers_per_link=3,
                             share_random_workers=0, rng=2)
    failed = sorted(df["image_id"].unique())[:4]
    df.loc[df["image_id"].isin(failed) & (df["frames"] == 60), "correct"] = False
    return df, failed


def test_a_rule_does_not_differ_from_itself_on_unrecognised_images(with_unrecognised):
    df, failed = with_unrecognised
    result = analyze(df, n_bootstrap=0, rule="stable")
    assert result.mvt.status_counts()["unrecognised"] == 4
    table = rules_comparison(result.mvt).set_index("rule")
    assert table.loc["stable", "differ_from_used"] == 0 and table.loc["stable", "unrecognised"] == 4
    rules = result.mvt.rules.set_index("image_id")
    for rule in ("first", "isotonic"):
        differ = ((rules[f"status_{rule}"] != rules["status_stable"])
                  | (rules[f"mvt_frames_{rule}"].fillna(-1) != rules["mvt_frames_stable"].fillna(-1))).sum()
        assert table.loc[rule, "differ_from_used"] == differ


def test_panel_titles_shorten_60_character_names_never_the_mvt():
    """Issue 22: titles were cut at 48 characters, so after an ImageNet-style file name an MVT of
    10000 ms read "MVT 1000". Render the profile panels and read each title back."""
    from analysis.figures import profiles_figure

    df = synthetic_responses(n_images=12, n_classes=4, frame_counts=(1, 3, 6, 600), workers_per_link=3,
                             images_per_task=12, share_random_workers=0, rng=4)
    ids = sorted(df["image_id"].unique())
    long = {i: f"n{k:08d}_{i}_".ljust(55, "x") + ".JPEG" for k, i in enumerate(ids)}
    df["image_id"] = df["image_id"].map(long)
    slow = [long[i] for i in ids[:3]]  # recognised only at 600 frames: MVT 10000 ms
    df.loc[df["image_id"].isin(slow), "correct"] = df.loc[df["image_id"].isin(slow), "frames"] == 600
    result = analyze(df, n_bootstrap=0)
    table = result.mvt.table.set_index("image_id")
    assert all(len(i) == 60 for i in table.index) and (table.loc[slow, "mvt_ms"] == 10000).all()
    fig = profiles_figure(result.mvt, sorted(table.index))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 12
    for image, title in zip(sorted(table.index), titles):
        row = table.loc[image]
        expected = f"MVT {row['mvt_ms']} ms" if row["status"] == "ok" else row["status"]
        assert title.endswith(f": {expected}") and len(title) <= 48 + len(expected)
        name = title[: -len(f": {expected}")]
        assert "…" in name and name.startswith(image[:10]) and name.endswith(f"({row['label']})")
    assert sum(t.endswith(": MVT 10000 ms") for t in titles) == 3


def test_thresholds_outside_the_tested_durations_are_bounds_not_values():
    """Issue 22: on a study whose shortest duration is 100 ms most thresholds were extrapolated below
    it and the report gave their median as a value ("median 54 ms")."""
    import numpy as np

    from analysis.report import render_report

    df = synthetic_responses(n_images=30, n_classes=4, frame_counts=(6, 9, 15, 600), workers_per_link=4,
                             share_random_workers=0, rng=5)  # 100 ms .. 10 s; true thresholds ~ 60 ms
    result = analyze(df, n_bootstrap=0)
    table = result.mvt.table
    below = table["threshold_status"] == "below_range"
    assert below.sum() > len(table) / 2
    assert (table.loc[below, "threshold_text"] == "< 100 ms").all()
    ok = table["threshold_status"] == "ok"
    assert (table.loc[ok, "threshold_text"] == [f"{int(np.floor(v + 0.5))} ms" for v in table.loc[ok, "threshold_ms"]]).all()
    html = " ".join(render_report(result).split())
    assert "median &lt; 100 ms (thresholds outside the tested durations count as censored" in html


def test_the_histogram_caption_says_what_its_segments_are():
    from analysis.figures import histogram_figure

    result = analyze(synthetic_responses(n_images=30, n_classes=4, frame_counts=(1, 6, 60), rng=1), n_bootstrap=50)
    title = histogram_figure(result.histogram, 60).axes[0].get_title()
    assert "quantiles of the bin's count over 50 bootstrap resamples" in title and "need not contain it" in title


def test_per_class_panels_are_in_ms_like_the_main_histogram():
    import matplotlib.pyplot as plt
    import pandas as pd

    from analysis.report import _mvt_histogram

    table = pd.DataFrame({"status": ["ok", "ok", "unrecognised"], "mvt_frames": [6, 600, None]})
    fig, ax = plt.subplots()
    _mvt_histogram(table, [1, 6, 600], ax, "class", 60)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["17", "100", "10000", "unrec.", "insuff."]
    plt.close(fig)


def test_mvt_against_threshold_draws_censored_thresholds_at_the_bound():
    from analysis.figures import mvt_vs_threshold_figure

    df = synthetic_responses(n_images=30, n_classes=4, frame_counts=(6, 9, 15, 600), workers_per_link=4,
                             share_random_workers=0, rng=5)
    mvt = analyze(df, n_bootstrap=0).mvt
    fig = mvt_vs_threshold_figure(mvt)
    ax = fig.axes[0]
    below = (mvt.table["status"] == "ok") & (mvt.table["threshold_status"] == "below_range")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "below 100 ms (censored)" in labels
    censored = ax.collections[labels.index("below 100 ms (censored)")].get_offsets()
    assert len(censored) == below.sum() and np.allclose(censored[:, 1], 100.0)
