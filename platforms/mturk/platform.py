"""MTurk as a `platforms.base.Platform`: arrival through the HIT's URL, finish by externalSubmit.

Workers arrive at ``/experiment.html?link=L&b=ASSIGNMENT_ID&c=HIT_ID&d=WORKER_ID`` (the landing
layout's form) or with MTurk's own names ``assignmentId``, ``hitId``, ``workerId``,
``turkSubmitTo`` (an ExternalQuestion HIT). ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` is the
preview of a HIT not yet accepted.
"""

from __future__ import annotations

from collections.abc import Mapping

from kernel.ids import is_id
from kernel.origins import origin_of
from platforms.base import Arrival, ArrivalError, Platform
from platforms.mturk.site import FORM_ACTION, FRAME_ANCESTORS, PREVIEW_ASSIGNMENT, SUBMIT_ORIGINS, WORDS

CONFIRMED, REJECTED = frozenset({"Submitted", "Approved"}), frozenset({"Rejected"})


def _pick(query: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = query.get(name)
        if value:
            return value
    return None


class MTurkPlatform(Platform):
    """Amazon Mechanical Turk: one HIT per link, the completion code through externalSubmit."""

    name = "mturk"
    words = WORDS
    preview_ids = frozenset({PREVIEW_ASSIGNMENT})
    frame_ancestors = FRAME_ANCESTORS
    form_action = FORM_ACTION

    def arrival(self, query: Mapping[str, str]) -> Arrival:
        """The link and ids from MTurk's parameters; a preview when MTurk says so or sends none."""
        link = query.get("link")
        if not is_id(link):
            raise ArrivalError("The address of this page has no valid task link (link=…). "
                               "Please open the task from its MTurk page.")
        assignment_id = _pick(query, "b", "assignmentId")
        hit_id = _pick(query, "c", "hitId")
        worker_id = _pick(query, "d", "workerId")
        if assignment_id == PREVIEW_ASSIGNMENT or (assignment_id is None and worker_id is None):
            return Arrival(link, None, None, None, preview=True)
        for name, value in (("assignment id", assignment_id), ("worker id", worker_id)):
            if not is_id(value):
                raise ArrivalError(f"The {name} in the address of this page is missing or not valid. "
                                   "Please open the task from its MTurk page.")
        if hit_id is not None and not is_id(hit_id):
            raise ArrivalError("The HIT id in the address of this page is not valid. "
                               "Please open the task from its MTurk page.")
        return Arrival(link, worker_id, assignment_id, hit_id)

    def finish(self, query: Mapping[str, str], own_origin: str) -> dict:
        """externalSubmit to ``turkSubmitTo`` when it is MTurk's (or this server's stand-in)."""
        submit_origin = origin_of(query.get("turkSubmitTo"))
        if submit_origin not in (*SUBMIT_ORIGINS, own_origin):
            submit_origin = None  # unknown targets are dropped: the worker still sees the code
        return {"method": "mturk_submit", "submit_to": submit_origin}

    def register_commands(self, cli) -> None:
        """``mvt mturk …``."""
        from platforms.mturk import commands

        commands.register(cli)

    def router(self, pages):
        """``/experiment.html`` (the HIT's page), ``/mturk/landing`` and ``/mturk/externalSubmit``
        (local stand-ins for MTurk's side); see `platforms.mturk.routes`."""
        from platforms.mturk.routes import router

        return router(self, pages)

    def control_summary(self, r, experiment_id: str, link_ids: list[str], records: list[dict]) -> str | None:
        """The HITs ``mvt mturk create-hits`` made for the experiment's links, per environment."""
        from kernel.store import keys

        parts = []
        for env in ("sandbox", "production"):
            hits = [h for h in r.hmget(keys.mturk_link_hits(env), link_ids) if h] if link_ids else []
            if hits:
                parts.append(f"{len(hits)} HIT{'s' if len(hits) != 1 else ''} ({env})")
        return "MTurk: " + ", ".join(parts) if parts else None

    page_operations = {
        "review": "approve submitted assignments whose completion code matches the server's record; hold the "
                  "others and those of flagged workers for your decision (mvt mturk review)",
        "bonus": "pay a bonus per approved assignment to unflagged workers with enough of them (mvt mturk bonus; "
                 "the top-50 %/10 % tiers need --workers on the command line)",
    }
    page_options = {"bonus": (("per_hit", "dollars per approved assignment", "0.10"),
                              ("min_assignments", "approved assignments needed", "1"))}

    def operations_client(self, settings):
        """The boto3 client the page's operations use (``MVT_MTURK_SANDBOX``; AWS credentials from the
        server's environment, needed only to commit)."""
        from platforms.mturk.client import make_client

        return make_client(settings.mturk_sandbox)

    def page_operation(self, r, settings, operation, options, *, commit: bool):
        """``review`` (`platforms.mturk.assignments.review` with the default policy and the stored flags)
        or ``bonus`` (`platforms.mturk.bonus.pay_bonuses`, base bonus only), on the assignments
        ``mvt mturk assignments`` stored."""
        if operation == "review":
            from platforms.mturk.assignments import review

            return review(self.operations_client(settings), r, commit=commit)
        if operation == "bonus":
            from platforms.bonus import BonusScheme
            from platforms.mturk.bonus import pay_bonuses

            minimum = str(options.get("min_assignments", "1")).strip()
            if not minimum.isdigit():
                raise ValueError(f"approved assignments needed ({minimum[:20]!r}) must be a whole number, at least 1")
            scheme = BonusScheme(per_hit=str(options.get("per_hit", "0.00")), min_assignments=int(minimum))
            return pay_bonuses(self.operations_client(settings), r, scheme, commit=commit)
        return super().page_operation(r, settings, operation, options, commit=commit)

    def launch_cost(self, reward, lists_per_link: list[int]) -> str | None:
        """One HIT per link with MaxAssignments its lists (as ``mvt mturk create-hits`` posts them)."""
        from platforms.fees import MTURK, cost_note

        sizes = sorted(set(lists_per_link))
        return cost_note(MTURK, reward, lists_per_link, lambda amount: f"${amount}",
                         f" on MTurk ({len(lists_per_link)} HITs of {'/'.join(map(str, sizes))} assignments)")

    def spend_rules(self, r, experiment_id: str, link_ids: list[str]) -> list:
        """Per environment with HITs for the links: the reward ``create-hits`` recorded for them (HITs
        made before it recorded rewards are left out), each HIT's MaxAssignments, the bonuses paid."""
        import json
        from decimal import Decimal

        from kernel.store import keys
        from platforms.base import SpendRule
        from platforms.fees import MTURK
        from platforms.ledger import Scope, paid_for_links

        rules = []
        for env in ("sandbox", "production"):
            hit_ids = dict(zip(link_ids, r.hmget(keys.mturk_link_hits(env), link_ids))) if link_ids else {}
            posted = {link: hit for link, hit in hit_ids.items() if hit}
            if not posted:
                continue
            records = dict(zip(posted, r.hmget(keys.mturk_hits(env), list(posted.values()))))
            hits = {link: json.loads(raw) for link, raw in records.items() if raw}
            priced = {link: h for link, h in hits.items() if h.get("reward")}
            if not priced:
                continue
            reward = Decimal(next(iter(priced.values()))["reward"])
            rules.append(SpendRule("MTurk", env, reward, "$", MTURK,
                                   {link: int(h.get("max_assignments") or 1) for link, h in priced.items()},
                                   paid_for_links(r, Scope("mturk", env), "bonus", link_ids)))
        return rules

    def worker_status(self, r, worker_id: str) -> list[str]:
        """The worker's assignments as ``mvt mturk assignments`` last stored them, what the ledger did to
        them (approvals, rejections, bonuses) and MTurk blocks."""
        import orjson

        from kernel.store import keys
        from platforms.ledger import Scope, worker_ledger_lines

        lines = []
        for env in ("sandbox", "production"):
            mine = []
            for assignment_id, raw in sorted(r.hgetall(keys.mturk_assignments(env)).items()):
                rec = orjson.loads(raw)
                if rec.get("worker_id") == worker_id:
                    mine.append(assignment_id)
                    lines.append(f"MTurk {env}: assignment {assignment_id} {rec.get('status')}"
                                 f" (submitted {rec.get('submitted_at') or '-'})")
            lines += worker_ledger_lines(r, f"MTurk {env}", Scope("mturk", env), mine)
            for action in ("block", "unblock"):
                done = r.hget(keys.platform_done("mturk", env, action), worker_id)
                if done:
                    lines.append(f"MTurk {env}: {action}ed on MTurk at {orjson.loads(done).get('at')}")
        return lines

    def confirmed(self, r, responses, settings) -> dict[str, dict]:
        """Assignments ``mvt mturk assignments`` stored for the environment (``MVT_MTURK_SANDBOX``):
        ``Submitted``/``Approved`` confirm, ``Rejected`` rejects."""
        import orjson

        from kernel.store import keys

        env = "sandbox" if settings.mturk_sandbox else "production"
        out = {}
        for assignment_id, raw in r.hgetall(keys.mturk_assignments(env)).items():
            rec = orjson.loads(raw)
            status = rec.get("status")
            out[assignment_id] = {"worker_id": rec.get("worker_id"), "status": "confirmed" if status in CONFIRMED
                                  else "rejected" if status in REJECTED else "other"}
        return out

