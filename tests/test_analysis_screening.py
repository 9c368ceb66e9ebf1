"""Worker screening and the responses table (CSV parsing, status inference, validation)."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from analysis.responses import REQUIRED_COLUMNS, prepare_responses, read_responses_csv
from analysis.screening import WORKER_COLUMNS, screen_workers
from kernel.errors import ResponsesInvalid

FRAMES = (1, 6, 60)


def rows_for(worker, correct_by_frames, *, assignment=None, status="complete", timing_ok=True, link="L1"):
    """Responses of one worker: {frames: [correct, ...]}."""
    rows = []
    trial = 0
    for frames, outcomes in correct_by_frames.items():
        for c in outcomes:
            rows.append({"link_id": link, "assignment_id": assignment or f"A-{worker}", "worker_id": worker,
                         "hit_id": "H", "trial": trial, "image_id": f"img{trial}", "label": "cat", "frames": frames,
                         "duration_ms": frames * 1000 / 60, "response": "cat" if c else "dog", "correct": c,
                         "response_time_ms": 800, "presented_frames": frames, "submitted_at": "",
                         "timing_ok": timing_ok, "assignment_status": status})
            trial += 1
    return rows


T, F = True, False
PANEL = (
    rows_for("W1", {1: [T, F, F, F], 6: [T, T, T, F], 60: [T, T, T, T]})
    + rows_for("W2", {1: [F, F, F, F], 6: [T, T, F, F], 60: [T, T, T, T]})
    + rows_for("W3", {1: [T, F, F, F], 6: [T, T, T, T], 60: [T, T, T, T]})
    + rows_for("W4", {1: [T, F, F, F], 6: [T, T, F, F], 60: [T, T, F, F]})     # control 0.5
    + rows_for("W5", {1: [T, T, T, T], 6: [T, T, F, F], 60: [T, T, T, F]})     # inverted profile
    + rows_for("W6", {1: [T, T], 6: [T, T], 60: [T, T]})                       # constant profile
    + rows_for("W7", {60: [T, T, T]})                                          # one duration only
    + rows_for("W1", {1: [T]}, assignment="A-W1-late", timing_ok=False)        # timing wrong
    + rows_for("W8", {1: [F], 6: [T]}, status="in_progress")                   # incomplete
    + rows_for("W9", {60: [T] * 20})                   # control trials enough for the rule to judge 4 of them
)


# The panel's workers answer 8 to 14 trials: below the correlation rule's default minimum of 20
# (analysis.screening.MIN_CORRELATION_TRIALS); these tests check the rule's arithmetic, so they lower it.
@pytest.fixture
def panel():
    return prepare_responses(pd.DataFrame(PANEL))


def test_flags_and_reasons(panel):
    w = screen_workers(panel, min_correlation_trials=1).workers.set_index("worker_id")
    assert list(screen_workers(panel, min_correlation_trials=1).workers.columns) == WORKER_COLUMNS
    assert w["flagged"].to_dict() == {"W1": False, "W2": False, "W3": False, "W4": True, "W5": True,
                                      "W6": False, "W7": False, "W8": False, "W9": False}
    assert w.loc["W4", "flag_control"] and not w.loc["W4", "flag_correlation"]
    # W4 at 60 frames: 2 of 4 correct = 0.50 < 0.6
    assert w.loc["W4", "reason"] == ("control rule: accuracy 0.50 (2/4) at 60 frames (1000 ms), the longest duration "
                                     "seen, is below 0.6")
    assert w.loc["W5", "flag_correlation"] and not w.loc["W5", "flag_control"]
    assert w.loc["W5", "reason"].startswith("correlation rule: r = -") and w.loc["W5", "reason"].endswith(
        " over 3 durations is below 0.25")
    # a constant perfect profile is never flagged: correlation not applicable, control 2/2 = 1.0
    assert w.loc["W6", "reason"] == "" and w.loc["W6", "control_accuracy"] == 1.0
    assert w.loc["W6", "correlation_status"] == "not applicable: accuracy is the same (1.00) at every duration"
    assert w.loc["W7", "correlation_status"] == "not applicable: 1 duration(s) seen, the rule needs 3"
    # 3 control trials where the others had 39/42: an honest worker fails (k <= 1) with probability
    # P(X <= 1) = 2.8 % > 2 %, X ~ BetaBinomial(3, 40, 4) (the others' accuracy known from 42 trials;
    # the plug-in Binomial(3, 39/42) says 2.2 %), so the control rule does not apply (issue 22)
    assert w.loc["W7", "control_status"] == (
        "not applicable: with 3 control trial(s) an honest worker (others' accuracy there 0.93) would be flagged "
        "with probability 2.8% (the rule needs at most 2%)") and w.loc["W7", "control_accuracy"] == 1.0
    assert w.loc["W4", "control_status"] == "applied"  # 4 trials where the others had 40/41: 1.7 %
    assert w.loc["W8", "reason"] == "" and w.loc["W8", "n_incomplete_excluded"] == 2 and w.loc["W8", "n_used"] == 0
    assert w.loc["W8", "control_status"] == "not applicable: no usable trials"


def test_control_rule_does_not_judge_1_of_2_when_the_others_were_right_on_18():
    """Seen on `mvt demo` + `mvt simulate` (10 workers): the others right on all 18 control trials made
    the plug-in binomial say an honest worker never fails, and an honest worker was flagged at 1 of 2.
    The beta-binomial predictive gives P(X <= 1) = 1 - 19/21 = 9.5 %, X ~ BetaBinomial(2, 19, 1)."""
    rows = [r for i in range(9) for r in rows_for(f"H{i}", {1: [F, T], 60: [T, T]})]
    rows += rows_for("SLIP", {1: [F, F], 60: [T, F]})
    w = screen_workers(prepare_responses(pd.DataFrame(rows)), guess_rate=0.5).workers.set_index("worker_id")
    assert w.loc["SLIP", "control_status"] == (
        "not applicable: with 2 control trial(s) an honest worker (others' accuracy there 1.00) would be flagged "
        "with probability 9.5% (the rule needs at most 2%)")
    assert not w["flagged"].any()


def test_profile_r_is_pearson_against_leave_one_out_profile(panel):
    result = screen_workers(panel, min_correlation_trials=1)
    usable = panel[(panel["assignment_status"] == "complete") & (panel["timing_ok"] != False)]  # noqa: E712
    for worker in ("W1", "W4", "W5"):
        mine = usable[usable["worker_id"] == worker].groupby("frames")["correct"].mean()
        rest = usable[usable["worker_id"] != worker].groupby("frames")["correct"].mean()
        expected = stats.pearsonr(mine.to_numpy(float), rest.reindex(mine.index).to_numpy(float)).statistic
        got = result.workers.set_index("worker_id").loc[worker, "profile_r"]
        assert got == pytest.approx(expected)


def test_exclusions_and_used_responses(panel):
    result = screen_workers(panel, min_correlation_trials=1)
    w = result.workers.set_index("worker_id")
    assert w.loc["W1", "n_timing_excluded"] == 1 and w.loc["W1", "n_used"] == 12 and w.loc["W1", "n_responses"] == 13
    assert w.loc["W1", "n_assignments"] == 2 and w.loc["W1", "complete_assignment_ids"] == "A-W1 A-W1-late"
    assert set(result.used["worker_id"]) == {"W1", "W2", "W3", "W6", "W7", "W9"}
    assert len(result.used) == 36 + 6 + 3 + 20
    assert result.flagged_assignments() == ["A-W4", "A-W5"]
    s = result.summary()
    assert (s["workers"], s["flagged"], s["flag_control"], s["flag_correlation"]) == (9, 2, 1, 1)
    assert (s["responses"], s["used"], s["incomplete_excluded"], s["timing_excluded"], s["flagged_excluded"]) == (
        len(PANEL), 65, 2, 1, len(PANEL) - 65 - 3)


@pytest.mark.parametrize(("threshold", "flag_w4"), [(0.5, False), (0.51, True)])
def test_control_threshold_is_strict(panel, threshold, flag_w4):
    w = screen_workers(panel, control_threshold=threshold, min_correlation_trials=1).workers.set_index("worker_id")
    assert bool(w.loc["W4", "flag_control"]) is flag_w4


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"control_threshold": 1.5}, r"control_threshold \(1.5\) must be a proportion"),
    ({"min_r": 2}, r"min_r \(2\) must be a correlation"),
])
def test_screen_rejects_bad_thresholds(panel, kwargs, match):
    with pytest.raises(ValueError, match=match):
        screen_workers(panel, **kwargs)


CSV_HEADER = ",".join(REQUIRED_COLUMNS)


def test_csv_without_status_or_timing_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV_HEADER + "\n"
                    "L1,A1,W1,H1,0,img1,cat,1,16.667,dog,false,500,1,2026-01-01\n"
                    "L1,A1,W1,H1,1,img2,cat,6,,cat,true,500,,2026-01-01\n"
                    "L1,A2,W2,H1,0,img1,cat,1,16.667,cat,1,500,2,2026-01-01\n")
    df = read_responses_csv(path)
    # no status column: "unknown", kept (A2 answered fewer trials; it was guessed in_progress and dropped)
    assert df["assignment_status"].tolist() == ["unknown", "unknown", "unknown"]
    assert df["timing_ok"].tolist() == [True, pd.NA, False]
    assert df["correct"].tolist() == [False, True, True]
    assert df["duration_ms"].tolist() == pytest.approx([16.667, 100.0, 16.667])
    assert df["presented_frames"].tolist() == [1, pd.NA, 2]


def test_csv_status_and_timing_columns_win(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV_HEADER + ",timing_ok,assignment_status\n"
                    "L1,A1,W1,H1,0,img1,cat,1,16.667,dog,false,500,1,x,false,replaced\n")
    df = read_responses_csv(path)
    assert df["timing_ok"].tolist() == [False] and df["assignment_status"].tolist() == ["replaced"]


@pytest.mark.parametrize(("content", "match"), [
    ("", "is empty; expected a header row"),
    ("link_id,worker_id\nL1,W1\n", "lacks column\\(s\\) assignment_id, hit_id, trial"),
    (CSV_HEADER + "\nL1,A1,W1,H1,0,img1,cat,one,,cat,true,5,,x\n", "column 'frames' has 'one'; expected a whole number"),
    (CSV_HEADER + "\nL1,A1,W1,H1,0,img1,cat,0,,cat,true,5,,x\n", "column 'frames' has 0; expected positive"),
    (CSV_HEADER + "\nL1,A1,W1,H1,0,img1,cat,1,,cat,maybe,5,,x\n", "column 'correct' has 'maybe'"),
    (CSV_HEADER + "\nL1,A1,W1,H1,0,img1,cat,1,,cat,,5,,x\n", "column 'correct' has an empty value"),
    (CSV_HEADER + ",assignment_status\nL1,A1,W1,H1,0,img1,cat,1,,cat,true,5,,x,done\n",
     "column 'assignment_status' has 'done'"),
])
def test_bad_csv_is_refused_with_a_clear_message(tmp_path, content, match):
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(ResponsesInvalid, match=match):
        read_responses_csv(path)


def test_missing_csv_file(tmp_path):
    with pytest.raises(ResponsesInvalid, match="does not exist"):
        read_responses_csv(tmp_path / "nope.csv")


def test_csv_keeps_labels_that_look_like_missing_values(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV_HEADER + "\n"
                    "L1,A1,W1,H1,0,img1,NA,1,16.667,null,false,500,1,x\n"
                    "L1,A1,W1,H1,1,img2,null,6,100,null,True,500,6,x\n")
    df = read_responses_csv(path)
    assert df["label"].tolist() == ["NA", "null"] and df["response"].tolist() == ["null", "null"]
    assert df["correct"].tolist() == [False, True]


def test_empty_status_cells_are_unknown_and_kept(tmp_path):
    """Issue 22: 35 empty assignment_status cells made the whole column be guessed from trial counts,
    dropping 1,869 responses of shorter assignments. Recorded statuses stay; empty ones are unknown."""
    from analysis.analyze import analyze

    path = tmp_path / "r.csv"
    lines = [CSV_HEADER + ",assignment_status"]
    for w in range(4):
        n = 6 if w < 3 else 3  # W3 answered fewer trials (e.g. a shorter list)
        for t in range(n):
            frames = (1, 6, 60)[t % 3]
            status = "" if w == 0 else ("replaced" if w == 2 else "complete")
            lines.append(f"L1,A{w},W{w},H1,{t},img{t},cat,{frames},,cat,true,500,{frames},2026-01-01,{status}")
    path.write_text("\n".join(lines) + "\n")
    df = read_responses_csv(path)
    assert df.groupby("worker_id")["assignment_status"].first().to_dict() == {
        "W0": "unknown", "W1": "complete", "W2": "replaced", "W3": "complete"}
    result = analyze(df, n_bootstrap=0, psychometric=False)
    w = result.screening.workers.set_index("worker_id")
    assert w["n_used"].to_dict() == {"W0": 6, "W1": 6, "W2": 0, "W3": 3}
    assert result.notes == ("assignment_status missing for 6 response(s) of 1 assignment(s): kept as 'unknown' "
                            "(used like complete ones; mvt export writes the column)",)
