"""The codes a Prolific study expects at its end, for the platform and its arrival route."""

from __future__ import annotations

import json

from kernel.store import keys


async def study_codes(r, settings, study_id: str, experiment: str) -> tuple[str, str | None]:
    """The completion and screened-out codes Prolific expects for ``study_id``: the setting, else
    what ``create-study`` recorded, else the experiment's default completion code (the same rule,
    keyed with the server's secret, that ``create-study`` uses when given none) and no screened-out code."""
    from platforms.prolific.studies import default_completion_code

    recorded = {}
    for env in ("production", "test"):
        raw = await r.hget(keys.platform_records("prolific", env, "studies"), study_id)
        if raw:
            recorded = json.loads(raw)
            break
    code = settings.prolific_completion_code or recorded.get("completion_code") or default_completion_code(settings.signing_key, experiment)
    return code, recorded.get("screened_out_code")
