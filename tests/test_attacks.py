"""Hand-written attacks on the real HTTPS server (schemathesis fuzzing is in test_fuzz.py)."""

from __future__ import annotations

import http.client
import ssl
from urllib.parse import urlsplit

import httpx
import pytest

from kernel.store import keys


def raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ssl._create_unverified_context(), timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/static/../kernel/settings.py",
    "/static/..%2fapp%2fsettings.py",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/videos/../design.json",
    "/videos/..%2f..%2fstimuli.json",
    "/videos/%2e%2e%2fdesign.json",
    "/mturk/../kernel/settings.py",
])
def test_path_traversal_reaches_no_file(synthetic_server, path):
    status, body = raw_get(synthetic_server.base_url, path)
    assert status in (400, 404)
    assert b"SecretStr" not in body and b"root:" not in body and b"link_id" not in body


@pytest.mark.parametrize("worker_id", ["a:b", "{synth-001}", "w*", "w\r\nFLUSHALL", "x" * 65, "", "ü"])
def test_redis_key_characters_in_ids_are_refused_and_write_nothing(synthetic_server, worker_id):
    before = set(synthetic_server.redis.keys("*"))
    with httpx.Client(base_url=synthetic_server.base_url, verify=False, timeout=10) as client:
        r = client.post("/api/assignments", json={"link": "synth-001", "worker_id": worker_id,
                                                  "assignment_id": "A1", "hit_id": "H1"})
        e = client.get("/api/eligibility", params={"link": "synth-001", "worker_id": worker_id})
    assert r.status_code == 422 and "worker_id" in r.json()["detail"]
    assert e.status_code == 422
    assert set(synthetic_server.redis.keys("*")) == before


def test_a_token_cannot_write_into_another_workers_assignment(synthetic_server):
    with httpx.Client(base_url=synthetic_server.base_url, verify=False, timeout=10) as client:
        mine = client.post("/api/assignments", json={"link": "synth-001", "worker_id": "W1",
                                                     "assignment_id": "A1", "hit_id": "H1"}).json()
        client.post("/api/assignments", json={"link": "synth-002", "worker_id": "W2",
                                              "assignment_id": "A2", "hit_id": "H2"})
        # W1's valid token, aimed at W2's assignment by editing the token's visible part.
        token = mine["assignment_token"].replace("A1", "A2", 1).replace("W1", "W2", 1)
        r = client.post("/api/responses", json={"assignment_token": token, "trial": 0, "response": "cat"})
    assert r.status_code == 403 and r.json()["reason"] == "bad_token"
    assert all(synthetic_server.redis.hlen(keys.link_responses(link)) == 0 for link in ("synth-001", "synth-002"))


@pytest.mark.parametrize("n_header_bytes, answered", [(60_000, True), (200_000, False)])
def test_headers_over_64_kib_close_the_connection(synthetic_server, n_header_bytes, answered):
    """httptools has no header size limit of its own; app.protocol closes the connection past 64 KiB."""
    import socket

    url = urlsplit(synthetic_server.base_url)
    context = ssl._create_unverified_context()
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=url.hostname) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(n_header_bytes // 1000):
                s.sendall(b"X-Pad: " + b"p" * 991 + b"\r\n")
            s.sendall(b"\r\n")
            reply = s.recv(100)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            reply = b""
    assert reply.startswith(b"HTTP/1.1 200") == answered, reply


def test_a_process_over_its_concurrency_limit_answers_503_json_with_retry_after(tmp_path):
    """uvicorn's own refusal (``limit_concurrency``) was plain text without Retry-After; the runner and the
    landing layout read ``reason`` and retry after ``Retry-After`` from every 503."""
    import threading
    import time

    import uvicorn
    from fastapi import FastAPI

    from app.protocol import GuardedConfig, GuardedHttpToolsProtocol
    from tests.fixtures.redis import free_port
    from tests.fixtures.server import make_certificate

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    certfile, keyfile = make_certificate(tmp_path)
    port = free_port()
    config = GuardedConfig(app, host="127.0.0.1", port=port, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile),
                           http=GuardedHttpToolsProtocol, log_level="error", limit_concurrency=2, loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        url = f"https://127.0.0.1:{port}/ping"
        with httpx.Client(verify=False) as first, httpx.Client(verify=False) as second:
            assert first.get(url).status_code == 200   # kept alive: with the second, 2 connections
            refused = second.get(url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json() == {"detail": "the server is busy right now; try again in a few seconds",
                              "reason": "server_busy"}
