"""Choosing the link for a participant who arrives without one (Prolific, URL-parameter panels).

MTurk fixes the link per HIT; a panel sends every participant to one study URL, so the server
places them: `place` tries the experiment's links, most free lists first (ties in random
order, so concurrent arrivals spread), skipping links the participant already holds or held,
and allocates with the same atomic `kernel.assignments.allocate` as MTurk (no-repeat gate, cap,
blocks, expiry, replacement). A participant who already has an assignment is put back on its
link (resume), and so is one who comes back under a new assignment (Prolific: a new SESSION_ID)
while an earlier one is unfinished: the allocation is the earlier assignment's, so they carry on
with their list instead of taking a second (`keys.assignment_resumed` notes which, for review). Nothing is allocated when no link can take them.

`candidate` answers where `place` would put them without changing anything: the arrival page asks it
before consent, and `place` runs only after consent (``POST /api/assignments`` with the page's
placement ticket, `kernel.tokens.make_placement`), so a participant who declines holds nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

from kernel.assignments import Allocation, allocate, eligibility
from kernel.errors import CapReached, ExperimentPaused, LinkFull, SeenLink, UnknownLink, WorkerBlocked
from kernel.settings import Settings
from kernel.store import keys


async def note_resumed(r, assignment_id: str, earlier_id: str) -> None:
    """Note that ``assignment_id`` (a new arrival) resumes ``earlier_id``'s unfinished list, for review:
    the platform knows the new id (Prolific: the submission), the server the old one. Allocates nothing."""
    await r.execute_command("HSET", keys.assignment_resumed(), assignment_id, earlier_id)


@dataclass(frozen=True)
class Candidate:
    """Where `place` would put a participant now: ``link_id`` and the assignment that would hold it
    (``assignment_id``: the arriving one, or their unfinished earlier one they would resume)."""

    link_id: str
    assignment_id: str


async def _links(r, experiment_id: str, worker_id: str, assignment_id: str):
    """``(held, earlier, order)``: the link ``assignment_id`` holds (or None); the participant's earlier
    assignments on links of the experiment, ``[(link, assignment)]``; and the links they never took,
    most free lists first (ties in random order, so concurrent arrivals spread). Reads only."""
    held = await r.hget(keys.assignment_links(), assignment_id)
    if held is not None:
        return held, [], []
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
    earlier = [(link, taken) for link, _, _, _, taken in rows if taken is not None]
    rng = random.Random()
    order = [link for _, _, link in sorted((-(free + to_replace), rng.random(), link)
                                           for link, _, free, to_replace, taken in rows if taken is None)]
    return None, earlier, order


async def _unfinished(r, earlier) -> tuple[str, str] | None:
    """The first of ``earlier`` (``[(link, assignment)]``) still in progress, or None."""
    if not earlier:
        return None
    pipe = r.pipeline(transaction=False)
    for link, taken in earlier:
        pipe.hget(keys.link_assignments(link), taken)
    for (link, taken), raw in zip(earlier, await pipe.execute()):
        if raw and orjson.loads(raw).get("status") == "in_progress":
            return link, taken
    return None


_REFUSALS = {cls.reason: cls for cls in (WorkerBlocked, CapReached, SeenLink, LinkFull, ExperimentPaused)}


async def candidate(r, settings: Settings, experiment_id: str, worker_id: str, assignment_id: str) -> Candidate:
    """Where `place` would put the participant now, changing nothing: the arrival page of a placed
    participant asks this before consent, and allocates only after it (``POST /api/assignments``).

    Each link `place` would try is asked `kernel.assignments.eligibility` in its order until one
    would take them. Raises what `place` would: `UnknownLink`, `WorkerBlocked`, `CapReached`,
    `ExperimentPaused` or `LinkFull` (every link full or seen).
    """
    held, earlier, order = await _links(r, experiment_id, worker_id, assignment_id)
    if held is not None:
        return Candidate(held, assignment_id)
    resumed = await _unfinished(r, earlier)
    if resumed is not None:
        return Candidate(*resumed)
    reason = "link_full"
    for link in order:
        check = await eligibility(r, link, worker_id, assignment_id, cap=settings.max_tasks_per_worker,
                                  allotted_ms=settings.allotted_minutes * 60_000,
                                  first_trial_ms=settings.first_trial_minutes * 60_000)
        if check.eligible:
            return Candidate(link, assignment_id)
        if check.reason in ("blocked", "cap_reached"):
            raise _REFUSALS[check.reason](f"participant {worker_id} may not take part ({check.reason})")
        if check.reason == "paused":
            reason = "paused"
    raise _REFUSALS[reason](f"every list of experiment {experiment_id} is taken or was seen by participant "
                            f"{worker_id}" if reason == "link_full" else f"experiment {experiment_id} is paused")


async def place(r, settings: Settings, experiment_id: str, worker_id: str, assignment_id: str,
                group_id: str | None = None) -> Allocation:
    """Allocate (or resume) a list for the participant on some link of ``experiment_id``.

    Raises `UnknownLink` when the experiment has no loaded link, `LinkFull` when no link can
    take the participant (every list taken, or every link already seen), and whatever
    `allocate` raises for the participant (`WorkerBlocked`, `CapReached`, `WrongWorker`, ...).
    """
    allotted_ms = settings.allotted_minutes * 60_000
    first_trial_ms = settings.first_trial_minutes * 60_000
    held, earlier, order = await _links(r, experiment_id, worker_id, assignment_id)
    if held is not None:
        return await allocate(r, held, worker_id, assignment_id, group_id or "", cap=settings.max_tasks_per_worker,
                              allotted_ms=allotted_ms, first_trial_ms=first_trial_ms)
    resumed = await _unfinished(r, earlier)
    if resumed is not None:
        allocation = await allocate(r, resumed[0], worker_id, resumed[1], group_id or "",
                                    cap=settings.max_tasks_per_worker, allotted_ms=allotted_ms)
        await note_resumed(r, assignment_id, resumed[1])
        return allocation
    for link in order:
        try:
            return await allocate(r, link, worker_id, assignment_id, group_id or "",
                                  cap=settings.max_tasks_per_worker, allotted_ms=allotted_ms,
                                  first_trial_ms=first_trial_ms)
        except (LinkFull, SeenLink):
            continue
    raise LinkFull(f"every list of experiment {experiment_id} is taken or was seen by participant {worker_id}")
