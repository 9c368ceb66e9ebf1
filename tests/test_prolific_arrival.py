"""Prolific participants arrive without a link: the server places them (kernel/placement.py) after
consent, with the ticket their arrival page carries; the arrival itself allocates nothing."""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
import pytest

from kernel import admin
from kernel.store import keys
from platforms.prolific.studies import default_completion_code


def arrive(server, pid: str, session: str | None = None, **extra) -> httpx.Response:
    query = {"experiment": "synth", "PROLIFIC_PID": pid, "STUDY_ID": "STUDY1", "SESSION_ID": session or f"S-{pid}",
             **extra}
    return httpx.get(f"{server.base_url}/prolific?{urlencode(query)}", verify=False, timeout=30)


def placed_link(page: httpx.Response) -> str:
    """The link the arrival page names: where the participant would be (or is) placed."""
    config = re.search(r'<script type="application/json" id="mvt-config">(.*?)</script>', page.text, re.S)
    return json.loads(config.group(1))["link"]


def accept(server, page: httpx.Response, client: httpx.Client | None = None) -> httpx.Response:
    """What the page sends after consent: ``POST /api/assignments`` with its placement ticket."""
    config = config_of(page)
    body = {key: config[key] for key in ("link", "worker_id", "assignment_id", "hit_id", "placement")}
    if client is not None:
        return client.post("/api/assignments", json=body)
    return httpx.post(f"{server.base_url}/api/assignments", json=body, verify=False, timeout=30)


def held_lists(r, links=("synth-001", "synth-002")) -> int:
    return sum(r.hlen(keys.link_slots(link)) for link in links)


@pytest.mark.both_stores
def test_simultaneous_arrivals_fill_every_list_exactly_once_then_are_asked_to_return(synthetic_server):
    # synth: 2 links x 4 lists
    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(lambda i: arrive(synthetic_server, f"P{i:02d}"), range(8)))
    assert [p.status_code for p in pages] == [200] * 8
    r = synthetic_server.redis
    assert held_lists(r) == 0 and r.hlen(keys.assignment_links()) == 0, "an arrival allocated before consent"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda p: accept(synthetic_server, p), pages))
    assert [a.status_code for a in answers] == [200] * 8
    assert Counter(a.json()["link"] for a in answers) == {"synth-001": 4, "synth-002": 4}
    for link in ("synth-001", "synth-002"):
        holders = r.hvals(keys.link_slots(link))
        assert len(holders) == len(set(holders)) == 4 and r.llen(keys.link_free(link)) == 0
    late = arrive(synthetic_server, "P99")
    assert late.status_code == 409
    assert "This task is full" in late.text and "return the study on Prolific" in late.text
    assert r.hget(keys.assignment_links(), "S-P99") is None


def config_of(page: httpx.Response) -> dict:
    return json.loads(re.search(r'id="mvt-config">(.*?)</script>', page.text, re.S).group(1))


@pytest.mark.both_stores
def test_a_returning_participant_resumes_their_unfinished_list_under_a_new_session(synthetic_server):
    first = arrive(synthetic_server, "PA", "SESSION-1")
    link = accept(synthetic_server, first).json()["link"]
    assert placed_link(arrive(synthetic_server, "PA", "SESSION-1")) == link
    again = arrive(synthetic_server, "PA", "SESSION-2")  # returned the study on Prolific and took it again
    assert again.status_code == 200
    assert (placed_link(again), config_of(again)["assignment_id"]) == (link, "SESSION-1")
    resumed = accept(synthetic_server, again).json()
    assert (resumed["link"], resumed["assignment_id"]) == (link, "SESSION-1")
    r = synthetic_server.redis
    assert held_lists(r) == 1   # one list, not two
    assert r.hget(keys.assignment_links(), "SESSION-2") is None
    assert r.hget(keys.assignment_resumed(), "SESSION-2") == "SESSION-1"   # for review: the new session's task
    # Once that list is finished, a new session is a new attempt: another link.
    record = json.loads(r.hget(keys.link_assignments(link), "SESSION-1"))
    r.hset(keys.link_assignments(link), "SESSION-1", json.dumps({**record, "status": "complete"}))
    third = arrive(synthetic_server, "PA", "SESSION-3")
    assert third.status_code == 200 and placed_link(third) != link
    assert config_of(third)["assignment_id"] == "SESSION-3"
    assert accept(synthetic_server, third).json()["link"] != link


def test_links_fill_evenly(synthetic_server):
    links = [accept(synthetic_server, arrive(synthetic_server, f"E{i}")).json()["link"] for i in range(4)]
    assert Counter(links) == {"synth-001": 2, "synth-002": 2}


def test_a_placement_ticket_is_only_good_for_its_own_participant(synthetic_server):
    page = arrive(synthetic_server, "PT")
    config = config_of(page)
    for changed, detail in [({"worker_id": "PU"}, "was not issued to this participant"),
                            ({"placement": "synth.prolific.forged"}, "was not issued to this participant"),
                            ({"placement": "synth"}, "the placement ticket is malformed")]:
        body = {**{key: config[key] for key in ("link", "worker_id", "assignment_id", "hit_id", "placement")}, **changed}
        answer = httpx.post(f"{synthetic_server.base_url}/api/assignments", json=body, verify=False, timeout=30)
        assert answer.status_code == 403 and detail in answer.json()["detail"], answer.text
    assert held_lists(synthetic_server.redis) == 0


def test_a_blocked_participant_is_told_and_nothing_is_allocated(synthetic_server):
    admin.block_workers(synthetic_server.redis, ["PBLOCK"])
    page = arrive(synthetic_server, "PBLOCK")
    assert page.status_code == 409 and "cannot take part" in page.text
    assert synthetic_server.redis.hget(keys.assignment_links(), "S-PBLOCK") is None


def test_missing_prolific_ids_or_experiment_get_a_clear_page(synthetic_server):
    page = httpx.get(f"{synthetic_server.base_url}/prolific?experiment=synth&STUDY_ID=S&SESSION_ID=X", verify=False)
    assert page.status_code == 400 and "The participant id (PROLIFIC_PID)" in page.text
    assert 'id="error-study"' not in page.text  # the synthetic study has no title
    synthetic_server.redis.set(keys.experiment_study("synth"), json.dumps({"title": "Sounds <i>& noise</i>"}))
    page = httpx.get(f"{synthetic_server.base_url}/prolific?experiment=synth&STUDY_ID=S&SESSION_ID=X", verify=False)
    assert page.status_code == 400  # the page names the study it came from, its title as text
    assert '<p class="study-name" id="error-study">Sounds &lt;i&gt;&amp; noise&lt;/i&gt;</p>' in page.text
    synthetic_server.redis.delete(keys.experiment_study("synth"))
    page = arrive(synthetic_server, "PX", experiment="")
    assert page.status_code == 400 and "names no experiment" in page.text
    page = arrive(synthetic_server, "PX", experiment="nosuch")
    assert page.status_code == 409 and "Please return this study" in page.text


def config_of(page: httpx.Response) -> dict:
    return json.loads(re.search(r'id="mvt-config">(.*?)</script>', page.text, re.S).group(1))


def work_and_complete(server, page: httpx.Response) -> tuple[dict, dict]:
    """Do the task of the participant ``page`` placed (every trial answered), then complete it:
    ``(assignment answer, complete answer)``."""
    with httpx.Client(base_url=server.base_url, verify=False, timeout=30) as client:
        a = accept(server, page, client).json()
        assert a["completion_url"] is None
        for trial in a["trials"]:
            client.post("/api/responses", json={"assignment_token": a["assignment_token"], "trial": trial["trial"],
                                                "response": a["options"][0]}).raise_for_status()
        done = client.post("/api/complete", json={"assignment_token": a["assignment_token"]})
        done.raise_for_status()
        again = accept(server, page, client).json()
    return again, done.json()


def test_the_prolific_code_reaches_the_browser_only_in_the_complete_answer(synthetic_server, monkeypatch):
    complete = "https://app.prolific.com/submissions/complete?cc="
    # No setting and no recorded study: the code create-study derives from the experiment's name and the secret.
    code = default_completion_code(synthetic_server.settings.signing_key, "synth")
    assert code != default_completion_code(b"another-secret-another-secret-0123", "synth")
    page = arrive(synthetic_server, "PF")
    assert code not in page.text, "the completion code is readable at arrival"
    assert config_of(page)["finish"] == {"method": "redirect",
                                         "return_sentence": "Please return the study on Prolific "
                                                            "(\u201cStop without completing\u201d)."}
    with httpx.Client(base_url=synthetic_server.base_url, verify=False, timeout=30) as client:
        a = accept(synthetic_server, page, client).json()
        early = client.post("/api/complete", json={"assignment_token": a["assignment_token"]})
    assert early.status_code == 409 and code not in early.text      # no code before the work is done
    resumed, done = work_and_complete(synthetic_server, page)
    assert done["completion_url"] == complete + code
    assert resumed["completed"] and resumed["completion_url"] == complete + code   # a reload after the work
    # The codes create-study recorded for this STUDY_ID: the screened-out one is in the page (it pays nothing).
    synthetic_server.redis.hset(keys.platform_records("prolific", "production", "studies"), "STUDY1", json.dumps(
        {"study_id": "STUDY1", "completion_code": "REC0RDED", "screened_out_code": "SCR33N"}))
    page = arrive(synthetic_server, "PG")
    assert "REC0RDED" not in page.text and config_of(page)["finish"]["screened_out_url"] == complete + "SCR33N"
    assert work_and_complete(synthetic_server, page)[1]["completion_url"] == complete + "REC0RDED"
    monkeypatch.setattr(synthetic_server.settings, "prolific_completion_code", "C0DE42")
    page = arrive(synthetic_server, "PH")
    assert "C0DE42" not in page.text
    assert work_and_complete(synthetic_server, page)[1]["completion_url"] == complete + "C0DE42"


def test_an_mturk_complete_answer_has_no_completion_url(synthetic_server):
    with httpx.Client(base_url=synthetic_server.base_url, verify=False, timeout=30) as client:
        a = client.post("/api/assignments", json={"link": "synth-001", "worker_id": "MT1", "assignment_id": "MTA1",
                                                   "hit_id": "H"}).json()
        for trial in a["trials"]:
            client.post("/api/responses", json={"assignment_token": a["assignment_token"], "trial": trial["trial"],
                                                "response": a["options"][0]})
        done = client.post("/api/complete", json={"assignment_token": a["assignment_token"]}).json()
    assert done["completion_url"] is None and done["completion_code"]


def test_placing_is_charged_to_the_client_like_a_task_request(synthetic_server, monkeypatch):
    # One address inventing participant ids holds at most MVT_LIMIT_HELD_PER_CLIENT unfinished tasks.
    monkeypatch.setattr(synthetic_server.settings, "limit_held_per_client", 3)
    pages = [arrive(synthetic_server, f"G{i}") for i in range(5)]
    assert [p.status_code for p in pages] == [200] * 5
    answers = [accept(synthetic_server, p) for p in pages]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert "this address already holds 3 unfinished tasks" in answers[3].json()["detail"] and answers[3].headers["Retry-After"]
    assert held_lists(synthetic_server.redis) == 3


@pytest.mark.both_stores
def test_a_url_parameter_panel_is_configured_by_the_study_file(synthetic_server, tmp_path):
    from stimuli.study import read_study_file, study_config
    from tests.fixtures.server import write_experiment

    exp_dir = write_experiment(tmp_path / "sona", experiment_id="sona", n_links=1, n_lists=2)
    (tmp_path / "study.toml").write_text(
        '[panel]\nid_param = "survey_code"\ncompletion_url = "https://sona.example.edu/done?c={code}&id={id}"\n'
        'completion_code = "OK1"\nscreened_out_code = "OUT1"\n')
    study = study_config(read_study_file(tmp_path / "study.toml"), n_trials=3, mean_video_s=1.0)
    (exp_dir / "study.json").write_text(json.dumps(study))
    synthetic_server.load(exp_dir)

    def visit(**query):
        return httpx.get(f"{synthetic_server.base_url}/panel?{urlencode(query)}", verify=False, timeout=30)

    first = visit(experiment="sona", survey_code="S-17")
    assert first.status_code == 200 and placed_link(first) == "sona-001"
    assert synthetic_server.redis.hlen(keys.link_slots("sona-001")) == 0, "the arrival allocated before consent"
    assert config_of(first)["finish"] == {"method": "redirect",
                                          "screened_out_url": "https://sona.example.edu/done?c=OUT1&id=S-17",
                                          "return_sentence": "Please close this page and tell the researcher."}
    assert "c=OK1" not in first.text, "the panel's completion code is readable at arrival"
    check = f"{synthetic_server.base_url}/panel/check?experiment=sona&survey_code=S-17"
    assert httpx.get(check, verify=False).json() == {"experiment": "sona", "participant": "S-17", "completed": False}
    assert work_and_complete(synthetic_server, first)[1]["completion_url"] == \
        "https://sona.example.edu/done?c=OK1&id=S-17"
    # the panel's server can ask before crediting (one completion code for everyone proves nothing)
    assert httpx.get(check, verify=False).json() == {"experiment": "sona", "participant": "S-17", "completed": True}
    assert httpx.get(check.replace("S-17", "S-99"), verify=False).json()["completed"] is False
    assert httpx.get(check.replace("sona", "synth"), verify=False).status_code == 404
    assert placed_link(visit(experiment="sona", survey_code="S-17")) == "sona-001"   # the same list again
    assert accept(synthetic_server, visit(experiment="sona", survey_code="S-18")).json()["link"] == "sona-001"
    full = visit(experiment="sona", survey_code="S-19")
    assert full.status_code == 409 and "This task is full" in full.text
    assert visit(experiment="sona", participant="S-20").status_code == 400          # wrong parameter name
    assert "no experiment set up for a panel" in visit(experiment="synth", survey_code="S-21").text
    r = synthetic_server.redis
    assert r.hlen(keys.link_slots("sona-001")) == 2


@pytest.mark.parametrize("panel, message", [
    ('id_param = "x"\ncompletion_url = "https://p.example/done"\ncompletion_code = "C"',
     "must be an http(s) URL holding {code}"),
    ('id_param = "x"\ncompletion_url = "https://p.example/{code}"', "panel.completion_code (None) must be non-empty"),
    ('id_param = "link"\ncompletion_url = "https://p.example/{code}"\ncompletion_code = "C"',
     "must be a plain parameter name other than experiment and link"),
    ('id_param = "x"\ncolour = "red"', "[panel] may hold only"),
])
def test_a_bad_panel_table_is_refused_naming_the_key(tmp_path, panel, message):
    from kernel.errors import BuildOptionError
    from stimuli.study import read_study_file

    (tmp_path / "study.toml").write_text("[panel]\n" + panel + "\n")
    with pytest.raises(BuildOptionError, match=re.escape(message)):
        read_study_file(tmp_path / "study.toml")


def test_a_prolific_participant_reads_prolifics_words_on_consent_and_in_the_page_config(synthetic_server):
    page = arrive(synthetic_server, "PW1")
    assert page.status_code == 200
    consent = re.search(r'<section id="screen-consent".*?</section>', page.text, re.S).group(0)
    assert "We record your Prolific ID" in consent and "by returning the study." in consent
    assert "worker ID" not in consent and "HIT" not in consent
    config = json.loads(re.search(r'<script type="application/json" id="mvt-config">(.*?)</script>',
                                  page.text, re.S).group(1))
    assert config["words"]["participant_id"] == "Prolific ID"
    assert config["reasons"]["blocked"] == "Sorry, your Prolific ID cannot take part in this study."


@pytest.mark.parametrize("platform", ["prolific", "mturk"])
def test_an_arrival_flood_from_many_addresses_is_bounded_by_the_experiments_arrival_rate(synthetic_server,
                                                                                         monkeypatch, platform):
    """Per-address limits do not stop invented participant ids from many addresses (49 addresses held
    4,900 lists in 12.6 s, issue 24); MVT_LIMIT_ARRIVALS_PER_MIN bounds new placements per experiment,
    whichever way participants come in: Prolific's page, or MTurk's POST /api/assignments on a link."""
    monkeypatch.setattr(synthetic_server.settings, "limit_arrivals_per_min", 2)      # bucket of 4

    def arrive_from(address: str, pid: str) -> httpx.Response:
        transport = httpx.HTTPTransport(verify=False, local_address=address)
        with httpx.Client(transport=transport, timeout=30, base_url=synthetic_server.base_url) as client:
            if platform == "mturk":
                return client.post("/api/assignments", json={"link": f"synth-00{1 + int(pid[-1]) % 2}",
                                                             "worker_id": pid, "assignment_id": f"S-{pid}",
                                                             "hit_id": "H1"})
            query = {"experiment": "synth", "PROLIFIC_PID": pid, "STUDY_ID": "STUDY1", "SESSION_ID": f"S-{pid}"}
            return accept(synthetic_server, client.get(f"/prolific?{urlencode(query)}"), client)

    answers = [arrive_from(f"127.0.0.{n + 2}", f"FLOOD{n}") for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
    wait_s = int(answers[4].headers["Retry-After"])
    assert 1 <= wait_s <= 30, "a token every 30 s"
    refusal = f"too many participants arriving at this study right now; try again in {wait_s} s"
    assert answers[4].json() == {"detail": refusal, "reason": "rate_limited"}
    r = synthetic_server.redis
    assert held_lists(r) == 4
    assert r.hget(keys.assignment_links(), "S-FLOOD4") is None
    # a participant already placed comes back (a reload): not a new arrival, still served
    assert arrive_from("127.0.0.2", "FLOOD0").status_code == 200
