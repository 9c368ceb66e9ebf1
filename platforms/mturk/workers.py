"""Workers: screening results from analysis, blocks (MTurk and ours together), messages."""

from __future__ import annotations

import hashlib
import re

from platforms.ids import checked_ids
from platforms.mturk.client import call, environment_of
from platforms.screening import Screening  # noqa: F401  (re-exported: scripts import it from here)
from platforms.mturk.ledger import (Action, Outcome, Report, done_record, execute, forget_done,
                                   record_done, record_failed)
from kernel.errors import MTurkBadInput, MTurkCallFailed

WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")
NOTIFY_BATCH = 100


def check_worker_ids(worker_ids: list[str]) -> list[str]:
    """The ids, de-duplicated in order; a malformed one stops with a message naming it."""
    return checked_ids(worker_ids, WORKER_ID, MTurkBadInput, "worker",
                       "an MTurk worker id (A followed by capital letters and digits)")


def block_workers(client, r, worker_ids: list[str], *, reason: str, commit: bool) -> Report:
    """Block workers on MTurk and on our server together (each once until unblocked)."""
    from kernel.admin import block_workers as block_on_server

    env = environment_of(client)
    report = Report("block", env, commit)
    if not reason.strip():
        raise MTurkBadInput("a block needs a --reason (MTurk shows it to the worker's record)")

    def blocked(worker_id: str) -> None:
        block_on_server(r, [worker_id])
        forget_done(r, env, "unblock", worker_id)

    actions = [Action("block", w, f"block worker {w}", "create_worker_block",
                      {"WorkerId": w, "Reason": reason}, subject=f"worker {w}",
                      on_success=lambda _resp, w=w: blocked(w))
               for w in check_worker_ids(worker_ids)]
    return execute(client, r, actions, commit=commit, report=report)


def unblock_workers(client, r, worker_ids: list[str], *, reason: str = "", commit: bool) -> Report:
    """Lift MTurk blocks and ours together (each once until blocked again)."""
    from kernel.admin import unblock_workers as unblock_on_server

    env = environment_of(client)
    report = Report("unblock", env, commit)

    def unblocked(worker_id: str) -> None:
        unblock_on_server(r, [worker_id])
        forget_done(r, env, "block", worker_id)

    actions = []
    for w in check_worker_ids(worker_ids):
        params = {"WorkerId": w, **({"Reason": reason} if reason else {})}
        actions.append(Action("unblock", w, f"unblock worker {w}", "delete_worker_block", params,
                              subject=f"worker {w}", on_success=lambda _resp, w=w: unblocked(w)))
    return execute(client, r, actions, commit=commit, report=report)


def notify_workers(client, r, worker_ids: list[str], *, subject: str, message: str, commit: bool) -> Report:
    """Email workers through MTurk, 100 per call; each worker gets one message once."""
    env = environment_of(client)
    report = Report("notify", env, commit)
    if not subject.strip() or len(subject) > 200:
        raise MTurkBadInput(f"subject ({len(subject)} characters) must have 1 to 200 characters")
    if not message.strip() or len(message) > 4096:
        raise MTurkBadInput(f"message ({len(message)} characters) must have 1 to 4096 characters")
    digest = hashlib.sha256(f"{subject}\n{message}".encode()).hexdigest()[:12]
    pending = []
    for w in check_worker_ids(worker_ids):
        done = done_record(r, env, "notify", f"{digest}:{w}")
        if done:
            report.outcomes.append(Outcome("skipped", f"notify worker {w}", f"already sent {done['at']}"))
        elif not commit:
            report.outcomes.append(Outcome("planned", f"notify worker {w}: {subject!r}"))
        else:
            pending.append(w)
    for start in range(0, len(pending), NOTIFY_BATCH):
        batch = pending[start:start + NOTIFY_BATCH]
        try:
            response = call(client, "notify_workers",
                            {"Subject": subject, "MessageText": message, "WorkerIds": batch},
                            subject=f"workers {batch[0]}…{batch[-1]}")
        except MTurkCallFailed as exc:
            for w in batch:
                record_failed(r, env, "notify", f"{digest}:{w}", str(exc), exc.attempts)
                report.outcomes.append(Outcome("failed", f"notify worker {w}", str(exc)))
            continue
        failures = {f["WorkerId"]: f for f in response.get("NotifyWorkersFailureStatuses", [])}
        for w in batch:
            if w in failures:
                error = (f"worker {w}: {failures[w].get('NotifyWorkersFailureMessage', '')} "
                         f"({failures[w].get('NotifyWorkersFailureCode', '')})")
                record_failed(r, env, "notify", f"{digest}:{w}", error, 1)
                report.outcomes.append(Outcome("failed", f"notify worker {w}", error))
            else:
                record_done(r, env, "notify", f"{digest}:{w}", subject=subject)
                report.outcomes.append(Outcome("succeeded", f"notify worker {w}"))
    return report
