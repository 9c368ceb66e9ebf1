"""Worker pages (app/routes/pages.py) through HTTP, without a browser."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from kernel.reasons import FALLBACK_SENTENCE, worker_sentences
from app.routes import pages
from platforms.mturk.landing import render_landing

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.include_router(pages.router)
    for platform_router in pages.platform_routers():
        app.include_router(platform_router)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    return TestClient(app, base_url="https://testserver")


def config_of(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="mvt-config">(.*?)</script>', html, re.S)
    assert m, "no config block"
    return json.loads(m.group(1))


def test_runner_page_carries_ids_in_a_json_block(client):
    r = client.get("/experiment.html", params={"link": "exp1-001", "b": "A1", "c": "H1", "d": "W1"})
    assert r.status_code == 200
    cfg = config_of(r.text)
    assert cfg["link"] == "exp1-001"
    assert (cfg["assignment_id"], cfg["hit_id"], cfg["worker_id"]) == ("A1", "H1", "W1")
    assert cfg["turk_submit_to"] is None
    assert re.search(r'<script type="module" src="/static/common/session.js\?v=[0-9a-f]{16}" '
                     r'data-kind="/static/runner/kind.js"></script>', r.text)
    assert (cfg["reasons"], cfg["reason_fallback"]) == (worker_sentences(), FALLBACK_SENTENCE)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'self' https://*.mturk.com" in csp
    assert "form-action 'self' https://testserver https://*.mturk.com" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("accept", ["gzip, deflate, br", "identity"])
def test_runner_page_is_sent_gzipped_to_clients_that_accept_it(client, accept):
    params = {"link": "exp1-001", "b": "A1", "c": "H1", "d": "W1"}
    r = client.get("/experiment.html", params=params, headers={"Accept-Encoding": accept})
    assert r.status_code == 200 and config_of(r.text)["assignment_id"] == "A1"
    assert (r.headers.get("content-encoding"), r.headers["vary"]) == ("gzip" if accept.startswith("gzip") else None,
                                                                      "Accept-Encoding")
    wire = int(r.headers["content-length"])  # httpx hands the decoded page
    assert wire == len(r.content) if accept == "identity" else wire < len(r.content) / 2


def test_runner_page_accepts_mturk_parameter_names(client):
    r = client.get("/experiment.html", params={
        "link": "exp1-001", "assignmentId": "A2", "hitId": "H2", "workerId": "W2",
        "turkSubmitTo": "https://workersandbox.mturk.com"})
    cfg = config_of(r.text)
    assert (cfg["assignment_id"], cfg["hit_id"], cfg["worker_id"]) == ("A2", "H2", "W2")
    assert cfg["turk_submit_to"] == "https://workersandbox.mturk.com"


@pytest.mark.parametrize("target, kept", [
    ("https://www.mturk.com", "https://www.mturk.com"),
    ("https://www.mturk.com/some/path", "https://www.mturk.com"),
    ("https://testserver", "https://testserver"),
    ("https://evil.example", None),
    ("javascript:alert(1)", None),
])
def test_only_known_submit_targets_are_kept(client, target, kept):
    r = client.get("/experiment.html", params={"link": "L", "b": "A", "d": "W", "turkSubmitTo": target})
    assert config_of(r.text)["turk_submit_to"] == kept


@pytest.mark.parametrize("params, message", [
    ({"b": "A", "d": "W"}, "no valid task link"),
    ({"link": "<script>alert(1)</script>", "b": "A", "d": "W"}, "no valid task link"),
    ({"link": "L", "b": "A\"><img src=x onerror=alert(1)>", "d": "W"}, "The assignment id in the address"),
    ({"link": "L", "b": "A", "d": "x" * 65}, "The worker id in the address"),
    ({"link": "L", "b": "A", "d": "W", "c": "H H"}, "The HIT id in the address"),
])
def test_bad_query_values_are_refused_without_echoing_them(client, params, message):
    r = client.get("/experiment.html", params=params)
    assert r.status_code == 400
    assert message in r.text
    assert "<script>alert" not in r.text and "onerror" not in r.text


@pytest.mark.parametrize("params", [
    {"link": "exp1-001", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H"},
    {"link": "exp1-001"},
])
def test_preview_shows_instructions_and_nothing_that_starts_the_task(client, params):
    r = client.get("/experiment.html", params=params)
    assert r.status_code == 200
    assert "Accept the HIT" in r.text
    assert "<h1 id=\"preview-title\">Picture recognition task (preview)</h1>" in r.text   # the default study's title
    assert "the task\n    cannot be done on a phone or tablet" in r.text                 # its device rule
    assert "Photosensitivity warning" in r.text
    assert "/static/example.png" in r.text
    assert "/static/runner/" not in r.text and "/static/common/" not in r.text and "mvt-config" not in r.text


def test_landing_preview_fills_hit_link_and_runs_its_script_under_a_nonce(client):
    r = client.get("/mturk/landing", params={"link": "exp1-002", "assignmentId": "A"})
    assert r.status_code == 200
    assert 'data-hit-link="https://testserver/experiment.html?link=exp1-002"' in r.text
    assert "${HIT_Link}" not in r.text
    nonce = re.search(r"<script nonce=\"([^\"]+)\">", r.text).group(1)
    assert f"script-src 'nonce-{nonce}'" in r.headers["content-security-policy"]
    assert f'<style nonce="{nonce}">' in r.text


def test_landing_layout_file_is_a_pasteable_snippet():
    text = (ROOT / "mturk_landing" / "landing.html").read_text()
    assert text.count("${HIT_Link}") == 1 and text.count("${") == 1  # MTurk substitutes every ${…}
    assert "<form" not in text  # MTurk wraps layouts in its own form; forms must not nest
    assert "<html" not in text.lower() and "<body" not in text.lower()


def test_landing_escapes_the_hit_link():
    html = render_landing('https://h/experiment.html?link=a"><script>x</script>')
    assert "<script>x" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


def test_landing_without_link_says_what_to_add(client):
    r = client.get("/mturk/landing")
    assert r.status_code == 400
    assert "Add ?link=LINK_ID" in r.text


def test_external_submit_stand_in_shows_the_posted_fields_escaped(client):
    r = client.post("/mturk/externalSubmit", content="assignmentId=A1&completion_code=%3Cb%3Ecode",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    assert "<td>assignmentId</td><td>A1</td>" in r.text
    assert "<td>completion_code</td><td>&lt;b&gt;code</td>" in r.text


def test_static_runner_assets_are_served(client):
    for path in ("/static/runner.css", "/static/example.png"):
        assert client.get(path).status_code == 200, path


def test_runner_modules_are_served_as_javascript_and_every_import_resolves(client):
    """Browsers refuse a module script served with a non-JavaScript type; a bad import path
    stops the whole runner. From the session and each kind's module every module of
    ``static/common``, ``static/runner`` and ``static/ratings`` is reached."""
    todo, seen = ["common/session.js", "runner/kind.js", "ratings/kind.js"], set()
    while todo:
        name = todo.pop()
        seen.add(name)
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript"), name
        folder = posixpath.dirname(name)
        imported = {posixpath.normpath(posixpath.join(folder, m))
                    for m in re.findall(r'from "(\.\.?/[a-z_/]+\.js)"', r.text)}
        todo += [m for m in imported if m not in seen]
    assert seen == {p.relative_to(ROOT / "static").as_posix()
                    for folder in ("common", "runner", "ratings") for p in (ROOT / "static" / folder).glob("*.js")}
