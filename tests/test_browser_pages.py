"""Worker pages in Debian's Chromium, against the real HTTPS server, Redis and stimulus videos.

Screenshots of every screen go to ``$MVT_SCREENSHOT_DIR`` (default: a temporary directory,
printed with ``-s``).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from kernel.admin import block_workers
from kernel.assignments import completion_record
from kernel.export import iter_response_rows

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]
ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--ignore-certificate-errors"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # An `expect` without its own timeout waits 15 s, not Playwright's 5 s: on a busy CI machine a page
    # that plays a video or waits for the server can take longer (a failing check still fails, later).
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    directory = Path(os.environ.get("MVT_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {directory}")
    return directory


@contextlib.contextmanager
def watched_page(browser, width: int, height: int, dialogs_fail: bool = False):
    """A fresh page of ``width`` × ``height``; the block fails on script errors and Content-Security-Policy
    violations (and on any dialog with ``dialogs_fail``)."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    if dialogs_fail:
        pg.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    yield pg
    context.close()
    assert problems == []


@pytest.fixture
def page(browser):
    """A fresh 1000×1000 page (`watched_page`)."""
    with watched_page(browser, 1000, 1000) as pg:
        yield pg


def links_of(exp_dir: Path) -> list[str]:
    return [link["link_id"] for link in json.loads((exp_dir / "design.json").read_text())["links"]]


def landing_url(server, link: str, **mturk) -> str:
    return f"{server.base_url}/mturk/landing?" + urlencode({"link": link, **mturk})


def mturk_params(assignment: str, worker: str, server) -> dict:
    return {"assignmentId": assignment, "workerId": worker, "hitId": "HIT1", "turkSubmitTo": server.base_url}


# ---------------------------------------------------------------------------- landing gate

def test_landing_lets_an_eligible_worker_in(live_server, page, shots):
    from playwright.sync_api import expect

    link = links_of(live_server.exp_dir)[0]
    page.goto(landing_url(live_server, link, **mturk_params("ASSIGN-OK", "WORKER-OK", live_server)))
    expect(page.get_by_role("status")).to_have_text("You can take part. The task is below.")
    frame = page.frame_locator("#mvt-frame")
    expect(frame.get_by_role("heading", name="Picture recognition task")).to_be_visible()
    expect(page.locator("#mvt-frame")).to_have_attribute(
        "src", f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-OK&c=HIT1&d=WORKER-OK")
    expect(page.get_by_role("button", name="Submit HIT")).to_be_disabled()
    page.screenshot(path=shots / "landing_eligible.png", full_page=True)


@pytest.mark.parametrize("case", ["blocked", "repeat"])
def test_landing_keeps_the_task_hidden_from_ineligible_workers(live_server, browser, shots, case):
    """At a laptop's 1366 x 650 the refusal box reads as every refusal before allocation does: the problem, how
    to return the HIT, "Nothing has been recorded." (kernel.reasons.NOTHING_RECORDED)."""
    from playwright.sync_api import expect

    link = links_of(live_server.exp_dir)[0]
    worker = f"WORKER-{case.upper()}"
    if case == "blocked":
        block_workers(live_server.redis, [worker])
        expected = "Sorry, your worker ID cannot take part in this study."
    else:
        # The worker already holds this link's task under another assignment.
        r = httpx.post(f"{live_server.base_url}/api/assignments", verify=False, json={
            "link": link, "worker_id": worker, "assignment_id": "ASSIGN-EARLIER", "hit_id": "HIT0"})
        assert r.status_code == 200, r.text
        expected = "You have already done this task. Each participant can do it only once."
    with watched_page(browser, 1366, 650) as page:
        page.goto(landing_url(live_server, link, **mturk_params("ASSIGN-NEW", worker, live_server)))
        expect(page.locator("#mvt-refused-text")).to_have_text(expected)
        expect(page.locator("#mvt-refused-return")).to_have_text(
            "Please return this HIT (“Return” button). Nothing has been recorded. Thank you!")
        for line in (expected, "Nothing has been recorded."):
            expect(page.get_by_text(line)).to_be_in_viewport()
        expect(page.locator("#mvt-task")).to_be_hidden()
        assert page.locator("#mvt-frame").get_attribute("src") is None
        page.screenshot(path=shots / f"landing_{case}_1366x650.png", full_page=True)


HOSTILE_TITLE = 'Cats <b>&amp;</b> "dogs" <img src=x onerror=alert(1)>'


@pytest.mark.parametrize("width, height", [(1366, 650), (1280, 600), (390, 844)])
def test_the_landing_and_the_incomplete_link_page_name_the_study_that_refused(live_server, browser, shots, width,
                                                                              height):
    """A worker with several HITs open reads which study refused them: the title the researcher set, as
    text (markup in it stays text), in the landing layout's refusal box (from the eligibility answer)
    and on the 400 page of a link that lacks the worker's id. Before: neither named the study."""
    from playwright.sync_api import expect

    from kernel.store import keys

    link = links_of(live_server.exp_dir)[0]
    experiment = live_server.redis.hget(keys.link_meta(link), "experiment_id")
    study = json.loads(live_server.redis.get(keys.experiment_study(experiment)))
    live_server.redis.set(keys.experiment_study(experiment), json.dumps({**study, "title": HOSTILE_TITLE}))
    block_workers(live_server.redis, ["WORKER-TITLED"])
    answer = httpx.get(f"{live_server.base_url}/api/eligibility", verify=False,
                       params={"link": link, "worker_id": "WORKER-TITLED"})
    assert answer.json() == {"eligible": False, "reason": "blocked", "study_title": HOSTILE_TITLE}
    incomplete = f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-TITLED&c=HIT1"
    answer = httpx.get(incomplete, verify=False)
    assert answer.status_code == 400
    assert '<p class="study-name" id="error-study">Cats &lt;b&gt;&amp;amp;&lt;/b&gt; &#34;dogs&#34; &lt;img' in answer.text
    with watched_page(browser, width, height) as page:
        page.goto(landing_url(live_server, link, **mturk_params("ASSIGN-TITLED", "WORKER-TITLED", live_server)))
        expect(page.locator("#mvt-refused-study")).to_have_text("Study: " + HOSTILE_TITLE)
        expect(page.locator("#mvt-refused-text")).to_have_text("Sorry, your worker ID cannot take part in this study.")
        assert page.locator("#mvt-refused b, #mvt-refused img").count() == 0
        page.screenshot(path=shots / f"landing_refused_titled_{width}x{height}.png")
        page.goto(incomplete)
        expect(page.get_by_role("heading", name="This task link is incomplete")).to_be_visible()
        expect(page.locator("#error-study")).to_have_text(HOSTILE_TITLE)
        expect(page.get_by_text("The worker id in the address of this page is missing or not valid.")).to_be_visible()
        page.screenshot(path=shots / f"incomplete_link_titled_{width}x{height}.png")


def test_landing_preview_shows_instructions_only(live_server, page, shots):
    from playwright.sync_api import expect

    link = links_of(live_server.exp_dir)[0]
    page.goto(landing_url(live_server, link, assignmentId="ASSIGNMENT_ID_NOT_AVAILABLE", hitId="HIT1"))
    expect(page.get_by_text("Accept the HIT to start the task.")).to_be_visible()
    # The server's preview of this study, in the task's place; no code box, nothing to press.
    preview = page.frame_locator("#mvt-frame")
    expect(preview.get_by_role("heading", name="Photosensitivity warning")).to_be_visible()
    expect(preview.get_by_role("heading", name="Picture recognition task (preview)")).to_be_visible()
    expect(page.locator("#mvt-code")).to_be_hidden()
    expect(preview.get_by_role("button")).to_have_count(0)
    assert page.locator("#mvt-frame").get_attribute("src") == (
        f"{live_server.base_url}/experiment.html?link={link}&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    assert live_server.redis.keys("*worker*") == []  # nothing was asked of the server for a worker
    page.screenshot(path=shots / "landing_preview.png", full_page=True)

    page.goto(f"{live_server.base_url}/experiment.html?link={link}&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    expect(page.get_by_text("This is a preview. Accept the HIT to start the task.")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(0)
    page.screenshot(path=shots / "runner_preview.png", full_page=True)


@pytest.mark.parametrize("case, expected", [
    ("blocked", "Sorry, your worker ID cannot take part in this study. Please return the HIT. Nothing has been "
                "recorded."),
    ("no_reason", "Sorry, you cannot take part in this task. Please return the HIT."),
])
def test_runner_tells_a_refused_worker_the_servers_sentence(live_server, page, case, expected):
    """The sentences come from kernel/reasons.py through the page's config, not from the runner."""
    from playwright.sync_api import expect

    worker = f"WORKER-REFUSED-{case.upper()}"
    if case == "blocked":
        block_workers(live_server.redis, [worker])
    else:
        page.route("**/api/assignments", lambda route: route.fulfill(status=409, json={}))
    link = links_of(live_server.exp_dir)[0]
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-{case.upper()}&c=HIT1&d={worker}")
    if case != "blocked":  # a blocked worker is told before consent (eligibility is asked first)
        page.get_by_role("button", name="I agree — continue").click()
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Sorry")).to_be_visible()
    expect(page.locator("#stop-message")).to_have_text(expected)


def with_options(names: list[str]):
    """A route handler giving the assignment (and each trial) these answer options."""
    def handler(route):
        response = route.fetch()
        data = response.json()
        data["options"] = names
        for trial in data["trials"]:
            trial["options"] = names
        route.fulfill(response=response, json=data)
    return handler


def test_answer_screen_shows_any_class_names_as_text_and_filters_long_lists(live_server, page, shots):
    """Many classes with markup, quotes and non-Latin names: text only, filter, keyboard."""
    from playwright.sync_api import expect

    names = [f"class {i:02d}" for i in range(20)] + ['<img src=x onerror="document.title=1">', 'Zoë & "quotes"', "右"]
    page.route("**/api/assignments", with_options(names))
    link = links_of(live_server.exp_dir)[0]
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-NAMES&c=HIT1&d=WORKER-NAMES")
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Start the task").click()
    page.get_by_role("button", name="Play").click()
    expect(page.locator(".choice")).to_have_count(len(names))
    expect(page.get_by_role("radio", name=names[20], exact=True)).to_be_attached()
    assert page.locator("#answer-options img").count() == 0
    filter_box = page.get_by_label("Filter the list:")
    expect(filter_box).to_be_focused()
    page.screenshot(path=shots / "answer_many.png", full_page=True)
    filter_box.fill("zo")
    expect(page.locator(".choice:visible")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.get_by_role("radio", name='Zoë & "quotes"')).to_be_checked()
    filter_box.fill("class")
    expect(page.locator(".choice:visible")).to_have_count(20)
    filter_box.press("Tab")
    page.keyboard.press("3")
    expect(page.get_by_role("radio", name="class 02")).to_be_checked()
    assert page.title() != "1"


def test_display_check_warns_about_a_small_window(live_server, page, shots):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 420, "height": 480})
    link = links_of(live_server.exp_dir)[0]
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-SMALL&c=HIT1&d=WORKER-SMALL")
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Start the task")).to_be_enabled(timeout=10000)
    expect(page.locator("#check-warning")).to_contain_text("Your window is small")
    page.screenshot(path=shots / "display_check_small_window.png", full_page=True)
    page.get_by_role("button", name="Start the task").click()
    box = page.locator("#video-box").bounding_box()
    assert box["width"] == box["height"] <= 420


@pytest.mark.parametrize("query, text", [
    ("", "Accept the HIT to start the task."),
    ("?assignmentId=A&workerId=W&hitId=H", "This HIT is set up wrongly: it has no task link. Please return it."),
])
def test_layout_without_a_hit_link(page, query, text):
    """The project editor's preview shows the layout before any CSV row fills ``${HIT_Link}``."""
    from playwright.sync_api import expect

    raw = (Path(__file__).resolve().parent.parent / "mturk_landing" / "landing.html").read_text()
    url = "https://requester.mturk.com/create/preview"
    page.route(url + "*", lambda route: route.fulfill(content_type="text/html", body=raw))
    page.goto(url + query)
    expect(page.get_by_text(text)).to_be_visible()
    expect(page.locator("#mvt-task")).to_be_hidden()


MTURK_LAYOUT_PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<form name="mturk_form" method="post" id="mturk_form" action="https://workersandbox.mturk.com/mturk/externalSubmit">
<input type="hidden" value="" name="assignmentId" id="assignmentId">
{layout}
<p><input type="submit" id="submitButton" value="Submit"></p>
</form></body></html>"""


def test_landing_inside_mturks_layout_wrapper_submits_mturks_form(live_server, page):
    """As MTurk serves a Design Layout: from www.mturkcontent.com, inside MTurk's own form.

    The eligibility request is cross-origin (CORS), MTurk's Submit button waits for the code,
    and the code from the task frame is submitted through MTurk's form.
    """
    from playwright.sync_api import expect

    from platforms.mturk.landing import render_landing

    link = links_of(live_server.exp_dir)[0]
    layout = render_landing(f"{live_server.base_url}/experiment.html?link={link}")
    hit_page = ("https://www.mturkcontent.com/dynamic/hit?assignmentId=ASSIGN-WRAP&hitId=HIT1"
                "&workerId=WORKER-WRAP&turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com")
    page.route(hit_page, lambda route: route.fulfill(
        content_type="text/html", body=MTURK_LAYOUT_PAGE.format(layout=layout)))
    submitted = []

    def external_submit(route):
        submitted.append(route.request.post_data)
        route.fulfill(content_type="text/html", body="<p>HIT submitted</p>")

    page.route("https://workersandbox.mturk.com/mturk/externalSubmit", external_submit)
    page.context.grant_permissions(["local-network-access"])
    page.goto(hit_page)
    expect(page.get_by_role("status")).to_have_text("You can take part. The task is below.")
    expect(page.locator("#submitButton")).to_be_disabled()
    task = page.frame_locator("#mvt-frame")
    expect(task.get_by_role("heading", name="Picture recognition task")).to_be_visible()

    runner = next(f for f in page.frames if f.url.startswith(live_server.base_url))
    runner.evaluate("""() => window.parent.postMessage(
        {type: "mvt-complete", assignmentId: "ASSIGN-WRAP", completionCode: "MVT-TEST-CODE"}, "*")""")
    expect(page.get_by_text("HIT submitted")).to_be_visible(timeout=10000)
    fields = dict(part.split("=", 1) for part in submitted[0].split("&"))
    assert fields == {"assignmentId": "ASSIGN-WRAP", "completion_code": "MVT-TEST-CODE"}


def test_landing_ignores_messages_from_other_origins(live_server, page):
    from playwright.sync_api import expect

    link = links_of(live_server.exp_dir)[0]
    page.goto(landing_url(live_server, link, **mturk_params("ASSIGN-MSG", "WORKER-MSG", live_server)))
    expect(page.get_by_role("status")).to_have_text("You can take part. The task is below.")
    # The landing page itself (not the task frame) posts a forged completion: ignored.
    page.evaluate("""() => window.postMessage(
        {type: "mvt-complete", assignmentId: "ASSIGN-MSG", completionCode: "FORGED"}, "*")""")
    page.wait_for_timeout(300)
    expect(page.locator("#mvt-code")).to_have_value("")
    expect(page.get_by_role("button", name="Submit HIT")).to_be_disabled()


# ---------------------------------------------------------------------------- whole tasks

def answer_trial(scope, t: int, shots: Path | None = None, page=None) -> str:
    """Play trial ``t`` and pick option ``t % n``; returns the label clicked."""
    from playwright.sync_api import expect

    play = scope.get_by_role("button", name="Play")
    expect(play).to_be_enabled(timeout=20000)
    if shots:
        page.screenshot(path=shots / "trial.png", full_page=True)
    play.click()
    expect(scope.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    options = scope.locator(".choice-text").all_inner_texts()
    label = options[t % len(options)]
    scope.get_by_role("radio", name=label, exact=True).check()
    if shots:
        page.screenshot(path=shots / "answer.png", full_page=True)
    scope.get_by_role("button", name="Next").click()
    return label


def recorded(server, assignment_id: str) -> list[dict]:
    rows = [row for row in iter_response_rows(server.redis) if row["assignment_id"] == assignment_id]
    return sorted(rows, key=lambda row: int(row["trial"]))


def wait_recorded(page, server, assignment_id: str) -> list[dict]:
    """The assignment's recorded rows, waiting up to 5 s for the first to arrive."""
    for _ in range(50):
        rows = recorded(server, assignment_id)
        if rows:
            return rows
        page.wait_for_timeout(100)
    return []


def check_timing(rows: list[dict]) -> None:
    """Every trial measured with requestVideoFrameCallback, and the image frames as intended.

    Frames can really be dropped on a busy machine (CI; at load 20 a 6-frame image once showed 0
    frames, 13 dropped), so: never more than intended, nearly all trials exact, a 6-frame stimulus
    shown exactly at least once, and a trial that did not show its frames never certified. On an
    idle machine every trial is exact.
    """
    for row in rows:
        frames, presented = int(row["frames"]), row["presented_frames"]
        assert row["timing_source"] == "rvfc", row
        assert presented is not None and presented != "", row
        assert 0 <= int(presented) <= frames, row
        assert row["hidden_during_video"] in (False, "false", "False", 0, "0"), row
        assert 8 < float(row["refresh_interval_ms"]) < 40, row
        assert int(row["dropped_frames"]) >= 0, row
        assert int(row["frames_presented_total"]) > 0, row
        if int(presented) != frames:
            assert row["timing_ok"] in (False, "false", "False", 0, "0"), row
    print("\n(frames, presented_frames, dropped, frame_log):",
          [(row["frames"], row["presented_frames"], row["dropped_frames"], row["frame_log"]) for row in rows])
    exact = sum(int(row["presented_frames"]) == int(row["frames"]) for row in rows)
    assert exact >= len(rows) - 3
    six = [int(row["presented_frames"]) for row in rows if int(row["frames"]) == 6]
    assert 6 in six, six


def test_full_task_through_the_landing_page_with_a_reload(live_server, page, shots):
    """Consent → … → 8 trials (reload after 3, the last unsent) → completion → externalSubmit stand-in."""
    from playwright.sync_api import expect

    link = links_of(live_server.exp_dir)[0]
    assignment = "ASSIGN-FULL"
    page.goto(landing_url(live_server, link, **mturk_params(assignment, "WORKER-FULL", live_server)))
    task = page.frame_locator("#mvt-frame")
    task.get_by_role("button", name="I agree — continue").click()
    expect(task.get_by_role("heading", name="Instructions")).to_be_visible()
    task.get_by_role("button", name="Continue").click()
    start = task.get_by_role("button", name="Start the task")
    expect(start).to_be_enabled(timeout=10000)
    expect(task.locator("#check-result")).to_contain_text("Your screen refreshes about")
    start.click()

    clicked = []
    for t in range(2):
        clicked.append(answer_trial(task, t))
    # The third answer never reaches the server before the reload: it waits in localStorage.
    page.route("**/api/responses", lambda route: route.abort("internetdisconnected"))
    clicked.append(answer_trial(task, 2))
    expect(task.get_by_role("heading", name="Trial 4 of 8")).to_be_visible()
    expect(task.locator("#net-status")).to_contain_text("Connection problem — retrying", timeout=10000)
    page.unroute("**/api/responses")

    page.reload()  # the landing page asks again (own assignment: eligible) and the runner resumes
    task = page.frame_locator("#mvt-frame")
    expect(task.locator("#check-result")).to_contain_text("Welcome back: you continue at trial 4 of 8.",
                                                          timeout=10000)
    task.get_by_role("button", name="Start the task").click()
    expect(task.get_by_role("heading", name="Trial 4 of 8")).to_be_visible()
    for t in range(3, 8):
        clicked.append(answer_trial(task, t))

    expect(task.get_by_role("heading", name="Thank you — one last, optional question")).to_be_visible()
    task.get_by_label("Anything you want to tell us about the task (optional):").fill("The videos were quick.")
    page.screenshot(path=shots / "debrief.png")
    task.get_by_role("button", name="Finish and get my code").click()
    expect(task.get_by_role("heading", name="Thank you — you are done")).to_be_visible(timeout=15000)
    code = completion_record(live_server.redis, assignment)["completion_code"]
    expect(task.locator("#completion-code")).to_have_text(code)
    expect(page.locator("#mvt-code")).to_have_value(code)
    page.wait_for_url("**/mturk/externalSubmit", timeout=15000)
    fields = dict(zip(page.locator("#submitted-fields td:nth-child(1)").all_inner_texts(),
                      page.locator("#submitted-fields td:nth-child(2)").all_inner_texts()))
    assert fields == {"assignmentId": assignment, "completion_code": code}

    rows = recorded(live_server, assignment)
    assert [row["response"] for row in rows] == clicked
    assert [int(row["trial"]) for row in rows] == list(range(8))
    assert {row["assignment_status"] for row in rows} == {"complete"}
    assert {row["comment"] for row in rows} == {"The videos were quick."}
    check_timing(rows)


MTURK_FRAME_PAGE = """<!doctype html><html><body style="margin:0">
<iframe id="hit" src="{src}" style="border:0;width:100vw;height:100vh"></iframe></body></html>"""


def test_full_task_in_mturks_frame_by_keyboard_posts_to_external_submit(live_server, page, shots):
    """An ExternalQuestion HIT: MTurk frames the runner with turkSubmitTo; it submits itself.

    Keyboard only, and the first answers are lost on the network and must be retried.
    """
    from playwright.sync_api import expect

    link = links_of(live_server.exp_dir)[1]
    assignment = "ASSIGN-KEYS"
    runner_url = f"{live_server.base_url}/experiment.html?" + urlencode(
        {"link": link, **mturk_params(assignment, "WORKER-KEYS", live_server)})
    # MTurk's worker site, played by Playwright: the runner's CSP must allow this ancestor.
    mturk_page = "https://workersandbox.mturk.com/projects/P/tasks/T"
    page.route(mturk_page, lambda route: route.fulfill(
        content_type="text/html", body=MTURK_FRAME_PAGE.format(src=runner_url.replace("&", "&amp;"))))
    failures = {"left": 3}

    def flaky_network(route):
        if failures["left"] > 0:
            failures["left"] -= 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/responses", flaky_network)
    # A public site framing 127.0.0.1 needs Chromium's local-network permission (a real server is public).
    page.context.grant_permissions(["local-network-access"])
    page.goto(mturk_page)
    hit = page.frame_locator("#hit")
    heading = hit.get_by_role("heading", name="Picture recognition task")
    # (Screenshots here are viewport-sized: full-page ones of a cross-site frame come out blank.)
    heading.click()  # the worker clicks into MTurk's frame once; from here on only keys
    expect(heading).to_be_focused()
    page.screenshot(path=shots / "consent.png")
    page.keyboard.press("Tab")
    expect(hit.get_by_role("button", name="I agree — continue")).to_be_focused()
    page.keyboard.press("Enter")
    expect(hit.get_by_role("heading", name="Instructions")).to_be_focused()
    page.screenshot(path=shots / "instructions.png")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    start = hit.get_by_role("button", name="Start the task")
    expect(start).to_be_focused(timeout=10000)
    page.screenshot(path=shots / "display_check.png")
    page.keyboard.press("Enter")

    chosen = []
    for t in range(8):
        expect(hit.get_by_role("button", name="Play")).to_be_focused(timeout=20000)
        if t == 0:
            page.screenshot(path=shots / "trial.png")
        page.keyboard.press("Space")
        expect(hit.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
        options = hit.locator(".choice-text").all_inner_texts()
        k = (t * 3) % len(options)
        page.keyboard.press(str(k + 1))
        expect(hit.get_by_role("radio", name=options[k], exact=True)).to_be_checked()
        if t == 0:
            page.screenshot(path=shots / "answer.png")
        page.keyboard.press("Enter")
        chosen.append(options[k])

    expect(hit.get_by_role("heading", name="Thank you — one last, optional question")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(hit.get_by_role("heading", name="Thank you — you are done")).to_be_visible(timeout=15000)
    page.screenshot(path=shots / "done.png")
    submitted = hit.locator("#submitted-fields")
    expect(submitted).to_be_visible(timeout=15000)
    page.screenshot(path=shots / "external_submit.png")
    code = completion_record(live_server.redis, assignment)["completion_code"]
    fields = dict(zip(submitted.locator("td:nth-child(1)").all_inner_texts(),
                      submitted.locator("td:nth-child(2)").all_inner_texts()))
    assert fields == {"assignmentId": assignment, "completion_code": code}
    assert failures["left"] == 0
    rows = recorded(live_server, assignment)
    assert [row["response"] for row in rows] == chosen
    check_timing(rows)


STALL_AT_FRAME = """(() => {
  // Playback stops at frame index %d and never reaches "ended", as when a video stalls.
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    const video = this;
    const watch = (now, meta) => {
      if (Math.round(meta.mediaTime * 60) >= %d) video.pause();
      else video.requestVideoFrameCallback(watch);
    };
    video.requestVideoFrameCallback(watch);
    return play.call(this);
  };
})()"""


def test_a_video_that_stalls_mid_image_goes_on_to_the_answer_and_fails_the_timing_check(live_server, page):
    """Playback stops inside the image segment (``ended`` never fires): the worker is not stuck,
    and the held image does not pass as correctly timed."""
    from playwright.sync_api import expect

    stimuli = json.loads((live_server.exp_dir / "stimuli.json").read_text())
    fixation = stimuli["fixation_frames"]

    def longest_first(route):
        response = route.fetch()
        data = response.json()
        frames = lambda trial: stimuli["videos"][trial["video_url"].rsplit("/", 1)[1].split(".")[0]]["frames"]
        data["trials"].sort(key=lambda trial: -frames(trial))
        route.fulfill(response=response, json=data)

    page.route("**/api/assignments", longest_first)
    page.add_init_script(STALL_AT_FRAME % (fixation + 10, fixation + 10))
    link = links_of(live_server.exp_dir)[0]
    assignment = "ASSIGN-STALL"
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b={assignment}&c=HIT1&d=WORKER-STALL")
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Start the task").click()
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_text("What did the picture show?")).to_be_visible(timeout=15000)
    page.locator(".choice").first.click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Trial 2 of 8")).to_be_visible()

    (row,) = wait_recorded(page, live_server, assignment)
    assert int(row["frames"]) == max(stimuli["frame_counts"])
    assert row["presented_frames"] not in (None, "") and int(row["presented_frames"]) < int(row["frames"]), row
    assert row["timing_ok"] in (False, "false", "False", 0, "0"), row


DROP_FRAME = """(() => {
  // The browser drops video frame %d: no callback for it, and presentedFrames skips it.
  const drop = %d;
  const request = HTMLVideoElement.prototype.requestVideoFrameCallback;
  HTMLVideoElement.prototype.requestVideoFrameCallback = function (callback) {
    const video = this;
    const wrapped = (now, meta) => {
      const idx = Math.round(meta.mediaTime * 60);
      if (idx === drop) { request.call(video, wrapped); return; }
      callback(now, {mediaTime: meta.mediaTime,
                     presentedFrames: meta.presentedFrames - (idx > drop ? 1 : 0)});
    };
    return request.call(video, wrapped);
  };
})()"""


def test_a_dropped_first_mask_frame_means_the_image_was_held_and_fails_the_timing_check(live_server, page):
    """When the frame after the image is dropped, the last image frame stays on screen for two
    refreshes: the image was shown longer than intended, so its frame is not confirmed."""
    from playwright.sync_api import expect

    stimuli = json.loads((live_server.exp_dir / "stimuli.json").read_text())
    fixation, frames = stimuli["fixation_frames"], 6

    def six_frames_first(route):
        response = route.fetch()
        data = response.json()
        n_frames = lambda trial: stimuli["videos"][trial["video_url"].rsplit("/", 1)[1].split(".")[0]]["frames"]
        data["trials"].sort(key=lambda trial: n_frames(trial) != frames)
        route.fulfill(response=response, json=data)

    page.route("**/api/assignments", six_frames_first)
    page.add_init_script(DROP_FRAME % (fixation + frames, fixation + frames))
    link = links_of(live_server.exp_dir)[0]
    assignment = "ASSIGN-DROP"
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b={assignment}&c=HIT1&d=WORKER-DROP")
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Start the task").click()
    answer_trial(page, 0)
    expect(page.get_by_role("heading", name="Trial 2 of 8")).to_be_visible()

    (row,) = wait_recorded(page, live_server, assignment)
    assert int(row["frames"]) == frames
    assert str(fixation + frames) not in row["frame_log"].replace("-", ",").split(","), row
    assert int(row["presented_frames"]) < frames, row
    assert row["timing_ok"] in (False, "false", "False", 0, "0"), row
