"""Our HITs: create one per experiment link, find them again, expire them, extend them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from platforms.base import DEFAULT_LISTING
from platforms.mturk.client import environment_of, paginate
from platforms.fees import MTURK, cost_note
from platforms.inputs import parse_amount
from platforms.mturk.inputs import HITLink
from platforms.mturk.ledger import Action, Report, execute, forget_done, now_iso, token
from kernel.store import keys
from kernel.errors import MTurkBadInput, NoHITs


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as XML entities, as ``xml.sax.saxutils.escape`` does (importing that
    module, or ``html``, costs ``mvt --help`` 10–30 ms)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


EXTERNAL_QUESTION_NS = ("http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
                        "2006-07-14/ExternalQuestion.xsd")
APPROVAL_RATE_QUALIFICATION = "000000000000000000L0"
NUMBER_APPROVED_QUALIFICATION = "00000000000000000040"
LOCALE_QUALIFICATION = "00000000000000000071"


@dataclass(frozen=True)
class HITSettings:
    """What every created HIT gets: pay, times, texts and who may take it.

    ``reward`` is in US dollars; ``min_approved`` 0 and ``min_approval_rate`` 0 add no
    requirement; ``countries`` are ISO 3166 codes (empty: anywhere).
    """

    reward: str
    title: str = DEFAULT_LISTING[0]
    description: str = DEFAULT_LISTING[1]
    keywords: str = "image, recognition, perception, psychology, experiment, video"
    assignment_minutes: int = 60
    lifetime_days: float = 7
    auto_approval_days: float = 3
    min_approval_rate: int = 95
    min_approved: int = 100
    countries: tuple[str, ...] = ()
    frame_height: int = 0

    def __post_init__(self):
        parse_amount(self.reward, "reward")
        for name in ("assignment_minutes", "lifetime_days", "auto_approval_days"):
            if getattr(self, name) <= 0:
                raise MTurkBadInput(f"{name} ({getattr(self, name)!r}) must be positive")
        if not 0 <= self.min_approval_rate <= 100:
            raise MTurkBadInput(f"min_approval_rate ({self.min_approval_rate!r}) must be a "
                                "percentage from 0 to 100")
        for country in self.countries:
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise MTurkBadInput(f"country ({country!r}) must be a two-letter ISO 3166 code "
                                    "such as US")

    def summary(self) -> str:
        """One sentence saying what each HIT offers and who may take it."""
        who = [f"approval rate >= {self.min_approval_rate}%" if self.min_approval_rate else "",
               f">= {self.min_approved} approved HITs" if self.min_approved else "",
               f"in {', '.join(self.countries)}" if self.countries else ""]
        return (f"Each HIT: {self.title!r}, ${parse_amount(self.reward, 'reward')} per assignment, "
                f"{self.assignment_minutes} min to do it, listed {self.lifetime_days:g} days, "
                f"auto-approved after {self.auto_approval_days:g} days; workers: "
                f"{', '.join(w for w in who if w) or 'anyone'}.")

    def qualification_requirements(self) -> list[dict]:
        """MTurk QualificationRequirements: approval rate, number approved, location."""
        requirements = []
        if self.min_approval_rate > 0:
            requirements.append({"QualificationTypeId": APPROVAL_RATE_QUALIFICATION,
                                 "Comparator": "GreaterThanOrEqualTo",
                                 "IntegerValues": [self.min_approval_rate],
                                 "ActionsGuarded": "DiscoverPreviewAndAccept"})
        if self.min_approved > 0:
            requirements.append({"QualificationTypeId": NUMBER_APPROVED_QUALIFICATION,
                                 "Comparator": "GreaterThanOrEqualTo",
                                 "IntegerValues": [self.min_approved],
                                 "ActionsGuarded": "DiscoverPreviewAndAccept"})
        if self.countries:
            requirements.append({"QualificationTypeId": LOCALE_QUALIFICATION,
                                 "Comparator": "In",
                                 "LocaleValues": [{"Country": c} for c in self.countries],
                                 "ActionsGuarded": "DiscoverPreviewAndAccept"})
        return requirements


def external_question(url: str, frame_height: int = 0) -> str:
    """The ExternalQuestion XML that shows ``url`` in MTurk's frame (height 0: full window)."""
    if not url.startswith("https://"):
        raise MTurkBadInput(f"experiment URL ({url!r}) must start with https:// "
                            "(MTurk only frames HTTPS pages)")
    return (f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
            f"<ExternalURL>{escape(url)}</ExternalURL>"
            f"<FrameHeight>{int(frame_height)}</FrameHeight></ExternalQuestion>")


def our_hits(r, env: str) -> dict[str, dict]:
    """HIT id → record of every HIT we know of in ``env``."""
    return {hit_id: json.loads(raw) for hit_id, raw in r.hgetall(keys.mturk_hits(env)).items()}


def remember_hits(r, env: str, hit_ids: list[str], source: str) -> None:
    """Add HIT ids made elsewhere (web UI, a HIT ids file) to our HITs."""
    for hit_id in hit_ids:
        r.hsetnx(keys.mturk_hits(env), hit_id,
                 json.dumps({"hit_id": hit_id, "source": source, "created_at": None}))


def account_hit_ids(client) -> list[str]:
    """Every HIT id of the requester account (``list_hits``, paged)."""
    return [hit["HITId"] for hit in paginate(client, "list_hits", {},
                                              subject="listing the account's HITs")]


def select_hits(r, env: str, hit_ids: list[str] | None) -> list[str]:
    """The HITs to work on: those given (remembered from now on), else all of ours."""
    if hit_ids:
        remember_hits(r, env, hit_ids, "given")
        return list(dict.fromkeys(hit_ids))
    known = sorted(our_hits(r, env))
    if not known:
        raise NoHITs(f"no {env} HITs recorded: create them with `mvt mturk create-hits`, or "
                     "give --hit-id / --hits-file (e.g. the web UI's batch results CSV)")
    return known


def create_hits(client, r, links: list[HITLink], settings: HITSettings, *, commit: bool, batch: str = "") -> Report:
    """Create one HIT per link (skipping links that already have one) and record their ids."""
    env = environment_of(client)
    report = Report("create-hits", env, commit, notes=[settings.summary()])
    question_params = {
        "Reward": str(parse_amount(settings.reward, "reward")),
        "Title": settings.title,
        "Description": settings.description,
        "Keywords": settings.keywords,
        "AssignmentDurationInSeconds": int(settings.assignment_minutes * 60),
        "LifetimeInSeconds": int(settings.lifetime_days * 86400),
        "AutoApprovalDelayInSeconds": int(settings.auto_approval_days * 86400),
        "QualificationRequirements": settings.qualification_requirements(),
    }
    report.notes.append(cost_note(MTURK, parse_amount(settings.reward, "reward"),
                                  [link.max_assignments for link in links], lambda amount: f"${amount}"))
    actions = []
    for link in links:
        if link.max_assignments < 1:
            raise MTurkBadInput(f"link {link.link_id}: max assignments ({link.max_assignments}) "
                                "must be at least 1")
        params = {**question_params, "MaxAssignments": link.max_assignments,
                  "Question": external_question(link.url, settings.frame_height),
                  "RequesterAnnotation": f"mvt link {link.link_id}",
                  "UniqueRequestToken": token(env, "create", link.link_id, link.url, batch)}

        def on_success(response, link=link):
            hit = response.get("HIT")
            if not hit:
                return {"note": "created earlier; HIT id unknown, see the requester website"}
            record = {"hit_id": hit["HITId"], "link_id": link.link_id, "url": link.url,
                      "max_assignments": link.max_assignments, "reward": question_params["Reward"],
                      "created_at": now_iso(),
                      "source": "create-hits", "hit_type_id": hit.get("HITTypeId")}
            r.hset(keys.mturk_hits(env), hit["HITId"], json.dumps(record))
            r.hset(keys.mturk_link_hits(env), link.link_id, hit["HITId"])
            return {"hit_id": hit["HITId"]}

        actions.append(Action(
            "create", link.link_id,
            f"create HIT for link {link.link_id}: {link.max_assignments} assignments at "
            f"${question_params['Reward']}, {link.url}",
            "create_hit", params, subject=f"link {link.link_id}",
            amount=Decimal(question_params["Reward"]) * link.max_assignments,
            on_success=on_success))
    execute(client, r, actions, commit=commit, report=report)
    if commit and report.having("succeeded"):
        report.notes.append("HIT ids are recorded; `mvt mturk assignments` lists their work.")
    return report


def expire_hits(client, r, hit_ids: list[str] | None, *, commit: bool) -> Report:
    """Expire HITs now (workers can no longer accept them; accepted work can still finish)."""
    env = environment_of(client)
    report = Report("expire", env, commit)
    actions = [Action("expire", hit_id, f"expire HIT {hit_id} now", "update_expiration_for_hit",
                      {"HITId": hit_id, "ExpireAt": datetime.now(timezone.utc)},
                      subject=f"HIT {hit_id}")
               for hit_id in select_hits(r, env, hit_ids)]
    return execute(client, r, actions, commit=commit, report=report)


def extend_hits(client, r, *, additional: dict[str, int], hit_ids: list[str] | None = None,
                days: float | None = None, commit: bool,
                batch: str | None = None) -> Report:
    """Give HITs more time (``days`` from now) and/or more assignments (``additional``).

    Each (HIT, batch) is extended once: the batch defaults to a digest of the request, so
    running the same command (or the same repost.csv) again skips what was done. Pass a new
    ``batch`` to add the same number of assignments again on purpose.
    """
    env = environment_of(client)
    report = Report("extend", env, commit)
    if days is None and not additional:
        raise MTurkBadInput("nothing to extend: give --days and/or --assignments / --repost")
    if days is not None and days <= 0:
        raise MTurkBadInput(f"days ({days!r}) must be positive")
    for hit_id, n in additional.items():
        if n < 1:
            raise MTurkBadInput(f"HIT {hit_id}: additional assignments ({n}) must be at least 1")
    remember_hits(r, env, list(additional), "given")
    if days is None:
        timed = []
    elif hit_ids or not additional:
        timed = select_hits(r, env, hit_ids)
    else:
        timed = list(additional)
    targets = list(dict.fromkeys([*timed, *additional]))
    batch = batch or hashlib.sha256(json.dumps(
        [sorted(additional.items()), days, sorted(timed)]).encode()).hexdigest()[:12]
    actions = []
    for hit_id in targets:
        if hit_id in timed:
            expire_at = datetime.now(timezone.utc) + timedelta(days=days)
            actions.append(Action(
                "extend", f"{hit_id}:{batch}:time",
                f"extend HIT {hit_id} until {expire_at:%Y-%m-%d %H:%M} UTC",
                "update_expiration_for_hit", {"HITId": hit_id, "ExpireAt": expire_at},
                subject=f"HIT {hit_id}",
                on_success=lambda _resp, hit_id=hit_id: forget_done(r, env, "expire", hit_id)))
        if additional.get(hit_id):
            n = additional[hit_id]
            actions.append(Action(
                "extend", f"{hit_id}:{batch}:assignments",
                f"add {n} assignment{'s' * (n != 1)} to HIT {hit_id}",
                "create_additional_assignments_for_hit",
                {"HITId": hit_id, "NumberOfAdditionalAssignments": n,
                 "UniqueRequestToken": token(env, "extend", hit_id, batch)},
                subject=f"HIT {hit_id}", info={"n": n}))
    report.notes.append(f"batch {batch}: running this again skips what it did; "
                        "--batch NAME repeats it on purpose.")
    return execute(client, r, actions, commit=commit, report=report)
