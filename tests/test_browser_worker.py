"""What a worker really sees, in Chromium inside the landing layout at real window sizes.

The stimulus wholly on screen (or the trial flagged), no replay after a reload, one tab per
assignment, bounded requests for broken videos ending on the return-the-HIT screen, a
confirming Enter that cannot start the next video, a block taking effect mid-task, 50 options
with Next in view, a phone refused by the default device rules. Screenshots of every screen go
to ``$MVT_SCREENSHOT_DIR`` (default ``/tmp/worker-shots``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.validation import FRAME_TIMES_RE
from kernel.admin import block_workers
from kernel.export import iter_response_rows
from kernel.responses import FRAME_TIMES_COMPACT_RE
from kernel.store import keys
from tests.test_browser_pages import (CHROMIUM, browser, links_of, mturk_params,  # noqa: F401 (browser: fixture)
                                      with_options)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]
SIZES = {"1366x650": (1366, 650), "1280x720": (1280, 720), "1280x600": (1280, 600)}


@pytest.fixture(scope="module")
def shots() -> Path:
    directory = Path(os.environ.get("MVT_SCREENSHOT_DIR") or "/tmp/worker-shots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def sized_page(browser):
    """``sized_page(width, height, **context options)``: a page in a window of that size (the
    screen 118 px taller, as a browser's bars take); the test fails on any script error."""
    opened = []

    def make(width: int, height: int, **options):
        context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height},
                                      screen={"width": width, "height": height + 118}, **options)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        opened.append((context, problems))
        return page

    yield make
    for context, problems in opened:
        context.close()
        assert problems == []


def landing(server, link: str, assignment: str, worker: str) -> str:
    return f"{server.base_url}/mturk/landing?" + urlencode({"link": link, **mturk_params(assignment, worker, server)})


def rows_of(server, assignment_id: str, n: int = 1, page=None) -> list[dict]:
    """The assignment's recorded rows, waiting up to 5 s for ``n`` of them."""
    for _ in range(50):
        rows = sorted((row for row in iter_response_rows(server.redis) if row["assignment_id"] == assignment_id),
                      key=lambda row: row["trial"])
        if len(rows) >= n:
            return rows
        page.wait_for_timeout(100)
    return rows


def in_viewport(page, locator) -> bool:
    """Whether the element's whole box is inside the top-level window (bounding_box is in its coordinates)."""
    box = locator.bounding_box()
    view = page.viewport_size
    return (box is not None and box["x"] >= -0.5 and box["y"] >= -0.5
            and box["x"] + box["width"] <= view["width"] + 0.5 and box["y"] + box["height"] <= view["height"] + 0.5)


def start_task(page, task, shots: Path | None = None, prefix: str = "") -> None:
    """Consent → instructions → display check → the first trial's screen, screenshots on the way."""
    from playwright.sync_api import expect

    expect(task.get_by_role("button", name="I agree — continue")).to_be_visible(timeout=10000)
    if shots:
        page.screenshot(path=shots / f"{prefix}1_consent.png")
    task.get_by_role("button", name="I agree — continue").click()
    expect(task.get_by_role("heading", name="Instructions")).to_be_visible()
    if shots:
        page.screenshot(path=shots / f"{prefix}2_instructions.png")
    task.get_by_role("button", name="Continue").click()
    start = task.get_by_role("button", name="Start the task")
    expect(start).to_be_enabled(timeout=10000)
    # The worker scrolled the HIT page down to Continue; the check's result must come into view.
    for part in (task.get_by_role("heading", name="Display check"), task.locator("#check-result")):
        assert in_viewport(page, part), "the display check's top is outside the window"
    if shots:
        page.screenshot(path=shots / f"{prefix}3_display_check.png")
    start.click()


def play_and_answer(page, task, t: int, shots: Path | None = None, prefix: str = "") -> None:
    from playwright.sync_api import expect

    play = task.get_by_role("button", name="Play")
    expect(play).to_be_enabled(timeout=20000)
    assert in_viewport(page, task.locator("#video")), "the video is not wholly in the window before Play"
    assert in_viewport(page, play), "Play is outside the window"
    if shots:
        page.screenshot(path=shots / f"{prefix}4_trial.png")
    play.click()
    expect(task.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    options = task.locator(".choice-text").all_inner_texts()
    task.get_by_role("radio", name=options[t % len(options)], exact=True).check()
    assert in_viewport(page, task.get_by_role("button", name="Next")), "Next is outside the window"
    if shots:
        page.screenshot(path=shots / f"{prefix}5_answer.png")
    task.get_by_role("button", name="Next").click()


@pytest.mark.parametrize("size", sorted(SIZES))
def test_stimulus_on_screen_in_the_landing_layout_and_a_reload_does_not_replay(live_server, sized_page, shots, size):
    """Cross, video and Play inside the worker's window; recorded as wholly visible; a reload on
    the answer screen goes back to that answer without showing the video again (plays = 1)."""
    from playwright.sync_api import expect

    page = sized_page(*SIZES[size])
    link = links_of(live_server.exp_dir)[0]
    assignment = f"ASSIGN-SEEN-{size}"
    page.goto(landing(live_server, link, assignment, f"WORKER-SEEN-{size}"))
    task = page.frame_locator("#mvt-frame")
    start_task(page, task, shots, f"{size}_")
    play_and_answer(page, task, 0, shots, f"{size}_")

    videos = []
    page.on("request", lambda req: videos.append(req.url) if "/videos/" in req.url else None)
    play = task.get_by_role("button", name="Play")
    expect(play).to_be_enabled(timeout=20000)
    play.click()
    expect(task.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    page.reload()
    task = page.frame_locator("#mvt-frame")
    expect(task.locator("#check-result")).to_contain_text("you continue at trial 2 of 8", timeout=10000)
    page.screenshot(path=shots / f"{size}_6_welcome_back.png")
    task.get_by_role("button", name="Start the task").click()
    expect(task.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    expect(task.get_by_role("button", name="Play")).to_be_hidden()
    task.locator(".choice").first.click()
    task.get_by_role("button", name="Next").click()
    expect(task.get_by_role("heading", name="Trial 3 of 8")).to_be_visible()

    rows = rows_of(live_server, assignment, 2, page)
    assert [row["trial"] for row in rows] == [0, 1]
    for row in rows:
        assert row["stimulus_visible"] is True, row
        assert row["plays"] == 1, row
        assert row["viewport_h"] <= SIZES[size][1] and row["screen_w"] == SIZES[size][0], row
        assert row["input_type"] == "mouse" and row["dpr"] == 1 and row["fullscreen"] is False, row
        # Drawn at the size built (--size 128), one device pixel per video pixel.
        assert row["video_px"] == 128 and row["drawn_device_px"] == 128, row
        assert (row["top_viewport_w"], row["top_viewport_h"]) == SIZES[size], row
        # A busy machine may drop or hold a frame (measured, so flagged); never a replay, hiding or navigation.
        assert row["timing_reason"] in (None, "image_frames", "image_time", "image_time_unknown",
                                        "mask_onset_missing", "mask_short"), row
    assert rows[0]["timing_source"] == "rvfc"
    # The page sent its frame times compactly; stored so, exported as index:ms text.
    stored = json.loads(live_server.redis.hget(keys.link_responses(link), f"{assignment}:0"))
    assert any(isinstance(value, str) and FRAME_TIMES_COMPACT_RE.fullmatch(value) for value in stored), stored
    assert FRAME_TIMES_RE.fullmatch(rows[0]["frame_times"]), rows[0]
    assert rows[1]["frame_log"] is not None  # measured before the reload, kept in localStorage
    # The reload fetched trial 3's video (preloaded), never trial 2's again.
    trial2 = rows[1]["video_id"]
    assert not [url for url in videos[1:] if trial2 in url], videos


def test_a_stimulus_scrolled_partly_away_while_playing_is_flagged(live_server, sized_page, shots):
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    link = links_of(live_server.exp_dir)[0]
    assignment = "ASSIGN-SCROLLED"
    page.goto(landing(live_server, link, assignment, "WORKER-SCROLLED"))
    task = page.frame_locator("#mvt-frame")
    start_task(page, task)
    play = task.get_by_role("button", name="Play")
    expect(play).to_be_enabled(timeout=20000)
    play.click()
    page.mouse.wheel(0, 300)  # the worker scrolls the HIT page while the video plays
    page.wait_for_timeout(400)
    page.screenshot(path=shots / "1280x720_scrolled_during_video.png")
    expect(task.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    task.locator(".choice").first.click()
    task.get_by_role("button", name="Next").click()
    (row,) = rows_of(live_server, assignment, 1, page)
    assert row["stimulus_visible"] is False, row
    assert row["timing_ok"] is False, row


def test_a_phone_is_told_before_consent_and_nothing_is_allocated(live_server, sized_page, shots):
    """The default device rules keep touch devices out; with touch allowed, a phone plays in view."""
    from playwright.sync_api import expect

    page = sized_page(390, 844, has_touch=True, is_mobile=True, device_scale_factor=3)
    link = links_of(live_server.exp_dir)[0]
    page.goto(landing(live_server, link, "ASSIGN-PHONE", "WORKER-PHONE"))
    task = page.frame_locator("#mvt-frame")
    expect(task.locator("#stop-message")).to_have_text(
        "This task needs a computer with a mouse or keyboard; it cannot be done on a phone or tablet. "
        "Please return the HIT. Nothing has been recorded.")
    page.screenshot(path=shots / "390x844_refused.png")
    assert live_server.redis.keys("*WORKER-PHONE*") == []

    experiment = json.loads((live_server.exp_dir / "design.json").read_text())["experiment_id"]
    from stimuli.study import study_config

    allowed = study_config({"device": {"touch_allowed": True}}, n_trials=8, mean_video_s=1.0)
    live_server.redis.set(keys.experiment_study(experiment), json.dumps(allowed))
    page.goto(landing(live_server, link, "ASSIGN-PHONE2", "WORKER-PHONE2"))
    task = page.frame_locator("#mvt-frame")
    start_task(page, task, shots, "390x844_")
    play = task.get_by_role("button", name="Play")
    expect(play).to_be_enabled(timeout=20000)
    assert in_viewport(page, task.locator("#video")) and in_viewport(page, play)
    page.screenshot(path=shots / "390x844_4_trial.png")
    play.tap()
    expect(task.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    page.screenshot(path=shots / "390x844_5_answer.png")
    expect(task.get_by_label("Filter the list:")).not_to_be_focused()
    task.locator(".choice").first.tap()
    task.get_by_role("button", name="Next").tap()
    (row,) = rows_of(live_server, "ASSIGN-PHONE2", 1, page)
    assert row["input_type"] == "touch" and row["dpr"] == 3, row
    assert row["stimulus_visible"] is True or row["timing_ok"] is False, row


@pytest.mark.parametrize("case", ["30hz", "busy_cpu_4x"])
def test_a_30_hz_display_is_told_before_consent_and_nothing_is_allocated(live_server, sized_page, shots, case):
    """At 30 Hz every other video frame is never shown: the default refresh rule turns it away. A
    60 Hz display on a busy computer (the page's main thread 4x slower, CDP
    Emulation.setCPUThrottlingRate, and the pages busy 8-28 ms in every 25) is not turned away."""
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    if case == "30hz":
        # A display refreshing 30 times a second, as requestAnimationFrame sees it (every frame).
        page.add_init_script("window.requestAnimationFrame = (cb) => setTimeout(() => cb(performance.now()), 1000 / 30);")
    else:
        page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
        page.add_init_script("""setInterval(() => { const end = performance.now() + 8 + Math.random() * 20;
                                while (performance.now() < end); }, 25);""")
    link = links_of(live_server.exp_dir)[0]
    worker = f"WORKER-{case.upper()}".replace("_", "-")
    page.goto(landing(live_server, link, f"ASSIGN-{case.upper()}".replace("_", "-"), worker))
    task = page.frame_locator("#mvt-frame")
    if case != "30hz":
        # The device rules run before consent: consent shows only once they passed.
        expect(task.get_by_role("button", name="I agree — continue")).to_be_visible(timeout=60000)
        expect(task.locator("#stop-message")).to_be_hidden()
        page.screenshot(path=shots / f"1280x720_{case}_consent.png")
        return
    expect(task.locator("#stop-message")).to_contain_text("Your screen refreshes about 30 times per second; this "
                                                          "task needs a display at 60 Hz", timeout=10000)
    expect(task.locator("#stop-message")).to_contain_text("Please return the HIT. Nothing has been recorded.")
    page.screenshot(path=shots / "1280x720_refused_30hz.png")
    assert live_server.redis.keys(f"*{worker}*") == []


def test_a_direct_link_to_a_full_link_says_so_before_consent(live_server, sized_page, shots):
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    page.route("**/api/eligibility*", lambda route: route.fulfill(json={"eligible": False, "reason": "link_full"}))
    link = links_of(live_server.exp_dir)[0]
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-FULLLINK&c=HIT1&d=WORKER-FULLLINK")
    expect(page.locator("#stop-message")).to_have_text(
        "This task is full: enough participants have already done it. Please return the HIT. Nothing has been "
        "recorded.")
    expect(page.get_by_role("button", name="I agree — continue")).to_be_hidden()
    page.screenshot(path=shots / "1280x720_link_full.png")
    assert live_server.redis.keys("*WORKER-FULLLINK*") == []


def test_a_second_tab_of_the_assignment_does_nothing(live_server, sized_page, shots):
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    link = links_of(live_server.exp_dir)[0]
    url = f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-TABS&c=HIT1&d=WORKER-TABS"
    page.goto(url)
    expect(page.get_by_role("button", name="I agree — continue")).to_be_visible()
    second = page.context.new_page()
    second.goto(url)
    expect(second.locator("#stop-message")).to_have_text(
        "This task is already open in another tab or window. Please continue there and close this one.")
    second.screenshot(path=shots / "1280x720_second_tab.png")
    second.close()
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.get_by_role("heading", name="Instructions")).to_be_visible()


@pytest.mark.parametrize("failure", ["corrupt", "missing", "reset"])
def test_a_broken_video_makes_a_bounded_number_of_requests_and_ends_on_the_return_screen(
        live_server, sized_page, shots, failure):
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    requests: list[str] = []

    def broken(route):
        requests.append(route.request.url)
        if failure == "corrupt":
            route.fulfill(status=200, content_type="video/mp4", body=b"<html>not a video</html>" * 40)
        elif failure == "missing":
            route.fulfill(status=404, json={"detail": "no such video", "reason": "not_found"})
        else:
            route.abort("connectionreset")

    page.route("**/videos/*.mp4?*", broken)  # trial URLs carry their signature in the query
    link = links_of(live_server.exp_dir)[0]
    assignment = f"ASSIGN-BROKEN-{failure}"
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b={assignment}&c=HIT1&d=WORKER-{failure}")
    start_task(page, page)
    stop = page.locator("#stop-message")
    expect(stop).to_contain_text("Please return the HIT.", timeout=30000)
    expect(stop).to_contain_text("Trial 1 cannot be shown in your browser")
    page.screenshot(path=shots / f"1280x720_video_{failure}.png")
    n = len(requests)
    page.wait_for_timeout(1500)
    assert len(requests) == n, "requests went on after the return screen"
    assert 2 <= n <= 4, requests
    failures = live_server.redis.hgetall(keys.link_failures(link))
    assert json.loads(failures[assignment])["trial"] == 0


def test_the_confirming_enter_does_not_start_the_next_video(live_server, sized_page):
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    link = links_of(live_server.exp_dir)[1]
    page.goto(f"{live_server.base_url}/experiment.html?link={link}&b=ASSIGN-ENTER&c=HIT1&d=WORKER-ENTER")
    start_task(page, page)
    play = page.get_by_role("button", name="Play")
    expect(play).to_be_focused(timeout=20000)
    page.keyboard.press("Space")
    expect(page.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # a double press, or a held key repeating
    page.keyboard.down("Enter")
    page.keyboard.down("Enter")  # auto-repeat
    page.keyboard.up("Enter")
    expect(page.get_by_role("heading", name="Trial 2 of 8")).to_be_visible()
    expect(play).to_be_focused(timeout=20000)
    page.wait_for_timeout(500)
    assert page.evaluate("document.getElementById('video').currentTime") == 0
    expect(page.get_by_text("What did the picture show?")).to_be_hidden()
    page.keyboard.press("Space")  # its own fresh press
    expect(page.get_by_text("What did the picture show?")).to_be_visible(timeout=10000)


def test_a_worker_blocked_mid_task_is_refused_at_the_next_response(live_server, sized_page, shots):
    from playwright.sync_api import expect

    page = sized_page(1280, 720)
    link = links_of(live_server.exp_dir)[0]
    page.goto(landing(live_server, link, "ASSIGN-MIDBLOCK", "WORKER-MIDBLOCK"))
    task = page.frame_locator("#mvt-frame")
    start_task(page, task)
    play_and_answer(page, task, 0)
    rows_of(live_server, "ASSIGN-MIDBLOCK", 1, page)
    block_workers(live_server.redis, ["WORKER-MIDBLOCK"])
    play_and_answer(page, task, 1)
    expect(task.locator("#stop-message")).to_have_text(
        "Sorry, your worker ID cannot take part in this study. Please return the HIT.", timeout=10000)
    page.screenshot(path=shots / "1280x720_blocked_mid_task.png")
    assert len(rows_of(live_server, "ASSIGN-MIDBLOCK", 2, page)) == 1


def test_fifty_options_fit_with_next_in_view_at_1366x650(live_server, sized_page, shots):
    from playwright.sync_api import expect

    names = [f"Class {i}" for i in range(50, 0, -2)] + [f"class {i}" for i in range(49, 0, -2)]
    page = sized_page(1366, 650)
    page.route("**/api/assignments", with_options(names))
    link = links_of(live_server.exp_dir)[1]
    page.goto(landing(live_server, link, "ASSIGN-FIFTY", "WORKER-FIFTY"))
    task = page.frame_locator("#mvt-frame")
    start_task(page, task)
    play = task.get_by_role("button", name="Play")
    expect(play).to_be_enabled(timeout=20000)
    play.click()
    expect(task.locator(".choice")).to_have_count(50)
    assert task.locator(".choice-text").all_inner_texts()[:4] == ["class 1", "Class 2", "class 3", "Class 4"]
    assert in_viewport(page, task.get_by_role("button", name="Next"))
    assert in_viewport(page, task.get_by_role("radio", name="Class 50", exact=True))
    page.screenshot(path=shots / "1366x650_answer_50.png")
    filter_box = task.get_by_label("Filter the list:")
    filter_box.fill("class 1")
    filter_box.press("Enter")
    expect(task.locator("#answer-filter-note")).to_have_text(
        "11 options match — type more, or pick one with the mouse or a number key.")


@pytest.fixture(scope="module")
def practice_experiment(tmp_path_factory) -> Path:
    """Circles and squares from the samples, built with a study file; practice uses the other shapes."""
    import shutil

    from stimuli.build import build_experiment
    from tests.fixtures.experiment import SAMPLES

    root = tmp_path_factory.mktemp("practice")
    for shape in ("circle", "square"):
        shutil.copytree(SAMPLES / shape, root / "images" / shape)
    (root / "study.toml").write_text('title = "Shapes at a glance"\npay = "$0.50"\ncontact = "lab@example.org"\n'
                                     'practice_trials = 2\n')
    build_experiment(root / "images", root / "exp", frame_counts=[1, 6, 30], images_per_task=4, workers=1,
                     base_url="https://127.0.0.1:8443", size=128, jobs=1, name="shapes", study=root / "study.toml")
    return root / "exp"


def test_the_study_speaks_its_own_words_and_practice_is_never_recorded(live_server, sized_page, shots,
                                                                       practice_experiment):
    from playwright.sync_api import expect

    live_server.load(practice_experiment)
    study = json.loads((practice_experiment / "study.json").read_text())
    page = sized_page(1280, 720)
    # MTurk's preview inside the landing layout: the study's title, time, pay and device rules.
    page.goto(landing(live_server, "shapes-001", "ASSIGNMENT_ID_NOT_AVAILABLE", "WORKER-PRACTICE"))
    preview = page.frame_locator("#mvt-frame")
    expect(preview.get_by_role("heading", name="Shapes at a glance (preview)")).to_be_visible(timeout=10000)
    expect(preview.get_by_text(f"It takes about {study['minutes']} minutes (4 videos). Pay: $0.50.")).to_be_visible()
    expect(preview.locator("#preview-device")).to_contain_text("cannot be done on a phone or tablet")
    expect(preview.get_by_text("Accept the HIT to start the task.")).to_be_visible()
    page.screenshot(path=shots / "1280x720_preview.png")
    page.goto(landing(live_server, "shapes-001", "ASSIGN-PRACTICE", "WORKER-PRACTICE"))
    task = page.frame_locator("#mvt-frame")
    expect(task.get_by_role("heading", name="Shapes at a glance")).to_be_visible(timeout=10000)
    expect(task.get_by_text(f"It takes about {study['minutes']} minutes")).to_be_visible()
    expect(task.get_by_text("Pay: $0.50.")).to_be_visible()
    task.get_by_role("button", name="I agree — continue").click()
    example = task.get_by_role("img", name="Example of one trial")
    expect(example).to_have_attribute("src", "/example.png?link=shapes-001")
    assert page.evaluate("""() => document.getElementById('mvt-frame').contentDocument
        .querySelector('.example img').naturalWidth""") == 496  # the build's strip, not the generic one
    expect(task.get_by_text("You start with 2 practice videos")).to_be_visible()
    page.screenshot(path=shots / "1280x720_study_instructions.png")
    task.get_by_role("button", name="Continue").click()
    for p in range(2):
        expect(task.get_by_role("heading", name=f"Practice {p + 1} of 2")).to_be_visible()
        play = task.get_by_role("button", name="Play")
        expect(play).to_be_enabled(timeout=20000)
        if p == 0:
            page.screenshot(path=shots / "1280x720_practice_trial.png")
        play.click()
        expect(task.get_by_role("radio", name="triangle")).to_be_visible(timeout=10000)
        task.get_by_role("radio", name="star").check()
        task.get_by_role("button", name="Next").click()
        expect(task.locator("#feedback-text")).to_contain_text(study["practice"][p]["label"])
        if p == 0:
            page.screenshot(path=shots / "1280x720_practice_feedback.png")
        task.get_by_role("button", name="Next practice video" if p == 0 else "Continue").click()
    start = task.get_by_role("button", name="Start the task")
    expect(start).to_be_enabled(timeout=10000)
    start.click()
    expect(task.get_by_role("heading", name="Trial 1 of 4")).to_be_visible()
    play_and_answer(page, task, 0)
    expect(task.get_by_role("heading", name="Trial 2 of 4")).to_be_visible()

    rows = rows_of(live_server, "ASSIGN-PRACTICE", 1, page)
    practice_ids = {p["video_id"] for p in study["practice"]}
    assert [row["trial"] for row in rows] == [0]
    assert not practice_ids & {row["video_id"] for row in rows}
    assert {row["label"] for row in rows} <= {"circle", "square"}
