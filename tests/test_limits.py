"""Per-client limits: token buckets and the held cap in real Redis, and a greedy client against honest
workers over real concurrent HTTPS connections from distinct loopback addresses."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import orjson
import pytest

from kernel import limits
from kernel.errors import RateLimited
from kernel.settings import Settings
from kernel.store import keys
from tests.fixtures.redis import run_with_async_redis
from studies.loader import load_experiment
from tests.fixtures.server import write_experiment

DEFAULTS = {name: field.default for name, field in Settings.model_fields.items() if name.startswith("limit_")}
T0 = 1_800_000_000_000


def settings(**overrides) -> Settings:
    off = {name: 0 for name in DEFAULTS}
    return Settings(_env_file=None, allotted_minutes=60, **{**off, **overrides})


def outcomes(redis_url, calls):
    """Run ``calls`` (functions of an async client returning a coroutine) one after another; 'ok' or the
    RateLimited's retry_after_s for each."""
    async def scenario(r):
        found = []
        for call in calls:
            try:
                await call(r)
                found.append("ok")
            except RateLimited as exc:
                found.append(exc.retry_after_s)
        return found
    return run_with_async_redis(redis_url, scenario)


def test_bucket_admits_its_size_then_one_a_refill_interval(redis, redis_url):
    s = settings(limit_assignments_per_minute=30)          # bucket of 60, one token every 2 s
    ask = lambda at, n: lambda r: limits.admit_assignment(r, s, "10.0.0.1", f"W{n}", f"A{n}", at)  # noqa: E731
    got = outcomes(redis_url, [ask(T0, n) for n in range(61)] + [ask(T0 + 1999, 61), ask(T0 + 2000, 62),
                                                                   ask(T0 + 2000, 63)])
    assert got == ["ok"] * 60 + [2, 1, "ok", 2], f"expected 60 admitted, then waits; got {got[58:]}"
    ttl = redis.pttl(keys.limit_bucket("10.0.0.1", "assignments"))
    assert 0 < ttl <= 121_000, f"bucket TTL {ttl} ms should be the 120 s refill time + 1 s"
    # another address has its own bucket
    assert outcomes(redis_url, [lambda r: limits.admit_assignment(r, s, "10.0.0.2", "W", "A", T0)]) == ["ok"]


def test_worker_bucket_refuses_one_worker_before_the_address(redis, redis_url):
    s = settings(limit_assignments_per_minute=60, limit_assignments_per_worker_per_minute=5)
    ask = lambda w, n: lambda r: limits.admit_assignment(r, s, "10.0.0.1", w, f"A{n}", T0)  # noqa: E731
    got = outcomes(redis_url, [ask("W1", n) for n in range(11)] + [ask("W2", 99)])
    assert got == ["ok"] * 10 + [12, "ok"], got
    assert outcomes(redis_url, [ask("W1", n) for n in range(1)]) == [12], "a refusal must not charge anything"


def test_held_cap_counts_distinct_unfinished_assignments(redis, redis_url):
    s = settings(limit_held_per_client=3)
    ask = lambda a, at=T0: lambda r: limits.admit_assignment(r, s, "10.0.0.1", "W", a, at)  # noqa: E731
    got = outcomes(redis_url, [ask("A1"), ask("A2"), ask("A3"), ask("A4"), ask("A1"),
                               lambda r: limits.release(r, s, "10.0.0.1", "A2"), ask("A4"), ask("A5", T0 + 1000)])
    assert got == ["ok", "ok", "ok", 60, "ok", "ok", "ok", 60], got
    assert sorted(redis.zrange(keys.limit_held("10.0.0.1"), 0, -1)) == ["A1", "A3", "A4"]
    # admitted, but never given a list (an allocation that died in flight): forgotten after a minute
    assert outcomes(redis_url, [ask("A6", T0 + 59_000), ask("A6", T0 + 61_000)]) == [60, "ok"]


def hold_lists(redis, redis_url, tmp_path, s, n, at):
    """``n`` assignments A0.. admitted to 10.0.0.1 and given lists of link hold-001 at ``at``; their tokens."""
    from kernel.assignments import allocate
    from kernel.tokens import TokenData
    from studies.loader import load_experiment

    load_experiment(redis, write_experiment(tmp_path / "exp", experiment_id="hold", n_links=1, n_lists=8,
                                            n_trials=3))

    async def scenario(r):
        tokens = []
        for k in range(n):
            admit = limits.admit_assignment(r, s, "10.0.0.1", f"W{k}", f"A{k}", at)
            a = await allocate(r, "hold-001", f"W{k}", f"A{k}", "H", cap=4, allotted_ms=s.allotted_minutes * 60_000,
                               now=at, admit=admit, first_trial_ms=s.first_trial_minutes * 60_000)
            tokens.append(TokenData(a.assignment_id, a.link_id, a.worker_id, a.list_index))
        return tokens
    return run_with_async_redis(redis_url, scenario)


def test_a_list_kept_alive_by_answers_stays_charged_to_its_address(redis, redis_url, tmp_path):
    """The held set forgot an assignment MVT_ALLOTTED_MINUTES after admitting it, while answers kept its
    list alive: one address went 100 → 184 → 249 lists (issue 24). Now a hold ends only with the list:
    completion (from any address), expiry, or replacement."""
    from kernel.responses import complete, record_response

    s = settings(limit_held_per_client=3, first_trial_minutes=10)
    tokens = hold_lists(redis, redis_url, tmp_path, s, 3, T0)
    hour = 3_600_000
    ask = lambda a, at: lambda r: limits.admit_assignment(r, s, "10.0.0.1", "WX", a, at)  # noqa: E731

    async def answer(r, token, trial, at):
        await record_response(r, token, trial, "cat", {}, now=at)

    # answers every 50 minutes keep all three lists alive past the allotted time after admission
    run_with_async_redis(redis_url, lambda r: asyncio.gather(*(answer(r, t, 0, T0 + hour - 600_000) for t in tokens)))
    assert outcomes(redis_url, [ask("B1", T0 + hour + 60_000)]) == [60], "a live list was forgotten"
    # completed (say from another address, so its hold was not released there): the hold ends
    async def finish(r):
        for trial in (1, 2):
            await answer(r, tokens[0], trial, T0 + hour)
        await complete(r, tokens[0], "code", now=T0 + hour)
    run_with_async_redis(redis_url, finish)
    assert outcomes(redis_url, [ask("B1", T0 + hour + 60_000), ask("B2", T0 + hour + 60_000)]) == ["ok", 60]
    # idle for the allotted time since its last answer (T0 + 50 min): expired, the hold ends
    assert outcomes(redis_url, [ask("B2", T0 + 2 * hour - 600_000 + 1)]) == ["ok"]
    # (B1 never got a list here: an admission older than a minute without one is forgotten too)
    assert redis.zrange(keys.limit_held("10.0.0.1"), 0, -1) == ["B2"]


def test_a_holder_without_a_first_answer_gives_its_list_up_after_the_first_trial_minutes(redis, redis_url, tmp_path):
    from kernel.assignments import allocate, eligibility
    from kernel.errors import LinkFull

    s = settings(limit_held_per_client=8, first_trial_minutes=10)
    hold_lists(redis, redis_url, tmp_path, s, 8, T0)     # every list of the link, none answered
    minute = 60_000

    async def newcomer(r, at):
        check = await eligibility(r, "hold-001", "N1", cap=4, allotted_ms=3_600_000, now=at,
                                  first_trial_ms=10 * minute)
        try:
            a = await allocate(r, "hold-001", "N1", "NA1", "H", cap=4, allotted_ms=3_600_000, now=at,
                               first_trial_ms=10 * minute)
        except LinkFull:
            return check.eligible, None
        return check.eligible, a.list_index
    assert run_with_async_redis(redis_url, lambda r: newcomer(r, T0 + 10 * minute - 1)) == (False, None)
    eligible, index = run_with_async_redis(redis_url, lambda r: newcomer(r, T0 + 10 * minute))
    assert eligible and index is not None, "an unanswered hold older than MVT_FIRST_TRIAL_MINUTES kept its list"
    records = redis.hgetall(keys.link_assignments("hold-001"))
    expired = [a for a, raw in records.items() if '"status":"expired"' in raw]
    assert len(expired) == 1 and expired[0].startswith("A")
    # and the address that held it is charged for one list fewer
    assert outcomes(redis_url, [lambda r: limits.admit_assignment(r, s, "10.0.0.1", "WX", "C1",
                                                                  T0 + 10 * minute + 1)]) == ["ok"]


@pytest.mark.parametrize("how", ["alone", "with_the_check"])
def test_eligibility_buckets(redis, redis_url, how):
    from kernel.assignments import eligibility

    s = settings(limit_eligibility_per_minute=5, limit_eligibility_per_worker_per_minute=2)
    if how == "alone":
        ask = lambda w: lambda r: limits.admit_eligibility(r, s, "10.0.0.1", w, T0)  # noqa: E731
    else:  # the route's way: the charge sent in one pipeline with the check's scripts, none loaded yet
        redis.script_flush()
        ask = lambda w: lambda r: eligibility(  # noqa: E731
            r, "no-such-link", w, cap=4, allotted_ms=60_000, now=T0,
            charge=limits.eligibility_charge(s, "10.0.0.1", w, T0))
    assert outcomes(redis_url, [ask("W1")] * 5 + [ask(f"X{n}") for n in range(7)]) == \
        ["ok"] * 4 + [30] + ["ok"] * 6 + [12]


# --- live server ------------------------------------------------------------------------------------

@pytest.fixture
def limited_server(live_server, tmp_path, monkeypatch):
    """The live server with the default limits on and 10 links × 42 lists (420 lists) loaded."""
    for name, value in DEFAULTS.items():
        monkeypatch.setattr(live_server.settings, name, value)
    live_server.load(write_experiment(tmp_path / "exp", experiment_id="lim", n_links=10, n_lists=42, n_trials=2))
    return live_server


def client_for(server, address: str) -> httpx.AsyncClient:
    ctx = ssl.create_default_context(cafile=str(server.certfile))
    transport = httpx.AsyncHTTPTransport(verify=ctx, local_address=address, limits=httpx.Limits(max_connections=50))
    return httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=60)


def post_assignment(client, link, worker, asg):
    return client.post("/api/assignments", json={"link": link, "worker_id": worker, "assignment_id": asg,
                                                  "hit_id": "H"})


def test_a_lab_of_30_workers_behind_one_address_is_never_refused(limited_server):
    async def worker(client, n):
        link = f"lim-{n % 10 + 1:03d}"
        checks = [await client.get("/api/eligibility", params={"link": link, "worker_id": f"LAB{n}"})
                  for _ in range(3)]
        starts = [await post_assignment(client, link, f"LAB{n}", f"LABA{n}") for _ in range(3)]  # start, 2 reloads
        return [r.status_code for r in checks + starts]

    async def main():
        async with client_for(limited_server, "127.0.0.1") as client:
            return await asyncio.gather(*(worker(client, n) for n in range(30)))
    statuses = asyncio.run(main())
    assert statuses == [[200] * 6] * 30, f"a lab behind one NAT was refused: {statuses}"


@pytest.mark.serial
def test_a_greedy_client_gets_its_share_while_honest_workers_are_served(limited_server):
    async def greedy():
        async with client_for(limited_server, "127.0.0.1") as client:
            return await asyncio.gather(*(post_assignment(client, f"lim-{n % 10 + 1:03d}", f"G{n}", f"GA{n}")
                                          for n in range(300)))

    async def honest(n):
        async with client_for(limited_server, f"127.0.0.{n + 2}") as client:
            link = f"lim-{n % 10 + 1:03d}"
            await asyncio.sleep(0.01 * n)
            eligible = await client.get("/api/eligibility", params={"link": link, "worker_id": f"H{n}"})
            started = await post_assignment(client, link, f"H{n}", f"HA{n}")
            return eligible, started

    async def main():
        return await asyncio.gather(greedy(), *(honest(n) for n in range(30)))
    greedy_replies, *honest_replies = asyncio.run(main())
    won = [r for r in greedy_replies if r.status_code == 200]
    refused = [r for r in greedy_replies if r.status_code != 200]
    assert len(won) == 100, f"the greedy client got {len(won)} lists, expected exactly the held cap 100"
    assert {r.status_code for r in refused} == {429} and {r.json()["reason"] for r in refused} == {"rate_limited"}
    assert refused[0].json()["detail"].startswith("this address already holds 100 unfinished tasks")
    assert all(1 <= int(r.headers["retry-after"]) <= 3600 for r in refused), refused[0].headers
    assert [(e.status_code, e.json(), s.status_code) for e, s in honest_replies] == \
        [(200, {"eligible": True, "reason": None}, 200)] * 30
    assert sum(limited_server.redis.hlen(keys.link_assignments(f"lim-{k:03d}")) for k in range(1, 11)) == 130
    # nothing is left reserved for the refused invented workers
    assert not any(limited_server.redis.exists(keys.worker_links(f"G{n}")) for n in range(300)
                   if f"GA{n}" not in {r.json()["assignment_id"] for r in won})


# --- client addresses behind proxies (`mvt serve`, a real subprocess) ---------------------------------

@pytest.fixture
def proxied_serve(tmp_path):
    """``start(*args, **settings)``: `mvt serve` over HTTPS with 4 eligibility checks a minute per address
    (bucket 8), the extra ``args`` and ``MVT_…`` environment ``settings``; yields its base URL. Stopped at
    teardown."""
    import os
    import subprocess

    from tests.fixtures.redis import free_port
    from tests.test_serve import MVT, stop, wait_healthy

    procs = []

    def start(*args, **settings):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MVT_")}
        env.update({"MVT_DATA_DIR": str(tmp_path / "data"), "MVT_LIMIT_ELIGIBILITY_PER_MINUTE": "4",
                    "MVT_LIMIT_ELIGIBILITY_PER_WORKER_PER_MINUTE": "0", **settings})
        proc = subprocess.Popen([MVT, "serve", "--port", str(port), *args], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        wait_healthy(f"https://127.0.0.1:{port}/healthz", proc)
        return f"https://127.0.0.1:{port}"
    yield start
    for proc in procs:
        stop(proc)


def eligibility_statuses(base_url: str, peer: str, forwarded_for: list[str]) -> list[int]:
    """Status of one eligibility check from the TCP peer ``peer`` per X-Forwarded-For value."""
    transport = httpx.HTTPTransport(verify=False, local_address=peer)
    with httpx.Client(base_url=base_url, transport=transport, timeout=10) as client:
        return [client.get("/api/eligibility", params={"link": "x-001", "worker_id": f"W{n}"},
                           headers={"X-Forwarded-For": xff}).status_code for n, xff in enumerate(forwarded_for)]


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(proxied_serve):
    base_url = proxied_serve("--proxy-headers", "--forwarded-allow-ips", "127.0.0.2")
    # every request claims another address; the peer 127.0.0.1 is not the proxy, so all are its own
    got = eligibility_statuses(base_url, "127.0.0.1", [f"10.9.0.{n}" for n in range(12)])
    assert got == [200] * 8 + [429] * 4, f"a spoofed X-Forwarded-For escaped the per-address limit: {got}"
    # the proxy's own clients are not charged for it
    assert eligibility_statuses(base_url, "127.0.0.2", ["10.0.0.9"]) == [200]


def test_the_real_address_behind_a_trusted_proxy_is_limited(proxied_serve):
    base_url = proxied_serve("--forwarded-allow-ips", "127.0.0.2, 127.0.0.3")
    # the proxy appends the real peer 10.0.0.7 to whatever the client sent; a second trusted hop
    # (127.0.0.3) is skipped: the rightmost untrusted entry is the client
    claims = [f"10.9.0.{n}, 10.0.0.7" if n % 2 else f"10.9.0.{n}, 10.0.0.7, 127.0.0.3" for n in range(12)]
    got = eligibility_statuses(base_url, "127.0.0.2", claims)
    assert got == [200] * 8 + [429] * 4, f"the client behind the proxy was not limited by its real address: {got}"
    # another real address behind the same proxy has its own budget
    assert eligibility_statuses(base_url, "127.0.0.2", ["10.9.0.1, 10.0.0.8"] * 2) == [200, 200]


def test_proxy_settings_refuse_a_wildcard_and_bad_addresses(tmp_path):
    from pydantic import ValidationError

    from app.serve import proxy_options
    from kernel.errors import MVTError

    with pytest.raises(ValidationError, match=r"MVT_TRUSTED_PROXIES must list the proxies' addresses, not '\*'"):
        Settings(_env_file=None, trusted_proxies="*")
    with pytest.raises(MVTError, match=r"--forwarded-allow-ips entry 'proxy.local' must be an IP address"):
        proxy_options(Settings(_env_file=None), forwarded_allow_ips="10.0.0.1,proxy.local")
    s = Settings(_env_file=None, trusted_proxies="10.0.0.0/8")
    assert proxy_options(s) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8"}
    assert proxy_options(Settings(_env_file=None), proxy_headers=True) == \
        {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1,::1"}


@pytest.mark.slow
@pytest.mark.serial
def test_a_flood_of_3000_requests_is_refused_by_the_limiter_and_honest_work_is_kept(proxied_serve, redis, redis_url,
                                                                                   tmp_path):
    """1,500 task requests with invented ids from one address, and 1,500 through a trusted proxy from
    300 forwarded addresses, while 20 honest workers (10 direct, 10 behind the proxy) answer and
    finish: the floods get 429 with Retry-After once their buckets are empty, every honest request
    is served, and Redis holds every honest answer and exactly the lists the server acknowledged."""
    import time

    from tests.fixtures.server import measured

    load_experiment(redis, write_experiment(tmp_path / "exp", experiment_id="fl", n_links=4, n_lists=60, n_trials=2))
    base_url = proxied_serve("--forwarded-allow-ips", "127.0.0.3", MVT_REDIS_URL=redis_url,
                             MVT_LIMIT_ARRIVALS_PER_MIN="30", MVT_LIMIT_ASSIGNMENTS_PER_MINUTE="10")
    # buckets: 60 arrivals for the experiment, 20 task requests per address
    link = lambda n: f"fl-{n % 4 + 1:03d}"  # noqa: E731

    def client(peer: str) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(verify=False, local_address=peer, limits=httpx.Limits(max_connections=20))
        return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=60)

    def honest_peer(n):  # (peer, X-Forwarded-For): even workers direct, odd ones behind the proxy
        return (f"127.0.1.{n}", {}) if n % 2 == 0 else ("127.0.0.3", {"X-Forwarded-For": f"10.1.0.{n}"})

    async def honest_start(n):
        peer, headers = honest_peer(n)
        async with client(peer) as c:
            r = await c.post("/api/assignments", headers=headers, json={"link": link(n), "worker_id": f"H{n}",
                                                                        "assignment_id": f"HA{n}", "hit_id": "H"})
            return r.status_code, r.json().get("assignment_token")

    async def honest_finish(n, token):
        peer, headers = honest_peer(n)
        statuses = []
        async with client(peer) as c:
            for trial in range(2):
                await asyncio.sleep(0.3)  # in the middle of the flood
                statuses.append((await c.post("/api/responses", headers=headers, json={
                    "assignment_token": token, "trial": trial, "response": "cat", **measured(1)})).status_code)
            statuses.append((await c.post("/api/complete", headers=headers,
                                          json={"assignment_token": token})).status_code)
        return statuses

    async def flood(peer, forwarded, tag):
        async with client(peer) as c:
            async def one(n):
                headers = {"X-Forwarded-For": forwarded(n)} if forwarded else {}
                return await c.post("/api/assignments", headers=headers, json={
                    "link": link(n), "worker_id": f"{tag}{n}", "assignment_id": f"{tag}A{n}", "hit_id": "H"})
            # 16 connections, each sending its share in turn (httpx slows down with 1,500 requests queued at once)
            async def sender(k):
                return [await one(n) for n in range(k, 1500, 16)]
            return [r for replies in await asyncio.gather(*(sender(k) for k in range(16))) for r in replies]

    async def main():
        started = await asyncio.gather(*(honest_start(n) for n in range(20)))
        replies = await asyncio.gather(flood("127.0.0.2", None, "ONE"),
                                       flood("127.0.0.3", lambda n: f"10.2.{n % 300 // 250}.{n % 250}", "MANY"),
                                       *(honest_finish(n, token) for n, (_, token) in enumerate(started)))
        return started, replies

    t0 = time.monotonic()
    started, (one, many, *finished) = asyncio.run(main())
    elapsed_s = time.monotonic() - t0
    assert [status for status, _ in started] == [200] * 20
    assert finished == [[200, 200, 200]] * 20, "an honest worker was refused during the flood"
    for replies in (one, many):
        assert {r.status_code for r in replies} <= {200, 429}, {r.status_code for r in replies}
        refused = [r for r in replies if r.status_code == 429]
        assert refused and all(r.json()["reason"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
                               for r in refused)
    won_one = [r.json()["assignment_id"] for r in one if r.status_code == 200]
    won_many = [r.json()["assignment_id"] for r in many if r.status_code == 200]
    # one address: its bucket of 20 (+1 every 6 s); many addresses: what the arrivals bucket of 60 had left
    assert len(won_one) <= 20 + elapsed_s / 6, len(won_one)
    assert 20 + len(won_one) + len(won_many) <= 60 + elapsed_s / 2, (len(won_one), len(won_many))
    # the truth in Redis: every acknowledged list, nothing else; every honest answer and completion
    held = {a for k in range(1, 5) for a in redis.hkeys(keys.link_assignments(f"fl-{k:03d}"))}
    assert held == {f"HA{n}" for n in range(20)} | set(won_one) | set(won_many)
    assert sum(redis.hlen(keys.link_responses(f"fl-{k:03d}")) for k in range(1, 5)) == 40
    records = [orjson.loads(redis.hget(keys.link_assignments(link(n)), f"HA{n}")) for n in range(20)]
    assert all(rec.get("completed_ms") for rec in records)
