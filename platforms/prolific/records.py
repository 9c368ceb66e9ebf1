"""Prolific's view of the ledger and what we keep of Prolific: our studies and their submissions.

Ledger scope ``prolific``/<environment> (``platforms/ledger.py``); records in
``mvt:prolific:<env>:studies`` and ``…:submissions`` (``kernel/store/keys.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from platforms import ledger
from platforms.ledger import Action, Report, Scope
from platforms.prolific.client import ProlificBadInput, ProlificCallFailed, ProlificClient
from kernel.store import keys

PLATFORM = "Prolific"

# Prolific documents these as idempotent (transitions), or repeating them changes nothing
# (adding a participant to a group twice); the others are not retried after a lost answer.
_IDEMPOTENT = ("/transition/", "/participant-groups/")


def scope(client: ProlificClient) -> Scope:
    """The ledger scope of the client's API."""
    return Scope("prolific", client.environment)


def new_report(client: ProlificClient, operation: str, commit: bool) -> Report:
    """An empty report for ``operation`` against the client's API."""
    return Report(operation, client.environment, commit, platform=PLATFORM)


def perform(client: ProlificClient, act: Action) -> dict:
    """Make the call an `Action` describes: ``act.method`` is ``"POST /path/"``, ``act.params`` the JSON body."""
    verb, path = act.method.split(" ", 1)
    return client.request(verb, path, json=act.params, subject=act.subject,
                          idempotent=any(part in path for part in _IDEMPOTENT))


def execute(client: ProlificClient, r, actions: Iterable[Action], *, commit: bool,
            report: Report) -> Report:
    """Run ``actions`` once each through the ledger (see `platforms.ledger.execute`)."""
    return ledger.execute(scope(client), r, actions, commit=commit, report=report,
                          perform=lambda act: perform(client, act), failure=ProlificCallFailed)


def stored(r, env: str, kind: str) -> dict[str, dict]:
    """Id → record of ``kind`` (``studies``, ``submissions``) as last stored."""
    return {k: json.loads(v) for k, v in r.hgetall(keys.platform_records("prolific", env, kind)).items()}


def store(r, env: str, kind: str, record_id: str, record: dict) -> None:
    """Store (replace) one record of ``kind``."""
    r.hset(keys.platform_records("prolific", env, kind), record_id, json.dumps(record))


def select_study(r, env: str, study_id: str | None) -> dict:
    """The study to work on: the one given (remembered from now on), else our only one."""
    studies = stored(r, env, "studies")
    if study_id:
        if study_id not in studies:
            studies[study_id] = {"study_id": study_id, "source": "given"}
            store(r, env, "studies", study_id, studies[study_id])
        return studies[study_id]
    if len(studies) == 1:
        return next(iter(studies.values()))
    if not studies:
        raise ProlificBadInput(f"no {env} Prolific study recorded: create one with "
                               "`mvt prolific create-study`, or give --study-id")
    raise ProlificBadInput(f"{len(studies)} {env} Prolific studies recorded: give --study-id "
                           f"(one of {', '.join(sorted(studies))})")
