"""A study kind and a platform that exist only in the tests, taken end to end by registration alone.

``MVT_PLUGINS=tests.fixtures.echo_kind,tests.fixtures.fake_platform`` and nothing else: the echo
kind's build command, load, page (its own template and browser module), export and analysis, and
the fake platform's arrival route, words, finish and confirmed records, through the real CLI, a
real ``mvt serve`` over HTTPS on an embedded Redis, and Debian's Chromium.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.redis import free_port
from tests.test_browser_pages import CHROMIUM, browser, shots  # noqa: F401 (fixtures)
from tests.test_serve import stop, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = "tests.fixtures.echo_kind,tests.fixtures.fake_platform"
WORDS = ["apple", "river", "stone", "cloud"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]


def mvt(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def plugin_env(tmp_path) -> dict:
    return {**os.environ, "MVT_PLUGINS": PLUGINS, "MVT_DATA_DIR": str(tmp_path / "data"),
            "MVT_LIMIT_ASSIGNMENTS_PER_MINUTE": "0"}


def test_an_unknown_plugin_stops_the_cli_with_one_line(plugin_env):
    done = mvt({**plugin_env, "MVT_PLUGINS": "tests.fixtures.no_such_kind"}, "--help")
    assert done.returncode == 1
    assert done.stderr.startswith("error: MVT_PLUGINS names 'tests.fixtures.no_such_kind', which cannot be imported")


def test_a_kind_whose_export_columns_lack_a_common_one_is_refused_at_registration():
    from studies import KINDS, register_kind
    from studies.mvt import MVTKind

    class NoWorker(MVTKind):
        name = "no-worker"
        export_columns = tuple(c for c in MVTKind.export_columns if c != "worker_id")

    with pytest.raises(ValueError, match=r"^export_columns of study kind 'no-worker' must name each column once "
                                         r"and include experiment, .* \(missing worker_id\)$"):
        register_kind(NoWorker())
    assert "no-worker" not in KINDS


def test_plugins_named_in_dot_env_are_loaded_too(plugin_env, tmp_path):
    (tmp_path / ".env").write_text("MVT_PLUGINS=lab_kind_that_is_not_installed\n")
    env = {k: v for k, v in plugin_env.items() if k != "MVT_PLUGINS"}
    done = subprocess.run([sys.executable, "-m", "cli", "--help"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: MVT_PLUGINS names 'lab_kind_that_is_not_installed', which cannot be imported")


def test_echo_kind_and_fake_platform_end_to_end(plugin_env, tmp_path, browser, shots):  # noqa: F811
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n")
    exp = tmp_path / "echo1"
    built = mvt(plugin_env, "build-echo", words, exp, "--base-url", base, "--per-task", 4, "--workers", 2)
    assert built.returncode == 0, built.stderr
    assert sorted(p.suffix for p in (exp / "videos").iterdir()) == [".png"] * 4
    loaded = mvt(plugin_env, "load", exp)
    assert loaded.returncode == 0, loaded.stderr
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)], env=plugin_env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_healthy(f"{base}/healthz", server).status_code == 200
        refused = httpx.get(f"{base}/fakepanel?experiment=echo1", verify=False)
        assert refused.status_code == 400 and "FakePanel id (pid)" in refused.text

        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1366, "height": 650})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{base}/fakepanel?experiment=echo1&pid=P1")
        consent = page.locator("#screen-consent")
        consent.wait_for(state="visible")
        assert "FakePanel ID" in consent.inner_text() and "returning the session" in consent.inner_text()
        page.click("#consent-agree")
        typed = []
        for n in range(4):
            page.locator("#screen-echo").wait_for(state="visible")
            page.wait_for_function(f"document.getElementById('echo-no').textContent === '{n + 1}'")
            src = page.get_attribute("#echo-image", "src")
            assert src.startswith("/videos/") and src.split("?")[0].endswith(".png")
            assert httpx.get(base + src, verify=False).headers["content-type"] == "image/png"
            word = WORDS[n] if n < 3 else "apple"      # the last answer is wrong on purpose
            typed.append(word)
            page.fill("#echo-input", word)
            if n == 0:
                page.screenshot(path=str(shots / "echo-trial-1366x650.png"))
            page.click("#echo-next")
        page.fill("#debrief-comment", "=cmd|' /C calc'!A0 <script>x</script>")
        page.locator("#screen-debrief button.primary").click()
        page.wait_for_url(f"{base}/fakepanel/done?code=FAKE-DONE", timeout=15_000)
        assert "FakePanel recorded code FAKE-DONE" in page.inner_text("h1")
        context.close()
        assert problems == []

        exported = mvt(plugin_env, "export", tmp_path / "out.csv")
        assert exported.returncode == 0, exported.stderr
        rows = list(csv.DictReader(open(tmp_path / "out.csv", newline="")))
        assert list(rows[0])[:9] == ["experiment", "link_id", "assignment_id", "worker_id", "hit_id", "trial",
                                     "word", "typed", "correct"]  # the kind's own columns, by registration
        assert [(r["worker_id"], r["experiment"], r["word"], r["typed"], r["correct"]) for r in rows] == [
            ("P1", "echo1", WORDS[i], typed[i], "true" if i < 3 else "false") for i in range(4)]
        assert {r["assignment_status"] for r in rows} == {"complete"}
        assert rows[0]["assignment_id"].startswith("fp-")
        assert rows[0]["comment"] == "'=cmd|' /C calc'!A0 <script>x</script>"

        analyzed = mvt(plugin_env, "analyze", "--out", tmp_path / "res")
        assert analyzed.returncode == 0, analyzed.stderr
        assert "4 answers of 1 participant(s) on 4 words" in analyzed.stdout
        table = {r["word"]: r for r in csv.DictReader(open(tmp_path / "res" / "echo.csv", newline=""))}
        assert {w: (r["n"], r["n_correct"]) for w, r in table.items()} == {
            "apple": ("1", "1"), "river": ("1", "1"), "stone": ("1", "1"), "cloud": ("1", "0")}
    finally:
        stop(server)
