"""``mvt drop EXPERIMENT``: what one experiment left in the store, and removing it.

An experiment's data are its links' keys (`keys.LINK_KEY_BUILDERS`, one hash slot per link, so
one ``DEL`` per link also works on Redis Cluster), its study (`keys.experiment_study`), the control
room's counts (`kernel.tally`) and its entries in shared keys: the link index, the assignment → link index, each worker's set of links
and the folder of its videos (kept while another experiment's links still use it). Worker blocks
and the platforms' ledgers are not an experiment's: they stay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson

from kernel.export import choose_experiments, experiment_links
from kernel import control, tally
from kernel.store import keys


@dataclass(frozen=True)
class DropPlan:
    """What removing ``experiment`` takes out of the store (`plan_drop`), for the dry run and `drop`."""

    experiment: str
    links: tuple[str, ...]
    statuses: Counter = field(default_factory=Counter)
    assignments: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    n_lists: int = 0
    n_responses: int = 0
    keys: tuple[str, ...] = ()
    video_dir: str | None = None

    def summary(self) -> str:
        """``experiment pilot: 2 links, 8 lists, 3 assignments (2 complete, 1 in_progress), 9 responses, 3 workers; 21 keys``."""
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        return (f"experiment {self.experiment}: {len(self.links)} links, {self.n_lists} lists, "
                f"{len(self.assignments)} assignments" + (f" ({statuses})" if statuses else "")
                + f", {self.n_responses} responses, {len(self.workers)} workers; {len(self.keys)} keys")


def plan_drop(r, experiment: str) -> DropPlan:
    """What `drop` would remove for ``experiment``; changes nothing.

    Raises
    ------
    ExperimentChoice
        If the store holds no experiment of that name (the message lists the ones it holds).
    """
    by_experiment = experiment_links(r)
    choose_experiments(by_experiment, [experiment])
    links = tuple(by_experiment[experiment])
    pipe = r.pipeline(transaction=False)
    for link in links:
        pipe.hgetall(keys.link_assignments(link))
        pipe.hkeys(keys.link_workers(link))
        pipe.hlen(keys.link_responses(link))
        pipe.hget(keys.link_meta(link), "n_lists")
        pipe.hget(keys.link_meta(link), "videos_dir")
    answers = pipe.execute()
    statuses, assignments, workers, n_lists, n_responses, dirs = Counter(), [], set(), 0, 0, set()
    for i in range(len(links)):
        records, link_workers, responses, lists, videos_dir = answers[5 * i:5 * i + 5]
        for assignment, raw in records.items():
            assignments.append(assignment)
            statuses[orjson.loads(raw).get("status", "unknown")] += 1
        workers.update(link_workers)
        n_responses += responses
        n_lists += int(lists or 0)
        dirs.add(videos_dir)
    candidates = [build(link) for link in links for build in keys.LINK_KEY_BUILDERS]
    candidates += [keys.experiment_study(experiment), keys.experiment_tally(experiment), keys.tally_holders(experiment),
                   keys.tally_task_times(experiment)]
    pipe = r.pipeline(transaction=False)
    for key in candidates:
        pipe.exists(key)
    found = [key for key, there in zip(candidates, pipe.execute()) if there]
    others = [link for name, ids in by_experiment.items() if name != experiment for link in ids]
    still_used = {r.hget(keys.link_meta(link), "videos_dir") for link in others}
    gone = sorted(d for d in dirs - still_used if d)
    return DropPlan(experiment, links, statuses, tuple(sorted(assignments)), tuple(sorted(workers)), n_lists,
                    n_responses, tuple(found), gone[0] if gone else None)


def drop(r, plan: DropPlan) -> int:
    """Remove what ``plan`` names; returns the number of keys deleted.

    The links leave the link index first, so a server stops placing participants on them before
    their lists go; each link's keys go in one ``DEL`` (one hash slot).
    """
    if plan.links:
        r.srem(keys.links_index(), *plan.links)
    deleted = 0
    for link in plan.links:
        deleted += r.delete(*(build(link) for build in keys.LINK_KEY_BUILDERS))
    deleted += r.delete(keys.experiment_study(plan.experiment))
    if plan.assignments:
        r.hdel(keys.assignment_links(), *plan.assignments)
        mine = set(plan.assignments)
        resumed = [new for new, old in r.hgetall(keys.assignment_resumed()).items() if old in mine]
        if resumed:
            r.hdel(keys.assignment_resumed(), *resumed)
    pipe = r.pipeline(transaction=False)
    for worker in plan.workers:
        pipe.srem(keys.worker_links(worker), *plan.links)
    pipe.execute()
    if plan.video_dir:
        r.srem(keys.video_dirs(), plan.video_dir)
    control.forget_links(r, plan.links)
    tally.forget(r, plan.experiment)
    r.delete(keys.control_overview())  # the control room's shared overview showed it: computed anew
    return deleted
