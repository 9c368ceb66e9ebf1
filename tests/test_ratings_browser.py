"""Rating tasks in Debian's Chromium against the real HTTPS server: ACR audio and video, MUSHRA, DSIS
images, and flip-compare on same-source and MUSHRA image screens."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from kernel.admin import block_workers, link_progress
from kernel.export import iter_response_rows
from kernel.store import keys
from studies.loader import load_experiment

# The browser and page fixtures (Debian's Chromium; a page that fails on script errors and CSP
# violations) are the worker-page tests' own.
from tests.test_browser_pages import CHROMIUM, browser, page, shots  # noqa: E402,F401
from tests.test_browser_worker import in_viewport, sized_page  # noqa: E402,F401 (fixture)
from tests.fixtures.ratings import BASE_URL, RATINGS_SAMPLES, with_study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]


def open_task(page, base_url: str, link: str, worker: str = "W1") -> str:
    """Open ``link`` as ``worker``, agree and start; returns the instructions the worker read."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/experiment.html?link={link}&assignmentId=A-{worker}&workerId={worker}&hitId=H1")
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.get_by_role("heading", name="Instructions")).to_be_visible()
    instructions = page.locator("#instructions-text").inner_text()
    page.get_by_role("button", name="Start").click()
    return instructions


def start_in_landing(page, base_url: str, link: str, width: int, height: int):
    """Open ``link`` inside the MTurk landing layout in a ``width`` x ``height`` window, agree and
    start; returns the task's frame."""
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{base_url}/mturk/landing?" + urlencode({"link": link, "assignmentId": f"A-{width}",
                                                       "workerId": f"W{width}", "hitId": "H1",
                                                       "turkSubmitTo": base_url}))
    task = page.frame_locator("#mvt-frame")
    task.get_by_role("button", name="I agree — continue").click()
    task.get_by_role("button", name="Start").click()
    return task


def finish_debrief(task, comment: str = "") -> None:
    """After the last rating: the debrief's optional comment, then Finish; the done screen shows."""
    from playwright.sync_api import expect

    expect(task.get_by_role("heading", name="Thank you — one last, optional question")).to_be_visible()
    if comment:
        task.get_by_label("Anything you want to tell us about the task (optional):").fill(comment)
    task.get_by_role("button", name="Finish and get my code").click()
    expect(task.get_by_role("heading", name="Thank you — you are done")).to_be_visible()


def play_to_end(page, selector: str) -> None:
    """Play a media element fast (8x) and wait for its ``ended`` event: proof the browser decoded it."""
    ended = page.eval_on_selector(selector, """m => new Promise((resolve) => {
        m.addEventListener("ended", () => resolve(m.ended), { once: true });
        m.addEventListener("error", () => resolve("error " + (m.error && m.error.code)), { once: true });
        m.currentTime = 0;
        m.playbackRate = 8;
        m.play().catch((e) => resolve(String(e)));
    })""")
    assert ended is True


def rows_of(redis, worker: str) -> list[dict]:
    return [row for row in iter_response_rows(redis) if row["worker_id"] == worker]


def test_acr_audio_must_play_to_the_end_and_is_keyboard_usable(page, redis, _running_server, ratings_acr):
    from playwright.sync_api import expect

    base_url = _running_server[0]
    load_experiment(redis, ratings_acr)
    assert open_task(page, base_url, "acr-001").endswith("Number keys 1–5 choose, Enter confirms.")
    scores = ["5", "4", "2", "1"]
    for k, score in enumerate(scores):
        expect(page.get_by_role("heading", name=f"Sample {k + 1} of 4")).to_be_visible()
        excellent = page.get_by_role("radio", name="5 Excellent")
        expect(excellent).to_be_disabled()
        expect(page.locator("#rate-status")).to_have_text("Play the sample to the end before rating.")
        play_to_end(page, "#stimuli audio")
        if k == 1:
            play_to_end(page, "#stimuli audio")  # a replay
        expect(excellent).to_be_enabled()
        page.keyboard.press(score)
        expect(page.locator(f'[role=radio][data-value="{score}"]')).to_have_attribute("aria-checked", "true")
        page.keyboard.press("Enter")
    finish_debrief(page)
    expect(page.locator("#completion-code")).to_have_text(re.compile(r"^MVT(-[A-Z2-7]{4}){4}$"))
    expect(page.locator("#done-status")).to_have_text("Copy this code into the HIT page on MTurk to get paid.")
    rows = rows_of(redis, "W1")
    assert [row["rating"] for row in rows] == scores
    assert all(row["response_time_ms"] >= 200 and row["hidden_during_video"] is False for row in rows)


def test_mushra_sliders_with_the_reference(page, redis, _running_server, ratings_mushra):
    from playwright.sync_api import expect

    base_url = _running_server[0]
    load_experiment(redis, ratings_mushra)
    open_task(page, base_url, "mushra-001", worker="W2")
    expect(page.get_by_role("heading", name="Sample 1–4 of 4")).to_be_visible()
    play_to_end(page, ".stimulus audio")  # the reference, playable at any time
    next_button = page.get_by_role("button", name="Next")
    values = ["100", "20", "65", "80"]
    for k, value in enumerate(values):
        slider = page.get_by_role("slider", name=f"Score of Sample {'ABCD'[k]}")
        expect(slider).to_be_disabled()
        play_to_end(page, f".mushra-row:nth-child({k + 1}) audio")
        expect(slider).to_be_enabled()
        if k < 3:
            expect(next_button).to_be_disabled()
        slider.fill(value)
    expect(page.locator(".mushra-row:nth-child(2) output")).to_have_text("20 Poor")
    # BS.1534: the hidden reference is among the samples, so one of them must be rated 100.
    first = page.get_by_role("slider", name="Score of Sample A")
    first.fill("90")
    expect(next_button).to_be_disabled()
    expect(page.locator("#rate-hint")).to_have_text(
        "Rate at least one sample 100: the reference is hidden among the samples.")
    first.fill("100")
    expect(next_button).to_be_enabled()
    next_button.click()
    finish_debrief(page)
    rows = rows_of(redis, "W2")
    assert sorted(row["rating"] for row in rows) == sorted(values)
    (source,) = {row["source"] for row in rows}
    assert sorted(row["algorithm"] for row in rows) == ["ANC", "REF", "lowpass", "noise"]
    assert {(row["design"], row["rating_scale"], row["reference"], row["trial_type"]) for row in rows} == {
        ("mushra", "mushra", f"{source}/REF", "sample")}  # the labelled reference shown beside each


def test_dsis_images_side_by_side_with_flip(page, redis, _running_server, ratings_dsis_images):
    from playwright.sync_api import expect

    base_url = _running_server[0]
    load_experiment(redis, ratings_dsis_images)
    instructions = open_task(page, base_url, "dsis-001", worker="W3")
    assert instructions == (
        "Look at the reference and the test sample (F shows the reference in the sample's place and back). Rate how "
        "much the test sample is degraded compared with the reference, from Imperceptible (5) to Very annoying (1). "
        "Number keys 1–5 choose, Enter confirms.")
    expect(page.get_by_role("img", name="Reference", exact=True)).to_be_visible()
    sample = page.get_by_role("img", name="Sample")
    src = sample.get_attribute("src")
    assert page.eval_on_selector_all("#stimuli img", """imgs => Promise.all(imgs.map((i) => i.decode()))
        .then(() => imgs.map((i) => i.naturalWidth))""") == [192, 192]
    page.keyboard.press("f")
    expect(page.get_by_role("img", name="Reference (flipped)")).to_have_attribute(
        "src", page.get_by_role("img", name="Reference", exact=True).get_attribute("src"))
    page.get_by_role("button", name="Flip back to the sample (F)").click()
    expect(page.get_by_role("img", name="Sample")).to_have_attribute("src", src)
    page.get_by_role("radio", name="4 Perceptible but not annoying").click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Sample 2 of 3")).to_be_visible()
    assert [row["rating"] for row in rows_of(redis, "W3")] == ["4"]


def test_same_source_screen_rates_every_sample_of_a_source(page, redis, _running_server, tmp_path):
    from playwright.sync_api import expect

    from stimuli.ratings_build import build_ratings

    exp_dir = tmp_path / "same"
    build_ratings(RATINGS_SAMPLES / "audio.tsv", exp_dir, design="same-source", samples_per_task=4,
                  ratings_per_sample=1, base_url=BASE_URL)
    load_experiment(redis, exp_dir)
    instructions = open_task(page, _running_server[0], "same-001", worker="W4")
    # Digits choose nothing on this screen: the instructions say so by not offering them.
    assert instructions == ("Listen to every sample on each screen (all are versions of one recording), then choose "
                            "each sample's overall quality from Excellent (5) to Bad (1) in the menu beside it.")
    expect(page.get_by_role("heading", name="Sample 1–4 of 4")).to_be_visible()
    expect(page.locator("#rate-hint")).to_have_text("Play a sample before rating it.")
    next_button = page.get_by_role("button", name="Next")
    for k, value in enumerate(["5", "4", "3", "1"]):
        menu = page.get_by_role("combobox", name=f"Rating of Sample {'ABCD'[k]}")
        expect(menu).to_be_disabled()
        play_to_end(page, f".mushra-row:nth-child({k + 1}) audio")
        menu.select_option(value)
    expect(next_button).to_be_enabled()
    next_button.click()
    finish_debrief(page)
    rows = rows_of(redis, "W4")
    assert sorted(row["rating"] for row in rows) == ["1", "3", "4", "5"]
    assert len({row["source"] for row in rows}) == 1  # one source on the screen
    assert {(row["design"], row["rating_scale"], row["reference"]) for row in rows} == {("same-source", "acr", None)}


@pytest.mark.parametrize("design, width, height", [
    ("mushra", 1366, 650), ("mushra12", 1280, 600), ("same-source", 1366, 650),
    ("mushra", 390, 844), ("same-source", 390, 844)])
def test_audio_screen_controls_are_not_covered_by_the_players(
        page, redis, _running_server, request, tmp_path, shots, design, width, height):
    """Inside the landing layout, each sample's slider or menu on a several-sample audio screen is
    wholly visible: its left end, where a low score's thumb and the menu's text are, is not under
    the sample's player (it was: the player overflowed its 6em column). On a MUSHRA screen the
    reference's player stays in the window while each sample is rated (it scrolled away at 1280x600)."""
    from playwright.sync_api import expect

    from stimuli.ratings_build import build_ratings

    n = 12 if design == "mushra12" else 4
    if design.startswith("mushra"):
        exp_dir = request.getfixturevalue("ratings_" + design)
        link = f"{design}-001"
    else:
        exp_dir, link = tmp_path / "same", "same-001"
        build_ratings(RATINGS_SAMPLES / "audio.tsv", exp_dir, design="same-source", samples_per_task=4,
                      ratings_per_sample=1, base_url=BASE_URL)
    load_experiment(redis, exp_dir)
    task = start_in_landing(page, _running_server[0], link, width, height)
    expect(task.get_by_role("heading", name=f"Sample 1–{n} of {n}")).to_be_visible()
    frame = page.frame(url=re.compile(r"/experiment\.html"))
    design = "mushra" if design.startswith("mushra") else design
    control = "slider" if design == "mushra" else "combobox"
    name = "Score of Sample" if design == "mushra" else "Rating of Sample"
    for k in range(n):
        row = task.locator(f".mushra-row:nth-child({k + 1}) audio")
        row.scroll_into_view_if_needed()
        row.evaluate("a => a.play()")  # unlocks the control
        widget = task.get_by_role(control, name=f"{name} {'ABCDEFGHIJKL'[k]}")
        expect(widget).to_be_enabled()
        widget.fill("0") if design == "mushra" else widget.select_option("1")
        widget.scroll_into_view_if_needed()
        box = widget.bounding_box()  # page coordinates; elementFromPoint wants the frame's
        frame_box = page.locator("#mvt-frame").bounding_box()
        hit = frame.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y); return e && e.tagName; }",
                             [box["x"] - frame_box["x"] + 3, box["y"] - frame_box["y"] + box["height"] / 2])
        assert hit == ("INPUT" if design == "mushra" else "SELECT"), (k, hit)
        if design == "mushra":
            reference = task.locator("#stimuli audio")
            assert in_viewport(page, reference), (k, reference.bounding_box(), page.viewport_size)
            assert in_viewport(page, widget), (k, widget.bounding_box())
    if design == "mushra":
        page.screenshot(path=shots / f"audio_{design}{n}_{width}x{height}_last.png")
    assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=shots / f"audio_{design}_{width}x{height}.png")


@pytest.mark.parametrize("fixture, link, study, heading, about, instructions", [
    ("ratings_acr", "acr-001", {"title": "Speech quality", "instructions": "Rate how natural each voice sounds."},
     "Speech quality", "the quality of sounds. You will rate short samples on a scale. It takes about 5–10 minutes. "
     "Please use headphones in a quiet place.", "Rate how natural each voice sounds."),
    ("ratings_dsis_images", "dsis-001", {}, "Quality rating task",
     "the quality of pictures. You will rate short samples on a scale. It takes about 5–10 minutes.",
     "Look at the reference and the test sample (F shows"),
])
def test_consent_and_instructions_use_the_study_files_words_and_name_the_media(
        page, redis, _running_server, request, tmp_path, fixture, link, study, heading, about, instructions):
    """``[ratings] title`` heads the preview and the consent, ``instructions`` replaces the page's own (both were
    accepted by the build and never shown); the consent names the study's media (was "sounds,
    pictures or videos" and headphones for every study)."""
    from playwright.sync_api import expect

    load_experiment(redis, with_study(request.getfixturevalue(fixture), tmp_path, study))
    page.goto(f"{_running_server[0]}/experiment.html?link={link}&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1")
    expect(page.get_by_role("heading", name=heading + " (preview)")).to_be_visible()
    page.goto(f"{_running_server[0]}/experiment.html?link={link}&assignmentId=A-W8&workerId=W8&hitId=H1")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("#screen-consent p").first).to_have_text("This is a research study about " + about)
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.locator("#instructions-text")).to_contain_text(instructions)


# The test's ears: records each stereo buffer the page makes (per third of it, which tone is quietest
# in the left channel and which is in antiphase) and plays buffers 8x fast. The page itself never
# says which tone was quieter.
LISTEN = """
window.__tones = [];
const copy = AudioBuffer.prototype.copyToChannel;
AudioBuffer.prototype.copyToChannel = function (data, channel, ...rest) {
  this.__channels = this.__channels || [];
  this.__channels[channel] = Float32Array.from(data);
  const [left, right] = this.__channels;
  if (left && right) {
    const third = Math.floor(left.length / 3), peaks = [], dots = [];
    for (let k = 0; k < 3; k++) {
      let peak = 0, dot = 0;
      for (let i = k * third; i < (k + 1) * third; i++) { peak = Math.max(peak, Math.abs(left[i])); dot += left[i] * right[i]; }
      peaks.push(peak); dots.push(dot);
    }
    window.__tones.push({ quiet: peaks.indexOf(Math.min(...peaks)) + 1, antiphase: dots.findIndex((d) => d < 0) + 1 });
  }
  return copy.call(this, data, channel, ...rest);
};
const start = AudioBufferSourceNode.prototype.start;
AudioBufferSourceNode.prototype.start = function (...args) { this.playbackRate.value = 8; return start.apply(this, args); };
"""


def with_headphone_check(exp_dir: Path, tmp_path: Path, wanted: bool | None = True) -> Path:
    """A copy of a built rating study whose study file sets ``[ratings] headphone_check`` (None: unset)."""
    return with_study(exp_dir, tmp_path, {} if wanted is None else {"headphone_check": wanted})


def screen_once(page, choose) -> str:
    """Set the volume, then answer the six screening trials with ``choose(tones, t)`` (1..3) by keyboard."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Headphone check: set your volume")).to_be_visible()
    page.get_by_role("button", name="Play", exact=True).click()
    expect(page.get_by_role("button", name="Play again")).to_be_enabled()
    page.get_by_role("button", name="Continue").click()
    for t in range(6):
        expect(page.get_by_role("heading", name=f"Headphone check: sound {t + 1} of 6")).to_be_visible()
        expect(page.get_by_role("radio", name="1 First")).to_be_disabled()  # not before the tones were heard
        page.keyboard.press("p")
        expect(page.get_by_role("radio", name="1 First")).to_be_enabled()
        tones = page.evaluate("window.__tones[window.__tones.length - 1]")
        page.keyboard.press(str(choose(tones, t)))
        page.keyboard.press("Enter")


def test_a_worker_with_headphones_passes_the_check_and_every_rating_carries_it(
        page, redis, _running_server, ratings_acr, tmp_path):
    from playwright.sync_api import expect

    load_experiment(redis, with_headphone_check(ratings_acr, tmp_path))
    page.add_init_script(LISTEN)
    page.goto(f"{_running_server[0]}/experiment.html?link=acr-001&assignmentId=A-W5&workerId=W5&hitId=H1")
    # One slip: five of six right still passes (Woods et al. 2017).
    screen_once(page, lambda tones, t: tones["antiphase"] if t == 2 else tones["quiet"])
    expect(page.get_by_role("heading", name="Headphone check passed")).to_be_visible()
    expect(page.locator("#hp-passed-score")).to_have_text("5 of 6")
    assert redis.keys("*W5*") == []  # nothing allocated before consent
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree — continue").click()
    page.get_by_role("button", name="Start").click()
    for k in range(4):
        expect(page.get_by_role("heading", name=f"Sample {k + 1} of 4")).to_be_visible()
        play_to_end(page, "#stimuli audio")
        page.keyboard.press("4")
        page.keyboard.press("Enter")
    finish_debrief(page)
    assert [row["headphone_check"] for row in rows_of(redis, "W5")] == ["5/6"] * 4


def test_a_worker_on_loudspeakers_is_turned_away_before_consent_holding_nothing(
        page, redis, _running_server, ratings_acr, tmp_path):
    from playwright.sync_api import expect

    load_experiment(redis, with_headphone_check(ratings_acr, tmp_path))
    page.add_init_script(LISTEN)
    url = f"{_running_server[0]}/experiment.html?link=acr-001&assignmentId=A-W6&workerId=W6&hitId=H1"
    page.goto(url)
    # Through loudspeakers the antiphase tone cancels in the air and sounds quietest.
    screen_once(page, lambda tones, t: tones["quiet"] if t == 0 else tones["antiphase"])
    refusal = ("This study needs headphones, and the headphone check did not confirm that you are wearing them "
               "(1 of 6 answers right). Please return the HIT. Nothing has been recorded.")
    expect(page.locator("#stop-message")).to_have_text(refusal)
    assert redis.keys("*W6*") == []
    page.reload()  # no second try by reloading
    expect(page.locator("#stop-message")).to_have_text(refusal)
    expect(page.get_by_role("heading", name="Headphone check: set your volume")).to_be_hidden()
    assert redis.keys("*W6*") == []


PHONE = {"has_touch": True, "is_mobile": True, "device_scale_factor": 3}


@pytest.mark.parametrize("fixture, link, device, size, options, refusal", [
    ("ratings_acr", "acr-001", {"touch_allowed": False}, (390, 844), PHONE,
     "This task needs a computer with a mouse or keyboard; it cannot be done on a phone or tablet."),
    ("ratings_dsis_images", "dsis-001", {"min_stimulus_px": 900}, (1280, 720), {},
     "Your screen is too small for this task: the pictures need at least 900 by 900 pixels."),
    ("ratings_acr", "acr-001", None, (390, 844), PHONE, None),  # no [device]: no rule checked
])
def test_the_study_files_device_rules_turn_a_device_away_before_consent_holding_nothing(
        sized_page, redis, _running_server, request, tmp_path, fixture, link, device, size, options, refusal):
    """The rating page applies the study file's [device] rules as the MVT page does (common/device.js)."""
    from playwright.sync_api import expect

    load_experiment(redis, with_study(request.getfixturevalue(fixture), tmp_path, {"device": device} if device else {}))
    page = sized_page(*size, **options)
    page.goto(f"{_running_server[0]}/experiment.html?link={link}&assignmentId=A-DEV&workerId=W-DEV&hitId=H1")
    if refusal is None:
        expect(page.get_by_role("button", name="I agree — continue")).to_be_visible()
    else:
        expect(page.locator("#stop-message")).to_have_text(refusal + " Please return the HIT. Nothing has been recorded.")
        expect(page.get_by_role("button", name="I agree — continue")).to_be_hidden()
    assert redis.keys("*W-DEV*") == []


@pytest.mark.parametrize("fixture, link, wanted", [("ratings_acr", "acr-001", None),
                                                   ("ratings_dsis_images", "dsis-001", True)])
def test_no_check_without_headphone_check_or_for_images(page, redis, _running_server, request, tmp_path,
                                                        fixture, link, wanted):
    from playwright.sync_api import expect

    load_experiment(redis, with_headphone_check(request.getfixturevalue(fixture), tmp_path, wanted))
    page.goto(f"{_running_server[0]}/experiment.html?link={link}&assignmentId=A-W7&workerId=W7&hitId=H1")
    expect(page.get_by_role("button", name="I agree — continue")).to_be_visible()
    expect(page.get_by_role("heading", name="Headphone check: set your volume")).to_be_hidden()


# ---------------------------------------------------------------------------- flip-compare images

@pytest.fixture(scope="module")
def image_study(tmp_path_factory):
    """``image_study(design)``: same-source (REF, jpeg90, jpeg20) or MUSHRA (those and an ANC: the
    jpeg20 file again) of the bundled pictures, one rating per sample, built once per module;
    returns the experiment folder and its first link."""
    from stimuli.ratings_build import build_ratings

    built = {}

    def build(design: str) -> tuple[Path, str]:
        if design not in built:
            lines = (RATINGS_SAMPLES / "images.tsv").read_text().splitlines()
            if design == "mushra":
                lines += [line.replace("\tjpeg20\t", "\tANC\t") for line in lines if "\tjpeg20\t" in line]
            tsv = tmp_path_factory.mktemp("input") / "images.tsv"
            tsv.write_text("".join("\t".join([*line.split("\t")[:2], str(RATINGS_SAMPLES / line.split("\t")[2])])
                                   + "\n" for line in lines))
            exp_dir = tmp_path_factory.mktemp("flip") / design  # links are named after the folder
            build_ratings(tsv, exp_dir, design=design, samples_per_task=4 if design == "mushra" else 3,
                          ratings_per_sample=1, base_url=BASE_URL)
            built[design] = (exp_dir, design + "-001")
        return built[design]

    return build


def shown(page) -> tuple[str, str, dict]:
    """The viewing area's image once decoded: (alt, src, bounding box)."""
    image = page.locator("#flip-image")
    image.evaluate("i => i.decode()")
    return image.get_attribute("alt"), image.get_attribute("src"), image.bounding_box()


@pytest.mark.parametrize("design", ["same-source", "mushra"])
def test_image_screens_flip_between_samples_in_place(page, redis, _running_server, image_study, design):
    from playwright.sync_api import expect

    exp_dir, link = image_study(design)
    load_experiment(redis, exp_dir)
    open_task(page, _running_server[0], link, worker="W5")
    n = 4 if design == "mushra" else 3
    expect(page.get_by_role("heading", name=f"Sample 1–{n} of {n}")).to_be_visible()
    first = "Reference" if design == "mushra" else "Sample A"
    expect(page.locator("#flip-caption")).to_have_text("Showing: " + first)
    alt, src, box = shown(page)
    assert alt == first and len(page.locator("#stimuli img").all()) == 1  # one viewing area
    control = "slider" if design == "mushra" else "combobox"
    name = "Score of Sample" if design == "mushra" else "Rating of Sample"
    expect(page.get_by_role(control, name=f"{name} B")).to_be_disabled()  # not rated before it was seen

    page.keyboard.press("2")
    seen = [shown(page)[0]]
    page.wait_for_timeout(300)  # Sample B stays on view at least 300 ms
    for action in ["f", "click C", " ", "1"] + (["r", "f"] if design == "mushra" else []):
        if action == "click C":
            page.get_by_role("button", name="C (3)").click()
        else:
            page.keyboard.press(action)
        seen.append(shown(page)[0])
    expected = ["Sample B", first, "Sample C", first, "Sample A"] + (["Reference", "Sample A"] if design == "mushra"
                                                                    else [])
    assert seen == expected
    page.keyboard.press("2")
    alt_b, src_b, box_b = shown(page)
    assert (alt_b, box_b) == ("Sample B", box) and src_b != src  # another picture, in the same place
    expect(page.get_by_role("button", name="B (2)")).to_have_attribute("aria-pressed", "true")

    next_button = page.get_by_role("button", name="Next")
    values = ["100", "40", "70", "10"][:n] if design == "mushra" else ["5", "3", "1"]
    for k, value in enumerate(values):
        if k == 3:
            page.keyboard.press("4")  # D is rated once it has been on view
        widget = page.get_by_role(control, name=f"{name} {'ABCD'[k]}")
        expect(widget).to_be_enabled()
        widget.fill(value) if design == "mushra" else widget.select_option(value)
        if k < n - 1:
            expect(next_button).to_be_disabled()
    if design == "mushra":  # still BS.1534: Next waits for a sample at 100
        page.get_by_role("slider", name="Score of Sample A").fill("95")
        expect(next_button).to_be_disabled()
        expect(page.locator("#rate-hint")).to_have_text(
            "Rate at least one sample 100: the reference is hidden among the samples.")
        page.get_by_role("slider", name="Score of Sample A").fill("100")
    expect(next_button).to_be_enabled()
    next_button.click()
    finish_debrief(page)
    rows = sorted(rows_of(redis, "W5"), key=lambda row: row["trial"])
    assert [row["rating"] for row in rows] == values
    # Times each sample was put on view above ("1" on the shown Sample A counts nothing).
    views = {"mushra": [2, 2, 1, 1], "same-source": [3, 2, 1]}[design]
    assert [row["replays"] for row in rows] == [v - 1 for v in views]
    assert rows[1]["view_ms"] >= 300
    assert all(0 < row["view_ms"] <= row["response_time_ms"] for row in rows)
    assert sum(row["view_ms"] for row in rows) <= rows[0]["response_time_ms"]
    assert {(row["stimulus_visible"], row["playback_completed"], row["viewport_w"]) for row in rows} == {
        (True, None, 1000)}


@pytest.mark.parametrize("design, width, height", [
    ("mushra", 1366, 650), ("mushra", 1280, 720), ("mushra", 390, 844), ("same-source", 390, 844)])
def test_flip_screen_fits_the_landing_layout_without_sideways_scrolling(
        page, redis, _running_server, image_study, shots, design, width, height):
    """Inside the MTurk landing layout the picture, every control and Next are usable: no sideways
    scrolling, the picture wholly inside the window, Next reachable (screenshots in ``shots``)."""
    from playwright.sync_api import expect

    exp_dir, link = image_study(design)
    load_experiment(redis, exp_dir)
    task = start_in_landing(page, _running_server[0], link, width, height)
    expect(task.locator("#flip-caption")).to_have_text(
        "Showing: " + ("Reference" if design == "mushra" else "Sample A"))
    task.locator("#flip-image").evaluate("i => i.decode()")
    task.locator("#flip-image").scroll_into_view_if_needed()
    page.screenshot(path=shots / f"flip_{design}_{width}x{height}.png")
    frame = page.frame(url=re.compile(r"/experiment\.html"))
    for doc in (page, frame):
        assert doc.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    image = task.locator("#flip-image").bounding_box()
    frame_box = page.locator("#mvt-frame").bounding_box()
    assert 0 <= frame_box["x"] + image["x"] and frame_box["x"] + image["x"] + image["width"] <= width
    for k, value in enumerate(["100", "60", "30", "10"] if design == "mushra" else ["5", "3", "2"]):
        task.get_by_role("button", name=f"{'ABCD'[k]} ({k + 1})").click()
        if design == "mushra":
            task.get_by_role("slider", name=f"Score of Sample {'ABCD'[k]}").fill(value)
        else:
            task.get_by_role("combobox", name=f"Rating of Sample {'ABCD'[k]}").select_option(value)
    page.screenshot(path=shots / f"flip_{design}_{width}x{height}_rated.png")
    next_button = task.get_by_role("button", name="Next")
    next_button.scroll_into_view_if_needed()
    expect(next_button).to_be_in_viewport()
    next_button.click()
    finish_debrief(task)


# ---------------------------------------------------------------------------- video

def video_study(tmp_path: Path, sources=("testsrc", "testsrc2"), algorithms=("orig", "blur"),
                design: str = "random", samples_per_task: int = 2) -> Path:
    """A rating study (ACR: 2 sources x 2 algorithms, 2 per task) of 1 s 64x64 clips made with the
    bundled ffmpeg; ``REF`` among the ``algorithms`` is the unblurred clip, as DSIS needs."""
    import imageio_ffmpeg

    from stimuli.ratings_build import build_ratings

    lines = []
    for source in sources:
        for algorithm in algorithms:
            clip = tmp_path / f"{source}_{algorithm}.mp4"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                            f"{source}=size=64x64:rate=25:duration=1", "-vf",
                            "boxblur=4" if algorithm == "blur" else "null", "-pix_fmt", "yuv420p", str(clip)],
                           check=True)
            lines.append(f"{source}\t{algorithm}\t{clip.name}\n")
    (tmp_path / "video.tsv").write_text("".join(lines))
    exp_dir = tmp_path / "vid"
    build_ratings(tmp_path / "video.tsv", exp_dir, design=design, samples_per_task=samples_per_task,
                  ratings_per_sample=1, base_url=BASE_URL)
    return exp_dir


def dsis_media_study(tmp_path: Path, media: str) -> tuple[Path, float]:
    """A DSIS study of one impaired sample beside its reference (one link, one list): speech1's lowpass
    sound (2 s) or a blurred 1 s clip; returns it and the clips' duration in ms."""
    from stimuli.ratings_build import build_ratings

    if media == "video":
        return video_study(tmp_path, ("testsrc",), ("REF", "blur"), design="dsis", samples_per_task=1), 1000.0
    audio = RATINGS_SAMPLES / "audio"
    (tmp_path / "dsis.tsv").write_text(f"speech1\tREF\t{audio / 'speech1_REF.flac'}\n"
                                       f"speech1\tlowpass\t{audio / 'speech1_lowpass.flac'}\n")
    build_ratings(tmp_path / "dsis.tsv", tmp_path / "vid", design="dsis", samples_per_task=1, ratings_per_sample=1,
                  base_url=BASE_URL)
    return tmp_path / "vid", 2000.0


def played_ms(player, rate: float) -> float:
    """Play ``player`` from its start at ``rate`` to its end; the wall-clock ms from play() to ``ended``."""
    return player.evaluate("""(m, rate) => new Promise((resolve, reject) => {
        m.currentTime = 0;
        m.playbackRate = rate;
        const t0 = performance.now();
        m.addEventListener("ended", () => resolve(performance.now() - t0), { once: true });
        m.play().catch(reject);
    })""", rate)


@pytest.mark.slow  # the reference plays at normal speed: 2 s of sound, 1 s of video
@pytest.mark.parametrize("media", ["audio", "video"])
def test_dsis_sounds_and_videos_record_how_long_the_reference_and_the_sample_played(
        sized_page, redis, _running_server, tmp_path, shots, media):
    """Inside the landing layout at 1366x650: the exported row of a DSIS sound or video carries how long
    the reference played (`reference_view_ms`) and the sample (`view_ms`), a video's only while wholly on
    the worker's screen (`reference_visible`, `stimulus_visible`; null for a sound). The reference played at
    normal speed, the sample at 4x. Before: both empty (only DSIS pictures had them)."""
    from playwright.sync_api import expect

    exp_dir, clip_ms = dsis_media_study(tmp_path, media)
    load_experiment(redis, exp_dir)
    page = sized_page(1366, 650)
    worker = f"WDSIS{media.upper()}"
    task = landing_task(page, _running_server[0], "vid-001", f"A-DSIS-{media}", worker)
    task.get_by_role("button", name="I agree — continue").click()
    task.get_by_role("button", name="Start").click()
    reference, sample = (task.locator(f"#stimuli {media}[aria-label={name}]") for name in ("Reference", "Sample"))
    expect(sample).to_be_visible()
    sample.scroll_into_view_if_needed()
    reference.scroll_into_view_if_needed()
    assert in_viewport(page, reference) and in_viewport(page, sample)
    reference_wall = played_ms(reference, 1)
    sample_wall = played_ms(sample, 4)
    page.screenshot(path=shots / f"dsis_{media}_1366x650.png")
    task.get_by_role("radio", name="4 Perceptible but not annoying").click()
    task.get_by_role("button", name="Next").click()
    expect(task.get_by_role("heading", name="Thank you — one last, optional question")).to_be_visible()
    (row,) = rows_of(redis, worker)
    # Margins for a busy machine (it failed once at load 10 with the whole suite beside it): a page that
    # recorded nothing, or the wrong clip's time, is still far outside them.
    assert 0.6 * clip_ms <= row["reference_view_ms"] <= reference_wall + 300, (row, reference_wall)
    assert 0.6 * clip_ms / 4 <= row["view_ms"] <= sample_wall + 300, (row, sample_wall)
    assert row["reference_view_ms"] + row["view_ms"] <= row["response_time_ms"], row
    seen = True if media == "video" else None
    assert (row["reference_visible"], row["stimulus_visible"], row["playback_completed"]) == (seen, seen, True), row


def test_acr_video_unlocks_the_scale_only_after_playing_to_the_end(page, redis, _running_server, tmp_path):
    from playwright.sync_api import expect

    load_experiment(redis, video_study(tmp_path))
    open_task(page, _running_server[0], "vid-001", worker="W6")
    for k, score in enumerate(["4", "2"]):
        expect(page.get_by_role("heading", name=f"Sample {k + 1} of 2")).to_be_visible()
        excellent = page.get_by_role("radio", name="5 Excellent")
        expect(excellent).to_be_disabled()
        expect(page.locator("#rate-status")).to_have_text("Play the sample to the end before rating.")
        if k == 0:  # played part of the way, then paused: still locked
            assert page.eval_on_selector("#stimuli video", """v => new Promise((resolve) => {
                v.addEventListener("timeupdate", function t() {
                    if (v.currentTime > 0.3) { v.removeEventListener("timeupdate", t); v.pause(); resolve(v.ended); }
                });
                v.play();
            })""") is False
            expect(excellent).to_be_disabled()
            # dragged to the end: the element fires `ended` after a moment of playing, still locked
            assert page.eval_on_selector("#stimuli video", """v => new Promise((resolve) => {
                v.addEventListener("ended", () => resolve(v.ended), { once: true });
                v.currentTime = v.duration - 0.05;
                v.play();
            })""") is True
            expect(excellent).to_be_disabled()
        play_to_end(page, "#stimuli video")
        if k == 0:
            play_to_end(page, "#stimuli video")  # a replay
        expect(excellent).to_be_enabled()
        page.keyboard.press(score)
        page.keyboard.press("Enter")
    finish_debrief(page)
    rows = sorted(rows_of(redis, "W6"), key=lambda row: row["trial"])
    # The first sample was started four times (part way, from near the end, to the end, again): three replays.
    assert [(row["rating"], row["playback_completed"], row["replays"]) for row in rows] == [
        ("4", True, 3), ("2", True, 0)]
    assert all(row["response_time_ms"] >= 1000 / 8 for row in rows)


# ---------------------------------------------------------------------------- MTurk preview

@pytest.mark.parametrize("fixture, link, sentence", [
    ("ratings_acr", "acr-001", "You will rate the quality of short sounds on a scale"),
    ("ratings_dsis_images", "dsis-001", "You will rate the quality of short pictures on a scale"),
])
def test_the_landing_layouts_preview_describes_the_rating_study(page, redis, _running_server, request, shots,
                                                                  fixture, link, sentence):
    """The one landing layout, in MTurk's preview of a rating HIT, shows the server's rating preview
    (not the MVT task's description and photosensitivity warning) and allocates nothing."""
    from playwright.sync_api import expect

    load_experiment(redis, request.getfixturevalue(fixture))
    page.set_viewport_size({"width": 1366, "height": 650})
    page.goto(f"{_running_server[0]}/mturk/landing?" + urlencode(
        {"link": link, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"}))
    preview = page.frame_locator("#mvt-frame")
    expect(preview.get_by_role("heading", name="Quality rating task (preview)")).to_be_visible()
    expect(preview.get_by_text(sentence)).to_be_visible()
    page.screenshot(path=shots / f"landing_preview_{link}.png")
    assert "Photosensitivity" not in page.content() + preview.locator("body").inner_text()
    assert "picture recognition" not in page.locator("#mvt-landing").inner_text().lower()
    assert redis.keys("*W1*") == [] and redis.keys("*assignment*") == []


def test_a_flip_picture_that_does_not_load_cannot_be_rated(page, redis, _running_server, image_study):
    from playwright.sync_api import expect

    exp_dir, link = image_study("same-source")
    load_experiment(redis, exp_dir)
    page.route("**/videos/**", lambda route: route.abort("connectionreset"))
    open_task(page, _running_server[0], link, worker="W8")
    expect(page.locator("#flip-caption")).to_have_text(
        "Showing: Sample A — it did not load: show another picture, then this one again.")
    page.keyboard.press("2")
    expect(page.locator("#flip-caption")).to_contain_text("Sample B — it did not load")
    for name in "ABC":
        expect(page.get_by_role("combobox", name=f"Rating of Sample {name}")).to_be_disabled()
    expect(page.get_by_role("button", name="Next")).to_be_disabled()


# ---------------------------------------------------------------------------- the session (common/session.js)

def held(redis, link: str) -> tuple[int, int]:
    """The link's lists (in progress, free), as the store holds them."""
    (progress,) = [p for p in link_progress(redis) if p.link_id == link]
    return progress.in_progress, progress.free


def landing_task(page, base_url: str, link: str, assignment: str, worker: str):
    """Open ``link`` inside the MTurk landing layout for ``worker``; returns the task's frame."""
    page.goto(f"{base_url}/mturk/landing?" + urlencode({"link": link, "assignmentId": assignment,
                                                       "workerId": worker, "hitId": "H1",
                                                       "turkSubmitTo": base_url}))
    return page.frame_locator("#mvt-frame")


@pytest.mark.parametrize("width, height", [(1366, 650), (390, 844)])
def test_a_rating_list_is_allocated_only_after_consent(sized_page, redis, _running_server, ratings_dsis_images,
                                                       shots, width, height):
    """Opening the page and declining hold nothing (the screen says "Nothing has been recorded" and it is
    true); agreeing allocates the list. The rating page allocated on opening before."""
    from playwright.sync_api import expect

    base_url = _running_server[0]
    load_experiment(redis, ratings_dsis_images)
    phone = {"has_touch": True, "is_mobile": True, "device_scale_factor": 3} if width < 500 else {}
    page = sized_page(width, height, **phone)
    _, free = held(redis, "dsis-001")
    task = landing_task(page, base_url, "dsis-001", f"A-NO-{width}", f"WNO{width}")
    expect(task.get_by_role("button", name="I agree — continue")).to_be_visible()
    page.screenshot(path=shots / f"ratings_consent_{width}x{height}.png")
    assert held(redis, "dsis-001") == (0, free)
    assert redis.hget(keys.assignment_links(), f"A-NO-{width}") is None
    task.get_by_role("button", name="I do not agree").click()
    expect(task.locator("#stop-message")).to_have_text(
        "You did not agree to take part. Please return the HIT. Nothing has been recorded.")
    assert held(redis, "dsis-001") == (0, free)
    assert redis.hget(keys.assignment_links(), f"A-NO-{width}") is None

    task = landing_task(page, base_url, "dsis-001", f"A-YES-{width}", f"WYES{width}")
    expect(task.get_by_role("button", name="I agree — continue")).to_be_visible()
    assert held(redis, "dsis-001") == (0, free)
    task.get_by_role("button", name="I agree — continue").click()
    expect(task.get_by_role("heading", name="Instructions")).to_be_visible()
    assert held(redis, "dsis-001") == (1, free - 1)
    assert redis.hget(keys.assignment_links(), f"A-YES-{width}") == "dsis-001"


def test_a_second_tab_of_a_rating_assignment_is_told_to_close(sized_page, redis, _running_server, ratings_acr,
                                                              shots):
    from playwright.sync_api import expect

    load_experiment(redis, ratings_acr)
    page = sized_page(1366, 650)
    url = f"{_running_server[0]}/experiment.html?link=acr-001&assignmentId=A-TABS&workerId=WTABS&hitId=H1"
    page.goto(url)
    expect(page.get_by_role("button", name="I agree — continue")).to_be_visible()
    second = page.context.new_page()
    second.goto(url)
    expect(second.locator("#stop-message")).to_have_text(
        "This task is already open in another tab or window. Please continue there and close this one.")
    expect(second.get_by_role("button", name="I agree — continue")).to_be_hidden()
    second.screenshot(path=shots / "ratings_second_tab_1366x650.png")
    assert held(redis, "acr-001")[0] == 0  # the second tab allocated nothing
    second.close()
    page.get_by_role("button", name="I agree — continue").click()
    expect(page.get_by_role("heading", name="Instructions")).to_be_visible()
    assert held(redis, "acr-001")[0] == 1


@pytest.mark.parametrize("headphones", [False, True])
def test_a_blocked_worker_is_told_before_consent_and_before_the_headphone_check(
        sized_page, redis, _running_server, ratings_acr, tmp_path, shots, headphones):
    """The page asks the server first (GET /api/eligibility): a blocked worker reads the server's sentence,
    is offered no consent and no headphone check, and holds nothing."""
    from playwright.sync_api import expect

    load_experiment(redis, with_headphone_check(ratings_acr, tmp_path, headphones or None))
    block_workers(redis, ["WBLOCKED"])
    page = sized_page(1366, 650)
    asked = []
    page.on("request", lambda r: asked.append(r.url.split("?")[0].rsplit("/", 1)[-1]) if "/api/" in r.url else None)
    page.goto(f"{_running_server[0]}/experiment.html?link=acr-001&assignmentId=A-BLOCKED&workerId=WBLOCKED&hitId=H1")
    expect(page.locator("#stop-message")).to_have_text(
        "Sorry, your worker ID cannot take part in this study. Please return the HIT. Nothing has been recorded.")
    for name in ("I agree — continue", "Play"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_hidden()
    page.screenshot(path=shots / f"ratings_blocked{'_headphones' if headphones else ''}_1366x650.png")
    assert asked == ["eligibility"]  # told by the eligibility check, never by a refused allocation
    assert held(redis, "acr-001")[0] == 0
    assert redis.hget(keys.assignment_links(), "A-BLOCKED") is None


def dsis_started_in_landing(sized_page, redis, base_url: str, exp_dir: Path, width: int, height: int, tag: str):
    """The DSIS image study's first screen inside the landing layout in a ``width`` x ``height`` window (a
    phone below 500 px); returns (page, task frame, worker id)."""
    load_experiment(redis, exp_dir)
    phone = {"has_touch": True, "is_mobile": True, "device_scale_factor": 3} if width < 500 else {}
    page = sized_page(width, height, **phone)
    worker = f"W{tag}{width}"
    task = landing_task(page, base_url, "dsis-001", f"A-{tag}-{width}", worker)
    task.get_by_role("button", name="I agree — continue").click()
    task.get_by_role("button", name="Start").click()
    return page, task, worker


@pytest.mark.parametrize("width, height", [(1366, 650), (390, 844)])
def test_the_debrief_comment_reaches_every_exported_row(sized_page, redis, _running_server, ratings_dsis_images,
                                                         shots, width, height):
    from playwright.sync_api import expect

    page, task, worker = dsis_started_in_landing(sized_page, redis, _running_server[0], ratings_dsis_images,
                                                 width, height, "DEBRIEF")
    for k in range(3):
        expect(task.get_by_role("heading", name=f"Sample {k + 1} of 3")).to_be_visible()
        task.get_by_role("radio", name="4 Perceptible but not annoying").click()
        task.get_by_role("button", name="Next").click()
    expect(task.get_by_role("heading", name="Thank you — one last, optional question")).to_be_visible()
    comment = "The second picture looked blurred."
    task.get_by_label("Anything you want to tell us about the task (optional):").fill(comment)
    page.screenshot(path=shots / f"ratings_debrief_{width}x{height}.png")
    task.get_by_role("button", name="Finish and get my code").click()
    expect(task.get_by_role("heading", name="Thank you — you are done")).to_be_visible()
    rows = rows_of(redis, worker)
    assert [row["rating"] for row in rows] == ["4", "4", "4"]
    assert {row["comment"] for row in rows} == {comment}


def with_config(page, change) -> None:
    """Serve the worker page with its ``mvt-config`` JSON changed by ``change(cfg)`` and its markup by
    ``change.markup(html)`` if given: what the server will send once it names words or a kind module."""
    import json

    def handle(route):
        response = route.fetch()
        html = response.text()
        start = html.index('id="mvt-config">') + len('id="mvt-config">')
        end = html.index("</script>", start)
        cfg = json.loads(html[start:end])
        change(cfg)
        html = html[:start] + json.dumps(cfg) + html[end:]
        html = getattr(change, "markup", lambda h: h)(html)
        route.fulfill(response=response, body=html)

    page.route("**/experiment.html?*", handle)


def test_the_page_reads_the_platforms_words_and_the_configs_kind_module(page, redis, _running_server, ratings_acr):
    """``words.return_sentence`` replaces MTurk's, and the config's ``kind_module`` wins over the
    script's ``data-kind`` (here broken on purpose)."""
    from playwright.sync_api import expect

    load_experiment(redis, ratings_acr)

    def change(cfg):
        cfg["words"] = {"task": "study", "participant_id": "participant ID",
                        "return_sentence": "Please return the study on Prolific."}
        cfg["kind_module"] = "/static/ratings/kind.js"
    change.markup = lambda html: html.replace('data-kind="/static/ratings/kind.js"', 'data-kind="/static/nowhere.js"')
    with_config(page, change)
    page.goto(f"{_running_server[0]}/experiment.html?link=acr-001&assignmentId=A-WORDS&workerId=WWORDS&hitId=H1")
    assert page.locator("script[data-kind]").get_attribute("data-kind") == "/static/nowhere.js"
    page.get_by_role("button", name="I do not agree").click()
    expect(page.locator("#stop-message")).to_have_text(
        "You did not agree to take part. Please return the study on Prolific. Nothing has been recorded.")


def test_a_kind_module_of_another_origin_is_not_loaded(page, redis, _running_server, ratings_acr):
    from playwright.sync_api import expect

    load_experiment(redis, ratings_acr)
    with_config(page, lambda cfg: cfg.update(kind_module="https://example.org/kind.js"))
    page.goto(f"{_running_server[0]}/experiment.html?link=acr-001&assignmentId=A-EVIL&workerId=WEVIL&hitId=H1")
    expect(page.locator("#stop-message")).to_contain_text(
        "the study kind module https://example.org/kind.js is not on this server")
    expect(page.get_by_role("button", name="I agree — continue")).to_be_hidden()


def test_a_reload_mid_task_goes_on_at_the_next_sample_under_the_same_list(page, redis, _running_server,
                                                                          ratings_dsis_images):
    """After consent a reload asks neither consent nor the instructions again and resumes the same
    assignment (no second list); the debrief follows the last sample."""
    from playwright.sync_api import expect

    load_experiment(redis, ratings_dsis_images)
    open_task(page, _running_server[0], "dsis-001", worker="WRELOAD")
    page.get_by_role("radio", name="4 Perceptible but not annoying").click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Sample 2 of 3")).to_be_visible()
    assert len(rows_of(redis, "WRELOAD")) == 1
    page.reload()
    for k in (2, 3):
        expect(page.get_by_role("heading", name=f"Sample {k} of 3")).to_be_visible()
        page.get_by_role("radio", name="2 Annoying").click()
        page.get_by_role("button", name="Next").click()
    finish_debrief(page)
    assert [row["rating"] for row in rows_of(redis, "WRELOAD")] == ["4", "2", "2"]
    (progress,) = [p for p in link_progress(redis) if p.link_id == "dsis-001"]
    assert (progress.in_progress, progress.complete) == (0, 1)


def test_keys_work_after_a_click_on_the_player_and_enter_never_replays(page, redis, _running_server, ratings_acr):
    """A click on the player's controls leaves the keys with the rating: a number chooses, Enter
    confirms (it does not play the sample again), and one player plays at a time."""
    from playwright.sync_api import expect

    base_url = _running_server[0]
    load_experiment(redis, ratings_acr)
    open_task(page, base_url, "acr-001", worker="W-KEYS")
    expect(page.get_by_role("heading", name="Sample 1 of 4")).to_be_visible()
    play_to_end(page, "#stimuli audio")
    player = page.locator("#stimuli audio")
    box = player.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + box["height"] / 2)  # the ▶ at the controls' left
    page.wait_for_timeout(300)
    assert page.evaluate("document.activeElement && document.activeElement.id") == "rate-scale"
    page.keyboard.press("3")
    expect(page.locator('[role=radio][data-value="3"]')).to_have_attribute("aria-checked", "true")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sample 2 of 4")).to_be_visible()
    (row,) = rows_of(redis, "W-KEYS")
    assert row["rating"] == "3" and row["replays"] <= 1, row


def test_starting_one_player_pauses_the_others(sized_page, redis, _running_server, ratings_mushra):
    """MUSHRA inside the landing layout at 1280x600: a click on one player's ▶ pauses every other
    player on the screen (the reference's and the samples'), so one sound plays at a time."""
    from playwright.sync_api import expect

    base_url = _running_server[0]
    load_experiment(redis, ratings_mushra)
    page = sized_page(1280, 600)
    task = landing_task(page, base_url, "mushra-001", "A-ONE", "W-ONE")
    task.get_by_role("button", name="I agree — continue").click()
    task.get_by_role("button", name="Start").click()
    expect(task.get_by_role("heading", name="Sample 1–4 of 4")).to_be_visible()
    players = task.locator("#stimuli audio, #rate-scale audio")
    names = [players.nth(k).get_attribute("aria-label") for k in range(players.count())]
    assert names[0] == "Reference" and len(names) == 5, names
    playing = []
    for k in (0, 1, 3, 2):
        player = players.nth(k)
        player.scroll_into_view_if_needed()
        box = player.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + box["height"] / 2)  # the ▶ at the controls' left
        expect(player).to_have_js_property("paused", False)
        page.wait_for_timeout(150)
        playing.append([n for j, n in enumerate(names) if not players.nth(j).evaluate("(m) => m.paused")])
    assert playing == [["Reference"], ["Sample A"], ["Sample C"], ["Sample B"]]



@pytest.mark.parametrize("width, height", [(1366, 650), (390, 844)])
def test_dsis_pictures_record_view_time_and_visibility(sized_page, redis, _running_server, ratings_dsis_images,
                                                       shots, width, height):
    """Inside the landing layout, per picture: the reference's and the impaired sample's time wholly on the
    worker's screen and whether each ever was; Flip gives its time to the reference; a picture scrolled out
    of the window gains none. Before: no view time for
    the reference and for the sample only the page's visible time, wherever the picture was."""
    from playwright.sync_api import expect

    page, task, worker = dsis_started_in_landing(sized_page, redis, _running_server[0], ratings_dsis_images,
                                                 width, height, "DSIS")
    reference, sample = task.get_by_role("img", name="Reference", exact=True), task.get_by_role("img", name="Sample")
    expect(sample).to_be_visible()
    sample.scroll_into_view_if_needed()
    reference.scroll_into_view_if_needed()
    both = in_viewport(page, reference) and in_viewport(page, sample)
    page.screenshot(path=shots / f"dsis_{width}x{height}.png")
    page.wait_for_timeout(600)
    task.get_by_role("button", name="Flip: show the reference here (F)").click()
    page.wait_for_timeout(1000)
    task.get_by_role("button", name="Flip back to the sample (F)").click()
    # The window scrolled (the outer page, then the task's frame) until both pictures are above it, for
    # 800 ms: neither gains time.
    box = sample.bounding_box()
    page.evaluate(f"window.scrollBy(0, {box['y'] + box['height'] + 10})")
    box = sample.bounding_box()
    if box["y"] + box["height"] > 0:
        task.locator("body").evaluate(f"() => window.scrollBy(0, {box['y'] + box['height'] + 10})")
    page.wait_for_timeout(100)
    gone = not in_viewport(page, reference) and not in_viewport(page, sample)
    page.wait_for_timeout(800)
    task.get_by_role("radio", name="4 Perceptible but not annoying").click()
    task.get_by_role("button", name="Next").click()
    expect(task.get_by_role("heading", name="Sample 2 of 3")).to_be_visible()
    assert both and gone
    (row,) = rows_of(redis, worker)
    assert row["stimulus_visible"] is True and row["reference_visible"] is True, row
    assert row["view_ms"] >= 600, row
    # the 1,000 ms flipped are the reference's (a busy page runs a click's handler late: 400 ms flipped
    # once read as 331 ms at load 22, so the margin is wide)
    assert row["reference_view_ms"] >= row["view_ms"] + 700, row
    assert row["reference_view_ms"] <= row["response_time_ms"] - 700, row  # the 800 ms scrolled away are no one's
