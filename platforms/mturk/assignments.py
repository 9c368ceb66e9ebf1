"""Submitted work: list our HITs' assignments, then approve or reject them against the server.

`fetch_assignments` stores what MTurk lists; `review` decides from the stored copy only, so
its dry run is exactly what ``--commit`` then does.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from platforms.mturk.client import environment_of, paginate
from platforms.mturk.ledger import Action, Outcome, Report, execute, now_iso
from platforms.screening import Screening, with_stored
from kernel.store import keys
from kernel.errors import MTurkCallFailed

COMPLETION_FIELD = "completion_code"
STATUSES = ("Submitted", "Approved", "Rejected")

MISMATCH_MESSAGE = ("The completion code you submitted does not match our record of a finished "
                    "task, so we cannot approve this assignment.")
FLAGGED_MESSAGE = ("Your answers did not pass the quality checks described in the instructions "
                   "(e.g. random answers, or the video was hidden while it played).")


def completion_code_of(answer_xml: str | None) -> str | None:
    """The ``completion_code`` field of an assignment's QuestionFormAnswers XML, if any."""
    if not answer_xml:
        return None
    try:
        root = ET.fromstring(answer_xml)
    except ET.ParseError:
        return None
    for answer in root.iter():
        if answer.tag.rsplit("}", 1)[-1] != "Answer":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in answer}
        if fields.get("QuestionIdentifier") == COMPLETION_FIELD:
            return fields.get("FreeText") or None
    return None


def stored_assignments(r, env: str) -> dict[str, dict]:
    """Assignment id → summary, as `fetch_assignments` last stored it."""
    return {a: json.loads(raw) for a, raw in r.hgetall(keys.mturk_assignments(env)).items()}


def _set_status(r, env: str, assignment_id: str, status: str) -> None:
    raw = r.hget(keys.mturk_assignments(env), assignment_id)
    if raw:
        summary = json.loads(raw)
        summary["status"] = status
        r.hset(keys.mturk_assignments(env), assignment_id, json.dumps(summary))


def fetch_assignments(client, r, hit_ids: list[str]) -> Report:
    """List every assignment of ``hit_ids`` (paged) and store them; one outcome per HIT."""
    env = environment_of(client)
    report = Report("assignments", env, committed=False)
    for hit_id in hit_ids:
        counts: Counter[str] = Counter()
        try:
            for a in paginate(client, "list_assignments_for_hit",
                              {"HITId": hit_id, "AssignmentStatuses": list(STATUSES)},
                              subject=f"HIT {hit_id}"):
                summary = {"assignment_id": a["AssignmentId"], "worker_id": a["WorkerId"],
                           "hit_id": a["HITId"], "status": a["AssignmentStatus"],
                           "submitted_at": a["SubmitTime"].isoformat() if a.get("SubmitTime") else None,
                           "completion_code": completion_code_of(a.get("Answer")),
                           "fetched_at": now_iso()}
                r.hset(keys.mturk_assignments(env), a["AssignmentId"], json.dumps(summary))
                counts[a["AssignmentStatus"]] += 1
        except MTurkCallFailed as exc:
            report.outcomes.append(Outcome("failed", f"list assignments of HIT {hit_id}", str(exc)))
            continue
        detail = ", ".join(f"{counts[s]} {s.lower()}" for s in STATUSES if counts[s]) or "none yet"
        n = sum(counts.values())
        report.outcomes.append(Outcome("succeeded", f"HIT {hit_id}: {n} assignment{'s' * (n != 1)}",
                                       detail))
    return report


@dataclass(frozen=True)
class ReviewPolicy:
    """What `review` does with assignments that are not plainly fine.

    ``mismatched`` (no server completion, or another code/worker) and ``flagged`` (worker
    flagged by analysis screening) are ``"hold"`` (list for a manual decision), ``"reject"``,
    or for flagged also ``"approve"``. ``approve``/``reject`` hold the manual decisions:
    assignment ids that are approved/rejected whatever the checks say.
    """

    mismatched: str = "hold"
    flagged: str = "hold"
    approve: frozenset[str] = frozenset()
    reject: frozenset[str] = frozenset()
    mismatch_message: str = MISMATCH_MESSAGE
    flagged_message: str = FLAGGED_MESSAGE
    approve_message: str = ""

    def __post_init__(self):
        if self.mismatched not in ("hold", "reject"):
            raise ValueError(f"mismatched ({self.mismatched!r}) must be 'hold' or 'reject'")
        if self.flagged not in ("hold", "reject", "approve"):
            raise ValueError(f"flagged ({self.flagged!r}) must be 'hold', 'reject' or 'approve'")
        if both := self.approve & self.reject:
            raise ValueError(f"assignments {sorted(both)} are both to approve and to reject")


def _server_completion(r, assignment_id: str) -> dict | None:
    from kernel.assignments import completion_record

    return completion_record(r, assignment_id)


def check_completion(summary: dict, record: dict | None) -> str | None:
    """Why the assignment's submission does not match the server's record (None: it does)."""
    if record is None:
        return "the server recorded no finished task for this assignment"
    if record.get("worker_id") != summary["worker_id"]:
        return f"the server recorded worker {record.get('worker_id')} for it"
    if not summary.get("completion_code"):
        return "no completion code was submitted"
    if summary["completion_code"] != record.get("completion_code"):
        return f"submitted code {summary['completion_code']!r} is not the server's"
    return None


def review(client, r, *, policy: ReviewPolicy = ReviewPolicy(), screening: Screening | None = None,
           commit: bool,
           completion_lookup: Callable[[object, str], dict | None] = _server_completion) -> Report:
    """Approve submitted assignments whose completion matches the server; reject or hold others.

    Works on the assignments stored by `fetch_assignments` with status Submitted.
    """
    env = environment_of(client)
    report = Report("review", env, commit)
    screening = with_stored(r, screening)
    stored = stored_assignments(r, env)
    if not stored:
        report.notes.append("no assignments stored: run `mvt mturk assignments` first.")
    for unknown in sorted((policy.approve | policy.reject) - set(stored)):
        report.outcomes.append(Outcome("failed", f"decide assignment {unknown}",
                                       f"assignment {unknown}: not among the stored assignments "
                                       "(run `mvt mturk assignments`)"))
    actions = []
    for assignment_id, summary in sorted(stored.items(), key=lambda kv: (kv[1].get("submitted_at") or "", kv[0])):
        who = f"assignment {assignment_id} (worker {summary['worker_id']}, HIT {summary['hit_id']})"
        if summary["status"] != "Submitted":
            report.outcomes.append(Outcome("skipped", f"review {who}",
                                           f"already {summary['status'].lower()} on MTurk"))
            continue
        problem = check_completion(summary, completion_lookup(r, assignment_id))
        flags = screening.flag_reasons(summary["worker_id"]) if screening else None
        if assignment_id in policy.approve:
            decision, why = "approve", "manual decision"
        elif assignment_id in policy.reject:
            decision, why = "reject", "manual decision"
        elif problem:
            decision, why = policy.mismatched, problem
        elif flags is not None:
            decision, why = policy.flagged, f"worker flagged by screening: {flags or 'no reason given'}"
        else:
            decision, why = "approve", "completion code matches the server's record"
        if decision == "hold":
            report.outcomes.append(Outcome("held", f"{who}: {why}",
                                           "decide with --approve or --reject ASSIGNMENT_ID"))
            continue
        if decision == "approve":
            params = {"AssignmentId": assignment_id}
            if policy.approve_message:
                params["RequesterFeedback"] = policy.approve_message
            actions.append(Action("approve", assignment_id, f"approve {who}: {why}",
                                  "approve_assignment", params, subject=f"assignment {assignment_id}",
                                  on_success=lambda _r, a=assignment_id: _set_status(r, env, a, "Approved")))
        else:
            message = policy.flagged_message if flags is not None and not problem else policy.mismatch_message
            actions.append(Action("reject", assignment_id, f"reject {who}: {why}",
                                  "reject_assignment",
                                  {"AssignmentId": assignment_id, "RequesterFeedback": message},
                                  subject=f"assignment {assignment_id}",
                                  on_success=lambda _r, a=assignment_id: _set_status(r, env, a, "Rejected")))
    return execute(client, r, actions, commit=commit, report=report)
