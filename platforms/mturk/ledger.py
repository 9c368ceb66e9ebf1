"""Never twice: every MTurk action is planned, then done at most once, with a record in Redis.

An operation builds a list of `Action`; `execute` skips those the ledger says are done, only
lists the rest in a dry run, and with ``commit=True`` calls MTurk, records each success in
``mturk_done`` and each failure in ``mturk_failed`` (retried by running the same command
again). The result is a `Report` the CLI prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from platforms.mturk.client import call, environment_of
from app.store import keys
from app.errors import MTurkCallFailed


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def token(*parts: str) -> str:
    """A UniqueRequestToken (at most 64 characters) determined by ``parts``."""
    return "mvt-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def done_record(r, env: str, action: str, item: str) -> dict | None:
    """The ledger's record of ``action`` on ``item`` when it succeeded, else None."""
    raw = r.hget(keys.mturk_done(env, action), item)
    return json.loads(raw) if raw else None


def failed_record(r, env: str, action: str, item: str) -> dict | None:
    """The ledger's record of the last failed try of ``action`` on ``item``, else None."""
    raw = r.hget(keys.mturk_failed(env, action), item)
    return json.loads(raw) if raw else None


def record_done(r, env: str, action: str, item: str, **info: Any) -> None:
    """Record that ``action`` on ``item`` succeeded, clearing an earlier failure."""
    pipe = r.pipeline()
    pipe.hset(keys.mturk_done(env, action), item, json.dumps({"at": now_iso(), **info}))
    pipe.hdel(keys.mturk_failed(env, action), item)
    pipe.execute()


def record_failed(r, env: str, action: str, item: str, error: str, attempts: int) -> None:
    """Record that the last try of ``action`` on ``item`` failed."""
    r.hset(keys.mturk_failed(env, action), item,
           json.dumps({"at": now_iso(), "error": error, "attempts": attempts}))


def forget_done(r, env: str, action: str, item: str) -> None:
    """Drop a done record (e.g. a block once the worker is unblocked)."""
    r.hdel(keys.mturk_done(env, action), item)


def done_items(r, env: str, action: str) -> dict[str, dict]:
    """Every done record of ``action``: item → record."""
    return {item: json.loads(raw) for item, raw in r.hgetall(keys.mturk_done(env, action)).items()}


@dataclass
class Action:
    """One change on MTurk: the ledger entry it fills and the boto3 call that makes it."""

    action: str
    item: str
    description: str
    method: str
    params: dict[str, Any]
    subject: str
    amount: Decimal | None = None
    info: dict[str, Any] = field(default_factory=dict)
    on_success: Callable[[dict], dict | None] | None = None


@dataclass
class Outcome:
    """What happened to one `Action` (or one item skipped before any action was planned)."""

    status: str  # planned, succeeded, skipped, failed, held
    description: str
    detail: str = ""
    amount: Decimal | None = None


@dataclass
class Report:
    """The result of one ``mvt mturk`` operation, for the summary the CLI prints."""

    operation: str
    environment: str
    committed: bool
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def having(self, status: str) -> list[Outcome]:
        """The outcomes with ``status``."""
        return [o for o in self.outcomes if o.status == status]

    def total(self, *statuses: str) -> Decimal:
        """Sum of the amounts of the outcomes with any of ``statuses``."""
        return sum((o.amount for o in self.outcomes if o.status in statuses and o.amount),
                   Decimal("0.00"))

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.having("failed")


def execute(client, r, actions: Iterable[Action], *, commit: bool,
            report: Report) -> Report:
    """Run ``actions`` once each: skip the done, list the rest (dry run) or do them (commit).

    A call MTurk answers with "idempotency token already processed" counts as done: an earlier
    try whose answer was lost did succeed.
    """
    env = environment_of(client)
    for act in actions:
        done = done_record(r, env, act.action, act.item)
        if done is not None:
            report.outcomes.append(Outcome("skipped", act.description,
                                           f"already done {done['at']}", act.amount))
            continue
        failed = failed_record(r, env, act.action, act.item)
        retrying = f"retrying; last try failed {failed['at']}: {failed['error']}" if failed else ""
        if not commit:
            report.outcomes.append(Outcome("planned", act.description, retrying, act.amount))
            continue
        try:
            response = call(client, act.method, act.params, subject=act.subject)
        except MTurkCallFailed as exc:
            if not exc.already_processed:
                record_failed(r, env, act.action, act.item, str(exc), exc.attempts)
                report.outcomes.append(Outcome("failed", act.description, str(exc), act.amount))
                continue
            response, detail = {}, "MTurk had already done it (same UniqueRequestToken)"
        else:
            detail = ""
        extra = act.on_success(response) if act.on_success else None
        record_done(r, env, act.action, act.item, **act.info, **(extra or {}))
        report.outcomes.append(Outcome("succeeded", act.description, detail, act.amount))
    return report
