"""The control room (``/admin/``) in Debian's Chromium: sign in, watch, act, and see workers refused.

Screenshots at 1280×720 go to ``$MVT_SCREENSHOT_DIR`` (default: a temporary directory, printed with ``-s``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kernel import control
from kernel.store import keys
from tests.fixtures.control import VIEWER_TOKEN, _control_running, control_server, https_client  # noqa: F401
from tests.fixtures.server import ADMIN_TOKEN
from tests.test_admin import do_task
from tests.test_browser_pages import CHROMIUM, browser, shots, watched_page  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]


@pytest.fixture
def page(browser):
    """A 1280×720 page; fails the test on script errors, Content-Security-Policy violations and dialogs."""
    with watched_page(browser, 1280, 720, dialogs_fail=True) as pg:
        yield pg


def sign_in(page, server, token=ADMIN_TOKEN):
    page.goto(f"{server.base_url}/admin/")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.base_url}/admin/")


def field(page, name: str, experiment: str = "synth"):
    return page.locator(f'article[data-experiment="{experiment}"] [data-field="{name}"]')


def test_sign_in_and_watch_progress_move(page, control_server, shots, redis_url):
    page.goto(f"{control_server.base_url}/admin/")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    page.screenshot(path=str(shots / "control-signin-1280.png"))
    page.get_by_label("Token").fill("wrong-token-wrong-token")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That token is neither MVT_ADMIN_TOKEN nor MVT_VIEWER_TOKEN."
    sign_in(page, control_server)
    assert "token" not in page.url
    assert field(page, "done").inner_text() == "0" and field(page, "state").inner_text() == "open"
    import threading

    from typer.testing import CliRunner

    from cli import cli

    with https_client(control_server) as api:
        do_task(api, "W0", "A0")
        # two simulated workers take part while the page watches (it refreshes itself: no reload here)
        simulated = []
        run = threading.Thread(target=lambda: simulated.append(CliRunner().invoke(
            cli, ["simulate", str(control_server.exp_dir), "--workers", "2", "--concurrency", "1",
                  "--base-url", control_server.base_url], env={"MVT_REDIS_URL": redis_url})))
        run.start()
        expect(field(page, "done")).to_have_text("3", timeout=60_000)
        run.join(timeout=60)
        assert simulated and simulated[0].exit_code == 0, simulated and simulated[0].output
        do_task(api, "W9", "A9", complete=False)
    expect(field(page, "in_progress")).to_have_text("1", timeout=15_000)
    assert field(page, "in_progress").inner_text() == "1"
    assert field(page, "arrivals").inner_text() == "4" and field(page, "completions").inner_text() == "3"
    assert page.locator(".grid [role=listitem]").count() == 2
    assert page.locator("svg.spark.arrivals rect").count() >= 1
    with https_client(control_server) as api:  # refused: seen the link already
        api.post("/api/assignments", json={"link": "synth-001", "worker_id": "W0", "assignment_id": "A-again"})
    expect(field(page, "refusals")).to_have_text("seen_link 1", timeout=15_000)
    # nothing changes now: the polls get 304 and no body, and the page says when it last looked
    expect(page.locator("#live")).to_contain_text(" unchanged at ", timeout=15_000)
    assert field(page, "refusals").inner_text() == "seen_link 1"
    page.screenshot(path=str(shots / "control-live-1280.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(shots / "control-live-1920.png"))


def test_the_refresh_keeps_what_the_researcher_is_typing(page, control_server):
    sign_in(page, control_server)
    why = page.locator('article[data-experiment="synth"]').get_by_label("why: Pause arrivals")
    why.fill("half a reas")
    with https_client(control_server) as api:
        do_task(api, "W1", "A1")
    page.wait_for_timeout(4_000)  # longer than one refresh
    assert why.input_value() == "half a reas" and field(page, "done").inner_text() == "0"
    page.locator("header.bar").click()  # the field loses focus: the next refresh goes through
    expect(field(page, "done")).to_have_text("1", timeout=10_000)


def test_block_a_worker_from_the_page_and_see_them_refused(page, control_server, shots):
    sign_in(page, control_server)
    page.get_by_label("Block worker ids").fill("W-bad")
    page.get_by_label("reason for blocking").fill("answers at random")
    page.get_by_role("button", name="Block", exact=True).click()
    page.wait_for_url(f"{control_server.base_url}/admin/")
    assert page.locator(".blocked").get_by_role("link", name="W-bad").is_visible()
    assert "block W-bad" in page.locator(".log").inner_text() and "answers at random" in page.locator(".log").inner_text()
    with https_client(control_server) as api:
        refused = api.post("/api/assignments", json={"link": "synth-001", "worker_id": "W-bad",
                                                      "assignment_id": "A-bad"})
    assert (refused.status_code, refused.json()["reason"]) == (409, "blocked")


def test_pause_an_experiment_and_see_arrivals_refused(page, control_server, shots):
    sign_in(page, control_server)
    with https_client(control_server) as api:
        held = do_task(api, "W1", "A1", complete=False)
        page.locator('article[data-experiment="synth"]').get_by_label("why: Pause arrivals").fill("typo in consent")
        page.get_by_role("button", name="Pause arrivals").click()
        page.wait_for_url(f"{control_server.base_url}/admin/")
        assert field(page, "state").inner_text() == "paused"
        assert page.get_by_role("button", name="Resume arrivals").is_visible()
        page.screenshot(path=str(shots / "control-paused-1280.png"))
        refused = api.post("/api/assignments", json={"link": "synth-002", "worker_id": "W2", "assignment_id": "A2"})
        assert refused.status_code == 409 and refused.json()["reason"] == "paused"
        assert control_server.redis.llen(keys.link_free("synth-002")) == 4
        again = api.post("/api/assignments", json={"link": "synth-001", "worker_id": "W1", "assignment_id": "A1"})
        assert again.status_code == 200 and again.json()["assignment_token"] == held["assignment_token"]
        page.get_by_role("button", name="Resume arrivals").click()
        page.wait_for_url(f"{control_server.base_url}/admin/")
        assert field(page, "state").inner_text() == "open"
        assert api.post("/api/assignments", json={"link": "synth-002", "worker_id": "W2",
                                                  "assignment_id": "A2"}).status_code == 200
    assert [e["action"] for e in control.activity(control_server.redis)] == ["resume", "pause"]


def test_a_viewer_cannot_act(page, control_server, shots):
    sign_in(page, control_server, VIEWER_TOKEN)
    assert "(read-only)" in page.locator("header.bar").inner_text()
    assert page.locator('form[action^="/admin/actions/"]').count() == 0
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    status = page.evaluate("""async (csrf) => (await fetch('/admin/actions/pause', {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams({csrf, experiment: 'synth'})})).status""", csrf)
    assert status == 403
    assert control_server.redis.hget(keys.link_meta("synth-001"), "paused") is None
    page.screenshot(path=str(shots / "control-viewer-1280.png"))


def test_a_forged_csrf_token_is_refused_in_the_browser(page, control_server):
    sign_in(page, control_server)
    page.locator('form[action="/admin/actions/block"] input[name="csrf"]').evaluate("e => e.value = 'f'.repeat(64)")
    page.get_by_label("Block worker ids").fill("W7")
    page.get_by_role("button", name="Block", exact=True).click()
    assert page.get_by_role("alert").inner_text().startswith("The form's CSRF token is missing or is not this session's")
    assert not control_server.redis.exists(keys.worker_blocked("W7"))


def test_hostile_comments_and_ids_are_shown_as_text(page, control_server, shots):
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> =cmd|' /C calc'!A0"
    with https_client(control_server) as api:
        body = do_task(api, "W1", "A1", complete=False)
        api.post("/api/complete", json={"assignment_token": body["assignment_token"], "comment": hostile})
    sign_in(page, control_server)
    page.get_by_label("Worker id", exact=True).fill("W1")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"{control_server.base_url}/admin/workers/W1")
    assert page.locator("q.comment").inner_text() == hostile
    assert page.locator("main img").count() == 0
    assert page.locator("table.trials tbody tr").count() == 3
    page.get_by_role("button", name="Block").click()
    page.wait_for_url(f"{control_server.base_url}/admin/workers/W1")
    assert page.locator("h1").inner_text().endswith("blocked")
    page.screenshot(path=str(shots / "control-worker-1280.png"), full_page=False)
    with contextlib.suppress(Exception):
        page.goto(f"{control_server.base_url}/admin/workers/%3Cimg%20src=x%20onerror=alert(3)%3E")
    assert "is not a worker id" in page.get_by_role("alert").inner_text()


def serious_violations(page) -> list[str]:
    """axe-core's (shipped by axe-playwright-python) serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_the_control_room_has_no_serious_accessibility_violations_and_fits_a_phone(page, control_server, shots):
    import orjson

    from kernel.flags import record_flags

    r = control_server.redis
    r.hset(keys.platform_records("prolific", "test", "studies"), "STUDY9",
           orjson.dumps({"study_id": "STUDY9", "experiment": "synth", "places": 8, "reward_cents": 150}))
    record_flags(r, {"W1": {"reason": "gold missed 3 of 4", "rules": ["gold"], "numbers": {"gold_miss": 0.75}}},
                 experiments=["synth"])
    r.hset(keys.platform_records("prolific", "test", "submissions"), "SUB1",
           orjson.dumps({"participant_id": "W1", "status": "APPROVED", "study_id": "STUDY9"}))
    r.hset(keys.platform_done("prolific", "test", "approve"), "SUB1", orjson.dumps({"at": "2026-12-06T11:00:00+00:00"}))
    r.hset(keys.platform_done("prolific", "test", "bonus"), "SUB1:base",
           orjson.dumps({"at": "2026-12-06T12:00:00+00:00", "amount": "0.10"}))
    from tests.test_control import FIREFOX_WINDOWS

    with https_client(control_server) as api:
        do_task(api, "W1", "A1", headers={"User-Agent": FIREFOX_WINDOWS})
        do_task(api, "W2", "A2", complete=False, measured={"dpr": 2.0})  # no frame log: timing unknown
    page.goto(f"{control_server.base_url}/admin/")
    assert serious_violations(page) == []
    sign_in(page, control_server)
    found = {}
    for width, height in ((1280, 720), (1920, 1080), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for name, path in (("overview", "/admin/?per_hit=0.10&top50=0.05&top10=0.10"), ("worker", "/admin/workers/W1"),
                           ("plan", "/admin/plans/mturk/bonus?per_hit=0.10")):
            page.goto(f"{control_server.base_url}{path}")
            found[f"{name} {width}"] = serious_violations(page)
            # nothing wider than the window: no sideways scrolling of the page itself
            wide = page.evaluate("""(w) => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1)
                .map(e => e.tagName + '.' + (e.getAttribute('class') || '')).slice(0, 5)""", width)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} at {width} px: {wide}"
            page.screenshot(path=str(shots / f"control-{name}-{width}.png"), full_page=True)
    assert found == {key: [] for key in found}
    page.goto(f"{control_server.base_url}/admin/")
    assert "Spend on Prolific (test) at 1.50 per task" in page.locator("table.spend caption").inner_text()
    page.goto(f"{control_server.base_url}/admin/workers/W1")
    assert page.get_by_text("Prolific test: approved SUB1 at 2026-12-06T11:00:00+00:00").is_visible()
    assert page.get_by_text("Prolific test: paid base bonus 0.10 for SUB1 at 2026-12-06T12:00:00+00:00").is_visible()
    page.goto(f"{control_server.base_url}/admin/")
    quality = page.locator('article[data-experiment="synth"] .rates')
    expect(quality.get_by_text("timing ok by browser")).to_be_visible()
    assert "timing ok by browser Firefox: 100 % of 3; unknown: 0 % of 3" in quality.inner_text()
    assert page.locator("table.tiers").count() == 0  # no amounts typed: no tiers
    page.get_by_label("per task").fill("0.10")
    page.get_by_label("top 50 %").fill("0.05")
    page.get_by_label("top 10 %").fill("0.10")
    page.get_by_role("button", name="Price").click()
    tiers = page.locator('table.tiers[data-tiers="Prolific test"]')
    expect(tiers).to_be_visible()
    # 1 task done of 8, Prolific's 33.3 % on each payment (0.10 → 0.13, 0.05 → 0.07): see test_control
    assert tiers.locator('[data-field="tiers_done"]').inner_text() == "0.33"
    assert tiers.locator('[data-field="tiers_projected"]').inner_text() == "1.45"
    assert page.locator('.flags li[data-worker="W1"] q.reason').inner_text() == "gold missed 3 of 4"
