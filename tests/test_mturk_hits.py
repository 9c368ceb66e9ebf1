"""create-hits, expire and extend against the Stubber, with the ledger in a real Redis."""

from __future__ import annotations

import json

import pytest
from botocore.stub import ANY

from platforms.mturk.hits import HITSettings, create_hits, expire_hits, extend_hits, our_hits
from platforms.mturk.inputs import read_links, read_repost
from platforms.mturk.ledger import token
from tests.fixtures.mturk import stubbed_client
from kernel.store import keys
from kernel.errors import MTurkBadInput

QUESTION_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"


@pytest.fixture
def exp_dir(tmp_path):
    """A design.json with 2 links, 2 workers x 3 durations = 6 lists each, and its links.csv."""
    lists = [[{"video_id": "0" * 16, "image_id": "img", "label": "cat", "frames": 1}]] * 6
    design = {"version": 1, "experiment_id": "exp1", "base_url": "https://mvt.example.org:8443",
              "fps": 60, "frame_counts": [1, 3, 6], "classes": ["cat", "dog"], "workers": 2,
              "seed": 0, "images_per_task": 1,
              "links": [{"link_id": f"exp1-00{k}", "image_ids": ["img"], "lists": lists} for k in (1, 2)]}
    (tmp_path / "design.json").write_text(json.dumps(design))
    (tmp_path / "links.csv").write_text("HIT_Link\n" + "".join(
        f"https://mvt.example.org:8443/experiment.html?link=exp1-00{k}\n" for k in (1, 2)))
    return tmp_path


SETTINGS = HITSettings(reward="1.50", min_approval_rate=97, min_approved=500, countries=("US", "CA"))


def expected_create(link_id: str) -> dict:
    url = f"https://mvt.example.org:8443/experiment.html?link={link_id}"
    return {
        "MaxAssignments": 6, "Reward": "1.50", "Title": SETTINGS.title,
        "Description": SETTINGS.description, "Keywords": SETTINGS.keywords,
        "AssignmentDurationInSeconds": 3600, "LifetimeInSeconds": 7 * 86400,
        "AutoApprovalDelayInSeconds": 3 * 86400,
        "Question": (f'<ExternalQuestion xmlns="{QUESTION_NS}"><ExternalURL>{url}</ExternalURL>'
                     "<FrameHeight>0</FrameHeight></ExternalQuestion>"),
        "RequesterAnnotation": f"mvt link {link_id}",
        "UniqueRequestToken": token("sandbox", "create", link_id, url, ""),
        "QualificationRequirements": [
            {"QualificationTypeId": "000000000000000000L0", "Comparator": "GreaterThanOrEqualTo",
             "IntegerValues": [97], "ActionsGuarded": "DiscoverPreviewAndAccept"},
            {"QualificationTypeId": "00000000000000000040", "Comparator": "GreaterThanOrEqualTo",
             "IntegerValues": [500], "ActionsGuarded": "DiscoverPreviewAndAccept"},
            {"QualificationTypeId": "00000000000000000071", "Comparator": "In",
             "LocaleValues": [{"Country": "US"}, {"Country": "CA"}],
             "ActionsGuarded": "DiscoverPreviewAndAccept"}],
    }


def test_read_links_takes_w_times_d_from_design_and_needs_it_for_links_csv(exp_dir):
    links = read_links(exp_dir)
    assert [(link.link_id, link.max_assignments) for link in links] == [("exp1-001", 6), ("exp1-002", 6)]
    assert read_links(exp_dir / "links.csv", 6) == links
    with pytest.raises(MTurkBadInput, match="pass --max-assignments"):
        read_links(exp_dir / "links.csv")


def test_create_hits_dry_run_makes_no_call(redis, exp_dir):
    client, stubber = stubbed_client()
    report = create_hits(client, redis, read_links(exp_dir), SETTINGS, commit=False)
    stubber.assert_no_pending_responses()
    assert [o.status for o in report.outcomes] == ["planned", "planned"]
    assert report.total("planned") == 18  # 2 HITs x 6 assignments x $1.50
    assert report.notes[0] == ("Each HIT: 'Recognise briefly shown images', $1.50 per assignment, 60 min "
                               "to do it, listed 7 days, auto-approved after 3 days; workers: approval "
                               "rate >= 97%, >= 500 approved HITs, in US, CA.")
    # 12 assignments x $1.50: 20 % fee ($0.30 each); HITs of 6 assignments pay no large-HIT fee.
    assert report.notes[1] == ("Cost: rewards $18.00 + fee $3.60 = $21.60; MTurk fee 20 % of rewards, +20 % for "
                               "HITs of 10 or more assignments, at least 0.01 per assignment "
                               "(https://www.mturk.com/pricing, read 2026-10-07).")
    assert our_hits(redis, "sandbox") == {}


def test_create_hits_sends_external_question_and_records_hits_once(redis, exp_dir):
    client, stubber = stubbed_client()
    for k in (1, 2):
        stubber.add_response("create_hit", {"HIT": {"HITId": f"HIT00{k}", "HITTypeId": "TYPE1"}},
                             expected_create(f"exp1-00{k}"))
    report = create_hits(client, redis, read_links(exp_dir), SETTINGS, commit=True)
    stubber.assert_no_pending_responses()
    assert [o.status for o in report.outcomes] == ["succeeded", "succeeded"]
    hits = our_hits(redis, "sandbox")
    assert sorted(hits) == ["HIT001", "HIT002"]
    assert hits["HIT001"]["link_id"] == "exp1-001" and hits["HIT001"]["max_assignments"] == 6

    again = create_hits(client, redis, read_links(exp_dir), SETTINGS, commit=True)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    stubber.assert_no_pending_responses()


def test_external_question_escapes_the_url_and_refuses_http():
    from platforms.mturk.hits import external_question

    assert "<ExternalURL>https://h/experiment.html?link=a&amp;x=1</ExternalURL>" in \
        external_question("https://h/experiment.html?link=a&x=1")
    with pytest.raises(MTurkBadInput, match=r"must start with https://"):
        external_question("http://h/experiment.html?link=a")


@pytest.mark.parametrize("field, value, message", [
    ("reward", "1.505", "at most two decimals"), ("reward", "one", "amount such as 0.50"),
    ("reward", "nan", "non-negative amount"), ("reward", "-1", "non-negative amount"),
    ("reward", "1e30", "at most 100000"), ("reward", "9" * 29, "at most 100000"),
    ("countries", ("usa",), "two-letter ISO"), ("min_approval_rate", 101, "percentage"),
])
def test_hit_settings_refuse_bad_values(field, value, message):
    from kernel.errors import PlatformBadInput

    with pytest.raises(PlatformBadInput, match=message):
        HITSettings(**{"reward": "1.00", field: value})


def test_expire_retries_failed_on_rerun_and_skips_done(redis):
    client, stubber = stubbed_client()
    stubber.add_response("update_expiration_for_hit", {}, {"HITId": "HITGOOD", "ExpireAt": ANY})
    stubber.add_client_error("update_expiration_for_hit", service_error_code="RequestError",
                             service_message="Hit HITBAD does not exist.", http_status_code=400,
                             expected_params={"HITId": "HITBAD", "ExpireAt": ANY})
    report = expire_hits(client, redis, ["HITGOOD", "HITBAD"], commit=True)
    assert [(o.status, o.detail) for o in report.outcomes] == [
        ("succeeded", ""), ("failed", "HIT HITBAD: Hit HITBAD does not exist. (RequestError)")]

    stubber.add_response("update_expiration_for_hit", {}, {"HITId": "HITBAD", "ExpireAt": ANY})
    rerun = expire_hits(client, redis, None, commit=True)
    assert [(o.status, o.description) for o in rerun.outcomes] == [
        ("succeeded", "expire HIT HITBAD now"), ("skipped", "expire HIT HITGOOD now")]
    stubber.assert_no_pending_responses()


def test_extend_from_repost_csv_adds_assignments_once_per_batch(redis, exp_dir, tmp_path):
    client, stubber = stubbed_client()
    redis.hset(keys.mturk_link_hits("sandbox"), mapping={"exp1-001": "HIT001", "exp1-002": "HIT002"})
    from analysis.analyze import repost_table, write_repost
    from kernel.admin import LinkProgress

    progress = [LinkProgress("exp1-001", 6, 4, 0, 2, 0), LinkProgress("exp1-002", 6, 6, 0, 0, 0)]
    repost = write_repost(repost_table(progress, base_url="https://mvt.example.org:8443"),
                          tmp_path / "repost.csv")
    additional = read_repost(repost, redis, "sandbox")
    assert additional == {"HIT001": 2}

    dry = extend_hits(client, redis, additional=additional, days=2, commit=False)
    stubber.assert_no_pending_responses()
    assert [o.description.split(" until")[0] for o in dry.outcomes] == [
        "extend HIT HIT001", "add 2 assignments to HIT HIT001"]

    batch = dry.notes[0].split()[1].rstrip(":")
    stubber.add_response("update_expiration_for_hit", {}, {"HITId": "HIT001", "ExpireAt": ANY})
    stubber.add_response("create_additional_assignments_for_hit", {},
                         {"HITId": "HIT001", "NumberOfAdditionalAssignments": 2,
                          "UniqueRequestToken": token("sandbox", "extend", "HIT001", batch)})
    done = extend_hits(client, redis, additional=additional, days=2, commit=True)
    assert [o.status for o in done.outcomes] == ["succeeded", "succeeded"]
    stubber.assert_no_pending_responses()

    again = extend_hits(client, redis, additional=additional, days=2, commit=True)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]

    stubber.add_response("create_additional_assignments_for_hit", {},
                         {"HITId": "HIT001", "NumberOfAdditionalAssignments": 2,
                          "UniqueRequestToken": token("sandbox", "extend", "HIT001", "second")})
    second = extend_hits(client, redis, additional=additional, commit=True, batch="second")
    assert [o.status for o in second.outcomes] == ["succeeded"]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("text", ["HIT_Link,count\nhttps://h/experiment.html?link=exp9-001,1\n",
                                  "HIT_Link,n_assignments,link_id\nexp9-001,1,exp9-001\n"])
def test_repost_of_a_link_without_hit_names_it(redis, tmp_path, text):
    repost = tmp_path / "repost.csv"
    repost.write_text(text)
    with pytest.raises(MTurkBadInput, match="link exp9-001 has no HIT recorded in the sandbox"):
        read_repost(repost, redis, "sandbox")
