"""Issue 22: a flag stays. analyze -> --replace -> analyze -> review dry run holds the flagged worker;
`mvt unflag` clears a flag with a reason; later analyses add flags and never drop them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import cli
from kernel.flags import record_flags, stored_flags
from kernel.store import keys
from tests.fixtures.mturk import assignment, stubbed_client
from tests.fixtures.redis import run_with_async_redis


def run_study(redis, redis_url, tmp_path):
    """Two links; W1..W3 answer right at 6 frames, BAD only at 1 frame (flagged by the control rule: 0 of 6
    control trials where the others were right on 18 of 18 gives an honest worker a 0.9 % chance to fail)."""
    from kernel.assignments import allocate
    from kernel.responses import complete, record_response
    from kernel.tokens import TokenData
    from studies.loader import load_experiment
    from tests.fixtures.server import measured, write_experiment

    exp_dir = write_experiment(tmp_path / "exp", n_links=2, n_lists=4, n_trials=6, classes=("cat", "dog"),
                               frame_counts=(1, 6))
    load_experiment(redis, exp_dir)
    lists = {link["link_id"]: link["lists"] for link in json.loads((exp_dir / "design.json").read_text())["links"]}

    async def scenario(r):
        for link_id in sorted(lists):
            for worker in ["W1", "W2", "W3", "BAD"]:
                a = await allocate(r, link_id, worker, f"{link_id}-{worker}", "H1", cap=4, allotted_ms=3_600_000)
                token = TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index)
                for t, trial in enumerate(lists[link_id][a.list_index]):
                    right = trial["frames"] == 6 if worker != "BAD" else trial["frames"] == 1
                    await record_response(r, token, t, trial["label"] if right else
                                          ("dog" if trial["label"] == "cat" else "cat"), measured(trial["frames"]))
                await complete(r, token, f"code-{worker}")

    run_with_async_redis(redis_url, scenario)


@pytest.mark.slow  # three full analyses
def test_a_flag_survives_replacement_and_holds_the_worker_in_review(redis, redis_url, tmp_path, monkeypatch):
    from platforms.mturk.assignments import fetch_assignments, review

    run_study(redis, redis_url, tmp_path)
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    runner = CliRunner()
    for name, extra in (("first", []), ("replace", ["--replace"]), ("again", [])):
        result = runner.invoke(cli, ["analyze", "--out", str(tmp_path / name), "--bootstrap", "0", *extra])
        assert result.exit_code == 0, result.output
    # after the replacement BAD has no usable trials: no rule applies, the stored flag stays
    import pandas as pd

    workers = pd.read_csv(tmp_path / "again" / "workers.csv", keep_default_na=False).set_index("worker_id")
    assert workers.loc["BAD", "flagged"] and workers.loc["BAD", "flag_stored"]
    assert workers.loc["BAD", "control_status"].startswith("not applicable")
    assert workers.loc["BAD", "reason"].startswith("standing flag from analysis run ")
    assert not workers.drop(index="BAD")["flagged"].any()
    assert result.output.splitlines()[-1].startswith("flags: 0 raised by this analysis (0 new), 1 standing")
    flag = stored_flags(redis)["BAD"]
    assert flag["rules"] == ["control"] and flag["numbers"]["control_accuracy"] == 0.0
    runs = [json.loads(x) for x in redis.lrange(keys.analysis_runs(), 0, -1)]
    assert [(x["n_flagged"], x["n_new"]) for x in runs] == [(1, 1), (1, 0), (0, 0)]
    assert flag["experiments"] == ["synth"] and (flag["first_run"], flag["run"]) == (runs[0]["run"], runs[1]["run"])

    # review, dry run, without any --workers file: BAD's submitted assignment is held
    client, stubber = stubbed_client()
    stubber.add_response("list_assignments_for_hit", {"Assignments": [
        assignment("synth-001-BAD", "BAD", "HIT1", completion_code="code-BAD"),
        assignment("synth-001-W1", "W1", "HIT1", completion_code="code-W1")], "NumResults": 2},
        {"HITId": "HIT1", "AssignmentStatuses": ["Submitted", "Approved", "Rejected"], "MaxResults": 100})
    fetch_assignments(client, redis, ["HIT1"])
    lookup = {a: {"assignment_id": a, "worker_id": w, "hit_id": "HIT1", "link_id": "synth-001",
                  "completion_code": f"code-{w}", "completed_at": "2026-12-06T12:00:00.000Z"}
              for a, w in (("synth-001-BAD", "BAD"), ("synth-001-W1", "W1"))}
    report = review(client, redis, commit=False, completion_lookup=lambda r, a: lookup.get(a))
    decisions = {o.description.split(" (")[0]: (o.status, o.description) for o in report.outcomes}
    assert decisions["assignment synth-001-BAD"][0] == "held"
    assert "worker flagged by screening: standing flag" not in decisions["assignment synth-001-BAD"][1]
    assert "control rule: accuracy 0.00" in decisions["assignment synth-001-BAD"][1]
    assert decisions["approve assignment synth-001-W1"][0] == "planned"

    # mvt unflag clears it with a reason; review then plans to approve
    result = runner.invoke(cli, ["unflag", "BAD", "--reason", "checked by hand"])
    assert result.exit_code == 0, result.output
    store, line = result.output.splitlines()
    assert store.startswith("store: ") and line.startswith("cleared the flag of BAD (analysis run ")
    assert line.endswith("; reason kept: checked by hand")
    assert "BAD" not in stored_flags(redis)
    assert json.loads(redis.hget(keys.worker_unflagged(), "BAD"))["reason"] == "checked by hand"
    result = runner.invoke(cli, ["unflag", "BAD", "--reason", "again"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        1, "error: worker 'BAD' has no stored flag (flags: mvt analyze; listed in its workers.csv)")


def test_later_runs_add_flags_and_keep_the_first_run(redis):
    first = record_flags(redis, {"A": {"reason": "r1", "rules": ["control"], "numbers": {"control_accuracy": 0.2}}},
                         experiments=["e"])
    second = record_flags(redis, {"B": {"reason": "r2", "rules": ["correlation"], "numbers": {}},
                                  "A": {"reason": "r3", "rules": ["correlation"], "numbers": {}}}, experiments=["e"])
    assert (first.new, second.new, second.again) == (["A"], ["B"], ["A"])
    third = record_flags(redis, {}, experiments=["e"])
    assert sorted(third.standing) == ["A", "B"]
    assert third.standing["A"]["first_run"] == first.run and third.standing["A"]["run"] == second.run
    assert third.standing["A"]["reason"] == "r3"


def test_unflag_needs_a_reason(redis, redis_url, monkeypatch):
    monkeypatch.setenv("MVT_REDIS_URL", redis_url)
    record_flags(redis, {"A": {"reason": "r1", "rules": ["control"], "numbers": {}}})
    result = CliRunner().invoke(cli, ["unflag", "A", "--reason", " "])
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        1, "error: --reason is empty; say why the flag is cleared (it is kept with the record)")
    assert "A" in stored_flags(redis)
