"""Analysis flags that stay: what screening flagged, kept in Redis until ``mvt unflag`` clears it.

A flag is a JSON record per worker (`kernel.store.keys.worker_flags`): the rules that flagged the
worker, their numbers, the reason sentence, the experiments, the analysis run and its time (and
the first run that flagged them). `record_flags` only adds: a worker flagged by an earlier run
stays flagged when a later analysis no longer sees them (their work replaced, say), and a
worker flagged again keeps ``first_at``/``first_run``. `clear_flag` removes a flag and keeps why
(`kernel.store.keys.worker_unflagged`); a later analysis that flags the worker again flags them
again (new evidence or the same: the operator sees it and may clear it again).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from kernel.errors import AnalysisOptionError, NotFlagged
from kernel.store import keys


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    """An analysis run id: UTC time and 4 random hex digits (``20261206T112233Z-1a2b``)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


@dataclass(frozen=True)
class FlagUpdate:
    """What `record_flags` did: the run id, workers newly flagged, workers flagged again, all standing flags."""

    run: str
    new: list[str]
    again: list[str]
    standing: dict[str, dict]


def stored_flags(r) -> dict[str, dict]:
    """Every standing flag, worker id → record."""
    return {w if isinstance(w, str) else w.decode(): json.loads(v) for w, v in r.hgetall(keys.worker_flags()).items()}


def record_flags(r, flags: dict[str, dict], *, experiments=(), source: str = "", run: str | None = None) -> FlagUpdate:
    """Store this analysis's flags, adding to those stored before (none is removed).

    Parameters
    ----------
    r : redis.Redis
        The store.
    flags : dict
        Worker id → ``{"reason": str, "rules": [str], "numbers": {name: number}}`` of the workers this
        analysis flagged.
    experiments : sequence of str
        The analysed experiments.
    source : str
        Where the responses came from (for the run record).
    run : str, optional
        The run id; default `new_run_id`.

    Returns
    -------
    FlagUpdate
    """
    run = run or new_run_id()
    at = _now()
    before = stored_flags(r)
    pipe = r.pipeline()
    new, again = [], []
    for worker_id, flag in sorted(flags.items()):
        old = before.get(worker_id)
        (again if old else new).append(worker_id)
        record = {"worker_id": worker_id, "reason": flag.get("reason", ""), "rules": list(flag.get("rules", [])),
                  "numbers": flag.get("numbers", {}), "experiments": sorted(experiments), "at": at, "run": run,
                  "first_at": old["first_at"] if old else at, "first_run": old["first_run"] if old else run}
        pipe.hset(keys.worker_flags(), worker_id, json.dumps(record, default=float))
    pipe.rpush(keys.analysis_runs(), json.dumps({"run": run, "at": at, "experiments": sorted(experiments),
                                                 "source": source, "n_flagged": len(flags), "n_new": len(new)}))
    pipe.execute()
    return FlagUpdate(run=run, new=new, again=again, standing=stored_flags(r))


def flag_by_hand(r, worker_id: str, reason: str, who: str) -> dict:
    """Flag a worker by hand (the control room's Flag action): a standing flag like an analysis's, with
    rule ``by hand``, ``who`` set it and why; review, bonus and the next analysis treat it alike.

    A worker already flagged keeps their record (its rules and numbers are evidence); only ``by hand``
    is added to its rules and the reason appended.

    Raises
    ------
    AnalysisOptionError
        If `reason` is empty.
    """
    if not reason.strip():
        raise AnalysisOptionError("the reason is empty; say why the worker is flagged (it is kept with the flag)")
    at = _now()
    raw = r.hget(keys.worker_flags(), worker_id)
    old = json.loads(raw) if raw else None
    if old:
        record = {**old, "rules": sorted({*old.get("rules", []), "by hand"}),
                  "reason": f"{old.get('reason') or ''}; by hand: {reason}".lstrip("; "), "by": who, "at": at}
    else:
        record = {"worker_id": worker_id, "reason": reason, "rules": ["by hand"], "numbers": {}, "experiments": [],
                  "at": at, "run": f"by hand ({who})", "first_at": at, "first_run": f"by hand ({who})", "by": who}
    r.hset(keys.worker_flags(), worker_id, json.dumps(record))
    return record


def clear_flag(r, worker_id: str, reason: str) -> dict:
    """Clear a worker's standing flag, keeping the reason, the time and the cleared flag.

    Raises
    ------
    NotFlagged
        If the worker has no stored flag.
    AnalysisOptionError
        If `reason` is empty.
    """
    if not reason.strip():
        raise AnalysisOptionError("--reason is empty; say why the flag is cleared (it is kept with the record)")
    raw = r.hget(keys.worker_flags(), worker_id)
    if raw is None:
        raise NotFlagged(f"worker {worker_id!r} has no stored flag (flags: mvt analyze; listed in its workers.csv)")
    flag = json.loads(raw)
    record = {"worker_id": worker_id, "reason": reason, "at": _now(), "flag": flag}
    pipe = r.pipeline()
    pipe.hset(keys.worker_unflagged(), worker_id, json.dumps(record))
    pipe.hdel(keys.worker_flags(), worker_id)
    pipe.execute()
    return record
