"""Submissions: fetch and store a study's, then approve those whose session finished on our server.

Endpoints: ``GET /api/v1/studies/{id}/submissions/``
(https://docs.prolific.com/api-reference/studies/get-study-submissions; statuses RESERVED,
ACTIVE, TIMED-OUT, AWAITING REVIEW, APPROVED, RETURNED, REJECTED, SCREENED OUT; ``study_code`` is
the code the participant entered), ``POST /api/v1/submissions/{id}/transition/`` with
``action`` APPROVE or REJECT (``rejection_category`` and a ``message`` of at least 100
characters; idempotent; https://docs.prolific.com/api-reference/submissions/transition-submission)
and ``POST /api/v1/submissions/{id}/request-return/`` with ``request_return_reasons``
(https://docs.prolific.com/api-reference/submissions/request-submission-return).

The server stores a Prolific participant's SESSION_ID as the assignment id and PROLIFIC_PID
as the worker id, so a submission is checked with ``kernel.assignments.completion_record``. A
participant who came back under a new SESSION_ID resumed their unfinished list
(``kernel.placement``): that submission is matched to the task finished under the earlier
session, unless the earlier session's submission claims it too (it is then held).
`review` decides from the stored copy only, so its dry run is exactly what ``--commit`` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from platforms.ledger import Action, Outcome, Report, now_iso
from platforms.prolific.client import ProlificBadInput, ProlificCallFailed, ProlificClient
from platforms.prolific.records import execute, new_report, select_study, store, stored
from platforms.screening import Screening, with_stored

AWAITING_REVIEW = "AWAITING REVIEW"
REJECTION_CATEGORIES = ("TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL",
                        "FAILED_CHECK", "LOW_EFFORT", "MALINGERING", "NO_CODE", "BAD_CODE",
                        "NO_DATA", "UNSUPP_DEVICE", "OTHER")
MIN_REJECT_MESSAGE = 100
REJECT_MESSAGE = ("We cannot approve this submission: our server has no record of the task being "
                  "finished in your session, or the task was not done as the instructions asked. "
                  "Please message us through Prolific if you think this is a mistake.")
RETURN_REASON = "Our server has no record of the task being finished in your session."


def fetch_submissions(client: ProlificClient, r, study_id: str | None) -> Report:
    """List every submission of the study (paged) and store them; one outcome for the study."""
    env = client.environment
    study = select_study(r, env, study_id)
    sid = study["study_id"]
    report = new_report(client, "submissions", True)  # changes nothing on Prolific
    counts: Counter[str] = Counter()
    try:
        for s in client.pages(f"/studies/{sid}/submissions/", subject=f"study {sid}"):
            store(r, env, "submissions", s["id"], {
                "submission_id": s["id"], "participant_id": s["participant_id"], "study_id": sid,
                "status": s["status"], "study_code": s.get("study_code"),
                "started_at": s.get("started_at"), "completed_at": s.get("completed_at"),
                "fetched_at": now_iso()})
            counts[s["status"]] += 1
    except ProlificCallFailed as exc:
        report.outcomes.append(Outcome("failed", f"list submissions of study {sid}", str(exc)))
        return report
    n = sum(counts.values())
    detail = ", ".join(f"{k} {status.lower()}" for status, k in sorted(counts.items())) or "none yet"
    report.outcomes.append(Outcome("succeeded", f"study {sid}: {n} submission{'s' * (n != 1)}", detail))
    return report


@dataclass(frozen=True)
class ReviewPolicy:
    """Manual decisions and what to do with flagged participants.

    ``approve``, ``reject`` and ``request_return`` hold submission ids decided by hand;
    rejections need a ``category`` from `REJECTION_CATEGORIES` and a ``message`` of at least
    100 characters (Prolific's rule). ``flagged`` is ``"hold"`` or ``"approve"`` for
    participants flagged by screening whose session did finish.
    """

    approve: frozenset[str] = frozenset()
    reject: frozenset[str] = frozenset()
    request_return: frozenset[str] = frozenset()
    category: str | None = None
    message: str = REJECT_MESSAGE
    return_reasons: tuple[str, ...] = (RETURN_REASON,)
    flagged: str = "hold"

    def __post_init__(self):
        chosen = [self.approve, self.reject, self.request_return]
        both = set().union(*(a & b for i, a in enumerate(chosen) for b in chosen[i + 1:]))
        if both:
            raise ProlificBadInput(f"submissions {sorted(both)} are given more than one decision")
        if self.reject and self.category not in REJECTION_CATEGORIES:
            raise ProlificBadInput(f"rejection category ({self.category!r}) must be one of Prolific's: "
                                   f"{', '.join(REJECTION_CATEGORIES)}")
        if self.reject and len(self.message) < MIN_REJECT_MESSAGE:
            raise ProlificBadInput(f"rejection message ({len(self.message)} characters) must have at "
                                   f"least {MIN_REJECT_MESSAGE} characters (Prolific's rule)")
        if self.flagged not in ("hold", "approve"):
            raise ProlificBadInput(f"flagged ({self.flagged!r}) must be 'hold' or 'approve'")


def _server_completion(r, session_id: str) -> dict | None:
    """The server's completion record of the session, or of the earlier session it resumed."""
    from kernel.assignments import completion_record, resumed_assignment

    record = completion_record(r, session_id)
    earlier = resumed_assignment(r, session_id) if record is None else None
    return completion_record(r, earlier) if earlier else record


def check_submission(submission: dict, record: dict | None, completion_code: str | None) -> str | None:
    """Why the submission does not match a finished session on the server (None: it does)."""
    if record is None:
        return f"the server recorded no finished task for session {submission['submission_id']}"
    if record.get("worker_id") != submission["participant_id"]:
        return f"the server recorded participant {record.get('worker_id')} for this session"
    entered = submission.get("study_code")
    if completion_code and entered != completion_code:
        return f"entered code {entered!r} is not the study's completion code"
    return None


def _status_setter(r, env: str, submission: dict, status: str) -> Callable[[dict], None]:
    def set_status(_response: dict) -> None:
        store(r, env, "submissions", submission["submission_id"], {**submission, "status": status})
    return set_status


def review(client: ProlificClient, r, study_id: str | None, *, policy: ReviewPolicy = ReviewPolicy(),
           screening: Screening | None = None, commit: bool,
           completion_lookup: Callable[[object, str], dict | None] = _server_completion) -> Report:
    """Approve submissions awaiting review whose session finished on the server; hold the rest.

    Rejections and return requests happen only for the submission ids given in ``policy``.
    """
    env = client.environment
    study = select_study(r, env, study_id)
    sid = study["study_id"]
    report = new_report(client, "review", commit)
    screening = with_stored(r, screening)
    submissions = {k: v for k, v in stored(r, env, "submissions").items() if v["study_id"] == sid}
    if not submissions:
        report.notes.append(f"no submissions stored for study {sid}: run `mvt prolific submissions` first.")
    for unknown in sorted((policy.approve | policy.reject | policy.request_return) - set(submissions)):
        report.outcomes.append(Outcome("failed", f"decide submission {unknown}",
                                       f"submission {unknown}: not among the stored submissions of "
                                       f"study {sid} (run `mvt prolific submissions`)"))
    actions = []
    for sub_id, sub in sorted(submissions.items(), key=lambda kv: (kv[1].get("completed_at") or "", kv[0])):
        who = f"submission {sub_id} (participant {sub['participant_id']})"
        if sub["status"] != AWAITING_REVIEW:
            report.outcomes.append(Outcome("skipped", f"review {who}", f"{sub['status'].lower()} on Prolific"))
            continue
        record = completion_lookup(r, sub_id)
        problem = check_submission(sub, record, study.get("completion_code"))
        earlier = record["assignment_id"] if record and record["assignment_id"] != sub_id else None
        finished = "session finished on the server" + (f" (resuming session {earlier})" if earlier else "")
        if not problem and earlier and submissions.get(earlier, {}).get("status") in (AWAITING_REVIEW, "APPROVED"):
            problem = f"the task was finished under the participant's earlier session {earlier}, submitted too"
        flags = screening.flag_reasons(sub["participant_id"]) if screening else None
        if sub_id in policy.approve:
            decision, why = "approve", "manual decision"
        elif sub_id in policy.reject:
            decision, why = "reject", f"manual decision ({policy.category})"
        elif sub_id in policy.request_return:
            decision, why = "return", "manual decision"
        elif problem:
            decision, why = "hold", problem
        elif flags is not None:
            decision, why = policy.flagged, f"participant flagged by screening: {flags or 'no reason given'}"
        else:
            decision, why = "approve", finished
        if decision == "hold":
            report.outcomes.append(Outcome("held", f"{who}: {why}", "decide with --approve, --reject "
                                           "(with --category) or --request-return SUBMISSION_ID"))
            continue
        path = f"POST /submissions/{sub_id}/transition/"
        set_status = _status_setter(r, env, sub, "APPROVED" if decision == "approve" else "REJECTED")
        if decision == "approve":
            actions.append(Action("approve", sub_id, f"approve {who}: {why}", path, {"action": "APPROVE"},
                                  subject=f"submission {sub_id}", on_success=set_status))
        elif decision == "reject":
            actions.append(Action("reject", sub_id, f"reject {who}: {why}", path,
                                  {"action": "REJECT", "message": policy.message,
                                   "rejection_category": policy.category},
                                  subject=f"submission {sub_id}", on_success=set_status))
        else:
            actions.append(Action("request-return", sub_id, f"ask participant to return {who}: {why}",
                                  f"POST /submissions/{sub_id}/request-return/",
                                  {"request_return_reasons": list(policy.return_reasons)},
                                  subject=f"submission {sub_id}"))
    return execute(client, r, actions, commit=commit, report=report)
