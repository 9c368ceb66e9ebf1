"""Several server hosts: two `mvt serve` processes on different ports, one store, one secret."""

from __future__ import annotations

import httpx
import pytest

from studies.loader import load_experiment
from simulation.stack import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.both_stores]


def test_tokens_and_codes_from_one_server_verify_on_the_other(redis, redis_url, synthetic_experiment, tmp_path):
    load_experiment(redis, synthetic_experiment)
    a = ServerProcess(tmp_path / "a", redis_url, workers=1).start()
    b = ServerProcess(tmp_path / "b", redis_url, workers=1).start()
    try:
        with httpx.Client(verify=False, timeout=10) as http:
            started = http.post(f"{a.base_url}/api/assignments", json={
                "link": "synth-001", "worker_id": "W1", "assignment_id": "A1", "hit_id": "H1"}).json()
            token = started["assignment_token"]
            for trial, server in zip(range(3), (b, a, b)):
                got = http.post(f"{server.base_url}/api/responses",
                                json={"assignment_token": token, "trial": trial, "response": "cat"})
                assert (got.status_code, got.json()["duplicate"]) == (200, False), got.text
            resumed = http.post(f"{b.base_url}/api/assignments", json={
                "link": "synth-001", "worker_id": "W1", "assignment_id": "A1", "hit_id": "H1"}).json()
            assert (resumed["assignment_token"], resumed["resume_from"]) == (token, 3)
            done_b = http.post(f"{b.base_url}/api/complete", json={"assignment_token": token}).json()
            done_a = http.post(f"{a.base_url}/api/complete", json={"assignment_token": token}).json()
            assert done_a == done_b and done_a["completion_code"], (done_a, done_b)
            assert http.get(f"{a.base_url}/api/eligibility", params={"link": "synth-001", "worker_id": "W1"}
                            ).json() == {"eligible": False, "reason": "seen_link", "study_title": None}
            forged = http.post(f"{a.base_url}/api/responses",
                               json={"assignment_token": token[:-2] + "xx", "trial": 0, "response": "cat"})
            assert forged.status_code == 403, forged.text
    finally:
        a.stop()
        b.stop()
