"""The control room (``/admin/``) over HTTPS: sign-in, sessions, CSRF, viewers, actions, pause, the figures."""

from __future__ import annotations

import contextlib
from decimal import Decimal
import re
import time

import pytest

from app import adminauth
from app.control import overview
from kernel import control, tally
from kernel.store import keys
from tests.fixtures.control import (SIGNIN_PER_MINUTE, VIEWER_TOKEN, _control_running,  # noqa: F401 (fixtures)
                                    control_server, https_client)
from tests.fixtures.server import ADMIN_TOKEN
from tests.test_admin import do_task


def signed_in(server, token=ADMIN_TOKEN):
    """A client with a session of ``token``'s role, and the page's CSRF token."""
    client = https_client(server)
    answer = client.post("/admin/signin", data={"token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/"
    page = client.get("/admin/")
    return client, re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


def test_signin_sets_a_strict_http_only_secure_cookie_and_no_token_in_urls(control_server):
    with https_client(control_server) as client:
        first = client.get("/admin/")
        assert first.status_code == 200 and 'action="/admin/signin"' in first.text and 'method="post"' in first.text
        assert "script-src 'self'" in first.headers["content-security-policy"]
        answer = client.post("/admin/signin", data={"token": ADMIN_TOKEN})
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-mvt_admin=admin.")
        assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in cookie.split(";")}
        assert ADMIN_TOKEN not in cookie and ADMIN_TOKEN not in answer.headers["location"]
        page = client.get("/admin/")
        assert "synth" in page.text and "signed in as <strong>admin</strong>" in page.text


def test_a_wrong_token_is_refused_and_sign_in_attempts_are_limited(control_server):
    with https_client(control_server) as client:
        for _ in range(SIGNIN_PER_MINUTE):
            wrong = client.post("/admin/signin", data={"token": "not-the-token-at-all"})
            assert wrong.status_code == 401
            assert "That token is neither MVT_ADMIN_TOKEN nor MVT_VIEWER_TOKEN." in wrong.text
        limited = client.post("/admin/signin", data={"token": ADMIN_TOKEN})
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert "Too many sign-in attempts from your address; wait a minute and try again." in limited.text
        assert "set-cookie" not in limited.headers


@pytest.mark.parametrize("cookie", ["", "admin.0123.9999999999.00", "viewer.abc.9999999999.deadbeef"])
def test_forged_session_cookies_are_not_sessions(control_server, cookie):
    with https_client(control_server) as client:
        client.cookies.set(adminauth.COOKIE, cookie)
        assert 'action="/admin/signin"' in client.get("/admin/").text
        assert client.get("/admin/status.json").status_code == 401


def test_a_session_signed_before_a_token_changed_is_over(control_server):
    settings = control_server.settings
    cookie, _ = adminauth.issue(settings, "admin")
    assert adminauth.read(settings, cookie) is not None
    changed = settings.model_copy(update={"admin_token": type(settings.admin_token)("another-admin-token-0123")})
    assert adminauth.read(changed, cookie) is None
    assert adminauth.read(settings, cookie, now_s=2**40) is None


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
def test_actions_without_this_sessions_csrf_token_are_refused(control_server, csrf):
    client, _ = signed_in(control_server)
    with contextlib.closing(client):
        form = {"worker_id": "W9", "why": "spam"} | ({} if csrf is None else {"csrf": csrf})
        answer = client.post("/admin/actions/block", data=form)
        assert answer.status_code == 403
        assert "The form&#39;s CSRF token is missing or is not this session&#39;s" in answer.text
        assert not control_server.redis.exists(keys.worker_blocked("W9"))


def test_a_viewer_sees_everything_and_changes_nothing(control_server):
    client, csrf = signed_in(control_server, VIEWER_TOKEN)
    with contextlib.closing(client):
        page = client.get("/admin/")
        assert "signed in as <strong>viewer</strong> (read-only)" in page.text
        assert 'action="/admin/actions/' not in page.text
        for action, form in [("block", {"worker_id": "W9"}), ("pause", {"experiment": "synth"}),
                             ("replace", {"assignment_id": "A1"}), ("flag", {"worker_id": "W9", "why": "x"}),
                             ("unflag", {"worker_id": "W9", "why": "x"})]:
            answer = client.post(f"/admin/actions/{action}", data={**form, "csrf": csrf})
            assert answer.status_code == 403 and "You are signed in as a viewer: you can look but not act." in answer.text
        assert client.get("/admin/status.json").json()["experiments"][0]["state"] == "open"
        assert not control_server.redis.exists(keys.worker_blocked("W9"))
        assert control.activity(control_server.redis) == []


def test_block_pause_and_replace_are_done_logged_and_refused_to_workers(control_server):
    client, csrf = signed_in(control_server)
    api = https_client(control_server)
    with contextlib.closing(client), api:
        done = do_task(api, "W1", "A1")
        answer = client.post("/admin/actions/block", data={"worker_id": "W2", "why": "bot", "csrf": csrf,
                                                           "back": "/admin/workers/W2"})
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/workers/W2"
        refused = api.post("/api/assignments", json={"link": "synth-001", "worker_id": "W2", "assignment_id": "A2"})
        assert (refused.status_code, refused.json()["reason"]) == (409, "blocked")

        client.post("/admin/actions/pause", data={"experiment": "synth", "why": "fix a typo", "csrf": csrf})
        ask = {"link": "synth-002", "worker_id": "W3"}
        assert api.get("/api/eligibility", params=ask).json() == {"eligible": False, "reason": "paused", "study_title": None}
        assert api.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W1",
                                                    "assignment_id": "A1"}).json()["eligible"] is True
        paused = api.post("/api/assignments", json={"link": "synth-002", "worker_id": "W3", "assignment_id": "A3"})
        assert paused.status_code == 409 and paused.json() == {
            "detail": "new arrivals on link synth-002 are paused by the researcher; nothing was allocated",
            "reason": "paused"}
        assert control_server.redis.hget(keys.link_workers("synth-002"), "W3") is None
        resumed = api.post("/api/assignments", json={"link": "synth-001", "worker_id": "W1", "assignment_id": "A1"})
        assert resumed.status_code == 200 and resumed.json()["completed"] is True
        status = client.get("/admin/status.json").json()["experiments"][0]
        assert (status["state"], status["done"], status["arrivals_last_hour"], status["completions_last_hour"]) == (
            "paused", 1, 1, 1)
        assert status["refusals_last_hour"] == {"blocked": 1, "paused": 1}

        client.post("/admin/actions/resume", data={"experiment": "synth", "csrf": csrf})
        assert api.post("/api/assignments", json={"link": "synth-002", "worker_id": "W3",
                                                  "assignment_id": "A3"}).status_code == 200
        client.post("/admin/actions/replace", data={"assignment_id": done["assignment_id"], "csrf": csrf})
        log = control.activity(control_server.redis)
        assert [(e["who"].split()[0], e["action"], e["target"], e["why"]) for e in log] == [
            ("admin", "replace", "A1", ""), ("admin", "resume", "synth", ""), ("admin", "pause", "synth", "fix a typo"),
            ("admin", "block", "W2", "bot")]
        page = client.get("/admin/").text
        assert "fix a typo" in page and "to replace" in page


def test_bad_action_input_is_refused_with_a_sentence(control_server):
    client, csrf = signed_in(control_server)
    with contextlib.closing(client):
        bad = client.post("/admin/actions/block", data={"worker_id": "<script>", "csrf": csrf})
        assert bad.status_code == 422 and "worker_id must be 1 to 100 ids" in bad.text and "<script>" not in bad.text
        assert client.post("/admin/actions/pause", data={"experiment": "nope", "csrf": csrf}).status_code == 404
        assert client.post("/admin/actions/delete", data={"csrf": csrf}).status_code == 404
        off_site = client.post("/admin/actions/block", data={"worker_id": "W5", "csrf": csrf,
                                                             "back": "//evil.example/admin/"})
        assert off_site.headers["location"] == "/admin/"


FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1 Safari/605.1.15")


def test_overview_counts_lists_and_minutes(control_server):
    """Two tasks: W1 on Firefox on Windows at 60 Hz and devicePixelRatio 1.25, every trial timed right;
    W2 (unfinished) on Safari on a Mac at 120 Hz and 2, no frame log (timing_ok false: unmeasured)."""
    from tests.test_admin import EVERY_FRAME_TIME

    r = control_server.redis
    with https_client(control_server) as api:
        do_task(api, "W1", "A1", measured={"frame_log": "0-100", "frame_times": EVERY_FRAME_TIME, "dpr": 1.25,
                                           "refresh_interval_ms": 16.667}, headers={"User-Agent": FIREFOX_WINDOWS})
        body = do_task(api, "W2", "A2", complete=False, measured={"dpr": 2.0, "refresh_interval_ms": 8.333},
                       headers={"User-Agent": SAFARI_MAC})
        again = api.post("/api/responses", headers={"User-Agent": FIREFOX_WINDOWS}, json={
            "assignment_token": body["assignment_token"], "trial": 0, "response": "cat"})
        assert again.json()["duplicate"] is True  # a repeat is not counted again
    [e] = overview(r, allotted_minutes=60)
    assert (e.experiment_id, e.kind, e.n_lists, e.done, e.in_progress, e.free, e.expired) == ("synth", "mvt", 8, 1, 1,
                                                                                              6, 0)
    assert (e.arrivals_last_hour, e.completions_last_hour, len(e.arrivals_per_minute)) == (2, 1, 60)
    assert (e.arrivals_last_day, e.completions_last_day, len(e.completions_per_hour)) == (2, 1, 24)
    # An hour later the minute counts are gone, the hour counts still there: the ETA uses the day's rate.
    [hour_on] = overview(r, allotted_minutes=600, now_ms=int(time.time() * 1000) + 3_600_000)
    assert (hour_on.completions_last_hour, hour_on.completions_last_day) == (0, 1)
    assert hour_on.eta_minutes == pytest.approx(7 / (1 / (60 * 24)))
    assert e.figures == {"trials done per task in progress (median)": "3", "timing ok (all trials)": "50 % of 6",
                         "timing ok by browser": "Firefox: 100 % of 3; Safari: 0 % of 3",
                         "timing ok by OS": "Mac OS X: 0 % of 3; Windows: 100 % of 3",
                         "timing ok by refresh rate (Hz)": "120: 0 % of 3; 60: 100 % of 3",
                         "timing ok by devicePixelRatio": "1.25: 100 % of 3; 2: 0 % of 3"}
    assert e.timing["browser"] == [("Firefox", 3, 3), ("Safari", 3, 0)]
    assert e.median_task_s is not None
    # After the allotted time an unfinished assignment counts as expired (the next arrival takes it over).
    [later] = overview(r, allotted_minutes=60, now_ms=10**13)
    assert (later.in_progress, later.expired, later.arrivals_last_hour) == (0, 1, 0)


def test_hostile_comments_are_text_on_the_worker_page(control_server):
    client, _ = signed_in(control_server)
    api = https_client(control_server)
    with contextlib.closing(client), api:
        body = do_task(api, "W1", "A1", complete=False)
        api.post("/api/complete", json={"assignment_token": body["assignment_token"],
                                        "comment": "<script>alert(1)</script> =cmd|' /C calc'!A0"})
        page = client.get("/admin/workers/W1")
        assert page.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt; =cmd|&#39; /C calc&#39;!A0" in page.text
        assert "<script>alert" not in page.text
        for worker_id in ("%3Cscript%3Ealert(1)", "=cmd|' calc'!A0"):
            hostile = client.get(f"/admin/workers/{worker_id}")
            assert hostile.status_code == 404 and "is not a worker id" in hostile.text
            assert "<script>" not in hostile.text and "=cmd|'" not in hostile.text


def test_mvt_status_prints_the_pages_figures(control_server, redis_url):
    import typer
    from typer.testing import CliRunner

    from cli import status as commands
    from tests.test_admin import store_line

    def cli(args, url):
        app = typer.Typer()
        commands.register(app)
        app.command("unused")(lambda: None)  # more than one command: typer keeps the command name
        return CliRunner().invoke(app, args, env={"MVT_REDIS_URL": url})

    with https_client(control_server) as api:
        do_task(api, "W1", "A1")
        do_task(api, "W2", "A2", complete=False)
    client, csrf = signed_in(control_server)
    with contextlib.closing(client):
        client.post("/admin/actions/pause", data={"experiment": "synth", "csrf": csrf})
        shown = client.get("/admin/status.json").json()["experiments"][0]
    result = cli(["status"], redis_url)
    header, row, extra, flags = result.output.removeprefix(store_line(redis_url, "single")).splitlines()
    assert flags == "standing flags: none"
    assert result.exit_code == 0
    assert header.split() == ["experiment", "kind", "state", "lists", "free", "in", "progress", "done", "expired", "to",
                              "replace", "done", "%", "arrivals/h", "completions/h", "completions/24h", "median",
                              "task", "ETA"]
    cells = row.split()
    assert cells[:13] == ["synth", "mvt", "paused", "8", "6", "1", "1", "0", "0", "12", "2", "1", "1"]
    assert [shown[k] for k in ("lists", "free", "in_progress", "done", "arrivals_last_hour")] == [8, 6, 1, 1, 2]
    assert extra == ("synth: trials done per task in progress (median): 3; timing ok (all trials): 100 % of 6; "
                     "timing ok by browser: unknown: 100 % of 6; timing ok by OS: unknown: 100 % of 6; "
                     "timing ok by refresh rate (Hz): unknown: 100 % of 6; "
                     "timing ok by devicePixelRatio: unknown: 100 % of 6")
    missing = cli(["status", "nope"], redis_url)
    assert missing.exit_code == 1 and missing.output.endswith(
        "error: experiment 'nope' is not loaded (loaded: synth); load it with `mvt load EXP_DIR`\n")


def test_a_paused_experiment_turns_prolific_arrivals_away_in_their_words(control_server):
    from tests.test_prolific_arrival import accept, arrive

    first = arrive(control_server, "P1")
    assert first.status_code == 200 and accept(control_server, first).status_code == 200  # P1 holds a list
    control.set_paused(control_server.redis, ["synth-001", "synth-002"], True)
    late = arrive(control_server, "P2")
    assert late.status_code == 409
    assert ("The researcher has paused this study for now: no new tasks are handed out. You may try again later. "
            "Please return the study on Prolific (\u201cStop without completing\u201d). Nothing has been recorded."
            ) in late.text
    assert control_server.redis.hget(keys.assignment_links(), "S-P2") is None
    assert arrive(control_server, "P1").status_code == 200  # the participant who holds a list goes on


def test_a_large_experiment_is_counted_exactly_and_its_records_sampled(control_server, monkeypatch):
    import app.control as figures
    from kernel.admin import mark_for_replacement

    with https_client(control_server) as api:
        for k in range(4):
            do_task(api, f"W{k}", f"A{k}", link="synth-001")
        do_task(api, "W8", "A8", link="synth-002", complete=False)
    mark_for_replacement(control_server.redis, ["A0"])
    monkeypatch.setattr(figures, "SAMPLE_RECORDS", 2)
    monkeypatch.setattr(figures, "LINKS_PER_PIPELINE", 1)  # one pipeline per link: the same figures
    [e] = overview(control_server.redis, allotted_minutes=60)
    assert (e.done, e.to_replace, e.in_progress, e.free) == (3, 1, 1, 3)
    assert [(c.link_id, c.done, c.to_replace, c.in_progress, c.free) for c in e.links] == [
        ("synth-001", 3, 1, 0, 0), ("synth-002", 0, 0, 1, 3)]
    rows = figures._link_rows(control_server.redis, idle_before=0)  # 1 record a link: 1 of synth-001's 4, A8
    assert [len(row.records) for row in rows] == [1, 1] and rows[1].records[0]["assignment_id"] == "A8"
    assert rows[0].records[0]["assignment_id"] in {"A0", "A1", "A2", "A3"}


@pytest.mark.parametrize("platform", ["prolific", "mturk"])
def test_spend_counts_rewards_fees_and_bonuses_by_the_platforms_rule(control_server, platform):
    """Checked by hand: Prolific 1.50 a place at 33.3 % (0.4995 → 0.50 a place), a 0.25 bonus (fee 0.08);
    MTurk $1.00 on a HIT of 4 assignments for synth-001 only (fee 20 %, the HIT is under 10), the
    same bonus (fee $0.05). One task done in 6 minutes, one in progress."""
    import orjson

    r = control_server.redis
    if platform == "prolific":
        r.hset(keys.platform_records("prolific", "test", "studies"), "STUDY9",
               orjson.dumps({"study_id": "STUDY9", "experiment": "synth", "places": 8, "reward_cents": 150}))
        scope = ("prolific", "test")
    else:
        r.hset(keys.mturk_link_hits("sandbox"), "synth-001", "HIT1")
        r.hset(keys.mturk_hits("sandbox"), "HIT1", orjson.dumps({"hit_id": "HIT1", "link_id": "synth-001",
                                                                 "max_assignments": 4, "reward": "1.00"}))
        scope = ("mturk", "sandbox")
    with https_client(control_server) as api:
        do_task(api, "W1", "A1", link="synth-001")
        do_task(api, "W2", "A2", link="synth-001", complete=False)
    r.hset(keys.platform_done(*scope, "bonus"), "A1:base", orjson.dumps({"amount": "0.25"}))
    r.hset(keys.platform_done(*scope, "bonus"), "OTHER:base", orjson.dumps({"amount": "9.00"}))  # not this study's
    raw = orjson.loads(r.hget(keys.link_assignments("synth-001"), "A1"))
    raw["started_ms"] = raw["completed_ms"] - 6 * 60_000  # a six-minute task
    r.hset(keys.link_assignments("synth-001"), "A1", orjson.dumps(raw))
    tally.recount(r, "synth")  # its task time as if it had been completed so
    [e] = overview(r, allotted_minutes=60)
    [spend] = e.spend
    if platform == "prolific":
        assert e.platforms == ["Prolific study STUDY9 (8 places)"]
        assert spend.line() == (
            "Prolific test spend: done 2.33 (rewards 1.50 + fees 0.50 + bonuses 0.25 + their fees 0.08), committed 4.33, "
            "projected 16.33 at 1.50 per task; pay 15.00 an hour at the median task time (minimum £6.00 / $8.00)")
        assert spend.rule.endswith("academic or non-profit rate; corporate accounts pay 42.8 %")
    else:
        assert spend.line() == (
            "MTurk sandbox spend: done $1.50 (rewards $1.00 + fees $0.20 + bonuses $0.25 + their fees $0.05), "
            "committed $2.70, projected $5.10 at $1.00 per task; pay $10.00 an hour at the median task time")
    client, _ = signed_in(control_server)
    with contextlib.closing(client):
        shown = client.get("/admin/status.json").json()["experiments"][0]["spend"][0]
        page = client.get("/admin/").text
        priced = client.get("/admin/?per_hit=0.10&top50=0.05&top10=0.10").text
        polled = client.get("/admin/overview?per_hit=0.10&top50=0.05&top10=0.10").text
        wrong = client.get("/admin/?per_hit=0.10&top50=lots").text
    assert (shown["done_total"], shown["committed_total"], shown["projected_total"]) == (
        f"{spend.done_total:.2f}", f"{spend.committed_total:.2f}", f"{spend.projected_total:.2f}")
    assert f'<td data-field="spend_projected">{spend.money(spend.projected_total)}</td>' in page
    assert 'data-field="tier_done"' not in page and 'id="bonus-tiers"' in page
    # By hand: each payment with its fee. Prolific 33.3 %: 0.10 → 0.13, 0.05 → 0.07; 1 task done of 8:
    # base 1 and 8 tasks, top 50 % 1 and 4, top 10 % 1 and 1. MTurk 20 %: 0.10 → 0.12, 0.05 → 0.06;
    # 1 task done of synth-001's 4: base 1 and 4, top 50 % 1 and 2, top 10 % 1 and 1.
    cells = re.findall(r'data-field="tiers?_(done|projected)">([^<]+)<', priced)
    assert cells == ([("done", "0.13"), ("projected", "1.04"), ("done", "0.07"), ("projected", "0.28"),
                      ("done", "0.13"), ("projected", "0.13"), ("done", "0.33"), ("projected", "1.45")]
                     if platform == "prolific" else
                     [("done", "$0.12"), ("projected", "$0.48"), ("done", "$0.06"), ("projected", "$0.12"),
                      ("done", "$0.12"), ("projected", "$0.12"), ("done", "$0.30"), ("projected", "$0.72")])
    assert re.findall(r'data-field="tiers?_(done|projected)">([^<]+)<', polled) == cells  # the live refresh
    assert "top-50 % bonus (&#39;lots&#39;) must be an amount such as 0.50" in wrong and "tier_done" not in wrong


def test_sign_out_ends_the_session_in_the_browser_and_needs_the_csrf_token(control_server):
    client, csrf = signed_in(control_server)
    with contextlib.closing(client):
        assert client.post("/admin/signout", data={}).status_code == 403
        out = client.post("/admin/signout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["set-cookie"].startswith("__Host-mvt_admin=; Max-Age=0;")
        client.cookies.clear()
        assert 'action="/admin/signin"' in client.get("/admin/").text


def test_a_workers_page_shows_the_kinds_columns_and_the_platforms_records(control_server):
    import orjson

    r = control_server.redis
    r.hset(keys.mturk_assignments("sandbox"), "MA1", orjson.dumps({"worker_id": "W1", "status": "Submitted",
                                                                 "submitted_at": "2026-12-06T10:00:00Z"}))
    r.hset(keys.platform_records("prolific", "test", "submissions"), "SUB1",
           orjson.dumps({"participant_id": "W1", "status": "AWAITING REVIEW", "study_id": "STUDY9"}))
    r.hset(keys.platform_records("prolific", "test", "submissions"), "SUB2",
           orjson.dumps({"participant_id": "W2", "status": "APPROVED", "study_id": "STUDY9"}))
    at = "2026-12-06T11:00:00+00:00"
    r.hset(keys.platform_done("mturk", "sandbox", "approve"), "MA1", orjson.dumps({"at": at}))
    r.hset(keys.platform_done("mturk", "sandbox", "bonus"), "MA1:top50", orjson.dumps({"at": at, "amount": "0.05"}))
    r.hset(keys.platform_done("prolific", "test", "reject"), "SUB1", orjson.dumps({"at": at}))
    r.hset(keys.platform_done("prolific", "test", "approve"), "SUB2", orjson.dumps({"at": at}))  # W2's
    client, _ = signed_in(control_server)
    api = https_client(control_server)
    with contextlib.closing(client), api:
        do_task(api, "W1", "A1")
        page = client.get("/admin/workers/W1").text
    assert "MTurk sandbox: assignment MA1 Submitted (submitted 2026-12-06T10:00:00Z)" in page
    assert "Prolific test: submission SUB1 AWAITING REVIEW (study STUDY9)" in page and "SUB2" not in page
    assert f"MTurk sandbox: approved MA1 at {at}" in page and f"MTurk sandbox: paid top50 bonus 0.05 for MA1 at {at}" in page
    assert f"Prolific test: rejected SUB1 at {at}" in page
    headings = re.findall(r'<th scope="col">([^<]+)</th>', page)
    assert headings == ["trial", "answer", "correct", "timing ok", "frames shown", "answer time (ms)", "plays",
                        "received"]


def test_actions_through_the_bearer_routes_appear_in_the_activity_log(control_server):
    with https_client(control_server) as api:
        answer = api.post("/admin/block", json={"worker_ids": ["W4", "W5"]},
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.json() == {"blocked": ["W4", "W5"]}
    [entry] = control.activity(control_server.redis)
    assert (entry["who"], entry["action"], entry["target"]) == ("bearer token", "block", "W4 W5")


def test_mvt_pause_and_resume_from_the_terminal(control_server, redis_url):
    import typer
    from typer.testing import CliRunner

    from cli import status as commands

    app = typer.Typer()
    commands.register(app)
    run = lambda *args: CliRunner().invoke(app, list(args), env={"MVT_REDIS_URL": redis_url})  # noqa: E731
    paused = run("pause", "synth", "--reason", "out of money")
    assert paused.exit_code == 0 and paused.output.splitlines()[-1] == (
        "paused new arrivals of synth (2 links); workers who hold a task can finish it")
    assert overview(control_server.redis, 60)[0].paused
    assert run("resume", "synth").output.splitlines()[-1] == "reopened new arrivals of synth (2 links)"
    assert [(e["who"], e["action"], e["why"]) for e in control.activity(control_server.redis)] == [
        ("command line", "resume", ""), ("command line", "pause", "out of money")]
    missing = run("pause", "nope")
    assert missing.exit_code == 1 and "error: experiment 'nope' is not loaded" in missing.output


@pytest.mark.parametrize("user_agent, dpr, refresh_ms, display", [
    (FIREFOX_WINDOWS, 1.0, 16.667, "Firefox|Windows|60|1"),
    (SAFARI_MAC, 2.0, 8.333, "Safari|Mac OS X|120|2"),
    (("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
      "Safari/537.36"), 2.625, 11.1, "Chrome Mobile|Android|90|2.62"),
    (None, None, None, "unknown|unknown|unknown|unknown"),
    ("<script>alert(1)</script> =cmd|' /C calc'!A0 Evil|Browser/1.0", 0, 2000, "unknown|unknown|unknown|unknown"),
])
def test_a_trials_display_is_its_browser_os_refresh_rate_and_pixel_ratio(user_agent, dpr, refresh_ms, display):
    from kernel.quality import display_of

    assert display_of(user_agent, dpr, refresh_ms) == display


def test_timing_by_display_sums_the_links_counts_by_each_part():
    from app.control import timing_figures
    from kernel.quality import add_counts

    total: dict = {}
    add_counts(total, {"n|Firefox|Windows|60|1": "3", "ok|Firefox|Windows|60|1": "3", "n|Chrome|Windows|120|2": "1"})
    add_counts(total, {"n|Firefox|Windows|60|1": "2", "ok|Firefox|Windows|60|1": "1", "n|Chrome|Linux|60|1": "4",
                       "ok|Chrome|Linux|60|1": "4"})
    assert timing_figures(total) == {
        "timing ok (all trials)": "80 % of 10",
        "timing ok by browser": "Chrome: 80 % of 5; Firefox: 80 % of 5",
        "timing ok by OS": "Windows: 67 % of 6; Linux: 100 % of 4",
        "timing ok by refresh rate (Hz)": "60: 89 % of 9; 120: 0 % of 1",
        "timing ok by devicePixelRatio": "1: 89 % of 9; 2: 0 % of 1"}
    assert timing_figures({}) == {}


def test_the_rating_kinds_live_quality_from_its_counts():
    from studies import get_kind

    counts = {"trap|0": 1, "trap|3": 1, "gold|1": 1, "gold|2": 1, "gold|x": 1,
              "headphone|6/6": 1, "headphone|4/6": 1, "headphone|5/6": 1}
    assert get_kind("ratings").control_quality(counts) == {
        "trap trials answered as asked": "50 % of 2",
        "gold trials within 1 point": "33 % of 3",  # 1 point off agrees; 2 off and a non-numeric answer do not
        "headphone check passed (tasks)": "67 % of 3"}  # 6/6 and 5/6 pass, 4/6 not
    assert get_kind("ratings").control_quality({"trap|0": 2}) == {"trap trials answered as asked": "100 % of 2"}
    assert get_kind("mvt").control_quality(counts) == {}


def test_flag_and_unflag_from_the_page_need_a_reason_are_logged_and_hostile_reasons_stay_text(control_server, redis_url,
                                                                                              monkeypatch):
    import csv
    import io

    from kernel.flags import record_flags, stored_flags

    r = control_server.redis
    record_flags(r, {"W2": {"reason": "gold missed 3 of 4", "rules": ["gold"], "numbers": {"gold_miss_share": 0.75}}},
                 experiments=["synth"])
    hostile = "=HYPERLINK(\"http://x\")<script>alert(1)</script>\r=cmd|' /C calc'!A0"
    client, csrf = signed_in(control_server)
    with contextlib.closing(client):
        empty = client.post("/admin/actions/flag", data={"worker_id": "W1", "why": "  ", "csrf": csrf})
        assert empty.status_code == 422 and "say why you flag W1: the reason is kept with the flag" in empty.text
        assert client.post("/admin/actions/flag", data={"worker_id": "W1", "why": hostile, "csrf": csrf,
                                                        "back": "/admin/workers/W1"}).status_code == 303
        assert stored_flags(r)["W1"]["rules"] == ["by hand"] and stored_flags(r)["W1"]["reason"] == hostile.strip()
        page = client.get("/admin/").text
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "Flagged (2)" in page and "gold_miss_share 0.75" in page and "more in flags.csv" not in page
        monkeypatch.setattr("app.control.FLAGS_SHOWN", 1)
        shown = client.get("/admin/").text
        assert shown.count('<li data-worker="') == 1 and "1 more in flags.csv" in shown
        monkeypatch.undo()
        worker = client.get("/admin/workers/W1").text
        assert "Flagged (by hand;" in worker and 'action="/admin/actions/unflag"' in worker
        rows = list(csv.reader(io.StringIO(client.get("/admin/flags.csv").text)))
        assert rows[0] == ["worker_id", "rules", "reason", "numbers", "experiments", "flagged_at", "run"]
        by_worker = {row[0]: row for row in rows[1:]}
        assert len(rows) == 3 and set(by_worker) == {"W1", "W2"}  # the CR inside the reason did not split the row
        assert by_worker["W2"][1:4] == ["gold", "gold missed 3 of 4", "gold_miss_share 0.75"]
        assert by_worker["W1"][1:3] == ["by hand", "'" + hostile.strip()]  # a spreadsheet shows it as text
        status = status_output(redis_url)
        assert status.splitlines()[-1] in ("standing flags: 2 (W1, W2); mvt unflag WORKER --reason TEXT clears one",
                                           "standing flags: 2 (W2, W1); mvt unflag WORKER --reason TEXT clears one")
        no_why = client.post("/admin/actions/unflag", data={"worker_id": "W2", "csrf": csrf})
        assert no_why.status_code == 422 and "W2" in stored_flags(r)
        gone = client.post("/admin/actions/unflag", data={"worker_id": "W3", "why": "checked", "csrf": csrf})
        assert gone.status_code == 404 and "W3 has no standing flag; nothing was cleared" in gone.text
        assert client.post("/admin/actions/unflag", data={"worker_id": "W2", "why": "checked by hand",
                                                          "csrf": csrf}).status_code == 303
        assert set(stored_flags(r)) == {"W1"}
        assert "Flagged (1)" in client.get("/admin/").text
    assert [(e["action"], e["target"], e["why"]) for e in control.activity(r)] == [
        ("unflag", "W2", "checked by hand"), ("flag", "W1", hostile.strip())]


def status_output(redis_url: str) -> str:
    """``mvt status``'s output."""
    import typer
    from typer.testing import CliRunner

    from cli import status as commands

    app = typer.Typer()
    commands.register(app)
    result = CliRunner().invoke(app, ["status"], env={"MVT_REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_after_mvt_simulate_the_dashboard_and_mvt_status_match_the_export(control_server, redis_url, tmp_path):
    import csv

    import orjson
    from typer.testing import CliRunner

    from cli import cli

    r = control_server.redis
    r.hset(keys.platform_records("prolific", "test", "studies"), "STUDY9",
           orjson.dumps({"study_id": "STUDY9", "experiment": "synth", "places": 8, "reward_cents": 150}))
    env = {"MVT_REDIS_URL": redis_url}
    run = CliRunner().invoke(cli, ["simulate", str(control_server.exp_dir), "--workers", "6", "--concurrency", "3",
                                   "--base-url", control_server.base_url], env=env)
    assert run.exit_code == 0, run.output
    exported = CliRunner().invoke(cli, ["export", str(tmp_path / "responses.csv")], env=env)
    assert exported.exit_code == 0, exported.output
    with open(tmp_path / "responses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    done = {row["assignment_id"] for row in rows if row["assignment_status"] == "complete"}
    assert len(done) == 6 and len(rows) == 18
    client, _ = signed_in(control_server)
    with contextlib.closing(client):
        [shown] = client.get("/admin/status.json").json()["experiments"]
    assert (shown["done"], shown["in_progress"], shown["free"], shown["completions_last_hour"]) == (6, 0, 2, 6)
    timing_ok = sum(row["timing_ok"] == "true" for row in rows)
    assert shown["figures"]["timing ok (all trials)"] == f"{100 * timing_ok / len(rows):.0f} % of {len(rows)}"
    [spend] = shown["spend"]
    assert spend["done_rewards"] == f"{Decimal('1.50') * len(done):.2f}"  # 9.00 for the 6 exported tasks
    assert spend["done_fees"] == f"{Decimal('0.50') * len(done):.2f}"  # 1.50 × 33.3 % = 0.4995 → 0.50 each
    status = status_output(redis_url)
    cells = status.splitlines()[2].split()
    assert cells[:9] == ["synth", "mvt", "open", "8", "2", "0", "6", "0", "0"]
    assert f"Prolific test spend: done {Decimal(shown['spend'][0]['done_total']):.2f} (rewards 9.00 + fees 3.00" in status


def test_review_on_the_page_is_the_dry_run_then_the_confirmed_plan_done_once(control_server, monkeypatch):
    import json

    from kernel.assignments import completion_record
    from platforms.mturk.platform import MTurkPlatform
    from tests.fixtures.mturk import stubbed_client

    client, stubber = stubbed_client()
    monkeypatch.setattr(MTurkPlatform, "operations_client", lambda self, settings: client)
    r = control_server.redis
    with https_client(control_server) as api:
        do_task(api, "W1", "A1")
        do_task(api, "W2", "A2")
    for assignment_id, worker, code in (("A1", "W1", completion_record(r, "A1")["completion_code"]),
                                        ("A2", "W2", "NOT-THE-CODE")):
        r.hset(keys.mturk_assignments("sandbox"), assignment_id, json.dumps(
            {"assignment_id": assignment_id, "worker_id": worker, "hit_id": "HIT1", "status": "Submitted",
             "submitted_at": "2026-12-06T10:00:00+00:00", "completion_code": code}))
    viewer, _ = signed_in(control_server, VIEWER_TOKEN)
    with contextlib.closing(viewer):
        seen = viewer.get("/admin/plans/mturk/review").text
    assert "would</span>\n    approve assignment A1 (worker W1, HIT HIT1): completion code matches" in seen
    assert "HOLD</span>\n    assignment A2 (worker W2, HIT HIT1): submitted code &#39;NOT-THE-CODE&#39; is not the server&#39;s" in seen
    assert 'name="confirm"' not in seen and "only the researcher can commit this plan" in seen
    admin_client, csrf = signed_in(control_server)
    with contextlib.closing(admin_client):
        assert 'href="/admin/plans/mturk/review"' in admin_client.get("/admin/").text
        page = admin_client.get("/admin/plans/mturk/review").text
        assert "Dry run: 1 to do, 0 skipped (already done), 1 held for your decision, 0 failed." in " ".join(page.split())
        digest = re.search(r'name="digest" value="([0-9a-f]+)"', page).group(1)
        unconfirmed = admin_client.post("/admin/plans/mturk/review", data={"csrf": csrf, "digest": digest})
        assert unconfirmed.status_code == 422 and "tick the confirmation box" in unconfirmed.text
        stale = admin_client.post("/admin/plans/mturk/review", data={"csrf": csrf, "digest": "0" * 24, "confirm": "yes"})
        assert stale.status_code == 409 and "The plan changed since you looked at it" in stale.text
        stubber.add_response("approve_assignment", {}, {"AssignmentId": "A1"})
        done = admin_client.post("/admin/plans/mturk/review", data={"csrf": csrf, "digest": digest, "confirm": "yes"})
        assert done.status_code == 200 and "done</span>\n    approve assignment A1" in done.text
        stubber.assert_no_pending_responses()
        # The same confirmation again: the plan has changed (A1 is approved), nothing is sent to MTurk.
        again = admin_client.post("/admin/plans/mturk/review", data={"csrf": csrf, "digest": digest, "confirm": "yes"})
        assert again.status_code == 409 and "skip</span>\n    review assignment A1" in again.text
        bonus = " ".join(admin_client.get("/admin/plans/mturk/bonus", params={"per_hit": "0.10"}).text.split())
        assert "would</span> pay $0.10 base bonus to worker W1 for assignment A1" in bonus
        assert "Dry run: 1 to do (0.10 before the platform's fee)" in bonus
        bad = admin_client.get("/admin/plans/mturk/bonus", params={"per_hit": "=1+1"})
        assert bad.status_code == 422 and "bonus (&#39;=1+1&#39;) must be an amount such as 0.50" in bad.text
    assert [(e["action"], e["target"], e["why"]) for e in control.activity(r)] == [
        ("mturk review", "sandbox", "1 done, 0 failed")]


def test_the_shared_experiments_section_carries_each_sessions_own_csrf_token(control_server):
    first, first_csrf = signed_in(control_server)
    second, second_csrf = signed_in(control_server)
    viewer, _ = signed_in(control_server, VIEWER_TOKEN)
    with contextlib.closing(first), contextlib.closing(second), contextlib.closing(viewer):
        pause = r'action="/admin/actions/pause"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"'
        assert re.search(pause, first.get("/admin/overview").text).group(1) == first_csrf
        assert re.search(pause, second.get("/admin/overview").text).group(1) == second_csrf != first_csrf
        assert "/admin/actions/pause" not in viewer.get("/admin/overview").text  # its own role's rendering
        assert first.post("/admin/actions/pause", data={"experiment": "synth", "csrf": second_csrf}).status_code == 403


def test_a_poll_whose_page_is_current_gets_304_and_no_body_until_something_it_shows_changes(control_server):
    admin, csrf = signed_in(control_server)
    viewer, _ = signed_in(control_server, VIEWER_TOKEN)
    with contextlib.closing(admin), contextlib.closing(viewer):
        first = admin.get("/admin/overview")
        etag = first.headers["etag"]
        assert first.status_code == 200 and f'data-etag="{etag.replace(chr(34), "&#34;")}"' in first.text
        again = admin.get("/admin/overview", headers={"If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        assert again.headers["cache-control"] == "no-store"
        # another role's rendering, or another session's CSRF token, is not this page
        assert viewer.get("/admin/overview", headers={"If-None-Match": etag}).status_code == 200
        # an action changes the side sections: the next poll gets the page again
        assert admin.post("/admin/actions/block", data={"worker_id": "W-etag", "why": "test", "csrf": csrf,
                                                        "back": "/admin/"}).status_code == 303
        blocked = admin.get("/admin/overview", headers={"If-None-Match": etag})
        assert blocked.status_code == 200 and "W-etag" in blocked.text and blocked.headers["etag"] != etag
        etag = blocked.headers["etag"]
        # a worker finishing a task changes the figures: once the overview is computed again, the page is sent
        with https_client(control_server) as api:
            do_task(api, "W1", "A1")
        deadline = time.monotonic() + 30
        while (fresh := admin.get("/admin/overview", headers={"If-None-Match": etag})).status_code == 304:
            assert time.monotonic() < deadline, "the figures changed but the poll kept answering 304"
            time.sleep(0.5)
        assert fresh.status_code == 200 and fresh.headers["etag"] != etag
        assert re.search(r'data-field="done">1<', fresh.text)


def test_prolifics_review_plan_on_the_page_reads_the_stored_submissions(control_server, monkeypatch):
    import orjson

    r = control_server.redis
    monkeypatch.delenv("PROLIFIC_TOKEN", raising=False)  # a dry run needs no token
    r.hset(keys.platform_records("prolific", "production", "studies"), "STUDY9",
           orjson.dumps({"study_id": "STUDY9", "experiment": "synth", "places": 8, "reward_cents": 150}))
    for session, participant in (("S1", "P1"), ("S2", "P2")):
        r.hset(keys.platform_records("prolific", "production", "submissions"), session,
               orjson.dumps({"submission_id": session, "study_id": "STUDY9", "participant_id": participant,
                             "status": "AWAITING REVIEW", "study_code": None}))
    with https_client(control_server) as api:
        do_task(api, "P1", "S1")
        do_task(api, "P2", "S2", complete=False)
    client, _ = signed_in(control_server)
    with contextlib.closing(client):
        assert 'href="/admin/plans/prolific/review"' in client.get("/admin/").text
        page = " ".join(client.get("/admin/plans/prolific/review").text.split())
    assert "Review on Prolific (production): dry run" in page
    assert "would</span> approve submission S1 (participant P1): session finished on the server" in page
    assert "HOLD</span> submission S2 (participant P2): the server recorded no finished task for session S2" in page
    assert 'name="confirm"' in page and "Nothing was changed on Prolific." in page


def test_every_dashboard_shares_one_overview_which_the_supervisors_publisher_computes(control_server, redis_url,
                                                                                     _control_running):  # noqa: F811
    """The overview is kept in Redis: a serving process takes the shared copy (its time is the page's),
    a second process does not compute while one holds the lock, the publisher computes only while a
    dashboard is open, and an action drops the copy so the page shows it at once."""
    from app import overview_cache

    r = control_server.redis
    with https_client(control_server) as api:
        do_task(api, "W1", "A1", headers={"User-Agent": FIREFOX_WINDOWS})
    shared = overview_cache.compute_and_share(r, 60)
    assert overview_cache.read(r).experiments == shared.experiments  # everything the page shows survives JSON
    r.set(keys.control_overview_lock(), "another process")
    assert overview_cache.compute_and_share(r, 60) is None
    r.delete(keys.control_overview_lock(), keys.control_overview())

    publisher = overview_cache.Publisher(redis_url, 60).start()
    try:
        time.sleep(3 * overview_cache.CHECK_S)
        assert overview_cache.read(r) is None and overview_cache.shared_head(r) is None  # no dashboard open
        client, csrf = signed_in(control_server)  # its first page computes one (none shared yet): drop it
        r.delete(keys.control_overview())
        _control_running[3].state.control_overview = None
        overview_cache.mark_watched(r)
        deadline = time.monotonic() + 30
        while (published := overview_cache.read(r)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert published is not None and published.experiments[0].done == 1
        assert overview_cache.shared_head(r)[0] == published.at_ms  # a process with this copy reads no more
        with contextlib.closing(client):
            status = client.get("/admin/status.json").json()
            assert status["computed_at_ms"] == published.at_ms  # taken from Redis, not computed again
            assert status["experiments"][0]["timing_by_display"]["browser"] == [
                {"value": "Firefox", "trials": 3, "timing_ok": 3}]
            client.post("/admin/actions/pause", data={"experiment": "synth", "csrf": csrf})
            assert client.get("/admin/status.json").json()["experiments"][0]["state"] == "paused"
    finally:
        publisher.stop()


@pytest.mark.parametrize("task_ms", [None, 0, 400])
def test_pay_per_hour_is_not_yet_measured_without_a_timed_task(control_server, task_ms):
    """No completed task, or a median task time of 0.0 s or 0.4 s (a simulated run): the line and the page
    say "not yet measured" instead of an hourly rate thousands of times the reward."""
    import orjson

    from app import overview_cache

    r = control_server.redis
    r.hset(keys.mturk_link_hits("sandbox"), "synth-001", "HIT1")
    r.hset(keys.mturk_hits("sandbox"), "HIT1", orjson.dumps({"hit_id": "HIT1", "link_id": "synth-001",
                                                             "max_assignments": 4, "reward": "1.00"}))
    with https_client(control_server) as api:
        do_task(api, "W1", "A1", link="synth-001", complete=task_ms is not None)
    if task_ms is not None:
        raw = orjson.loads(r.hget(keys.link_assignments("synth-001"), "A1"))
        raw["started_ms"] = raw["completed_ms"] - task_ms
        r.hset(keys.link_assignments("synth-001"), "A1", orjson.dumps(raw))
        tally.recount(r, "synth")
    [e] = overview(r, allotted_minutes=60)
    [spend] = e.spend
    note = ("not yet measured (no task completed)" if task_ms is None
            else f"not yet measured (median task time {task_ms / 1000:.1f} s, under 1 s)")
    assert spend.hourly is None and spend.line().endswith(f"at $1.00 per task; pay per hour {note}")
    overview_cache.forget(r)
    client, _ = signed_in(control_server)
    with contextlib.closing(client):
        page = client.get("/admin/").text
        shown = client.get("/admin/status.json").json()["experiments"][0]["spend"][0]
    assert f'Pay per hour <span data-field="hourly">{note}</span>.' in page and "an hour</strong>" not in page
    assert (shown["hourly"], shown["hourly_note"]) == (None, note)


def test_a_newer_overview_saying_the_same_keeps_a_process_copy_and_a_changed_one_does_not(control_server):
    """A process whose copy has the figures of the newer shared overview keeps its objects (no decoding, no
    new rendering of the grid), with the newer time; figures that changed are read."""
    from app import overview_cache

    r = control_server.redis
    first = overview_cache.compute_and_share(r, 60)
    time.sleep(0.01)
    second = overview_cache.compute_and_share(r, 60)
    assert second.at_ms > first.at_ms and second.digest == first.digest != ""
    kept = overview_cache.same_figures(first, overview_cache.shared_head(r))
    assert kept.experiments is first.experiments and kept.at_ms == second.at_ms
    with https_client(control_server) as api:
        do_task(api, "W1", "A1")
    third = overview_cache.compute_and_share(r, 60)
    assert third.digest != first.digest and overview_cache.same_figures(first, overview_cache.shared_head(r)) is None
    assert overview_cache.read(r).experiments[0].done == 1
