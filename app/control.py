"""The control room's figures: one `ExperimentStatus` per loaded experiment, for ``/admin/`` and ``mvt status``.

Read from counts kept as lists change hands, never from responses or every link: per experiment
its tally (`kernel.tally`: lists handed out, unfinished, to replace, per link), its unfinished
holders and last task times, the per-minute counts allocation and completion maintain
(`kernel.control`), and its links' quality counts (`kernel.quality`, re-read every `QUALITY_S`).
`overview_scan` computes the same from every link's keys (the reference in tests). The kind's own
figures come from `studies.base.StudyKind.control_figures`, the platforms' lines from
`platforms.base.Platform.control_summary`, so a registered kind or platform appears here by
registration.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import orjson
from redis.exceptions import NoScriptError

from kernel import control, quality, tally
from kernel.responses import decode_response
from kernel.store import keys
from kernel.store.scripts import scripts_for
from platforms import PLATFORMS
from studies import get_kind


@dataclass(frozen=True)
class LinkCell:
    """One link in the completion grid: lists done, in progress, free, to replace, and its share done."""

    link_id: str
    n_lists: int
    done: int
    in_progress: int
    free: int
    to_replace: int

    @property
    def share_done(self) -> float:
        """Lists done over lists of the link (0 for a link without lists)."""
        return self.done / self.n_lists if self.n_lists else 0.0


@dataclass(frozen=True)
class Spend:
    """One platform's spend on one experiment, in its currency: rewards and fees of the lists done
    (owed for completed work, approved or not yet), committed (done and in progress) and projected
    (every list done), the bonuses paid with their fees, and the pay per hour the median task time
    implies. Computed by `spend_of`; the rule is the platform's (`platforms.base.SpendRule`)."""

    platform: str
    environment: str
    currency: str
    done_rewards: Decimal
    done_fees: Decimal
    committed_rewards: Decimal
    committed_fees: Decimal
    projected_rewards: Decimal
    projected_fees: Decimal
    bonuses: Decimal
    bonus_fees: Decimal
    reward: Decimal
    hourly: Decimal | None
    minimum_hourly: str
    rule: str
    hourly_note: str = ""
    """Why there is no pay per hour (`hourly` None): no task timed yet, or a median under `MIN_TIMED_S`."""
    done_tasks: int = 0
    projected_tasks: int = 0
    bonus_fee_rate: Decimal = Decimal(0)
    bonus_fee_minimum: Decimal = Decimal(0)

    def money(self, amount: Decimal) -> str:
        """``amount`` in the platform's currency (``$1.50``; ``1.50`` when the currency is the account's)."""
        return f"{self.currency}{amount:.2f}"

    @property
    def done_total(self) -> Decimal:
        """Rewards and fees of the lists done, with the bonuses paid and their fees."""
        return self.done_rewards + self.done_fees + self.bonuses + self.bonus_fees

    @property
    def committed_total(self) -> Decimal:
        """`done_total` and the rewards and fees of the lists in progress."""
        return self.committed_rewards + self.committed_fees + self.bonuses + self.bonus_fees

    @property
    def projected_total(self) -> Decimal:
        """Every list's reward and fee, with the bonuses paid so far (later bonuses are not known yet)."""
        return self.projected_rewards + self.projected_fees + self.bonuses + self.bonus_fees

    def bonus_fee(self, amount: Decimal) -> Decimal:
        """The platform's fee on one bonus payment of ``amount`` (its fee rule on a task of one assignment)."""
        return max(self.bonus_fee_minimum, (amount * self.bonus_fee_rate).quantize(Decimal("0.01"),
                                                                                     rounding=ROUND_HALF_UP))

    def bonus_tiers(self, amounts: BonusAmounts) -> list[TierCost]:
        """What the crowdMOS bonus rule (`platforms.bonus`) at ``amounts`` implies for the tasks done and
        for every task: the base bonus on each, the top-50 % tier's on half of them and the top-10 %
        tier's on a tenth (rounded up, as `platforms.bonus.top_workers` keeps at least one worker),
        each payment with the platform's fee. The tiers are by worker (screening correlation); a
        share of the tasks assumes their workers did as many tasks as the others."""
        out = []
        for label, share, amount in (("base, every task", Decimal(1), amounts.per_hit),
                                     ("top 50 %", Decimal("0.5"), amounts.top50),
                                     ("top 10 %", Decimal("0.1"), amounts.top10)):
            done, projected = (math.ceil(share * n) for n in (self.done_tasks, self.projected_tasks))
            each = amount + self.bonus_fee(amount) if amount else Decimal(0)
            out.append(TierCost(label, amount, done, each * done, projected, each * projected))
        return out

    def line(self) -> str:
        """The spend in one line (``mvt status``; the page shows the same figures)."""
        m = self.money
        pay = (f"; pay {m(self.hourly)} an hour at the median task time" if self.hourly is not None
               else f"; pay per hour {self.hourly_note}" if self.hourly_note else "") + (
            f" (minimum {self.minimum_hourly})" if self.hourly is not None and self.minimum_hourly else "")
        return (f"{self.platform} {self.environment} spend: done {m(self.done_total)} (rewards {m(self.done_rewards)}"
                f" + fees {m(self.done_fees)} + bonuses {m(self.bonuses)} + their fees {m(self.bonus_fees)}), "
                f"committed {m(self.committed_total)}, projected {m(self.projected_total)} at {m(self.reward)} "
                f"per task{pay}")

    def as_json(self) -> dict:
        """The spend in ``/admin/status.json`` (amounts as strings with two decimals)."""
        out = {k: f"{getattr(self, k):.2f}" for k in ("done_rewards", "done_fees", "committed_rewards",
                                                      "committed_fees", "projected_rewards", "projected_fees",
                                                      "bonuses", "bonus_fees", "reward", "done_total",
                                                      "committed_total", "projected_total")}
        return {"platform": self.platform, "environment": self.environment, "currency": self.currency, **out,
                "hourly": None if self.hourly is None else f"{self.hourly:.2f}", "hourly_note": self.hourly_note,
                "rule": self.rule}


@dataclass(frozen=True)
class BonusAmounts:
    """The bonus amounts to price on the page: per task, and the top-50 % and top-10 % tiers' extra."""

    per_hit: Decimal
    top50: Decimal
    top10: Decimal

    @classmethod
    def from_query(cls, query) -> tuple[BonusAmounts | None, str]:
        """The amounts of the page's bonus form (``per_hit``, ``top50``, ``top10``), or None with the
        sentence saying which is wrong (an empty form: None and ``""``)."""
        from kernel.errors import MVTError
        from platforms.inputs import parse_amount

        texts = {name: str(query.get(name) or "").strip()[:20] for name in ("per_hit", "top50", "top10")}
        if not any(texts.values()):
            return None, ""
        try:
            return cls(*(parse_amount(texts[name] or "0", what) for name, what in (
                ("per_hit", "bonus per task"), ("top50", "top-50 % bonus"), ("top10", "top-10 % bonus")))), ""
        except (MVTError, ValueError) as exc:
            return None, str(exc)

    @property
    def query(self) -> str:
        """The amounts as the page's query string."""
        return f"per_hit={self.per_hit}&top50={self.top50}&top10={self.top10}"


@dataclass(frozen=True)
class TierCost:
    """One bonus tier priced: its amount per task, the tasks it pays now (done) and at the end, with fees."""

    label: str
    amount: Decimal
    done_tasks: int
    done_cost: Decimal
    projected_tasks: int
    projected_cost: Decimal


MIN_TIMED_S = 1.0
"""A median task time below this (a simulated run, a clock jump) says nothing of a person's pay per hour:
the page says "not yet measured" rather than an hourly rate hundreds of times the reward."""


def pay_per_hour(reward: Decimal, median_task_s: float | None) -> tuple[Decimal | None, str]:
    """The reward over the median task time, per hour, to the cent; or None with the words the page and
    ``mvt status`` show instead (no completed task timed yet, or a median under `MIN_TIMED_S`)."""
    if median_task_s is None:
        return None, "not yet measured (no task completed)"
    if median_task_s < MIN_TIMED_S:
        return None, f"not yet measured (median task time {median_task_s:.1f} s, under {MIN_TIMED_S:.0f} s)"
    return (reward * 3600 / Decimal(str(median_task_s))).quantize(Decimal("0.01")), ""


def spend_of(rule, cells: list[LinkCell], median_task_s: float | None) -> Spend:
    """The `Spend` of a platform's `platforms.base.SpendRule` on an experiment's links (their exact counts).

    Fees are the platform's fee per assignment (`platforms.fees.FeeRule.fee_per_assignment`, which
    depends on the size of the task holding the link on MTurk) times the lists; each bonus pays the
    base rate. Links the platform did not post are left out. The pay per hour is the reward over the
    median task time (`pay_per_hour`: None, with a note, without a timed task).
    """
    posted = [(c, rule.rule.fee_per_assignment(rule.reward, rule.task_sizes[c.link_id]))
              for c in cells if c.link_id in rule.task_sizes]

    def cost(lists_of) -> tuple[Decimal, Decimal]:
        """Rewards and fees of ``lists_of(cell)`` lists on every posted link."""
        return (sum((rule.reward * lists_of(c) for c, _ in posted), Decimal(0)),
                sum((fee * lists_of(c) for c, fee in posted), Decimal(0)))

    done, done_fees = cost(lambda c: c.done)
    committed, committed_fees = cost(lambda c: c.done + c.in_progress)
    projected, projected_fees = cost(lambda c: c.n_lists)
    bonuses = sum(rule.bonuses, Decimal(0))
    bonus_fees = sum((rule.rule.fee_per_assignment(b, 1) for b in rule.bonuses if b), Decimal(0))
    hourly, hourly_note = pay_per_hour(rule.reward, median_task_s)
    text = rule.rule.describe() + (f"; {rule.note}" if rule.note else "")
    return Spend(rule.platform, rule.environment, rule.currency, done, done_fees, committed, committed_fees,
                 projected, projected_fees, bonuses, bonus_fees, rule.reward, hourly, rule.minimum_hourly, text,
                 done_tasks=sum(c.done for c, _ in posted), projected_tasks=sum(c.n_lists for c, _ in posted),
                 bonus_fee_rate=rule.rule.rate, bonus_fee_minimum=rule.rule.minimum, hourly_note=hourly_note)


@dataclass(frozen=True)
class ExperimentStatus:
    """Where one experiment stands now. Counts are lists (one participant's task each)."""

    experiment_id: str
    kind: str
    kind_title: str
    platforms: list[str]
    paused: bool
    n_lists: int
    free: int
    in_progress: int
    done: int
    expired: int
    to_replace: int
    links: list[LinkCell]
    arrivals_per_minute: list[int]
    completions_per_minute: list[int]
    median_task_s: float | None
    figures: dict[str, str] = field(default_factory=dict)
    arrivals_per_hour: list[int] = field(default_factory=list)
    completions_per_hour: list[int] = field(default_factory=list)
    refusals_last_hour: dict[str, int] = field(default_factory=dict)
    spend: list[Spend] = field(default_factory=list)
    timing: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    """Per `kernel.quality.DIMENSIONS`: (value, trials with a timing verdict, timing_ok), most trials first."""

    @property
    def arrivals_last_hour(self) -> int:
        """New lists handed out in the last `kernel.control.WINDOW_MINUTES` minutes."""
        return sum(self.arrivals_per_minute)

    @property
    def completions_last_hour(self) -> int:
        """Assignments completed in the last `kernel.control.WINDOW_MINUTES` minutes."""
        return sum(self.completions_per_minute)

    @property
    def arrivals_last_day(self) -> int:
        """New lists handed out in the last `kernel.control.WINDOW_HOURS` hours."""
        return sum(self.arrivals_per_hour)

    @property
    def completions_last_day(self) -> int:
        """Assignments completed in the last `kernel.control.WINDOW_HOURS` hours."""
        return sum(self.completions_per_hour)

    @property
    def share_done(self) -> float:
        """Lists done over all lists."""
        return self.done / self.n_lists if self.n_lists else 0.0

    @property
    def eta_minutes(self) -> float | None:
        """Minutes to finish the lists not done at the last hour's completion rate; None without completions."""
        rate = self.completions_last_hour / max(len(self.completions_per_minute), 1)
        if not rate:  # a quiet hour: the day's rate
            rate = self.completions_last_day / max(60 * len(self.completions_per_hour), 1)
        return (self.n_lists - self.done) / rate if rate else None

    def as_json(self) -> dict:
        """The JSON of ``GET /admin/status.json`` for this experiment."""
        return {"experiment": self.experiment_id, "kind": self.kind, "platforms": self.platforms,
                "state": "paused" if self.paused else "open", "lists": self.n_lists, "free": self.free,
                "in_progress": self.in_progress, "done": self.done, "expired": self.expired,
                "to_replace": self.to_replace, "arrivals_last_hour": self.arrivals_last_hour,
                "completions_last_hour": self.completions_last_hour,
                "arrivals_last_day": self.arrivals_last_day, "completions_last_day": self.completions_last_day,
                "arrivals_per_minute": self.arrivals_per_minute, "completions_per_minute": self.completions_per_minute,
                "median_task_s": self.median_task_s, "eta_minutes": self.eta_minutes, "figures": self.figures,
                "refusals_last_hour": self.refusals_last_hour, "spend": [s.as_json() for s in self.spend],
                "timing_by_display": {dimension: [{"value": v, "trials": n, "timing_ok": ok} for v, n, ok in rows]
                                      for dimension, rows in self.timing.items()},
                "links": [{"link": c.link_id, "lists": c.n_lists, "done": c.done, "in_progress": c.in_progress,
                           "free": c.free, "to_replace": c.to_replace} for c in self.links]}


SAMPLE_RECORDS = 2000
"""Assignment records read per experiment for the kind's and platforms' figures: the scan
(`overview_scan`) reads every record of a link holding at most its share (this over the links), else
that many drawn at random; `overview` reads those of up to this many unfinished holders and of the
last completed tasks (`kernel.tally.TASK_TIMES`)."""

QUALITY_S = 30.0
"""How old a process's slowly changing or sampled figures of an experiment (`_Slow`: quality counts summed
over its links, sampled records, platforms' lines and spend rules) may be before `overview` reads them
again (one small hash per link among them, kept off the 3-s refresh: the progress counts stay live)."""


@dataclass(frozen=True)
class _LinkRow:
    """What ``link_status.lua`` says of one link."""

    link_id: str
    experiment_id: str
    kind: str
    n_lists: int
    paused: bool
    counts: list[int]  # free, handed out, unfinished holders, idle holders, to replace, records
    records: list[dict]
    timing: dict[str, str]


LINKS_PER_PIPELINE = 50
"""Links read per pipeline: Redis runs a pipeline's scripts back to back, and 1000 links' at once held it
for about 25 ms, which every worker's request behind them waited (the hot routes' p99); 50 hold it ~1 ms."""


def _link_rows(r, idle_before: int) -> list[_LinkRow]:
    """Every loaded link's counts, sampled records and timing counts: one ``link_status.lua`` call per
    link in one pipeline (one command per link instead of nine: the overview's cost was mostly
    the client packing and parsing commands)."""
    links = sorted(r.smembers(keys.links_index()))
    script = scripts_for(r).link_status
    per_link = str(-(-SAMPLE_RECORDS // max(len(links), 1)))
    replies = []
    for start in range(0, len(links), LINKS_PER_PIPELINE):
        for attempt in range(2):
            pipe = r.pipeline(transaction=False)
            for link in links[start:start + LINKS_PER_PIPELINE]:
                pipe.evalsha(script.sha, 7, keys.link_meta(link), keys.link_free(link), keys.link_slots(link),
                             keys.link_activity(link), keys.link_replace(link), keys.link_assignments(link),
                             keys.link_timing(link), str(idle_before), per_link)
            try:
                replies += pipe.execute()
                break
            except NoScriptError:  # a Redis restarted or flushed since the script was loaded
                if attempt:
                    raise
                r.script_load(script.script)
    out = []
    for link, (meta, counts, records, timing) in zip(links, replies):
        out.append(_LinkRow(link, meta[0] or "?", meta[1] or "mvt", int(meta[2] or 0), meta[3] == "1",
                            [int(n) for n in counts],
                            [{**orjson.loads(raw), "assignment_id": a} for a, raw in zip(records[::2], records[1::2])],
                            dict(zip(timing[::2], timing[1::2]))))
    return out


def _per_experiment(counts: list[dict[str, int]], experiment_of: dict[str, str]) -> dict[str, list[int]]:
    """Experiment id → its count in each period, from per-period link id → count (one pass per count)."""
    out: dict[str, list[int]] = {}
    for i, period in enumerate(counts):
        for link, n in period.items():
            experiment = experiment_of.get(link)
            if experiment is not None:
                out.setdefault(experiment, [0] * len(counts))[i] += n
    return out


def timing_figures(total: dict[str, list[int]]) -> dict[str, str]:
    """The share of trials timing_ok, overall and by each of `kernel.quality.DIMENSIONS` (label → text,
    ``Chrome: 97 % of 1200; Firefox: 90 % of 300``, most trials first); empty without timed trials."""
    n = sum(cell[0] for cell in total.values())
    if not n:
        return {}
    ok = sum(cell[1] for cell in total.values())
    out = {"timing ok (all trials)": f"{100 * ok / n:.0f} % of {n}"}
    for dimension, rows in quality.shares(total).items():
        out[f"timing ok by {dimension}"] = "; ".join(f"{value}: {100 * good / of:.0f} % of {of}"
                                                     for value, of, good in rows)
    return out


@dataclass
class _Slow:
    """The parts of an experiment's figures that change slowly or come from samples: the records the
    kind's and platforms' figures read, the quality counts summed over its links, the platforms' lines
    and spend rules (`overview` keeps them up to `QUALITY_S`)."""

    records: list[dict]
    timing: dict[str, list[int]]
    own: dict[str, int]
    summaries: list[str]
    rules: list


@dataclass
class _Experiment:
    """What the overview knows of one experiment before its figures are computed."""

    kind: str
    cells: list[LinkCell]
    paused: bool
    expired: int
    task_times: list[float]
    slow: _Slow


def _slow(r, experiment_id: str, link_ids: list[str], records: list[dict], timing: dict, own: dict) -> _Slow:
    """The `_Slow` part of an experiment, the platforms asked now."""
    return _Slow(records, timing, own,
                 [line for p in PLATFORMS.values() if (line := p.control_summary(r, experiment_id, link_ids, records))],
                 [rule for p in PLATFORMS.values() for rule in p.spend_rules(r, experiment_id, link_ids)])


class _Events:
    """The per-minute and per-hour counts (`kernel.control`) of every experiment, read once."""

    def __init__(self, r, now_ms: int, experiment_of: dict[str, str], kept: dict | None = None):
        self.arrivals = _per_experiment(control.per_minute(r, "arrivals", now_ms, kept=kept), experiment_of)
        self.completions = _per_experiment(control.per_minute(r, "completions", now_ms, kept=kept), experiment_of)
        self.arrivals_h = _per_experiment(control.per_hour(r, "arrivals", now_ms, kept=kept), experiment_of)
        self.completions_h = _per_experiment(control.per_hour(r, "completions", now_ms, kept=kept), experiment_of)
        self.refused: dict[str, dict[str, int]] = {}
        for minute in control.per_minute(r, "refusals", now_ms, kept=kept):
            for field_name, n in minute.items():
                link, _, reason = field_name.partition(":")
                if (experiment := experiment_of.get(link)) is not None:
                    by_reason = self.refused.setdefault(experiment, {})
                    by_reason[reason] = by_reason.get(reason, 0) + n


def _status(r, experiment_id: str, e: _Experiment, events: _Events) -> ExperimentStatus:
    """One experiment's `ExperimentStatus` from its cells, records, task times and quality counts."""
    kind = get_kind(e.kind)
    median_s = statistics.median(e.task_times) if e.task_times else None
    spend = [spend_of(rule, e.cells, median_s) for rule in e.slow.rules]
    zeros_m, zeros_h = [0] * control.WINDOW_MINUTES, [0] * control.WINDOW_HOURS
    return ExperimentStatus(
        experiment_id=experiment_id, kind=kind.name, kind_title=kind.title or kind.name, platforms=e.slow.summaries,
        paused=e.paused, n_lists=sum(c.n_lists for c in e.cells), free=sum(c.free for c in e.cells),
        in_progress=sum(c.in_progress for c in e.cells), done=sum(c.done for c in e.cells), expired=e.expired,
        to_replace=sum(c.to_replace for c in e.cells), links=e.cells,
        arrivals_per_minute=events.arrivals.get(experiment_id, zeros_m),
        completions_per_minute=events.completions.get(experiment_id, zeros_m),
        arrivals_per_hour=events.arrivals_h.get(experiment_id, zeros_h),
        completions_per_hour=events.completions_h.get(experiment_id, zeros_h),
        median_task_s=median_s, spend=spend,
        figures={**kind.control_figures(e.slow.records), **timing_figures(e.slow.timing),
                 **kind.control_quality(e.slow.own)},
        timing=quality.shares(e.slow.timing) if e.slow.timing else {},
        refusals_last_hour=dict(sorted(events.refused.get(experiment_id, {}).items(), key=lambda i: (-i[1], i[0]))))


def overview_scan(r, allotted_minutes: int, now_ms: int | None = None) -> list[ExperimentStatus]:
    """Every loaded experiment's status from every link's keys (sync client), sorted by experiment id:
    the reference `overview` must equal (tests), and what `kernel.tally.recount` rebuilds from.

    Counts come from each link's free list, slots, activity and replace set: done = lists handed
    out − unfinished holders − lists to replace; an unfinished holder idle for more than
    ``allotted_minutes`` counts as expired, since the next arrival on its link takes its list over
    (``allocate.lua``). Quality is summed from the counts ``record.lua`` keeps (`kernel.quality`). The
    median task time and the kind's and platforms' figures read at most about `SAMPLE_RECORDS`
    records per experiment.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    grouped: dict[str, list[_LinkRow]] = {}
    for row in _link_rows(r, now_ms - allotted_minutes * 60_000):
        grouped.setdefault(row.experiment_id, []).append(row)
    events = _Events(r, now_ms, {row.link_id: e for e, rows in grouped.items() for row in rows})
    out = []
    for experiment_id, rows in sorted(grouped.items()):
        cells, expired, sample, timing, own = [], 0, [], {}, {}
        for row in rows:
            n_free, handed_out, unfinished, idle, to_replace, _ = row.counts
            cells.append(LinkCell(row.link_id, row.n_lists, handed_out - unfinished - to_replace, unfinished - idle,
                                  n_free, to_replace))
            expired += idle
            sample.extend(row.records)
            quality.add_counts(timing, row.timing)
            quality.add_kind_counts(own, row.timing)
        times = [(rec["completed_ms"] - rec["started_ms"]) / 1000 for rec in sample
                 if rec.get("completed_ms") and rec.get("started_ms")]
        slow = _slow(r, experiment_id, [c.link_id for c in cells], sample, timing, own)
        out.append(_status(r, experiment_id, _Experiment(rows[0].kind, cells, all(row.paused for row in rows),
                                                         expired, times, slow), events))
    return out


_PERIODS: dict[str, dict[str, int]] = {}
"""Per process: the per-minute and per-hour counts of periods that have ended (`kernel.control.per_minute`),
read once by the dashboards' overview."""

_SLOW: dict[str, tuple[float, tuple, _Slow]] = {}
"""Per process: experiment id → (monotonic time read, what it was read for, its `_Slow` part)."""


def _slow_part(r, experiment_id: str, link_ids: list[str], finished: list[str], valid_for: tuple,
               max_age_s: float) -> _Slow:
    """An experiment's `_Slow` part: the records of up to `SAMPLE_RECORDS` unfinished holders and of the
    ``finished`` tasks (``<link>:<assignment>``), its links' quality counts, the platforms' lines and
    rules; kept ``max_age_s`` while ``valid_for`` (the tally's epoch, the links, the latest control-room
    action) stays the same."""
    kept = _SLOW.get(experiment_id)
    if kept is not None and kept[1] == valid_for and time.monotonic() - kept[0] < max_age_s:
        return kept[2]
    holders = r.zrandmember(keys.tally_holders(experiment_id), SAMPLE_RECORDS) or []
    wanted: dict[str, list[str]] = {}
    for member in holders + finished:
        link, _, assignment = member.partition(":")
        wanted.setdefault(link, []).append(assignment)
    pipe = r.pipeline(transaction=False)
    for link, assignments in wanted.items():
        pipe.hmget(keys.link_assignments(link), assignments)
    records = [{**orjson.loads(raw), "assignment_id": a}
               for (link, assignments), raws in zip(wanted.items(), pipe.execute() if wanted else [])
               for a, raw in zip(assignments, raws) if raw]
    timing: dict[str, list[int]] = {}
    own: dict[str, int] = {}
    for start in range(0, len(link_ids), LINKS_PER_PIPELINE):
        pipe = r.pipeline(transaction=False)
        for link in link_ids[start:start + LINKS_PER_PIPELINE]:
            pipe.hgetall(keys.link_timing(link))
        for counts in pipe.execute():
            quality.add_counts(timing, counts)
            quality.add_kind_counts(own, counts)
    slow = _slow(r, experiment_id, link_ids, records, timing, own)
    _SLOW[experiment_id] = (time.monotonic(), valid_for, slow)
    return slow


RECOUNT_S = 60.0
"""A process recounts every experiment (`_tallied`) at most this often."""
_RECOUNTED = [-RECOUNT_S]


def _tallied(r) -> dict[str, dict[str, str]]:
    """Experiment id → its tally hash (`kernel.tally`); when the tallies hold fewer or more links than are
    loaded (a store of an earlier version, a load or drop under way), the experiments without counts are
    counted first (`kernel.tally.recount_untallied`; never one that has counts: a recount races traffic)."""

    def read() -> tuple[dict[str, dict[str, str]], int]:
        # One HGETALL an experiment: 1000 links' 4000 fields take Redis ~0.6 ms (HSCAN in pieces of 500
        # took 8 x 0.2 ms)
        names = sorted(r.smembers(keys.tally_index()))
        pipe = r.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.experiment_tally(name))
        tallies = dict(zip(names, pipe.execute() if names else []))
        return tallies, sum(1 for t in tallies.values() for f in t if f.endswith("|n"))

    tallies, held = read()
    if held != r.scard(keys.links_index()) and time.monotonic() - _RECOUNTED[0] > RECOUNT_S:
        _RECOUNTED[0] = time.monotonic()  # a link without an experiment would make every look recount
        if tally.recount_untallied(r):
            tallies, _ = read()
    return tallies


def overview(r, allotted_minutes: int, now_ms: int | None = None,
             quality_max_age_s: float = 0.0) -> list[ExperimentStatus]:
    """Every loaded experiment's status (sync client), sorted by experiment id, from the counts kept as
    lists change hands (`kernel.tally`): O(experiments) keys, not a read of every link; the same
    figures as `overview_scan`.

    Per experiment: its tally hash (per link lists, handed out, unfinished, to replace, paused), its
    holders idle for more than ``allotted_minutes`` (`kernel.tally.idle_holders`), the last
    `kernel.tally.TASK_TIMES` task times (the median task time); and, read at most ``quality_max_age_s``
    ago (0: now, as ``mvt status`` does; the dashboards' shared overview passes `QUALITY_S`) unless the
    experiment was reloaded or the control room acted since, the records of up to `SAMPLE_RECORDS`
    unfinished holders and of those tasks (the kind's and platforms' figures), its links' quality
    counts summed (a bounded scan of one small hash per link) and the platforms' lines and spend rules.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    idle_before = now_ms - allotted_minutes * 60_000
    last_action = r.lindex(keys.control_log(), 0)  # an action on the page (a bonus paid, …) shows at once
    found: dict[str, _Experiment] = {}
    for experiment_id, fields in sorted(_tallied(r).items()):
        links = sorted(f[:-2] for f in fields if f.endswith("|n"))
        if not links:
            continue
        idle = tally.idle_holders(r, experiment_id, idle_before)
        cells, paused = [], True
        for link in links:
            n, h, u, to_replace = (int(fields.get(f"{link}|{x}") or 0) for x in "nhur")
            cells.append(LinkCell(link, n, h - u - to_replace, u - idle.get(link, 0), n - h, to_replace))
            paused = paused and fields.get(f"{link}|p") == "1"
        finished = r.lrange(keys.tally_task_times(experiment_id), 0, -1)
        slow = _slow_part(r, experiment_id, links, [e.rpartition(":")[0] for e in finished],
                          (fields.get("epoch"), last_action, *links), quality_max_age_s)
        found[experiment_id] = _Experiment(fields.get("kind") or "mvt", cells, paused, sum(idle.values()),
                                           [float(entry.rpartition(":")[2]) for entry in finished], slow)
    events = _Events(r, now_ms, {c.link_id: e for e, x in found.items() for c in x.cells},
                     _PERIODS if quality_max_age_s else None)
    return [_status(r, experiment_id, e, events) for experiment_id, e in found.items()]


FLAGS_SHOWN = 200
"""Standing flags listed on the page (newest first); all of them are in ``/admin/flags.csv``."""


@dataclass(frozen=True)
class StandingFlag:
    """One worker's stored flag (`kernel.flags`), as the control room lists it."""

    worker_id: str
    rules: list[str]
    reason: str
    numbers: dict
    experiments: list[str]
    at: str
    run: str

    @property
    def numbers_text(self) -> str:
        """The rules' numbers, ``name value`` joined by ``; `` (``-`` for none)."""
        return "; ".join(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
                         for name, value in sorted(self.numbers.items())) or "-"

    def csv_row(self) -> list[str]:
        """The row of `FLAG_COLUMNS` (`kernel.csvsafe.writer` makes its cells safe)."""
        return [self.worker_id, " ".join(self.rules), self.reason, self.numbers_text, " ".join(self.experiments),
                self.at, self.run]


FLAG_COLUMNS = ("worker_id", "rules", "reason", "numbers", "experiments", "flagged_at", "run")


def standing_flags(r) -> list[StandingFlag]:
    """Every standing flag (`kernel.flags.stored_flags`), newest first: the page's list, ``flags.csv``
    and ``mvt status``'s count."""
    from kernel.flags import stored_flags

    flags = [StandingFlag(worker_id, list(f.get("rules") or []), str(f.get("reason") or ""), dict(f.get("numbers") or {}),
                          list(f.get("experiments") or []), str(f.get("at") or ""), str(f.get("run") or ""))
             for worker_id, f in stored_flags(r).items()]
    return sorted(flags, key=lambda f: (f.at, f.worker_id), reverse=True)


def flags_line(flags: list[StandingFlag]) -> str:
    """``mvt status``'s line on the standing flags (the page lists them)."""
    if not flags:
        return "standing flags: none"
    shown = ", ".join(f.worker_id for f in flags[:10]) + (f" and {len(flags) - 10} more" if len(flags) > 10 else "")
    return f"standing flags: {len(flags)} ({shown}); mvt unflag WORKER --reason TEXT clears one"


def experiment_links(r, experiment_id: str) -> list[str]:
    """The loaded links of ``experiment_id``, sorted."""
    links = sorted(r.smembers(keys.links_index()))
    pipe = r.pipeline(transaction=False)
    for link in links:
        pipe.hget(keys.link_meta(link), "experiment_id")
    return [link for link, exp in zip(links, pipe.execute()) if exp == experiment_id]


@dataclass(frozen=True)
class WorkerAssignment:
    """One assignment of a worker, with its trials as recorded and the columns its kind shows."""

    link_id: str
    assignment_id: str
    record: dict
    trials: list[dict]
    columns: tuple[tuple[str, str], ...] = ()


def worker_view(r, worker_id: str) -> tuple[bool, list[WorkerAssignment]]:
    """Whether ``worker_id`` is blocked, and their assignments (with recorded trials), by link."""
    blocked = bool(r.exists(keys.worker_blocked(worker_id)))
    out = []
    for link in sorted(r.smembers(keys.worker_links(worker_id))):
        assignment_id = r.hget(keys.link_workers(link), worker_id)
        raw = r.hget(keys.link_assignments(link), assignment_id) if assignment_id else None
        if raw is None:
            continue
        record = orjson.loads(raw)
        n_trials, kind = r.hmget(keys.link_meta(link), ["n_trials", "kind"])
        fields = [f"{assignment_id}:{t}" for t in range(int(n_trials or 0))]
        responses = r.hmget(keys.link_responses(link), fields) if fields else []
        trials = [{"trial": t, **decode_response(raw_response, t)} for t, raw_response in enumerate(responses)
                  if raw_response]
        out.append(WorkerAssignment(link, assignment_id, record, trials, get_kind(kind).control_trial_columns))
    return blocked, out


def worker_platform_lines(r, worker_id: str) -> list[str]:
    """What every registered platform's records say of the worker (`Platform.worker_status`)."""
    return [line for p in PLATFORMS.values() for line in p.worker_status(r, worker_id)]


STATUS_COLUMNS = ("experiment", "kind", "state", "lists", "free", "in progress", "done", "expired", "to replace",
                  "done %", "arrivals/h", "completions/h", "completions/24h", "median task", "ETA")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def status_rows(experiments: list[ExperimentStatus]) -> list[tuple[str, ...]]:
    """One row of `STATUS_COLUMNS` per experiment: the figures the ``/admin/`` page shows."""
    return [(e.experiment_id, e.kind, "paused" if e.paused else "open", str(e.n_lists), str(e.free),
             str(e.in_progress), str(e.done), str(e.expired), str(e.to_replace), f"{100 * e.share_done:.0f}",
             str(e.arrivals_last_hour), str(e.completions_last_hour), str(e.completions_last_day),
             _duration(e.median_task_s),
             _duration(None if e.eta_minutes is None else e.eta_minutes * 60)) for e in experiments]


def status_table(experiments: list[ExperimentStatus]) -> str:
    """``mvt status``'s table: a header, one aligned row per experiment, then each one's platform and kind lines."""
    rows = [STATUS_COLUMNS, *status_rows(experiments)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATUS_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    for e in experiments:
        extra = [*e.platforms, *(s.line() for s in e.spend), *(f"{label}: {value}" for label, value in e.figures.items())]
        if e.refusals_last_hour:
            extra.append("refused in the last hour: " + ", ".join(f"{reason} {n}" for reason, n
                                                                   in e.refusals_last_hour.items()))
        lines.append(f"{e.experiment_id}: {'; '.join(extra) if extra else 'no platform records'}")
    return "\n".join(lines)
