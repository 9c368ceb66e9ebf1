"""What a client without an assignment can learn by probing: an unknown link answers like a full one.

A refusal on a link whose study has a title carries it (``study_title``, for the landing layout);
that tells a known link from an unknown one no more than the link's preview page, which MTurk
shows anyone, already does. The synthetic study has no title, so its answers stay alike."""

from __future__ import annotations

import httpx


def ask(server, client, link, worker):
    eligible = client.get("/api/eligibility", params={"link": link, "worker_id": worker})
    started = client.post("/api/assignments", json={"link": link, "worker_id": worker, "assignment_id": f"P-{worker}",
                                                     "hit_id": "H"})
    return (eligible.status_code, eligible.json(), started.status_code,
            started.json()["reason"], started.json()["detail"].replace(link, "LINK"))


def test_unknown_and_full_links_answer_alike(synthetic_server):
    with httpx.Client(base_url=synthetic_server.base_url, verify=str(synthetic_server.certfile)) as client:
        for n in range(4):
            r = client.post("/api/assignments", json={"link": "synth-001", "worker_id": f"W{n}",
                                                      "assignment_id": f"A{n}", "hit_id": "H"})
            assert r.status_code == 200, r.text
        full = ask(synthetic_server, client, "synth-001", "PROBE1")
        unknown = ask(synthetic_server, client, "synth-999", "PROBE2")
        # the holder of an assignment on the full link still gets their own answer
        own = client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W0", "assignment_id": "A0"})
    assert full == unknown, f"a full link answered {full}, an unknown one {unknown}"
    assert full == (200, {"eligible": False, "reason": "link_full", "study_title": None}, 409, "link_full",
                    "every list of link LINK is taken; return this HIT and try another one")
    assert own.json() == {"eligible": True, "reason": None}
