"""report.html: self-contained, escaped, and showing the numbers the analysis computed."""

from __future__ import annotations

import re

import numpy as np
import pytest

from analysis.analyze import analyze
from analysis.report import render_report
from analysis.synthetic import synthetic_responses


@pytest.fixture(scope="module")
def report_and_analysis():
    df = synthetic_responses(n_images=100, n_classes=3, rng=5)
    df.loc[df.index[:7], "timing_ok"] = False
    df.loc[df.index[:7], "presented_frames"] = df.loc[df.index[:7], "frames"] + 1
    df.loc[df["assignment_id"] == "A1", "assignment_status"] = "in_progress"
    df.loc[df["link_id"] == "syn-001", "link_id"] = "<b>syn-001</b>"
    result = analyze(df, n_bootstrap=100, rng=0)
    return render_report(result), result


def cell_after(html: str, label: str) -> str:
    match = re.search(re.escape(label) + r"</td><td[^>]*>([^<]*)</td>", html)
    assert match, label
    return match.group(1)


def test_report_is_self_contained(report_and_analysis):
    html, _ = report_and_analysis
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) >= 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "<script" not in html and "http://" not in html and "https://" not in html


def test_report_numbers_match_the_analysis(report_and_analysis):
    html, result = report_and_analysis
    s = result.screening.summary()
    assert s["timing_excluded"] == 7 - int(result.responses.loc[:6, "assignment_status"].ne("complete").sum())
    assert cell_after(html, "responses excluded: presented frames differ from intended") == str(s["timing_excluded"])
    assert cell_after(html, "responses excluded: incomplete, replaced or expired assignment") == str(
        s["incomplete_excluded"])
    assert cell_after(html, "responses used for estimates") == str(s["used"])
    counts = result.mvt.status_counts()
    assert f"{len(result.mvt.table)}: {counts['ok']} with an MVT" in html
    timing = result.timing.set_index("frames")
    assert int(timing["n_timing_wrong"].sum()) == s["timing_excluded"]
    assert np.all(timing["n_measured"] == timing["n_trials"])


def test_report_escapes_link_ids(report_and_analysis):
    html, _ = report_and_analysis
    assert "<b>syn-001</b>" not in html
    assert "&lt;b&gt;syn-001&lt;/b&gt;" in html


def test_report_drawn_beside_the_csvs_is_the_one_drawn_in_process(report_and_analysis, tmp_path, monkeypatch):
    """write_outputs has the report's costliest figures drawn in a child process while it writes the
    CSVs and draws the others: the same report (but its minute stamp) as render_report in one process;
    a failure there is raised here after every CSV is written, and no report is written."""
    import analysis.report
    from analysis.analyze import OUTPUT_FILES, write_outputs

    html, result = report_and_analysis
    write_outputs(result, tmp_path / "out")
    stamp = re.compile(r"Generated [\d-]+ [\d:]+ UTC")
    assert stamp.sub("", (tmp_path / "out" / "report.html").read_text(encoding="utf-8")) == stamp.sub("", html)

    # a shared figure that comes back empty leaves no <img>, as one drawn empty in place
    from analysis.background import in_background
    from analysis.report import write_report

    shared = {"profiles": "", "workers": "AAAA"}
    write_report(result, tmp_path / "empty.html", shared=in_background(lambda: shared))
    in_place = render_report(result, None, lambda name, draw: shared[name] if name in shared else draw())
    assert stamp.sub("", (tmp_path / "empty.html").read_text(encoding="utf-8")) == stamp.sub("", in_place)
    assert in_place.count("<img") == html.count("<img") - 1 and 'base64,AAAA"' in in_place

    def fails(*args):
        raise ValueError("no room for figures")

    monkeypatch.setattr(analysis.report, "draw_figures", fails)
    with pytest.raises(ValueError, match="^no room for figures$"):
        write_outputs(result, tmp_path / "failed")
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == sorted(set(OUTPUT_FILES) - {"report.html"})


@pytest.mark.parametrize("fps", [60, 30, 144])
def test_frame_rate_is_inferred_from_durations(fps):
    df = synthetic_responses(n_images=20, frame_counts=(1, 3, 30), workers_per_link=3, rng=1, fps=fps)
    result = analyze(df, n_bootstrap=0)
    assert result.mvt.fps == fps
    ok = result.mvt.table[result.mvt.table["status"] == "ok"]
    # mvt_ms is whole ms half up (1 frame at 30 fps = 33.33 -> 33, at 144 fps 6.94 -> 7); exact beside it
    np.testing.assert_allclose(ok["mvt_ms_exact"].astype(float), ok["mvt_frames"].astype(float) * 1000 / fps)
    np.testing.assert_array_equal(ok["mvt_ms"].astype(int), np.floor(ok["mvt_frames"].astype(float) * 1000 / fps + 0.5))
    assert result.accuracy["duration_ms_exact"].iloc[-1] == pytest.approx(30_000 / fps)
    assert result.accuracy["duration_ms"].iloc[-1] == round(30_000 / fps)
    assert f"durations (frames at {fps} fps)" in render_report(result)


def test_class_names_are_plotted_as_plain_text(monkeypatch):
    """A ``$`` in a class name is not matplotlib mathtext (an unknown command in it used to stop
    the report), and a leading ``_`` does not hide the class from the legend."""
    import matplotlib.pyplot as plt

    from analysis import report

    df = synthetic_responses(n_images=40, n_classes=3, rng=2)
    names = dict(zip(sorted(df["label"].unique()), [r"a$\foo$ b", "_background", "$5 & up"]))
    df["label"] = df["label"].map(names)
    result = analyze(df, n_bootstrap=0)
    assert "a$\\foo$ b" in render_report(result)

    figures = []
    monkeypatch.setattr(report, "png_base64", lambda fig: figures.append(fig) or "")
    report._accuracy_figure(result.accuracy)
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    plt.close(figures[0])
    assert len(legend) == 4  # three classes and "all classes"
    assert any("background" in t for t in legend)
