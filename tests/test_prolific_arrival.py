"""Prolific participants arrive without a link: the server places them (app/placement.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx

from app import admin
from app.store import keys
from platforms.prolific.studies import default_completion_code


def arrive(server, pid: str, session: str | None = None, **extra) -> httpx.Response:
    query = {"experiment": "synth", "PROLIFIC_PID": pid, "STUDY_ID": "STUDY1", "SESSION_ID": session or f"S-{pid}",
             **extra}
    return httpx.get(f"{server.base_url}/prolific?{urlencode(query)}", verify=False, timeout=30)


def placed_link(page: httpx.Response) -> str:
    config = re.search(r'<script type="application/json" id="mvt-config">(.*?)</script>', page.text, re.S)
    return json.loads(config.group(1))["link"]


def test_simultaneous_arrivals_fill_every_list_exactly_once_then_are_asked_to_return(synthetic_server):
    # synth: 2 links x 4 lists
    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(lambda i: arrive(synthetic_server, f"P{i:02d}"), range(8)))
    assert [p.status_code for p in pages] == [200] * 8
    assert Counter(placed_link(p) for p in pages) == {"synth-001": 4, "synth-002": 4}
    r = synthetic_server.redis
    for link in ("synth-001", "synth-002"):
        holders = r.hvals(keys.link_slots(link))
        assert len(holders) == len(set(holders)) == 4 and r.llen(keys.link_free(link)) == 0
    late = arrive(synthetic_server, "P99")
    assert late.status_code == 409
    assert "This task is full" in late.text and "return the study on Prolific" in late.text
    assert r.hget(keys.assignment_links(), "S-P99") is None


def test_a_returning_session_gets_its_own_link_back_and_a_new_session_another_link(synthetic_server):
    first = placed_link(arrive(synthetic_server, "PA", "SESSION-1"))
    assert placed_link(arrive(synthetic_server, "PA", "SESSION-1")) == first
    again = arrive(synthetic_server, "PA", "SESSION-2")  # the same participant's second attempt
    assert again.status_code == 200 and placed_link(again) != first
    r = synthetic_server.redis
    assert sum(r.hlen(keys.link_slots(link)) for link in ("synth-001", "synth-002")) == 2


def test_links_fill_evenly(synthetic_server):
    links = [placed_link(arrive(synthetic_server, f"E{i}")) for i in range(4)]
    assert Counter(links) == {"synth-001": 2, "synth-002": 2}


def test_a_blocked_participant_is_told_and_nothing_is_allocated(synthetic_server):
    admin.block_workers(synthetic_server.redis, ["PBLOCK"])
    page = arrive(synthetic_server, "PBLOCK")
    assert page.status_code == 409 and "cannot take part" in page.text
    assert synthetic_server.redis.hget(keys.assignment_links(), "S-PBLOCK") is None


def test_missing_prolific_ids_or_experiment_get_a_clear_page(synthetic_server):
    page = httpx.get(f"{synthetic_server.base_url}/prolific?experiment=synth&STUDY_ID=S&SESSION_ID=X", verify=False)
    assert page.status_code == 400 and "The participant id (PROLIFIC_PID)" in page.text
    page = arrive(synthetic_server, "PX", experiment="")
    assert page.status_code == 400 and "names no experiment" in page.text
    page = arrive(synthetic_server, "PX", experiment="nosuch")
    assert page.status_code == 409 and "Please return this study" in page.text


def finish_of(page: httpx.Response) -> dict:
    return json.loads(re.search(r'id="mvt-config">(.*?)</script>', page.text, re.S).group(1))["finish"]


def test_the_finish_redirects_to_prolific_with_the_studys_code(synthetic_server, monkeypatch):
    complete = "https://app.prolific.com/submissions/complete?cc="
    # No setting and no recorded study: the code create-study derives from the experiment's name.
    assert finish_of(arrive(synthetic_server, "PF")) == {"method": "redirect",
                                                       "url": complete + default_completion_code("synth")}
    # The code create-study recorded for this STUDY_ID.
    synthetic_server.redis.hset(keys.platform_records("prolific", "production", "studies"), "STUDY1",
                                json.dumps({"study_id": "STUDY1", "completion_code": "REC0RDED"}))
    assert finish_of(arrive(synthetic_server, "PG"))["url"] == complete + "REC0RDED"
    monkeypatch.setattr(synthetic_server.settings, "prolific_completion_code", "C0DE42")
    assert finish_of(arrive(synthetic_server, "PH"))["url"] == complete + "C0DE42"


def test_placing_is_charged_to_the_client_like_a_task_request(synthetic_server, monkeypatch):
    # One address inventing participant ids holds at most MVT_LIMIT_HELD_PER_CLIENT unfinished tasks.
    monkeypatch.setattr(synthetic_server.settings, "limit_held_per_client", 3)
    pages = [arrive(synthetic_server, f"G{i}") for i in range(5)]
    assert [p.status_code for p in pages] == [200, 200, 200, 429, 429]
    assert "Too many requests came from your network" in pages[3].text and pages[3].headers["Retry-After"]
    r = synthetic_server.redis
    assert sum(r.hlen(keys.link_slots(link)) for link in ("synth-001", "synth-002")) == 3
