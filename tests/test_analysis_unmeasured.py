"""`mvt analyze` never keeps an MVT trial without timing unless told to (--keep-unmeasured)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from cli import cli
from tests.test_analysis_cli import write_responses


def test_trials_without_timing_are_excluded_unless_kept_and_rescaled_ones_are_counted(tmp_path):
    path = tmp_path / "responses.csv"
    write_responses(path)
    table = pd.read_csv(path)
    table["timing_ok"] = "true"
    table["timing_reason"] = ""
    unmeasured = table.index[::4]  # a page left mid-video by an old runner: no frames, no verdict
    table.loc[unmeasured, "presented_frames"] = None
    table.loc[unmeasured, "timing_ok"] = None
    rescaled = table.index[1::8]  # drawn at 4x the built size (the server stores timing_ok false, rescaled)
    table.loc[rescaled, "timing_ok"] = "false"
    table.loc[rescaled, "timing_reason"] = "rescaled"
    table.to_csv(path, index=False)
    outputs = {}
    for option in ([], ["--keep-unmeasured"]):
        out = tmp_path / ("kept" if option else "default")
        result = CliRunner().invoke(cli, ["analyze", "--out", str(out), "--responses", str(path), "--bootstrap", "0",
                                          *option])
        assert result.exit_code == 0, result.output
        outputs[bool(option)] = (result.output, pd.read_csv(out / "timing.csv"))
    output, timing = outputs[False]
    assert f"{len(unmeasured)} trial(s) without timing excluded (--keep-unmeasured keeps them)" in output
    assert f"{len(rescaled)} trial(s) drawn outside the study's max_rescale excluded (timing_reason rescaled)" in output
    assert int(timing["n_timing_wrong"].sum()) == len(unmeasured) + len(rescaled)
    assert int(timing["n_rescaled"].sum()) == len(rescaled)
    output, timing = outputs[True]
    assert "without timing excluded" not in output
    assert int(timing["n_timing_wrong"].sum()) == int(timing["n_rescaled"].sum()) == len(rescaled)
