"""``mvt serve --log-format``: one line per allocation, completion and refusal."""

from __future__ import annotations

import json

import pytest

from app import eventlog
from kernel.admin import block_workers


@pytest.fixture
def served(redis, redis_url, synthetic_experiment, tmp_path):
    """``start(fmt)``: a TestClient of the app logging events as ``fmt``; the log is off again afterwards."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from kernel.settings import Settings
    from studies.loader import load_experiment

    load_experiment(redis, synthetic_experiment)

    def start(fmt: str):
        settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=redis_url, secret_key="k" * 32,
                            log_format=fmt)
        return TestClient(create_app(settings), base_url="https://testserver")
    yield start
    eventlog.configure("off")


def task(c, worker="W1", assignment="A1"):
    body = c.post("/api/assignments", json={"link": "synth-001", "worker_id": worker, "assignment_id": assignment})
    return body


def test_json_lines_for_allocation_completion_and_refusal(served, redis, capsys):
    with served("json") as c:
        body = task(c).json()
        for trial in range(3):
            c.post("/api/responses", json={"assignment_token": body["assignment_token"], "trial": trial,
                                           "response": "cat", "frame_log": "0-80"})
        c.post("/api/complete", json={"assignment_token": body["assignment_token"]})
        block_workers(redis, ["W2"])
        assert task(c, "W2", "A2").status_code == 409
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [(x["event"], x.get("reason")) for x in lines] == [("allocation", None), ("completion", None),
                                                              ("refusal", "blocked")]
    assert lines[0] | {"at": "-", "client": "-"} == {"at": "-", "event": "allocation", "link": "synth-001",
                                                     "worker": "W1", "assignment": "A1", "list": 0, "new": True,
                                                     "client": "-"}
    assert lines[2]["worker"] == "W2" and lines[2]["at"].endswith("Z")


def test_text_lines_and_off(served, capsys):
    with served("text") as c:
        task(c)
    [line] = [x for x in capsys.readouterr().err.splitlines() if " allocation " in x]
    assert line.split(" ", 1)[1].startswith("allocation link=synth-001 worker=W1 assignment=A1 list=0 new=True")
    with served("off") as c:
        task(c, "W3", "A3")
    assert "allocation" not in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("args, looks_like", [([], "text"), (["--log-format", "json"], "json")])
def test_mvt_serve_logs_an_allocation(tmp_path, synthetic_experiment, args, looks_like):
    import subprocess

    import httpx

    from tests.fixtures.redis import free_port
    from tests.test_serve import MVT, run_mvt, stop, wait_healthy

    data_dir = tmp_path / "data"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MVT_")} | {
        "MVT_DATA_DIR": str(data_dir)}
    subprocess.run([MVT, "load", str(synthetic_experiment)], env=env, check=True, capture_output=True)
    port = free_port()
    proc = run_mvt(["serve", "--port", str(port), *args], data_dir)
    try:
        wait_healthy(f"https://127.0.0.1:{port}/healthz", proc)
        got = httpx.post(f"https://127.0.0.1:{port}/api/assignments", verify=False,
                         json={"link": "synth-001", "worker_id": "W1", "assignment_id": "A1"})
        assert got.status_code == 200
    finally:
        out = stop(proc)
    [line] = [x for x in out.splitlines() if "allocation" in x]
    if looks_like == "json":
        assert json.loads(line) | {"at": "-", "client": "-"} == {
            "at": "-", "event": "allocation", "link": "synth-001", "worker": "W1", "assignment": "A1", "list": 0,
            "new": True, "client": "-"}
    else:
        assert " allocation link=synth-001 worker=W1 assignment=A1 list=0 new=True client=127.0.0.1" in line


def test_lines_of_one_loop_turn_leave_together_in_whole_lines_within_a_pipe_write(monkeypatch):
    """A server's lines of one event-loop turn are written together, in writes of whole lines that a pipe
    never splits (at most 4,096 bytes), in order; outside a loop a line is written at once."""
    import asyncio

    class Stream:
        def __init__(self):
            self.writes = []

        def write(self, text):
            self.writes.append(text)

        def flush(self):
            pass

    stream = Stream()
    monkeypatch.setattr("sys.stderr", stream)
    eventlog.configure("text")

    async def turn():
        for n in range(60):
            eventlog.event("allocation", link="synth-001", worker=f"W{n}", assignment=f"A{n}", list=n, new=True)
        assert stream.writes == []  # not yet: at the end of the turn
        await asyncio.sleep(0)
    try:
        asyncio.run(turn())
        eventlog.event("refusal", reason="blocked", worker="W9")
    finally:
        eventlog.configure("off")
    lines = "".join(stream.writes).splitlines()
    assert [line.split(" worker=")[1].split()[0] for line in lines[:60]] == [f"W{n}" for n in range(60)]
    assert lines[60].split(" ", 1)[1] == "refusal reason=blocked worker=W9"
    assert 1 < len(stream.writes) < 61 and all(w.endswith("\n") and len(w.encode()) <= 4096 for w in stream.writes)
