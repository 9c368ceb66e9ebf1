"""Slow clients (slowloris) do not starve normal workers: `app.protocol` closes them, `mvt serve` serves on."""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from app.protocol import GuardedHttpToolsProtocol
from studies.loader import load_experiment
from kernel.store.connect import client_from_url
from simulation.stack import RedisProcess, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.serial]
READ_TIMEOUT_S = 2.0
N_SLOW, N_NORMAL, DURATION_S = 300, 60, 6.0
KEEP_TRYING_S = READ_TIMEOUT_S + 20.0
"""How long past the attack a slow connection still open waits for the server to close it."""


@dataclass
class Attack:
    """What the slowloris connections share: when the attack ends (once it is in place), how many
    attackers have had a first connection, and what the server did to their connections."""

    stop_at: float = float("inf")
    in_place: int = 0
    held: list[float] = field(default_factory=list)  # seconds from handshake to the server's close
    cut_in_handshake: int = 0
    kept: int = 0  # connections the server never closed


async def slowloris(host: str, port: int, context, attack: Attack) -> None:
    """Send a request's headers one line per half second, reconnecting whenever the server hangs up,
    until ``attack.stop_at``. The connection open then goes on until the server hangs up too (on a
    busy machine an attacker's handshake can end shortly before the stop), or for `KEEP_TRYING_S`
    more, after which it is counted as kept: a connection the server never closed."""
    first = True
    while time.monotonic() < attack.stop_at:
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context, ssl_handshake_timeout=20)
        except (OSError, asyncio.TimeoutError):
            attack.cut_in_handshake += 1
            attack.in_place += first
            first = False
            await asyncio.sleep(0.2)
            continue
        attack.in_place += first
        first = False
        opened = time.monotonic()
        writer.write(b"POST /api/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            while True:
                if time.monotonic() >= attack.stop_at + KEEP_TRYING_S:
                    attack.kept += 1
                    break
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1024), 0.5) == b"":
                        attack.held.append(time.monotonic() - opened)
                        break
                except asyncio.TimeoutError:
                    writer.write(b"X-Slow: 1\r\n")
        except (OSError, ssl.SSLError):
            attack.held.append(time.monotonic() - opened)
        writer.close()


async def normal_workers(base_url: str, context, stop_at: float, tries: int) -> tuple[list, int]:
    """``N_NORMAL`` eligibility checks spread over the run, each on a new connection, each tried up to
    ``tries`` times with the runner's backoff; the last outcome of each and the number of retries."""
    statuses, retries = [], 0
    async with httpx.AsyncClient(base_url=base_url, verify=context, timeout=15,
                                 limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for i in range(N_NORMAL):
            for attempt in range(tries):
                try:
                    got = await client.get("/api/eligibility", params={"link": "synth-001", "worker_id": f"N{i}"})
                    outcome = got.status_code
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                if outcome == 200 or attempt == tries - 1:
                    break
                retries += 1
                await asyncio.sleep(0.25 * 2 ** attempt)
            statuses.append(outcome)
            await asyncio.sleep(max(0.0, (stop_at - time.monotonic()) / (N_NORMAL - i)))
    return statuses, retries


@pytest.mark.parametrize("open_files, tries", [
    (None, 1),  # the machine's limits: every normal request served at the first try
    ((256, None), 1),  # a soft limit of 256 (a shell's ulimit -n): `mvt serve` raises it to the hard one
    # A hard limit of 256 below the 300 attackers: connections beyond the budget are closed oldest
    # first (handshakes included); the runner's retries get through.
    ((256, 256), 6),
], ids=["default-files", "soft-256-files", "hard-256-files"])
def test_hundreds_of_slowloris_connections_do_not_starve_normal_requests(tmp_path, synthetic_experiment,
                                                                         open_files, tries):
    redis_proc = RedisProcess(tmp_path / "redis").start()
    server = ServerProcess(tmp_path / "data", redis_proc.url, workers=1, open_files=open_files,
                           env={"MVT_READ_TIMEOUT_S": str(READ_TIMEOUT_S)})
    try:
        load_experiment(client_from_url(redis_proc.url), synthetic_experiment)
        server.start()
        context = ssl._create_unverified_context()

        async def main():
            attack = Attack()
            slow = [asyncio.create_task(slowloris("127.0.0.1", server.port, context, attack)) for _ in range(N_SLOW)]
            # The attack is in place (every attacker connected once) before the first normal request: sent
            # amid the first burst of 300 handshakes it failed (ReadError) in two loaded runs; this process,
            # busy with those handshakes, most likely sent it over MVT_READ_TIMEOUT_S after its own handshake.
            deadline = time.monotonic() + 60
            while attack.in_place < N_SLOW:
                assert time.monotonic() < deadline, f"only {attack.in_place} of {N_SLOW} attackers connected in 60 s"
                await asyncio.sleep(0.05)
            attack.stop_at = time.monotonic() + DURATION_S
            normal = await normal_workers(server.base_url, context, attack.stop_at, tries)
            await asyncio.gather(*slow)
            return *normal, attack
        statuses, retries, attack = asyncio.run(main())
        held, n_cut, n_kept = attack.held, attack.cut_in_handshake, attack.kept
    finally:
        server.stop()
        redis_proc.stop()
    assert statuses == [200] * N_NORMAL, (statuses, retries)
    print(f"{N_NORMAL} normal requests served with {retries} retries; {len(held)} slow connections closed "
          f"by the server (held {statistics.median(held or [0]):.2f} s typically, {max(held, default=0):.2f} s "
          f"at most), {n_cut} in their handshake")
    assert n_kept == 0, f"{n_kept} slow connections were still open {KEEP_TRYING_S:.0f} s after the attack"
    # under a hard limit below the attackers, part of them is closed while still in the TLS handshake
    # (counted in the connection budget from the accept, app.protocol)
    assert len(held) + n_cut >= N_SLOW, f"only {len(held)} slow connections were closed by the server " \
                                        f"(and {n_cut} in their handshake)"
    # The server cuts a request READ_TIMEOUT_S after its handshake, checking every SWEEP_S: the typical hold
    # shows that deadline (the idle keep-alive's 10 s or the handshake's 5 s would show here); the longest
    # also includes this process noticing the close while busy with 300 connections (3.99 s at load 8).
    # Without the cut a connection is never closed (counted as kept).
    deadline_s = READ_TIMEOUT_S + GuardedHttpToolsProtocol.SWEEP_S
    assert statistics.median(held) < deadline_s + 1.5, f"slow connections were typically held " \
                                                       f"{statistics.median(held):.1f} s"
    assert max(held) < deadline_s + 3.5, f"a slow connection was held {max(held):.1f} s"


N_SILENT, N_HONEST, HONEST_CONCURRENCY, FLOOD_S = 500, 1000, 8, 200.0
# FLOOD_S is only an upper bound: the flood is stopped once the honest requests are done (27–98 s at load 8–18).


async def never_handshake(host: str, port: int, stop_at: float, opened: list[int]) -> None:
    """Open a TCP connection to the TLS port and send nothing; reconnect whenever the server hangs up."""
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        opened.append(1)
        try:
            await asyncio.wait_for(reader.read(1), max(0.01, stop_at - time.monotonic()))
        except (OSError, asyncio.TimeoutError):
            pass
        writer.close()


async def honest_requests(base_url: str, context, n: int, concurrency: int, tries: int) -> tuple[list, list]:
    """``n`` eligibility checks, ``concurrency`` at a time, each on a new TLS connection, each tried up to
    ``tries`` times with the runner's backoff; the outcome of each first try and of each last one."""
    queue = list(range(n))
    first: list = []
    last: list = []

    async def one_client():
        async with httpx.AsyncClient(base_url=base_url, verify=context, timeout=10,
                                     limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while queue:
                i = queue.pop()
                for attempt in range(tries):
                    try:
                        got = await client.get("/api/eligibility",
                                               params={"link": "synth-001", "worker_id": f"H{i}"})
                        outcome = got.status_code
                    except httpx.HTTPError as exc:
                        outcome = f"{type(exc).__name__}: {exc!r} {exc.__cause__!r}"[:160]
                    if attempt == 0:
                        first.append(outcome)
                    if outcome == 200 or attempt == tries - 1:
                        last.append(outcome)
                        break
                    await asyncio.sleep(0.25 * 2 ** attempt)
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return first, last


def silent_flood(port: int, n: int, duration_s: float) -> None:
    """Run by a separate process (as attackers are other machines): ``n`` `never_handshake` loops for at
    most ``duration_s``, printing every second how many connections they opened."""
    async def report(stop_at, opened):
        while time.monotonic() < stop_at:
            print(len(opened), flush=True)
            await asyncio.sleep(1.0)

    async def main():
        stop_at = time.monotonic() + duration_s
        opened: list[int] = []
        await asyncio.gather(report(stop_at, opened),
                             *(never_handshake("127.0.0.1", port, stop_at, opened) for _ in range(n)))
    asyncio.run(main())


def test_connections_that_never_finish_a_tls_handshake_do_not_starve_normal_requests(tmp_path, synthetic_experiment):
    """500 connections that never send a TLS ClientHello (reconnecting when closed), from another
    process, against a server with 256 open files, hard limit: they count in the connection budget
    from their accept and the silent ones are evicted oldest first (and their handshakes time out
    after MVT_HANDSHAKE_TIMEOUT_S); every one of 1,000 normal requests (a new connection each) is
    served with the runner's retries (two at most), and at least 95 % at the first try.

    Before, no request was served at all. At the first try 99 % were (a quiet machine) and 98.9 % at
    load 13: the server, starved of CPU, accepts the flood's reconnections in bursts, and a burst larger
    than the silent connections in the budget evicts the oldest handshakes still running, some of them
    honest (failed ~1.6 s after their start, several at once)."""
    import subprocess
    import sys

    redis_proc = RedisProcess(tmp_path / "redis").start()
    server = ServerProcess(tmp_path / "data", redis_proc.url, workers=1, open_files=(256, 256),
                           env={"MVT_HANDSHAKE_TIMEOUT_S": "3", "MVT_READ_TIMEOUT_S": str(READ_TIMEOUT_S)})
    flood = None
    try:
        load_experiment(client_from_url(redis_proc.url), synthetic_experiment)
        server.start()
        context = ssl._create_unverified_context()
        flood = subprocess.Popen(
            [sys.executable, "-c", "from tests.test_slow_clients import silent_flood; "
                                   f"silent_flood({server.port}, {N_SILENT}, {FLOOD_S})"],
            stdout=subprocess.PIPE, text=True)
        for line in flood.stdout:  # the flood is in place before the first honest request
            if int(line) >= N_SILENT:
                break
        else:
            raise AssertionError("the silent flood ended before opening its connections")
        started = time.monotonic()
        first, outcomes = asyncio.run(honest_requests(server.base_url, context, N_HONEST, HONEST_CONCURRENCY,
                                                      tries=3))
        elapsed = time.monotonic() - started
        flood_running = flood.poll() is None
        flood.terminate()
        n_opened = int((flood.communicate(timeout=30)[0].split() or ["0"])[-1])
    finally:
        if flood is not None and flood.poll() is None:
            flood.kill()
        server.stop()
        redis_proc.stop()
    served, at_first = outcomes.count(200), first.count(200)
    failures = Counter(o for o in first if o != 200).most_common(3)
    print(f"{served}/{len(outcomes)} normal requests served in {elapsed:.1f} s under {N_SILENT} silent "
          f"connections ({n_opened} opened), {at_first} at the first try; first-try failures: {failures}")
    assert flood_running, "the honest requests outlasted the flood; make FLOOD_S longer"
    assert served == N_HONEST, f"only {served} of {N_HONEST} normal requests were served with retries: " \
                               f"{Counter(o for o in outcomes if o != 200).most_common(3)}"
    assert at_first >= 0.95 * N_HONEST, f"only {at_first} of {N_HONEST} normal requests were served at the " \
                                        f"first try: {failures}"
