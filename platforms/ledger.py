"""Never twice, for any platform: every action is planned, then done at most once, recorded in Redis.

An operation builds a list of `Action`; `execute` skips those the ledger says are done, only
lists the rest in a dry run, and with ``commit=True`` performs them, recording each success
in the ``done`` hash and each failure in the ``failed`` hash of its `Scope` (retried by running
the same command again). The result is a `Report` the CLI prints (``platforms/cli.py``).

A `Scope` is a platform and one of its environments (``mturk``/``sandbox``,
``prolific``/``production``): trying a study in a sandbox never marks real work as done. MTurk's
keys are ``mvt:mturk:<env>:done:<action>`` as before this module existed, so stored ledgers
stay valid; the key schema is in ``kernel/store/keys.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from kernel.store import keys


@dataclass(frozen=True)
class Scope:
    """Where ledger records live: a platform (``mturk``, ``prolific``) and its environment."""

    platform: str
    environment: str


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def token(*parts: str) -> str:
    """An idempotency token (at most 64 characters) determined by ``parts``."""
    return "mvt-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def done_record(r, scope: Scope, action: str, item: str) -> dict | None:
    """The ledger's record of ``action`` on ``item`` when it succeeded, else None."""
    raw = r.hget(keys.platform_done(scope.platform, scope.environment, action), item)
    return json.loads(raw) if raw else None


def failed_record(r, scope: Scope, action: str, item: str) -> dict | None:
    """The ledger's record of the last failed try of ``action`` on ``item``, else None."""
    raw = r.hget(keys.platform_failed(scope.platform, scope.environment, action), item)
    return json.loads(raw) if raw else None


def paid_for_links(r, scope: Scope, action: str, link_ids) -> list[Decimal]:
    """The ``amount`` of every successful ``action`` (e.g. ``bonus``, items ``<assignment id>:<kind>``)
    on an assignment of ``link_ids`` (looked up in ``keys.assignment_links``), one per payment."""
    done = r.hgetall(keys.platform_done(scope.platform, scope.environment, action))
    if not done:
        return []
    items = list(done.items())
    links = r.hmget(keys.assignment_links(), [item.split(":", 1)[0] for item, _ in items])
    wanted = set(link_ids)
    return [Decimal(json.loads(raw).get("amount") or 0) for (_, raw), link in zip(items, links) if link in wanted]


LEDGER_VERBS = (("approve", "approved"), ("reject", "rejected"), ("request-return", "asked to return"))


def worker_ledger_lines(r, label: str, scope: Scope, assignment_ids: list[str]) -> list[str]:
    """What the ledger of ``scope`` did to these assignments (Prolific: submissions) of one worker, one
    line each, for the control room's worker page: approvals, rejections, returns asked, bonuses
    paid (``<label>: approved MA1 at <time>``, ``<label>: paid top50 bonus 0.05 for MA1 at <time>``)."""
    from platforms.bonus import KINDS

    if not assignment_ids:
        return []
    pipe = r.pipeline(transaction=False)
    for action, _ in LEDGER_VERBS:
        pipe.hmget(keys.platform_done(scope.platform, scope.environment, action), assignment_ids)
    bonus_items = [f"{a}:{kind}" for a in assignment_ids for kind in KINDS]
    pipe.hmget(keys.platform_done(scope.platform, scope.environment, "bonus"), bonus_items)
    *verbs, bonuses = pipe.execute()
    lines = []
    for (_, verb), raws in zip(LEDGER_VERBS, verbs):
        lines += [f"{label}: {verb} {a} at {json.loads(raw).get('at')}" for a, raw in zip(assignment_ids, raws) if raw]
    for item, raw in zip(bonus_items, bonuses):
        if raw:
            assignment_id, _, kind = item.rpartition(":")
            record = json.loads(raw)
            lines.append(f"{label}: paid {kind} bonus {record.get('amount')} for {assignment_id} at {record.get('at')}")
    return lines


def record_done(r, scope: Scope, action: str, item: str, **info: Any) -> None:
    """Record that ``action`` on ``item`` succeeded, clearing an earlier failure."""
    pipe = r.pipeline()
    pipe.hset(keys.platform_done(scope.platform, scope.environment, action), item,
              json.dumps({"at": now_iso(), **info}))
    pipe.hdel(keys.platform_failed(scope.platform, scope.environment, action), item)
    pipe.execute()


def record_failed(r, scope: Scope, action: str, item: str, error: str, attempts: int,
                  **info: Any) -> None:
    """Record that the last try of ``action`` on ``item`` failed."""
    r.hset(keys.platform_failed(scope.platform, scope.environment, action), item,
           json.dumps({"at": now_iso(), "error": error, "attempts": attempts, **info}))


def forget_done(r, scope: Scope, action: str, item: str) -> None:
    """Drop a done record (e.g. a block once the worker is unblocked)."""
    r.hdel(keys.platform_done(scope.platform, scope.environment, action), item)


def done_items(r, scope: Scope, action: str) -> dict[str, dict]:
    """Every done record of ``action``: item → record."""
    raw = r.hgetall(keys.platform_done(scope.platform, scope.environment, action))
    return {item: json.loads(value) for item, value in raw.items()}


@dataclass
class Action:
    """One change on a platform: the ledger entry it fills and the call that makes it.

    ``method`` and ``params`` are the platform's: a boto3 method and its arguments for MTurk,
    ``"POST /studies/…/transition/"`` and the JSON body for Prolific.
    """

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
    """The result of one platform operation, for the summary the CLI prints."""

    operation: str
    environment: str
    committed: bool
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    platform: str = "MTurk"

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

    def digest(self) -> str:
        """A fingerprint of what a dry run plans (each planned action's description and amount): the
        control room commits only the plan the researcher confirmed, not one that changed since."""
        text = "\n".join(f"{o.description}|{o.amount}" for o in self.having("planned"))
        return hashlib.sha256(f"{self.platform}|{self.environment}|{self.operation}\n{text}".encode()).hexdigest()[:24]


def execute(scope: Scope, r, actions: Iterable[Action], *, commit: bool, report: Report,
            perform: Callable[[Action], dict], failure: type[Exception],
            already_done_detail: str = "") -> Report:
    """Run ``actions`` once each: skip the done, list the rest (dry run) or do them (commit).

    ``perform`` makes one call; it raises ``failure`` (an exception with ``attempts`` and
    ``already_processed`` attributes) when the platform refused or kept throttling. A failure
    whose ``already_processed`` is true counts as done: an earlier try whose answer was lost
    did succeed (``already_done_detail`` says so in the report).
    """
    for act in actions:
        done = done_record(r, scope, act.action, act.item)
        if done is not None:
            report.outcomes.append(Outcome("skipped", act.description,
                                           f"already done {done['at']}", act.amount))
            continue
        failed = failed_record(r, scope, act.action, act.item)
        retrying = f"retrying; last try failed {failed['at']}: {failed['error']}" if failed else ""
        if not commit:
            report.outcomes.append(Outcome("planned", act.description, retrying, act.amount))
            continue
        try:
            response = perform(act)
        except failure as exc:
            if not getattr(exc, "already_processed", False):
                record_failed(r, scope, act.action, act.item, str(exc), getattr(exc, "attempts", 1))
                report.outcomes.append(Outcome("failed", act.description, str(exc), act.amount))
                continue
            response, detail = {}, already_done_detail
        else:
            detail = ""
        extra = act.on_success(response) if act.on_success else None
        record_done(r, scope, act.action, act.item, **act.info, **(extra or {}))
        report.outcomes.append(Outcome("succeeded", act.description, detail, act.amount))
    return report
