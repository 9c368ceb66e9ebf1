"""``mvt prolific …`` as the user sees it, against the fake Prolific API over real HTTP."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kernel.store import keys
from platforms.prolific.studies import default_completion_code
from tests.fixtures.server import SECRET_KEY
from tests.fixtures.prolific import finish_on_server, prolific, prolific_fake, write_design  # noqa: F401

P1, P2, P3 = "a" * 24, "b" * 24, "c" * 24
CODE = default_completion_code(SECRET_KEY.encode(), "exp1")


def target(fake) -> str:
    return f"Prolific API at {fake.url}/api/v1/ (not api.prolific.com: a test stand-in, nothing real happens)."


def create_and_publish(prolific, tmp_path) -> str:
    write_design(tmp_path / "exp1")
    assert prolific("create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12",
                    "--commit").exit_code == 0
    (study_id,) = prolific.fake.studies
    assert prolific("publish", "--commit").exit_code == 0
    return study_id


def test_create_study_dry_run_then_commit_then_rerun(prolific, tmp_path):
    write_design(tmp_path / "exp1")
    args = ["create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12",
            "--country-id", "1", "--exclude-group", "f" * 24]
    dry = prolific(*args)
    assert dry.exit_code == 0, dry.output
    url = ("https://mvt.example:8443/prolific?experiment=exp1&PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}"
           "&SESSION_ID={{%SESSION_ID%}}")
    assert dry.stdout.splitlines() == [
        target(prolific.fake),
        f"Draft study 'Recognise briefly shown images' for experiment exp1: 6 places at 1.50 each, about "
        f"12 min; devices: desktop; countries (Prolific ids): 1; excluding groups {'f' * 24}. Participants "
        f"finish at https://app.prolific.com/submissions/complete?cc={CODE}",
        "Cost: rewards 9.00 + fee 3.00 = 12.00 (academic or non-profit rate 33.3 %; corporate 42.8 %: 12.84), "
        "from https://www.prolific.com/pricing read 2026-09-20; pay 7.50 an hour at 12 min (Prolific's minimum: "
        "£6.00 / $8.00 an hour).",
        f" would  create draft study 'Recognise briefly shown images': 6 places at 1.50, {url}",
        "Dry run: 1 to do (9.00 (study currency)), 0 skipped (already done), 0 failed. Nothing was "
        "changed on Prolific; add --commit to do it."]
    assert prolific.fake.studies == {}
    timed = prolific(*args, "--arrivals-per-hour", "30")
    assert timed.stdout.splitlines()[-1] == ("Time to fill: 6 tasks at 30 participants an hour take about 12 minutes "
                                             "(then the last ones need their task time).")
    bad = prolific(*args, "--arrivals-per-hour", "-2")
    assert bad.exit_code == 1 and "--arrivals-per-hour ('-2') must be a number of participants an hour above 0" in \
        bad.stderr
    assert prolific.fake.studies == {}

    done = prolific(*args, "--commit")
    assert done.exit_code == 0, done.output
    (study_id, study), = prolific.fake.studies.items()
    assert done.stdout.splitlines()[3:] == [
        f"  done  create draft study 'Recognise briefly shown images': 6 places at 1.50, {url}",
        "Summary: 1 succeeded (9.00 (study currency)), 0 skipped (already done), 0 failed.",
        f"Draft study id {study_id}; next: `mvt prolific publish`."]
    assert (study["total_available_places"], study["reward"], study["estimated_completion_time"]) == (6, 150, 12)
    assert study["external_study_url"] == url and study["device_compatibility"] == ["desktop"]
    assert study["completion_codes"][0] == {"code": CODE, "code_type": "COMPLETED",
                                            "actions": [{"action": "MANUALLY_REVIEW"}]}
    assert [c["code_type"] for c in study["completion_codes"]] == ["COMPLETED", "NO_CONSENT"]
    assert study["filters"] == [{"filter_id": "current-country-of-residence", "selected_values": ["1"]},
                                {"filter_id": "participant_group_blocklist", "selected_values": ["f" * 24]}]

    again = prolific(*args, "--commit")
    assert again.stdout.splitlines()[-1] == "Summary: 0 succeeded (0.00 (study currency)), 1 skipped (already done), 0 failed."
    assert len(prolific.fake.studies) == 1


def test_exclude_earlier_keeps_out_earlier_participants_and_server_blocks(prolific, tmp_path):
    from kernel.admin import block_workers

    study_id = create_and_publish(prolific, tmp_path)
    prolific.fake.add_submission(study_id, P1)
    assert prolific("submissions").exit_code == 0
    block_workers(prolific.redis_client, [P2])
    prolific.fake.filters.append("custom_blocklist")  # listed by GET /api/v1/filters/ for this account
    write_design(tmp_path / "exp2", name="exp2")
    result = prolific("create-study", str(tmp_path / "exp2"), "--reward", "1.00", "--minutes", "5",
                      "--exclude-earlier", "--commit")
    assert result.exit_code == 0, result.output
    second = [s for s in prolific.fake.studies.values() if s["internal_name"] == "exp2"][0]
    assert second["filters"] == [{"filter_id": "custom_blocklist", "selected_values": [P1, P2]}]


def test_publish_pause_resume_stop_each_once(prolific, tmp_path):
    study_id = create_and_publish(prolific, tmp_path)
    assert prolific.fake.studies[study_id]["status"] == "ACTIVE"
    assert prolific("publish", "--commit").stdout.splitlines()[1:] == [
        f"  skip  publish study {study_id} (PUBLISH) — already done "
        f"{json.loads(prolific.redis_client.hget(keys.platform_done('prolific', 'test', 'study-transition'), f'{study_id}:PUBLISH'))['at']}",
        "Summary: 0 succeeded, 1 skipped (already done), 0 failed."]
    for verb, status in [("pause", "PAUSED"), ("resume", "ACTIVE"), ("pause", "PAUSED"), ("stop", "COMPLETED")]:
        result = prolific(verb, "--commit")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[-1] == "Summary: 1 succeeded, 0 skipped (already done), 0 failed."
        assert prolific.fake.studies[study_id]["status"] == status


def test_refused_transition_is_one_failed_line_and_exit_1(prolific, tmp_path):
    write_design(tmp_path / "exp1")
    prolific("create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12", "--commit")
    (study_id,) = prolific.fake.studies
    result = prolific("pause", "--commit")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        f"FAILED  pause study {study_id} (PAUSE) — study {study_id}: Cannot PAUSE a study that is "
        "UNPUBLISHED. (HTTP 400)",
        "Summary: 0 succeeded, 0 skipped (already done), 1 failed.",
        "Re-run the same command to retry the 1 failed (nothing already done is repeated)."]


def test_whole_study_review_and_bonus(prolific, tmp_path):
    study_id = create_and_publish(prolific, tmp_path)
    s1 = prolific.fake.add_submission(study_id, P1, study_code=CODE)
    s2 = prolific.fake.add_submission(study_id, P2, study_code=CODE)
    s3 = prolific.fake.add_submission(study_id, P3, study_code="NOCODE")
    active = prolific.fake.add_submission(study_id, "d" * 24, status="ACTIVE")
    for sub, pid in [(s1, P1), (s3, P3)]:
        finish_on_server(prolific.redis_client, sub, pid)

    fetched = prolific("submissions")
    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.splitlines()[1:] == [
        f"  done  study {study_id}: 4 submissions — 1 active, 3 awaiting review",
        "Summary: 1 succeeded, 0 skipped (already done), 0 failed.",
        "Stored; next: `mvt prolific review`."]

    dry = prolific("review")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines()[1:] == [
        f"  HOLD  submission {s2} (participant {P2}): the server recorded no finished task for session "
        f"{s2} — decide with --approve, --reject (with --category) or --request-return SUBMISSION_ID",
        f"  HOLD  submission {s3} (participant {P3}): entered code 'NOCODE' is not the study's completion "
        "code — decide with --approve, --reject (with --category) or --request-return SUBMISSION_ID",
        f"  skip  review submission {active} (participant {'d' * 24}) — active on Prolific",
        f" would  approve submission {s1} (participant {P1}): session finished on the server",
        "Dry run: 1 to do, 1 skipped (already done), 2 held for your decision, 0 failed. Nothing was "
        "changed on Prolific; add --commit to do it."]

    done = prolific("review", "--reject", s2, "--category", "NO_DATA", "--request-return", s3, "--commit")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1] == "Summary: 3 succeeded, 1 skipped (already done), 0 failed."
    assert {k: prolific.fake.submissions[k]["status"] for k in (s1, s2, s3)} == {
        s1: "APPROVED", s2: "REJECTED", s3: "AWAITING REVIEW"}
    assert prolific.fake.return_requests == {
        s3: ["Our server has no record of the task being finished in your session."]}

    bonus = prolific("bonus", "--per-hit", "0.25", "--commit")
    assert bonus.exit_code == 0, bonus.output
    assert bonus.stdout.splitlines()[1:] == [
        "Total bonus to pay: 0.25 (study currency) in 1 bonuses (Prolific adds its fee); already paid: 0.00.",
        f"participant {P1}: 1 approved, base: 0.25",
        f"  done  pay base bonus 0.25 to participant {P1} for submission {s1} — bulk bonus "
        f"{next(iter(prolific.fake.bulk_bonuses))}",
        "Summary: 1 succeeded (0.25 (study currency)), 0 skipped (already done), 0 failed."]
    assert [(sub, value) for _, sub, value in prolific.fake.paid] == [(s1, Decimal("0.25"))]

    again = prolific("bonus", "--per-hit", "0.25", "--commit")
    assert again.stdout.splitlines()[1] == ("Total bonus to pay: 0.00 (study currency) in 0 bonuses "
                                            "(Prolific adds its fee); already paid: 0.25.")
    assert len(prolific.fake.paid) == 1 and len(prolific.fake.bulk_bonuses) == 1


def test_throttled_call_is_retried_then_succeeds(prolific, tmp_path):
    study_id = create_and_publish(prolific, tmp_path)
    prolific.fake.add_submission(study_id, P1)
    prolific.fake.throttle(2)
    result = prolific("submissions")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == f"  done  study {study_id}: 1 submission — 1 awaiting review"
    assert prolific.fake.requests[-3:] == [("GET", f"/api/v1/studies/{study_id}/submissions/")] * 3


def test_still_throttled_is_failed_and_exit_1_then_rerun_retries(prolific, tmp_path):
    study_id = create_and_publish(prolific, tmp_path)
    sub = prolific.fake.add_submission(study_id, P1, study_code=CODE)
    finish_on_server(prolific.redis_client, sub, P1)
    prolific("submissions")
    prolific.fake.throttle(6)
    failed = prolific("review", "--commit")
    assert failed.exit_code == 1
    assert failed.stdout.splitlines()[1:] == [
        f"FAILED  approve submission {sub} (participant {P1}): session finished on the server — "
        f"submission {sub}: still throttled after 6 tries (HTTP 429: Request was throttled.)",
        "Summary: 0 succeeded, 0 skipped (already done), 1 failed.",
        "Re-run the same command to retry the 1 failed (nothing already done is repeated)."]
    rerun = prolific("review", "--commit")
    assert rerun.exit_code == 0, rerun.output
    assert rerun.stdout.splitlines()[-1] == "Summary: 1 succeeded, 0 skipped (already done), 0 failed."
    assert prolific.fake.submissions[sub]["status"] == "APPROVED"


def test_block_adds_to_group_and_blocks_on_our_server_once(prolific, tmp_path):
    from kernel.admin import blocked_workers

    group = "e" * 24
    prolific.fake.groups[group] = []
    dry = prolific("block", P1, P2, "--group-id", group)
    assert dry.stdout.splitlines()[1:3] == [
        f" would  block participant {P1} (group {group} and our server)",
        f" would  block participant {P2} (group {group} and our server)"]
    assert blocked_workers(prolific.redis_client) == [] and prolific.fake.groups[group] == []
    done = prolific("block", P1, P2, "--group-id", group, "--commit")
    assert done.exit_code == 0, done.output
    assert prolific.fake.groups[group] == [P1, P2]
    assert blocked_workers(prolific.redis_client) == [P1, P2]
    again = prolific("block", P1, "--group-id", group, "--commit")
    assert again.stdout.splitlines()[-1] == "Summary: 0 succeeded, 1 skipped (already done), 0 failed."


def test_message_each_participant_once(prolific, tmp_path):
    study_id = create_and_publish(prolific, tmp_path)
    first = prolific("message", P1, P2, "--text", "Thank you!", "--commit")
    assert first.exit_code == 0, first.output
    second = prolific("message", P1, P2, P3, "--text", "Thank you!", "--commit")
    assert second.stdout.splitlines()[-1] == "Summary: 1 succeeded, 2 skipped (already done), 0 failed."
    assert [m["ids"] for m in prolific.fake.messages] == [[P1], [P2], [P3]]
    assert {m["study_id"] for m in prolific.fake.messages} == {study_id}


def test_missing_token_is_one_clear_error_line(prolific, monkeypatch):
    monkeypatch.delenv("PROLIFIC_TOKEN")
    result = prolific("submissions", "--study-id", "S1")
    assert result.exit_code == 1
    assert result.stdout == target(prolific.fake) + "\n"   # the token is needed once something is fetched
    assert result.stderr == ("error: PROLIFIC_TOKEN is not set: create an API token in Prolific (Settings → "
                             "API token) and `export PROLIFIC_TOKEN=…` (mvt reads it when a command runs and "
                             "never stores it)\n")


def test_wrong_token_is_refused_and_never_stored(prolific, monkeypatch, tmp_path):
    monkeypatch.setenv("PROLIFIC_TOKEN", "wrong-token")
    write_design(tmp_path / "exp1")
    result = prolific("create-study", str(tmp_path / "exp1"), "--reward", "1", "--minutes", "5", "--commit")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-3] == ("FAILED  create draft study 'Recognise briefly shown images': "
                                              "6 places at 1.00, https://mvt.example:8443/prolific?experiment=exp1&PROLIFIC_PID="
                                              "{{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}} "
                                              "— experiment exp1: Invalid token. (HTTP 401)")
    dump = [v for k in prolific.redis_client.keys("*") for v in
            (prolific.redis_client.hvals(k) if prolific.redis_client.type(k) == "hash" else [])]
    assert not any("wrong-token" in v for v in dump) and not any("wrong-token" in k for k in prolific.redis_client.keys("*"))


def test_no_study_recorded_names_what_to_do(prolific):
    result = prolific("submissions")
    assert result.exit_code == 1
    assert result.stderr == ("error: no test Prolific study recorded: create one with "
                             "`mvt prolific create-study`, or give --study-id\n")


def test_importing_the_prolific_commands_loads_no_http_or_aws_library():
    """``mvt --help`` stays fast: httpx loads only when an ``mvt prolific`` command runs."""
    import subprocess
    import sys

    code = ("import sys, platforms.prolific.commands; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


@pytest.mark.parametrize("reward, sentence", [
    ("1.505", "reward ('1.505') must be a non-negative amount with at most two decimals, such as 0.50, and at most 100000"),
    ("nan", "reward ('nan') must be a non-negative amount with at most two decimals, such as 0.50, and at most 100000"),
    ("1e30", "reward ('1e30') must be a non-negative amount with at most two decimals, such as 0.50, and at most 100000"),
    ("£1", "reward ('£1') must be an amount such as 0.50"),
])
def test_bad_reward_is_one_line_without_dollars_and_creates_nothing(prolific, tmp_path, reward, sentence):
    write_design(tmp_path / "exp1")
    result = prolific("create-study", str(tmp_path / "exp1"), "--reward", reward, "--minutes", "5", "--commit")
    assert result.exit_code == 1
    assert sentence in result.output and "dollar" not in result.output
    assert prolific.fake.studies == {}


def test_screened_out_participants_get_prolifics_current_code_types(prolific, tmp_path):
    write_design(tmp_path / "exp1")
    base = ["create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12", "--screened-out-code",
            "OUT1", "--commit"]
    assert prolific(*base).exit_code == 0
    assert prolific(*base, "--screen-out-reward", "0.20", "--batch", "b2").exit_code == 0
    first, second = (s["completion_codes"][1] for s in prolific.fake.studies.values())
    assert first == {"code": "OUT1", "code_type": "INCOMPATIBLE_DEVICE", "actions": [
        {"action": "REQUEST_RETURN", "return_reason": "Your device does not meet this study's requirements (screen "
                                                      "size, input or display), so the study could not start; "
                                                      "please return it."}]}
    assert second == {"code": "OUT1", "code_type": "FIXED_SCREENOUT", "actions": [
        {"action": "FIXED_SCREEN_OUT_PAYMENT", "fixed_screen_out_reward": 20, "slots": 6}]}
    for study in prolific.fake.studies.values():  # a participant who declines consent: asked to return
        no_consent = study["completion_codes"][-1]
        assert no_consent["code_type"] == "NO_CONSENT" and no_consent["code"].startswith("N")
        assert no_consent["actions"] == [{"action": "REQUEST_RETURN", "return_reason": "You did not agree to take "
                                          "part, so the study did not start; please return it."}]
    same = prolific(*base, "--completion-code", "DONE9", "--no-consent-code", "OUT1", "--batch", "b4")
    assert (same.exit_code, same.stderr) == (
        1, "error: completion, screened-out and no-consent codes (DONE9, OUT1, OUT1) must differ\n")
    too_much = prolific(*base, "--screen-out-reward", "1.50", "--batch", "b3")
    assert (too_much.exit_code, too_much.stderr) == (
        1, "error: screen-out reward (1.50) must be less than the reward (1.50), as Prolific requires\n")


def test_excluding_by_id_checks_prolifics_filter_list_first(prolific, tmp_path):
    write_design(tmp_path / "exp1")
    (tmp_path / "ids.txt").write_text(f"{P1}\n{P2}\n")
    args = ["create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12",
            "--workers-file", str(tmp_path / "ids.txt"), "--commit"]
    refused = prolific(*args)
    assert refused.exit_code == 1
    assert refused.stderr == ("error: Prolific's filter list (GET /api/v1/filters/) has no 'custom_blocklist' to keep "
                              "2 participants out; put them in a participant group instead (mvt prolific block "
                              "--workers-file FILE --group-id GROUP --commit) and give --exclude-group GROUP\n")
    assert prolific.fake.studies == {}
    prolific.fake.filters.append("custom_blocklist")
    assert prolific(*args).exit_code == 0
    (study,) = prolific.fake.studies.values()
    assert study["filters"] == [{"filter_id": "custom_blocklist", "selected_values": [P1, P2]}]


def test_a_dry_run_that_fetches_nothing_needs_no_token(prolific, tmp_path, monkeypatch):
    write_design(tmp_path / "exp1")
    monkeypatch.delenv("PROLIFIC_TOKEN")
    dry = prolific("create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines()[-1].startswith("Dry run: 1 to do")
    committed = prolific("create-study", str(tmp_path / "exp1"), "--reward", "1.50", "--minutes", "12", "--commit")
    assert committed.exit_code == 1
    assert committed.stderr.endswith(
        "PROLIFIC_TOKEN is not set: create an API token in Prolific (Settings → API token) and `export "
        "PROLIFIC_TOKEN=…` (mvt reads it when a command runs and never stores it)\n")
    assert prolific.fake.studies == {}
