"""Every refusal a participant can meet, in Chromium, on MTurk's and Prolific's arrival URLs: the page says
it in the platform's words (MTurk: the HIT, worker ID; Prolific: the study, Prolific ID) and names the
study by its title."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from kernel.admin import block_workers
from kernel.control import set_paused
from kernel.store import keys
from tests.test_browser_pages import CHROMIUM, browser  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]

TITLE = "Recognising pictures in a flash"
WORDS = {  # what must be said, and another platform's words that must not be
    "mturk": ("Please return the HIT.", ("Prolific",)),
    "prolific": ("Please return the study on Prolific", ("HIT", "worker ID", "MTurk")),
}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


def arrival_url(server, platform: str, worker: str) -> str:
    if platform == "prolific":
        return f"{server.base_url}/prolific?" + urlencode(
            {"experiment": "small", "PROLIFIC_PID": worker, "STUDY_ID": "STUDY-W", "SESSION_ID": "S-" + worker})
    link = sorted(server.redis.smembers(keys.links_index()))[0]
    return f"{server.base_url}/experiment.html?" + urlencode(
        {"link": link, "assignmentId": "A-" + worker, "workerId": worker, "hitId": "H1"})


def fill_every_list(server) -> None:
    """Every list of every link taken by other workers (as many arrive as there are lists)."""
    with httpx.Client(verify=False, base_url=server.base_url) as client:
        for link in server.redis.smembers(keys.links_index()):
            for n in range(1000):
                r = client.post("/api/assignments", json={"link": link, "worker_id": f"F{n}-{link}",
                                                          "assignment_id": f"AF{n}-{link}", "hit_id": "H1"})
                if r.status_code == 409:
                    assert r.json()["reason"] == "link_full", r.text
                    break


@pytest.mark.parametrize("platform, reason", [
    *(("mturk", reason) for reason in ("blocked", "cap_reached", "link_full", "paused", "device", "other_tab")),
    *(("prolific", reason) for reason in ("blocked", "cap_reached", "link_full", "paused", "rate_limited", "device",
                                          "other_tab")),
])
def test_every_refusal_speaks_the_platforms_words_and_names_the_study(live_server, browser, monkeypatch,
                                                                        platform, reason):
    r = live_server.redis
    study = json.loads(r.get(keys.experiment_study("small")))
    r.set(keys.experiment_study("small"), json.dumps({**study, "title": TITLE}))
    worker = f"W{platform[:3].upper()}{reason.replace('_', '').upper()}"
    url = arrival_url(live_server, platform, worker)
    if reason == "blocked":
        block_workers(r, [worker])
    elif reason == "cap_reached":
        monkeypatch.setattr(live_server.settings, "max_tasks_per_worker", 0)
    elif reason == "link_full":
        fill_every_list(live_server)
    elif reason == "paused":
        set_paused(r, list(r.smembers(keys.links_index())), True)
    elif reason == "rate_limited":
        monkeypatch.setattr(live_server.settings, "limit_eligibility_per_worker_per_minute", 1)
        for _ in range(2):  # the participant's arrivals use up the bucket (a burst of twice the minute's allowance)
            assert httpx.get(url, verify=False).status_code == 200
    context = browser.new_context(ignore_https_errors=True, **(PHONE if reason == "device" else {}))
    try:
        page = context.new_page()
        page.goto(url)
        if reason == "other_tab":
            page.get_by_role("button", name="I agree — continue").wait_for()
            page = context.new_page()
            page.goto(url)
        refusal = page.locator("#screen-stop:visible, #error-title:visible")
        refusal.first.wait_for(timeout=10000)
        text = page.locator("body").inner_text()
    finally:
        context.close()
    said, foreign = WORDS[platform]
    assert TITLE in text, text
    if reason not in ("other_tab", "rate_limited"):  # those ask to wait or go on elsewhere, not to give it back
        assert said in text, text
    assert not [word for word in foreign if word in text], text
    if reason != "other_tab":
        assert r.hget(keys.assignment_links(), ("S-" if platform == "prolific" else "A-") + worker) is None
