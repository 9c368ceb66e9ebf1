"""Fuzz every operation of /openapi.json with schemathesis (valid and invalid inputs): never a 5xx."""

from __future__ import annotations

import warnings

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.fixtures.server import ADMIN_TOKEN

EXAMPLES_PER_OPERATION = 20


def test_no_input_causes_a_server_error(synthetic_server):
    warnings.simplefilter("ignore")  # unverified HTTPS to our own self-signed server
    schema = schemathesis.openapi.from_url(f"{synthetic_server.base_url}/admin/openapi.json", verify=False,
                                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    failures = []
    for operation, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE,
                                                                         GenerationMode.NEGATIVE)]:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN_TOKEN}"}
            response = case.call(base_url=synthetic_server.base_url, verify=False)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid ones
    assert failures == []


def test_empty_posts_get_a_sentence(synthetic_server):
    import httpx

    with httpx.Client(base_url=synthetic_server.base_url, verify=False) as client:
        for path in ("/api/assignments", "/api/responses", "/api/complete", "/admin/replace", "/admin/block"):
            r = client.post(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert (r.status_code, r.json()["detail"]) == (
                422, "the request body is missing: send a JSON object"), path
