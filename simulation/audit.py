"""Audit of the server's promises, read from Redis after a load or fault run.

Checks what must hold whatever happened during the run: no list held by two live assignments,
no worker with two assignments on one link, no worker over the task cap, no worker shown an
image twice, and (given what clients were told) every acknowledged response stored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from kernel.store import keys
from kernel.export import iter_response_rows

LIVE = ("in_progress", "complete", "to_replace")


@dataclass
class AuditReport:
    """Counts and the violations found; ``ok`` when there are none."""

    links: int = 0
    assignments: int = 0
    stored_responses: int = 0
    acknowledged_responses: int | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> dict:
        """JSON-ready counts and the first violations."""
        return {"ok": self.ok, "links": self.links, "assignments": self.assignments,
                "stored_responses": self.stored_responses,
                "acknowledged_responses": self.acknowledged_responses,
                "violations": len(self.violations), "first_violations": self.violations[:10]}


def audit(r, *, max_tasks_per_worker: int, acked_keys=None) -> AuditReport:
    """Check the allocation and storage invariants of every loaded link.

    Parameters
    ----------
    r : redis.Redis
        Client with ``decode_responses=True``.
    max_tasks_per_worker : int
        The cap the server ran with.
    acked_keys : set of (assignment_id, trial), optional
        Responses the clients were told were recorded; each must be stored.
    """
    report = AuditReport()
    tasks_per_worker: Counter = Counter()
    for link_id in sorted(r.smembers(keys.links_index())):
        report.links += 1
        assignments = {a: json.loads(v) for a, v in r.hgetall(keys.link_assignments(link_id)).items()}
        report.assignments += len(assignments)
        live_per_list = Counter(a["list"] for a in assignments.values() if a["status"] in LIVE)
        for list_index, n in live_per_list.items():
            if n > 1:
                report.violations.append(f"{link_id}: list {list_index} held by {n} live assignments")
        per_worker = Counter(a["worker"] for a in assignments.values())
        for worker, n in per_worker.items():
            tasks_per_worker[worker] += 1
            if n > 1:
                report.violations.append(f"{link_id}: worker {worker} has {n} assignments")
        for list_index, holder in r.hgetall(keys.link_slots(link_id)).items():
            if holder in assignments and assignments[holder]["list"] != int(list_index):
                report.violations.append(f"{link_id}: slot {list_index} points at {holder} of another list")
    for worker, n in tasks_per_worker.items():
        if n > max_tasks_per_worker:
            report.violations.append(f"worker {worker} holds {n} tasks, over the cap {max_tasks_per_worker}")

    seen: Counter = Counter()
    stored = set()
    for row in iter_response_rows(r):
        report.stored_responses += 1
        stored.add((row["assignment_id"], int(row["trial"])))
        seen[(row["worker_id"], row["image_id"])] += 1
    for (worker, image), n in seen.items():
        if n > 1:
            report.violations.append(f"worker {worker} answered image {image} {n} times")
    if acked_keys is not None:
        report.acknowledged_responses = len(acked_keys)
        lost = set(acked_keys) - stored
        if lost:
            report.violations.append(f"{len(lost)} acknowledged responses are not stored, e.g. {sorted(lost)[:3]}")
    return report
