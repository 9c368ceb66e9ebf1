"""The codes a Prolific study expects at its end, for the platform and its arrival route."""

from __future__ import annotations

import json
from typing import NamedTuple

from kernel.store import keys


class StudyCodes(NamedTuple):
    """The codes of one Prolific study: completion, screened out (device rules), no consent."""

    completion: str
    screened_out: str | None
    no_consent: str | None


async def study_codes(r, settings, study_id: str, experiment: str) -> StudyCodes:
    """The codes Prolific expects for ``study_id``: the completion code from the setting, else
    what ``create-study`` recorded, else the experiment's default completion code (the same rule,
    keyed with the server's secret, that ``create-study`` uses when given none); the screened-out
    and no-consent codes ``create-study`` recorded (None for a study it did not create)."""
    from platforms.prolific.studies import default_completion_code

    recorded = {}
    for env in ("production", "test"):
        raw = await r.hget(keys.platform_records("prolific", env, "studies"), study_id)
        if raw:
            recorded = json.loads(raw)
            break
    code = settings.prolific_completion_code or recorded.get("completion_code") or default_completion_code(settings.signing_key, experiment)
    return StudyCodes(code, recorded.get("screened_out_code"), recorded.get("no_consent_code"))
