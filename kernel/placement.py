"""Choosing the link for a participant who arrives without one (Prolific, URL-parameter panels).

MTurk fixes the link per HIT; a panel sends every participant to one study URL, so the server
places them: `place` tries the experiment's links, most free lists first (ties in random
order, so concurrent arrivals spread), skipping links the participant already holds or held,
and allocates with the same atomic `kernel.assignments.allocate` as MTurk (no-repeat gate, cap,
blocks, expiry, replacement). A participant who already has an assignment is put back on its
link (resume), and so is one who comes back under a new assignment (Prolific: a new SESSION_ID)
while an earlier one is unfinished: the allocation is the earlier assignment's, so they carry on
with their list instead of taking a second (`keys.assignment_resumed` notes which, for review).
Nothing is allocated when no link can take them.
"""

from __future__ import annotations

import random

import orjson

from kernel.assignments import Allocation, allocate
from kernel.errors import LinkFull, SeenLink, UnknownLink
from kernel.settings import Settings
from kernel.store import keys
from kernel.store.scripts import scripts_for


async def place(r, settings: Settings, experiment_id: str, worker_id: str, assignment_id: str,
                group_id: str | None = None, *, rng: random.Random | None = None) -> Allocation:
    """Allocate (or resume) a list for the participant on some link of ``experiment_id``.

    Raises `UnknownLink` when the experiment has no loaded link, `LinkFull` when no link can
    take the participant (every list taken, or every link already seen), and whatever
    `allocate` raises for the participant (`WorkerBlocked`, `CapReached`, `WrongWorker`, ...).
    """
    rng = rng or random.Random()
    allotted_ms = settings.allotted_minutes * 60_000
    held = await r.hget(keys.assignment_links(), assignment_id)
    if held is not None:
        return await allocate(r, held, worker_id, assignment_id, group_id or "",
                              cap=settings.max_tasks_per_worker, allotted_ms=allotted_ms,
                              first_trial_ms=settings.first_trial_minutes * 60_000)
    # One round trip for every loaded link: its experiment, free and to-replace lists, and whether
    # this participant already took it (links of other experiments are dropped afterwards).
    links = sorted(await r.smembers(keys.links_index()))
    pipe = r.pipeline(transaction=False)
    for link in links:
        pipe.hget(keys.link_meta(link), "experiment_id")
        pipe.llen(keys.link_free(link))
        pipe.scard(keys.link_replace(link))
        pipe.hget(keys.link_workers(link), worker_id)
    replies = await pipe.execute()
    rows = [(link, *replies[4 * i:4 * i + 4]) for i, link in enumerate(links)]
    rows = [row for row in rows if row[1] == experiment_id]
    if not rows:
        raise UnknownLink(f"experiment {experiment_id!r} has no loaded links; load it with `mvt load`")
    pipe = r.pipeline(transaction=False)
    earlier = [(link, taken) for link, _, _, _, taken in rows if taken is not None]
    for link, taken in earlier:
        pipe.hget(keys.link_assignments(link), taken)
    for (link, taken), raw in zip(earlier, await pipe.execute() if earlier else []):
        if raw and orjson.loads(raw).get("status") == "in_progress":
            resumed = await allocate(r, link, worker_id, taken, group_id or "",
                                     cap=settings.max_tasks_per_worker, allotted_ms=allotted_ms)
            # The platform knows the new id (Prolific: the submission), the server the old one.
            await r.execute_command("HSET", keys.assignment_resumed(), assignment_id, taken)
            return resumed
    order = sorted((-(free + to_replace), rng.random(), link)
                   for link, _, free, to_replace, taken in rows if taken is None)
    for _, _, link in order:
        try:
            return await allocate(r, link, worker_id, assignment_id, group_id or "",
                                  cap=settings.max_tasks_per_worker, allotted_ms=allotted_ms,
                                  first_trial_ms=settings.first_trial_minutes * 60_000)
        except (LinkFull, SeenLink):
            continue
    raise LinkFull(f"every list of experiment {experiment_id} is taken or was seen by participant {worker_id}")


async def decline(r, link_id: str, worker_id: str, assignment_id: str) -> bool:
    """A placed participant declined consent: their untouched list goes to the next arrival.

    Placing allocates on arrival, before the page asks for consent, so a participant who declines
    holds a list. It is released (replace.lua: the next new participant on the link takes it over)
    only when the assignment is this worker's, in progress, with nothing answered; returns whether
    it was. The ids are what `allocate` already takes to resume an assignment, so they give no
    more power than that: an answered list is never released.
    """
    raw = await r.hget(keys.link_assignments(link_id), assignment_id)
    if raw is None:
        return False
    record = orjson.loads(raw)
    if record.get("worker") != worker_id or record.get("status") != "in_progress" or record.get("n_done") \
            or record.get("next"):
        return False
    outcome = await scripts_for(r).replace(
        keys=[keys.link_assignments(link_id), keys.link_slots(link_id), keys.link_activity(link_id),
              keys.link_replace(link_id)], args=[assignment_id])
    return outcome == "marked"
