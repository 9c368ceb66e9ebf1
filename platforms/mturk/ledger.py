"""MTurk's view of the ledger (``platforms/ledger.py``): scope ``mturk``/<environment>.

The functions keep the signatures the MTurk operations always used (``r, env, action, item``)
and the keys they always wrote (``mvt:mturk:<env>:done:<action>``); `execute` performs each
action as one boto3 call through `platforms.mturk.client.call`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from platforms import ledger
from platforms.ledger import Action, Outcome, Report, Scope, now_iso, token
from platforms.mturk.client import call, environment_of
from kernel.errors import MTurkCallFailed

__all__ = ["Action", "Outcome", "Report", "now_iso", "token", "done_record", "failed_record",
           "record_done", "record_failed", "forget_done", "done_items", "execute"]


def _scope(env: str) -> Scope:
    return Scope("mturk", env)


def done_record(r, env: str, action: str, item: str) -> dict | None:
    """The ledger's record of ``action`` on ``item`` when it succeeded, else None."""
    return ledger.done_record(r, _scope(env), action, item)


def failed_record(r, env: str, action: str, item: str) -> dict | None:
    """The ledger's record of the last failed try of ``action`` on ``item``, else None."""
    return ledger.failed_record(r, _scope(env), action, item)


def record_done(r, env: str, action: str, item: str, **info: Any) -> None:
    """Record that ``action`` on ``item`` succeeded, clearing an earlier failure."""
    ledger.record_done(r, _scope(env), action, item, **info)


def record_failed(r, env: str, action: str, item: str, error: str, attempts: int) -> None:
    """Record that the last try of ``action`` on ``item`` failed."""
    ledger.record_failed(r, _scope(env), action, item, error, attempts)


def forget_done(r, env: str, action: str, item: str) -> None:
    """Drop a done record (e.g. a block once the worker is unblocked)."""
    ledger.forget_done(r, _scope(env), action, item)


def done_items(r, env: str, action: str) -> dict[str, dict]:
    """Every done record of ``action``: item → record."""
    return ledger.done_items(r, _scope(env), action)


def execute(client, r, actions: Iterable[Action], *, commit: bool, report: Report) -> Report:
    """Run ``actions`` once each as boto3 calls (see `platforms.ledger.execute`).

    A call MTurk answers with "idempotency token already processed" counts as done.
    """
    return ledger.execute(
        _scope(environment_of(client)), r, actions, commit=commit, report=report,
        perform=lambda act: call(client, act.method, act.params, subject=act.subject),
        failure=MTurkCallFailed,
        already_done_detail="MTurk had already done it (same UniqueRequestToken)")
