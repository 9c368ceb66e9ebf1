"""Participants: block them (a participant group later studies exclude, and our server), message them.

Endpoints: ``POST /api/v1/participant-groups/{id}/participants/`` with ``participant_ids``
(https://docs.prolific.com/api-reference/participant-groups; a study excludes the group with
the ``participant_group_blocklist`` filter, see ``create-study --exclude-group``) and
``POST /api/v1/messages/bulk/`` with ``ids``, ``body`` and ``study_id``
(https://docs.prolific.com/api-reference/messages/bulk-message-participants).
"""

from __future__ import annotations

import hashlib
import re

from platforms.ids import checked_ids
from platforms.ledger import Action, Report
from platforms.prolific.client import ProlificBadInput, ProlificClient
from platforms.prolific.records import execute, new_report, select_study

PARTICIPANT_ID = re.compile(r"^[0-9a-f]{24}$")


def check_participant_ids(participant_ids: list[str]) -> list[str]:
    """The ids, de-duplicated in order; a malformed one stops with a message naming it."""
    return checked_ids(participant_ids, PARTICIPANT_ID, ProlificBadInput, "participant",
                       "a Prolific id (24 hexadecimal characters, the PROLIFIC_PID)")


def block_participants(client: ProlificClient, r, participant_ids: list[str], *, group_id: str,
                       commit: bool) -> Report:
    """Add participants to the block group on Prolific and block them on our server, each once."""
    from kernel.admin import block_workers

    report = new_report(client, "block", commit)
    actions = [Action("block", f"{group_id}:{pid}", f"block participant {pid} (group {group_id} and our server)",
                      f"POST /participant-groups/{group_id}/participants/", {"participant_ids": [pid]},
                      subject=f"participant {pid}",
                      on_success=lambda _resp, pid=pid: block_workers(r, [pid]))
               for pid in check_participant_ids(participant_ids)]
    return execute(client, r, actions, commit=commit, report=report)


def message_participants(client: ProlificClient, r, participant_ids: list[str], *,
                         study_id: str | None, text: str, commit: bool) -> Report:
    """Message participants about a study; each participant gets a given text once."""
    if not text.strip():
        raise ProlificBadInput("the message is empty: give --text or --message-file")
    sid = select_study(r, client.environment, study_id)["study_id"]
    report = new_report(client, "message", commit)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    actions = [Action("message", f"{digest}:{sid}:{pid}", f"message participant {pid} about study {sid}",
                      "POST /messages/bulk/", {"ids": [pid], "body": text, "study_id": sid},
                      subject=f"participant {pid}")
               for pid in check_participant_ids(participant_ids)]
    return execute(client, r, actions, commit=commit, report=report)
