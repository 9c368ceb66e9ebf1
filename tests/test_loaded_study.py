"""The study an experiment was loaded with has one reader (kernel/loaded_study.py): the eligibility API's
refusals and the pages that refuse a participant name the same study title, read the same way."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from kernel.store import keys

ROOT = Path(__file__).resolve().parent.parent
KEEPERS = {"kernel/loaded_study.py": "reads", "studies/loader.py": "writes", "kernel/drop.py": "deletes",
           "kernel/store/keys.py": "names"}
"""The modules that may name the stored study's key, and what they do with it."""


def test_the_stored_study_is_read_in_one_place():
    users = {path.relative_to(ROOT).as_posix()
             for package in ("kernel", "app", "studies", "platforms", "stimuli", "analysis", "simulation", "cli")
             for path in (ROOT / package).rglob("*.py") if "keys.experiment_study(" in path.read_text()
             or re.search(r"^def experiment_study\(", path.read_text(), re.M)}
    assert users <= set(KEEPERS), f"read the stored study through kernel.loaded_study, not in {users - set(KEEPERS)}"


@pytest.mark.parametrize("title, shown", [("Sounds <i>& noise</i>", "Sounds &lt;i&gt;&amp; noise&lt;/i&gt;"),
                                          ("   ", None), (42, None)])
def test_a_refusal_names_the_study_alike_on_the_api_and_the_pages(synthetic_server, title, shown):
    """The landing layout's refusal (GET /api/eligibility), an incomplete MTurk link (/experiment.html) and an
    incomplete Prolific arrival (/prolific): the title when it is text, nowhere when it is blank or not text."""
    server, r = synthetic_server, synthetic_server.redis
    r.set(keys.experiment_study("synth"), json.dumps({"title": title}))
    r.set(keys.worker_blocked("W9"), "1")
    with httpx.Client(base_url=server.base_url, verify=False, timeout=30) as client:
        refused = client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W9"}).json()
        pages = [client.get("/experiment.html", params={"link": "synth-001", "b": "A1", "c": "H1"}),
                 client.get("/prolific", params={"experiment": "synth", "STUDY_ID": "S", "SESSION_ID": "X"})]
    assert refused == {"eligible": False, "reason": "blocked",
                       "study_title": title if shown else None}
    for page in pages:
        assert page.status_code == 400
        named = re.search(r'<p class="study-name" id="error-study">(.*?)</p>', page.text, re.S)
        assert (named and named[1]) == shown, page.url
