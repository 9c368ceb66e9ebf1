"""Faults of a real Redis under a real HTTPS server: a stall (SIGSTOP), a restart, a master failover.

Each test starts its own redis-server (or cluster), so stopping or killing it disturbs no other test.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from studies.loader import load_experiment
from kernel.settings import Settings
from kernel.store import keys
from kernel.store.connect import client_from_url
from simulation.stack import RedisProcess
from tests.fixtures.server import SECRET_KEY, _ThreadServer, free_port, make_certificate

pytestmark = [pytest.mark.slow, pytest.mark.serial]
TIMEOUT_S = 1.0
WAIT_TIMEOUT_S = 5.0  # the replica test's command timeout (see its docstring)


@pytest.fixture
def serve(tmp_path, synthetic_experiment):
    """``serve(redis_url)``: an HTTPS server on that Redis (``MVT_REDIS_TIMEOUT_S=1``), experiment loaded;
    returns an httpx client."""
    servers, clients = [], []
    certfile, keyfile = make_certificate(tmp_path / "tls")

    def start(redis_url: str) -> httpx.Client:
        from app.main import create_app

        load_experiment(client_from_url(redis_url), synthetic_experiment)
        settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=redis_url, secret_key=SECRET_KEY,
                            redis_timeout_s=TIMEOUT_S)
        port = free_port()
        servers.append(_ThreadServer(create_app(settings), port, certfile, keyfile))
        servers[-1].start()
        clients.append(httpx.Client(base_url=f"https://127.0.0.1:{port}", timeout=30,
                                    verify=ssl.create_default_context(cafile=str(certfile))))
        return clients[-1]
    yield start
    for c in clients:
        c.close()
    for s in servers:
        s.stop()


def start_tasks(client: httpx.Client, n: int) -> list[str]:
    """Tokens of ``n`` new assignments (on both links of the synthetic experiment)."""
    tokens = []
    for i in range(n):
        got = client.post("/api/assignments", json={"link": f"synth-00{1 + i % 2}", "worker_id": f"W{i}",
                                                     "assignment_id": f"A{i}", "hit_id": "H1"})
        assert got.status_code == 200, got.text
        tokens.append(got.json()["assignment_token"])
    return tokens


def answer(client: httpx.Client, token: str, trial: int) -> httpx.Response:
    return client.post("/api/responses", json={"assignment_token": token, "trial": trial, "response": "cat"})


def answer_until_acknowledged(client: httpx.Client, token: str, trial: int, within_s: float) -> dict:
    """Post a response, retrying 503s and dropped connections as the browser runner does."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            got = answer(client, token, trial)
            if got.status_code == 200:
                return got.json()
            assert got.status_code == 503, got.text
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"response {token[:8]}…/{trial} not acknowledged within {within_s} s"
        time.sleep(0.2)


def stored(redis_url: str) -> int:
    r = client_from_url(redis_url)
    return sum(r.hlen(keys.link_responses(link)) for link in ("synth-001", "synth-002"))


STALL_S = 10.0  # SIGSTOP of Redis for 10 s, with requests arriving all the while


@pytest.mark.slow
def test_a_stalled_redis_gives_503_with_retry_after_in_time_and_everything_resumes(tmp_path, serve, caplog):
    """Every request during the stall gets 503 in time; afterwards, and after a kill -9 and restart, every answer
    is stored once. The client reads every command it failed: no asyncio "Future exception was never retrieved"
    (the rest of a pipeline after its first error used to go unread)."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    redis_proc = RedisProcess(tmp_path / "redis").start()
    try:
        client = serve(redis_proc.url)
        tokens = start_tasks(client, 8)
        assert answer(client, tokens[0], 0).status_code == 200

        def timed(call):
            t0 = time.monotonic()
            got = call()
            return got.status_code, got.headers.get("retry-after"), time.monotonic() - t0

        calls = [lambda t=t: answer(client, t, 1) for t in tokens]
        calls += [lambda: client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "X"}),
                  lambda: client.get("/healthz")]
        with ThreadPoolExecutor(len(calls)) as pool:
            # one connection per thread opened before the stall: the TLS handshakes are not timed below
            list(pool.map(lambda _: client.get("/healthz"), calls))
            os.kill(redis_proc.proc.pid, signal.SIGSTOP)
            stalled_at = time.monotonic()
            try:
                during = []
                while time.monotonic() - stalled_at < STALL_S - TIMEOUT_S - 0.5:  # load for the whole stall
                    during += pool.map(timed, calls)
                time.sleep(max(0.0, STALL_S - (time.monotonic() - stalled_at)))
            finally:
                os.kill(redis_proc.proc.pid, signal.SIGCONT)
        assert {(status, retry) for status, retry, _ in during} == {(503, "1")}, during
        slowest = max(elapsed for *_, elapsed in during)
        print(f"slowest 503 of {len(during)} during a {STALL_S:.0f} s stall: {slowest:.2f} s")
        # A request waiting for the stalled Redis would take up to the whole stall (STALL_S, 10 s); the 2 s
        # beyond the timeout are for ten requests served by a CPU-starved process on a busy machine.
        assert slowest < TIMEOUT_S + 2, f"a 503 took {slowest:.2f} s; MVT_REDIS_TIMEOUT_S is {TIMEOUT_S} s"
        assert client.get("/healthz").status_code == 200
        acks = [answer_until_acknowledged(client, t, 1, within_s=30) for t in tokens]
        # The stalled writes reached Redis's socket before the server gave up; Redis ran them on resuming,
        # so a retry is a duplicate: stored once either way.
        assert stored(redis_proc.url) == 1 + len(tokens), [a["duplicate"] for a in acks]

        redis_proc.kill()  # kill -9 and restart (AOF, appendfsync always): the server reconnects by itself
        redis_proc.start()
        acks = [answer_until_acknowledged(client, t, 2, within_s=30) for t in tokens]
        assert [a["duplicate"] for a in acks] == [False] * len(tokens)
        assert stored(redis_proc.url) == 1 + 2 * len(tokens)
        gc.collect()  # asyncio logs an unread exception when its future is collected
        unread = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
        assert unread == [], f"{len(unread)} unread exceptions, the first: {unread[0]}"
    finally:
        redis_proc.stop()


def test_a_master_killed_during_load_fails_over_and_every_acknowledged_response_is_stored_once(tmp_path):
    """kill -9 of the master of a busy link; its replica is promoted after the node timeout (1 s), the
    server follows the new slot map, and with MVT_REDIS_WAIT_REPLICAS=1 nothing acknowledged is lost."""
    import threading

    from app.main import create_app
    from simulation.cluster import LocalCluster
    from tests.fixtures.server import write_experiment

    cluster = LocalCluster(tmp_path / "cluster", node_timeout_ms=1000, appendfsync="everysec").start(timeout_s=60)
    certfile, keyfile = make_certificate(tmp_path / "tls")
    exp = write_experiment(tmp_path / "exp", n_links=6, n_lists=8, n_trials=5)
    load_experiment(client_from_url(cluster.url), exp)
    settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=cluster.url, secret_key=SECRET_KEY,
                        redis_timeout_s=TIMEOUT_S, redis_wait_replicas=1, max_tasks_per_worker=6)
    port = free_port()
    server = _ThreadServer(create_app(settings), port, certfile, keyfile)
    server.start()
    acknowledged, lock = {}, threading.Lock()
    victim = cluster.master_of(keys.link_meta("synth-001"))
    try:
        client = httpx.Client(base_url=f"https://127.0.0.1:{port}", timeout=30,
                              verify=ssl.create_default_context(cafile=str(certfile)))
        tokens = []
        for link in range(1, 7):
            for i in range(8):
                got = client.post("/api/assignments", json={"link": f"synth-00{link}", "worker_id": f"W{i}",
                                                             "assignment_id": f"A{link}-{i}", "hit_id": "H1"})
                assert got.status_code == 200, got.text
                tokens.append((f"A{link}-{i}", got.json()["assignment_token"]))

        def worker(batch):
            for assignment, token in batch:
                for trial in range(5):
                    ack = answer_until_acknowledged(client, token, trial, within_s=90)
                    with lock:
                        acknowledged[(assignment, trial)] = ack

        threads = [threading.Thread(target=worker, args=(tokens[k::12],)) for k in range(12)]
        for t in threads:
            t.start()
        busy_until = time.monotonic() + 60
        while len(acknowledged) < 60:
            assert any(t.is_alive() for t in threads) and time.monotonic() < busy_until, len(acknowledged)
            time.sleep(0.01)
        cluster.kill(victim)
        killed_at, before = time.monotonic(), len(acknowledged)
        promoted = None
        while promoted is None and time.monotonic() - killed_at < 60:
            with contextlib.suppress(Exception):
                port_now = cluster.master_of(keys.link_meta("synth-001"))
                promoted = port_now if port_now != victim else None
            time.sleep(0.1)
        assert promoted, "no replica took over the killed master's slots within 60 s"
        failover_s = time.monotonic() - killed_at
        cluster.restart(victim)  # back as a replica of the promoted one: WAIT 1 succeeds again
        for t in threads:
            t.join(timeout=180)
        client.close()
    finally:
        server.stop()
    try:
        r = client_from_url(cluster.url)
        stored_fields = {(link, field) for link in (f"synth-00{k}" for k in range(1, 7))
                         for field in r.hkeys(keys.link_responses(link))}
        expected = {(f"synth-00{a.split('-')[0][1:]}", f"{a}:{trial}") for a, trial in acknowledged}
        print(f"failover after {failover_s:.1f} s; {before} responses acknowledged before the kill, "
              f"{len(acknowledged)} in all, {sum(a['duplicate'] for a in acknowledged.values())} reported duplicate")
    finally:
        cluster.stop()
    assert len(acknowledged) == len(tokens) * 5
    assert stored_fields == expected  # every acknowledged response stored, nothing else


def test_a_master_without_its_replica_refuses_writes_at_once_and_stalls_nothing(tmp_path):
    """MVT_REDIS_WAIT_REPLICAS=1 and the replica of one master killed: Redis blocks a connection for
    each WAIT, so every request queued behind waited one WAIT timeout more (the k-th k × 0.5 s,
    issue 24). Now 40 answers sent at once are all answered within the command timeout + 1 s: those
    on the replica-less master 503 with a sentence, the others 200; /healthz says degraded; with the
    replica back the refused answers are acknowledged, and every acknowledged answer is stored.

    The command timeout is 5 s here (WAIT 2.5 s): on a shared CI machine a healthy replica once took
    over 0.5 s to acknowledge and its master's answer was refused, and with 3 s (WAIT 1.5 s) once more
    here at load 22 (its WAIT fell short; the answers queued behind it failed with the connection).
    The node timeout is 30 s (no failover is needed): with 1 s every node marked the killed replica as
    failing, and rewrote its nodes.conf, while the answers were being written.

    The stall is caught twice: the replica-less master runs a WAIT or two while the 13 answers of
    its two links arrive (each of them would run its own, one after another), and the slowest
    answer takes under 2 × the command timeout + 2 s (13 WAITs in turn would take ~30 s); the rest
    of that bound is for 40 TLS requests served by a CPU-starved process."""
    import asyncio

    from app.main import create_app
    from simulation.cluster import LocalCluster
    from tests.fixtures.server import measured, write_experiment

    cluster = LocalCluster(tmp_path / "cluster", node_timeout_ms=30_000).start(timeout_s=60)
    certfile, keyfile = make_certificate(tmp_path / "tls")
    links = [f"synth-00{k}" for k in range(1, 7)]
    load_experiment(client_from_url(cluster.url), write_experiment(tmp_path / "exp", n_links=6, n_lists=8,
                                                                   n_trials=2))
    settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=cluster.url, secret_key=SECRET_KEY,
                        redis_timeout_s=WAIT_TIMEOUT_S, redis_wait_replicas=1, max_tasks_per_worker=6)
    server = _ThreadServer(create_app(settings), free_port(), certfile, keyfile)
    server.start()
    base_url = f"https://127.0.0.1:{server.server.config.port}"
    victim_master = cluster.master_of(keys.link_meta(links[0]))
    on_victim = {link for link in links if cluster.master_of(keys.link_meta(link)) == victim_master}
    assert on_victim != set(links), "the six links should not all hash to one master"
    replica = int(cluster.client(victim_master).execute_command("ROLE")[2][0][1])

    def waits_run() -> int:
        """WAIT commands the replica-less master has run so far."""
        return int(cluster.client(victim_master).info("commandstats").get("cmdstat_wait", {}).get("calls", 0))

    def until(check, within_s: float, what: str) -> None:
        deadline = time.monotonic() + within_s
        while not check():
            assert time.monotonic() < deadline, f"{what} within {within_s} s"
            time.sleep(0.05)

    async def scenario():
        async with httpx.AsyncClient(base_url=base_url, timeout=30, verify=False) as client:
            async def timed(method, path, **kw):
                t0 = time.monotonic()
                got = await client.request(method, path, **kw)
                return got, time.monotonic() - t0

            tokens = {}
            for n, link in enumerate(links * 7):
                got = await client.post("/api/assignments", json={"link": link, "worker_id": f"W{n}",
                                                                  "assignment_id": f"A{n}", "hit_id": "H1"})
                assert got.status_code == 200, got.text
                tokens[(link, f"A{n}")] = got.json()["assignment_token"]
            # 40 connections open before the clock starts (40 TLS handshakes at once take seconds here)
            await asyncio.gather(*(client.get("/healthz") for _ in range(40)))
            cluster.kill(replica)
            until(lambda: cluster.client(victim_master).execute_command("ROLE")[2] == [], 30,
                  "the master did not see its replica's connection close")
            waits_before = waits_run()
            sent = list(tokens.items())[:40]
            replies = await asyncio.gather(*(timed("POST", "/api/responses", json={
                "assignment_token": token, "trial": 0, "response": "cat", **measured(1)}) for _, token in sent))
            waits = waits_run() - waits_before
            health = (await client.get("/healthz")).json()
            cluster.restart(replica)
            retried, deadline = {}, time.monotonic() + 60
            for (link, assignment), token in sent:
                while (link, assignment) not in retried:
                    got = await client.post("/api/responses", json={"assignment_token": token, "trial": 0,
                                                                    "response": "cat", **measured(1)})
                    if got.status_code == 200:
                        retried[(link, assignment)] = time.monotonic()
                    assert got.status_code in (200, 503) and time.monotonic() < deadline, got.text
                    await asyncio.sleep(0 if got.status_code == 200 else 0.2)
            return sent, replies, health, waits

    try:
        sent, replies, health, waits = asyncio.run(scenario())
        stored_fields = {(link, field) for link in links for field in client_from_url(cluster.url).hkeys(
            keys.link_responses(link))}
    finally:
        server.stop()
        cluster.stop()
    slowest = max(elapsed for _, elapsed in replies)
    print(f"slowest of 40 answers with a replica down: {slowest:.2f} s; WAITs run by its master: {waits}")
    queued = sum(link in on_victim for (link, _), _ in sent)
    # Each answer waiting its turn would run its own WAIT; measured: 1, and 2 once (load 8).
    assert waits <= queued // 4, f"the replica-less master ran {waits} WAITs for the {queued} answers queued on it"
    assert slowest <= 2 * WAIT_TIMEOUT_S + 2, f"an answer took {slowest:.2f} s with a replica down"
    for ((link, _), _), (got, _) in zip(sent, replies):
        if link in on_victim:
            assert (got.status_code, got.json()["reason"], got.headers["retry-after"]) == (
                503, "redis_unavailable", "1"), got.text
        else:
            assert got.status_code == 200, got.text
    assert health["status"] == "degraded" and "writes are refused until a replica is back" in health["detail"]
    assert stored_fields == {(link, f"{assignment}:0") for (link, assignment), _ in sent}
