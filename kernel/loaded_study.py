"""The study an experiment was loaded with (``study.json`` as ``mvt load`` stored it under
`keys.experiment_study`: its words, device rules, practice, panel), read by experiment or by link.

The one reader of that key: the worker pages, the arrival routes of the platforms and the eligibility
API's refusals (the study's title) all ask here. ``r`` is the async client (`kernel.store.fastredis`
or ``redis.asyncio`` with decoded replies).
"""

from __future__ import annotations

import orjson

from kernel.ids import is_id
from kernel.store import keys


async def experiment_study(r, experiment: str | None) -> dict | None:
    """The study of ``experiment``, or None (not an id, or no study stored)."""
    if not is_id(experiment):
        return None
    raw = await r.execute_command("GET", keys.experiment_study(experiment))
    return orjson.loads(raw) if raw else None


async def link_study(r, link: str | None) -> tuple[dict | None, str | None]:
    """The study of the experiment ``link`` belongs to and the link's study kind, in one read of the link's
    meta and one of the study: ``(None, None)`` for an unknown link, ``(None, kind)`` for a link whose
    experiment stored no study."""
    if not is_id(link):
        return None, None
    experiment, kind = await r.execute_command("HMGET", keys.link_meta(link), "experiment_id", "kind")
    return await experiment_study(r, experiment), kind


def title_of(study: dict | None) -> str | None:
    """The study's title as its study file set it, or None (no study, no title, or not text)."""
    title = (study or {}).get("title")
    return title if isinstance(title, str) and title.strip() else None


async def link_title(r, link: str | None) -> str | None:
    """The title of the study ``link`` belongs to (`title_of`), or None: a refusal names it."""
    study, _ = await link_study(r, link)
    return title_of(study)
