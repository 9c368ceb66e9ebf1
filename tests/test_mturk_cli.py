"""``mvt mturk …`` as the user sees it: target line, dry run vs --commit, summary, exit code."""

from __future__ import annotations

import contextlib
import json

import pytest
from typer.testing import CliRunner

from platforms.mturk import commands as mturk_commands
from platforms.mturk.ledger import token
from tests.fixtures.mturk import assignment, http_client, record_backoff, stubbed_client
from kernel.store import keys
from cli import cli

SANDBOX_LINE = ("MTurk SANDBOX (https://mturk-requester-sandbox.us-east-1.amazonaws.com): "
                "no real money moves.")


@pytest.fixture
def mturk(redis, monkeypatch, tmp_path):
    """Runs ``mvt mturk …`` with a stubbed boto3 client and the test Redis; returns the stubber."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MVT_MTURK_SANDBOX", raising=False)
    made = {}

    def fake_make_client(sandbox, endpoint_url=None):
        if "http" in made:
            made["client"], answers = http_client(sandbox, attempts=2)
            answers.answers.extend(made.pop("http"))
            return made["client"]
        made["client"], made["stubber"] = stubbed_client(sandbox)
        for method, args in made.pop("queued", []):
            getattr(made["stubber"], method)(*args[0], **args[1])
        return made["client"]

    @contextlib.contextmanager
    def fake_open_redis(settings, **_):
        yield redis

    monkeypatch.setattr(mturk_commands, "make_client", fake_make_client)
    monkeypatch.setattr("kernel.store.redis_server.open_redis", fake_open_redis)
    record_backoff(monkeypatch)

    class Runner:
        redis_client = redis

        def queue(self, method, *args, **kwargs):
            made.setdefault("queued", []).append((method, (args, kwargs)))

        def queue_http(self, status, body):
            """Answer over botocore's HTTP layer (so its retries run); the client tries twice."""
            made.setdefault("http", []).append((status, body))

        def __call__(self, *args):
            result = CliRunner().invoke(cli, ["mturk", *args])
            if "stubber" in made:
                made["stubber"].assert_no_pending_responses()
            return result

    return Runner()


def test_balance_prints_target_and_totals(mturk):
    mturk.queue("add_response", "get_account_balance", {"AvailableBalance": "10000.00"}, {})
    result = mturk("balance")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        SANDBOX_LINE, "Available balance: $10000.00",
        "Our HITs: 0; assignments: none stored; bonuses paid: 0 ($0.00); workers blocked: 0."]


def test_production_is_shown_when_chosen(mturk, monkeypatch):
    monkeypatch.setenv("MVT_MTURK_SANDBOX", "false")
    mturk.queue("add_response", "get_account_balance", {"AvailableBalance": "5.00"}, {})
    result = mturk("balance")
    assert result.stdout.splitlines()[0] == ("MTurk PRODUCTION (https://mturk-requester.us-east-1"
                                             ".amazonaws.com): real workers, real money.")


def test_expire_dry_run_then_commit_then_rerun(mturk):
    dry = mturk("expire", "--hit-id", "HIT1")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        SANDBOX_LINE, " would  expire HIT HIT1 now",
        "Dry run: 1 to do, 0 skipped (already done), 0 failed. Nothing was changed on MTurk; "
        "add --commit to do it."]

    from botocore.stub import ANY
    mturk.queue("add_response", "update_expiration_for_hit", {}, {"HITId": "HIT1", "ExpireAt": ANY})
    done = mturk("expire", "--commit")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[1:] == [
        "  done  expire HIT HIT1 now",
        "Summary: 1 succeeded, 0 skipped (already done), 0 failed."]

    again = mturk("expire", "--commit")
    assert again.stdout.splitlines()[-1] == "Summary: 0 succeeded, 1 skipped (already done), 0 failed."


def test_failed_call_is_summarised_with_what_to_rerun_and_exit_1(mturk):
    for _ in range(2):
        mturk.queue_http(400, {"__type": "ThrottlingException", "Message": "Rate exceeded"})
    result = mturk("block", "AW1", "--reason", "random answers", "--commit")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        "FAILED  block worker AW1 — worker AW1: still throttled after 2 tries "
        "(ThrottlingException: Rate exceeded)",
        "Summary: 0 succeeded, 0 skipped (already done), 1 failed.",
        "Re-run the same command to retry the 1 failed (nothing already done is repeated)."]


def test_assignments_with_unknown_hit_names_it(mturk):
    mturk.queue("add_client_error", "list_assignments_for_hit", service_error_code="RequestError",
                service_message="Hit NOSUCH does not exist. (1700000000000)", http_status_code=400)
    result = mturk("assignments", "--hit-id", "NOSUCH")
    assert result.exit_code == 1
    assert ("FAILED  list assignments of HIT NOSUCH — HIT NOSUCH: Hit NOSUCH does not exist. "
            "(1700000000000) (RequestError)") in result.stdout.splitlines()


def test_no_hits_is_one_error_line(mturk):
    result = mturk("assignments")
    assert result.exit_code == 1
    assert result.stderr == ("error: no sandbox HITs recorded: create them with `mvt mturk create-hits`, "
                             "or give --hit-id / --hits-file (e.g. the web UI's batch results CSV)\n")


def test_bonus_states_total_before_paying(mturk):
    for a in ("ASG1", "ASG2"):
        mturk.redis_client.hset(keys.mturk_assignments("sandbox"), a, json.dumps(
            {"assignment_id": a, "worker_id": "AW1", "hit_id": "HIT1", "status": "Approved"}))
    result = mturk("bonus", "--per-hit", "0.20", "--min-assignments", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "Total payout to do: $0.40 in 2 bonuses (MTurk adds its fee); already paid: $0.00."
    assert lines[-1] == ("Dry run: 2 to do ($0.40), 0 skipped (already done), 0 failed. Nothing was "
                         "changed on MTurk; add --commit to do it.")


def test_create_hits_from_links_csv_needs_max_assignments(mturk, tmp_path):
    (tmp_path / "links.csv").write_text("HIT_Link\nhttps://h.example/experiment.html?link=exp1-001\n")
    result = mturk("create-hits", str(tmp_path / "links.csv"), "--reward", "1.00")
    assert result.exit_code == 1
    assert "pass --max-assignments (workers x durations) or give design.json" in result.stderr
    ok = mturk("create-hits", str(tmp_path / "links.csv"), "--reward", "1.00", "--max-assignments", "14")
    assert ok.exit_code == 0, ok.output
    # A HIT of 10 or more assignments pays MTurk 20 % + 20 % of the reward.
    assert ok.stdout.splitlines()[2].startswith("Cost: rewards $14.00 + fee $5.60 = $19.60; MTurk fee 20 %")
    assert ok.stdout.splitlines()[3] == (" would  create HIT for link exp1-001: 14 assignments at $1.00, "
                                         "https://h.example/experiment.html?link=exp1-001")
    timed = mturk("create-hits", str(tmp_path / "links.csv"), "--reward", "1.00", "--max-assignments", "14",
                  "--arrivals-per-hour", "7")
    assert timed.exit_code == 0, timed.output
    assert timed.stdout.splitlines()[-1] == ("Time to fill: 14 tasks at 7 participants an hour take about 2.0 hours "
                                             "(then the last ones need their task time).")
    bad = mturk("create-hits", str(tmp_path / "links.csv"), "--reward", "1.00", "--max-assignments", "14",
                "--arrivals-per-hour", "soon")
    assert bad.exit_code == 1 and bad.stderr.strip().endswith(
        "--arrivals-per-hour ('soon') must be a number of participants an hour above 0, such as 20")


def test_review_cli_holds_for_manual_decision(mturk):
    mturk.queue("add_response", "list_assignments_for_hit",
                {"Assignments": [assignment("ASG1", "AW1", "HIT1", completion_code="WRONG")], "NumResults": 1},
                {"HITId": "HIT1", "AssignmentStatuses": ["Submitted", "Approved", "Rejected"], "MaxResults": 100})
    assert mturk("assignments", "--hit-id", "HIT1").exit_code == 0
    result = mturk("review")
    assert result.stdout.splitlines()[1:] == [
        "  HOLD  assignment ASG1 (worker AW1, HIT HIT1): the server recorded no finished task for "
        "this assignment — decide with --approve or --reject ASSIGNMENT_ID",
        "Dry run: 0 to do, 0 skipped (already done), 1 held for your decision, 0 failed. Nothing was "
        "changed on MTurk; add --commit to do it."]


def test_assignments_all_pages_through_the_accounts_hits(mturk):
    mturk.queue("add_response", "list_hits", {"HITs": [{"HITId": "HITA"}], "NextToken": "n2", "NumResults": 1},
                {"MaxResults": 100})
    mturk.queue("add_response", "list_hits", {"HITs": [{"HITId": "HITB"}], "NumResults": 1},
                {"MaxResults": 100, "NextToken": "n2"})
    for hit in ("HITA", "HITB"):
        mturk.queue("add_response", "list_assignments_for_hit",
                    {"Assignments": [assignment(f"ASG{hit}", "AW1", hit, completion_code="C")], "NumResults": 1},
                    {"HITId": hit, "AssignmentStatuses": ["Submitted", "Approved", "Rejected"], "MaxResults": 100})
    result = mturk("assignments", "--all")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "  done  HIT HITA: 1 assignment — 1 submitted",
        "  done  HIT HITB: 1 assignment — 1 submitted",
        "Summary: 2 succeeded, 0 skipped (already done), 0 failed.",
        "Stored; next: `mvt mturk review`."]


def test_missing_aws_credentials_is_one_error_line(redis, monkeypatch, tmp_path):
    from platforms.mturk.client import make_client

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)

    @contextlib.contextmanager
    def fake_open_redis(settings, **_):
        yield redis

    monkeypatch.setattr("kernel.store.redis_server.open_redis", fake_open_redis)
    monkeypatch.setattr(mturk_commands, "make_client", lambda sandbox, endpoint_url=None: make_client(sandbox))
    result = CliRunner().invoke(cli, ["mturk", "balance"])
    assert result.exit_code == 1
    assert result.stderr == ("error: no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (see `aws configure`)\n")


def test_bonus_commit_pays_once(mturk):
    mturk.redis_client.hset(keys.mturk_assignments("sandbox"), "ASG1", json.dumps(
        {"assignment_id": "ASG1", "worker_id": "AW1", "hit_id": "HIT1", "status": "Approved"}))
    mturk.queue("add_response", "send_bonus", {}, {
        "WorkerId": "AW1", "AssignmentId": "ASG1", "BonusAmount": "0.30", "Reason": "Thanks.",
        "UniqueRequestToken": token("sandbox", "bonus", "AW1", "ASG1", "base")})
    paid = mturk("bonus", "--per-hit", "0.30", "--reason", "Thanks.", "--commit")
    assert paid.exit_code == 0, paid.output
    assert paid.stdout.splitlines()[1:] == [
        "Total payout to do: $0.30 in 1 bonuses (MTurk adds its fee); already paid: $0.00.",
        "worker AW1: 1 approved, base: $0.30",
        "  done  pay $0.30 base bonus to worker AW1 for assignment ASG1",
        "Summary: 1 succeeded ($0.30), 0 skipped (already done), 0 failed."]
    again = mturk("bonus", "--per-hit", "0.30", "--reason", "Thanks.", "--commit")
    assert again.stdout.splitlines()[1] == ("Total payout to do: $0.00 in 0 bonuses (MTurk adds its fee); "
                                            "already paid: $0.30.")
    assert again.stdout.splitlines()[-1] == "Summary: 0 succeeded ($0.00), 1 skipped (already done), 0 failed."


def test_importing_the_mturk_commands_loads_no_boto3():
    """``mvt --help`` stays fast: boto3/botocore load only when an ``mvt mturk`` command runs."""
    import subprocess
    import sys

    code = ("import sys, platforms.mturk.commands; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
