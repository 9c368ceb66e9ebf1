"""A Prolific participant in Chromium: placed by the server after consent, through the task, back to Prolific;
one who declines or is screened out holds nothing."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from kernel.store import keys
from tests.test_browser_pages import CHROMIUM, answer_trial, browser, page, shots  # noqa: F401 (fixtures)
from tests.test_browser_worker import rows_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]


def prolific_url(server, pid: str, session: str) -> str:
    return f"{server.base_url}/prolific?" + urlencode(
        {"experiment": "small", "PROLIFIC_PID": pid, "STUDY_ID": "STUDY-B", "SESSION_ID": session})


def test_a_participant_is_placed_takes_the_task_and_is_sent_back_with_the_code(live_server, page, monkeypatch):
    from playwright.sync_api import expect

    # Prolific's completion page, played by this server's health route.
    monkeypatch.setattr(live_server.settings, "prolific_completion_url", f"{live_server.base_url}/healthz?cc={{code}}")
    monkeypatch.setattr(live_server.settings, "prolific_completion_code", "CDONE123")
    page.goto(prolific_url(live_server, "PPID-BROWSER", "SESSION-BROWSER"))
    expect(page.get_by_role("button", name="I agree — continue")).to_be_visible()
    assert nothing_held(live_server), "the arrival allocated a list before consent"
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Continue").click()
    link = live_server.redis.hget(keys.assignment_links(), "SESSION-BROWSER")
    assert link is not None, "the participant was not placed on a link after consent"
    start = page.get_by_role("button", name="Start the task")
    expect(start).to_be_enabled(timeout=10000)
    start.click()
    for t in range(8):
        answer_trial(page, t)
    page.get_by_role("button", name="Finish and get my code").click()
    page.wait_for_url(f"{live_server.base_url}/healthz?cc=CDONE123", timeout=15000)
    record = live_server.redis.hget(keys.link_assignments(link), "SESSION-BROWSER")
    assert '"status":"complete"' in record and '"worker":"PPID-BROWSER"' in record
    rows = rows_of(live_server, "SESSION-BROWSER", 8, page)
    assert [(row["trial"], row["link_id"], row["worker_id"], row["hit_id"]) for row in rows] == \
        [(t, link, "PPID-BROWSER", "STUDY-B") for t in range(8)]
    assert all(row["response"] and row["plays"] == 1 and row["experiment"] == "small" for row in rows), rows


def nothing_held(server) -> bool:
    """No list of the experiment is held and no assignment is known: nothing was allocated."""
    r = server.redis
    return r.hlen(keys.assignment_links()) == 0 and all(r.hlen(keys.link_slots(link)) == 0
                                                        for link in r.smembers(keys.links_index()))


def test_a_participant_who_declines_consent_holds_nothing_and_is_sent_back_with_no_consent(live_server, page,
                                                                                          monkeypatch):
    import json

    from playwright.sync_api import expect

    live_server.redis.hset(keys.platform_records("prolific", "production", "studies"), "STUDY-B", json.dumps(
        {"study_id": "STUDY-B", "completion_code": "CDONE123", "no_consent_code": "NCONSENT1"}))
    monkeypatch.setattr(live_server.settings, "prolific_completion_url", f"{live_server.base_url}/healthz?cc={{code}}")
    page.goto(prolific_url(live_server, "PPID-DECLINE", "SESSION-DECLINE"))
    page.get_by_role("button", name="I do not agree").click()
    expect(page.locator("#stop-message")).to_have_text(
        "You did not agree to take part. Please return the study on Prolific (\u201cStop without completing\u201d). "
        "Nothing has been recorded.")
    assert nothing_held(live_server)
    page.wait_for_url(f"{live_server.base_url}/healthz?cc=NCONSENT1", timeout=15000)
    assert nothing_held(live_server)


def test_a_participant_who_cannot_be_placed_is_asked_to_return_the_study(live_server, page, shots):
    from playwright.sync_api import expect

    from kernel.admin import block_workers

    block_workers(live_server.redis, ["PPID-BLOCKED"])
    page.goto(prolific_url(live_server, "PPID-BLOCKED", "SESSION-BLOCKED"))
    expect(page.get_by_role("heading", name="Please return this study")).to_be_visible()
    # One sentence after another (before: "… Nothing was recorded for you: Please return …").
    expect(page.locator(".card > p:not(.study-name)")).to_have_text(
        "Sorry, your Prolific ID cannot take part in this study. Please return the study on Prolific "
        "(\u201cStop without completing\u201d). Nothing has been recorded.")
    for width, height in ((1366, 650), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=shots / f"prolific_refused_{width}x{height}.png")
    assert live_server.redis.hget(keys.assignment_links(), "SESSION-BLOCKED") is None


def test_a_participant_screened_out_by_the_device_rules_is_sent_back_with_the_screened_out_code(live_server, browser):
    import json

    from playwright.sync_api import expect

    live_server.redis.hset(keys.platform_records("prolific", "production", "studies"), "STUDY-B", json.dumps(
        {"study_id": "STUDY-B", "completion_code": "CDONE123", "screened_out_code": "CSCREEN9"}))
    monkey_url = f"{live_server.base_url}/healthz?cc={{code}}"
    live_server.settings.prolific_completion_url, saved = monkey_url, live_server.settings.prolific_completion_url
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True, device_scale_factor=3)
    try:
        page = context.new_page()
        page.goto(prolific_url(live_server, "PPID-PHONE", "SESSION-PHONE"))
        expect(page.locator("#stop-message")).to_contain_text("cannot be done on a phone or tablet")
        expect(page.locator("#stop-message")).to_contain_text("Please return the study on Prolific")
        page.wait_for_url(f"{live_server.base_url}/healthz?cc=CSCREEN9", timeout=15000)
        assert nothing_held(live_server)
    finally:
        live_server.settings.prolific_completion_url = saved
        context.close()
