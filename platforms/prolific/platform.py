"""Prolific as a `platforms.base.Platform`.

Arrival: the study URL set on Prolific is
``https://HOST/prolific?experiment=EXP&PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}``
(Prolific fills in the ``{{%…%}}`` placeholders; ``experiment`` may be left out when one
experiment is loaded). The participant id is the worker id, the session id the assignment id
(a new session is a new attempt), the study id the group id. There is no link in the URL: the
server chooses one (`kernel.placement`).

Finish: a redirect to ``MVT_PROLIFIC_COMPLETION_URL`` with ``{code}`` replaced by the study's
completion code (`study_codes`: ``MVT_PROLIFIC_COMPLETION_CODE``, else the code
``mvt prolific create-study`` recorded for the STUDY_ID, else the experiment's default code, keyed
with the server's secret). Anyone who has that code can submit the study without working, so it is
built only when the work is complete and sent only in the answer to ``POST /api/complete``
(`ProlificPlatform.completion_url`), never in the page config at arrival; the server's own signed
completion code stays in the assignment's record for review.
"""

from __future__ import annotations

from collections.abc import Mapping


from kernel.ids import is_id
from platforms.base import Arrival, ArrivalError, Platform
from platforms.prolific.codes import study_codes

ID_PARAMS = (("participant id", "PROLIFIC_PID"), ("session id", "SESSION_ID"), ("study id", "STUDY_ID"))


class ProlificPlatform(Platform):
    """Prolific: one study URL for everyone, the server places each participant on a link."""

    name = "prolific"
    words = {"platform": "Prolific", "task": "study", "participant_id": "Prolific ID",
             "return_sentence": "Please return the study on Prolific (\u201cStop without completing\u201d)."}

    codes_at_completion = True

    def __init__(self, completion_url_template: str = "https://app.prolific.com/submissions/complete?cc={code}",
                 screened_out_code: str | None = None, no_consent_code: str | None = None):
        self.completion_url_template, self.screened_out_code = completion_url_template, screened_out_code
        self.no_consent_code = no_consent_code

    def arrival(self, query: Mapping[str, str]) -> Arrival:
        """``PROLIFIC_PID`` → worker, ``SESSION_ID`` → assignment, ``STUDY_ID`` → group; no link."""
        for name, param in ID_PARAMS:
            if not is_id(query.get(param)):
                raise ArrivalError(f"The {name} ({param}) in the address of this page is missing or not valid. "
                                   "Please open the study from Prolific.")
        return Arrival(None, query["PROLIFIC_PID"], query["SESSION_ID"], query["STUDY_ID"])

    def finish(self, query: Mapping[str, str], own_origin: str) -> dict:
        """Back to Prolific at the end (the URL with the code comes with the complete answer), or with
        the screened-out code, when the study has one, if the device rules turn the participant away,
        and with the no-consent code (Prolific's ``NO_CONSENT``: asked to return) if they decline."""
        finish = {"method": "redirect", "return_sentence": self.words["return_sentence"]}
        if self.screened_out_code:
            finish["screened_out_url"] = self.completion_url_template.replace("{code}", self.screened_out_code)
        if self.no_consent_code:
            finish["no_consent_url"] = self.completion_url_template.replace("{code}", self.no_consent_code)
        return finish

    async def completion_url(self, r, settings, done) -> str | None:
        """``MVT_PROLIFIC_COMPLETION_URL`` with the study's completion code (`study_codes`)."""
        code = (await study_codes(r, settings, done.hit_id, done.experiment)).completion
        return settings.prolific_completion_url.replace("{code}", code)

    def router(self, pages):
        """``GET /prolific``: the participant is placed on a link of ``experiment`` (`kernel.placement`),
        or asked to return the study when no link can take them (nothing is allocated then)."""
        from platforms.prolific.routes import router

        return router(self, pages)

    def control_summary(self, r, experiment_id: str, link_ids: list[str], records: list[dict]) -> str | None:
        """The Prolific study ``mvt prolific create-study`` recorded for the experiment."""
        from platforms.prolific.records import stored

        for env in ("production", "test"):
            for study in stored(r, env, "studies").values():
                if study.get("experiment") == experiment_id:
                    return f"Prolific study {study.get('study_id')} ({study.get('places', '?')} places)"
        return None

    page_operations = {
        "review": "approve submissions awaiting review whose session finished on the server; hold the others "
                  "and those of flagged participants for your decision (mvt prolific review)",
        "bonus": "pay a bonus per approved submission to unflagged participants with enough of them, in one bulk "
                 "payment (mvt prolific bonus; the top-50 %/10 % tiers need --workers on the command line)",
    }
    page_options = {"review": (("study", "study id (when there are several)", ""),),
                    "bonus": (("study", "study id (when there are several)", ""),
                              ("per_hit", "per approved submission", "0.10"),
                              ("min_assignments", "approved submissions needed", "1"))}

    def operations_client(self, settings):
        """The Prolific client the page's operations use (``PROLIFIC_TOKEN``, ``PROLIFIC_API_URL`` from the
        server's environment; the token is needed only to commit)."""
        from platforms.prolific.client import make_client

        return make_client()

    def page_operation(self, r, settings, operation, options, *, commit: bool):
        """``review`` (`platforms.prolific.submissions.review`, default policy, stored flags) or ``bonus``
        (`platforms.prolific.bonus.pay_bonuses`, base bonus only) on the submissions
        ``mvt prolific submissions`` stored."""
        study = str(options.get("study") or "").strip() or None
        if operation == "review":
            from platforms.prolific.submissions import review

            return review(self.operations_client(settings), r, study, commit=commit)
        if operation == "bonus":
            from platforms.bonus import BonusScheme
            from platforms.prolific.bonus import pay_bonuses

            minimum = str(options.get("min_assignments", "1")).strip()
            if not minimum.isdigit():
                raise ValueError(f"approved submissions needed ({minimum[:20]!r}) must be a whole number, at least 1")
            scheme = BonusScheme(per_hit=str(options.get("per_hit", "0.00")), min_assignments=int(minimum))
            return pay_bonuses(self.operations_client(settings), r, study, scheme, commit=commit)
        return super().page_operation(r, settings, operation, options, commit=commit)

    def launch_cost(self, reward, lists_per_link: list[int]) -> str | None:
        """One study with a place per list (as ``mvt prolific create-study`` makes it)."""
        from platforms.prolific.studies import prolific_cost_note

        places = sum(lists_per_link)
        return prolific_cost_note(reward, places, None, f" on Prolific (one study of {places} places)")

    def spend_rules(self, r, experiment_id: str, link_ids: list[str]) -> list:
        """The reward of the study ``create-study`` recorded for the experiment (per environment), at
        the academic fee rate (`platforms.fees`; the note gives the corporate one), and the bonuses paid."""
        from decimal import Decimal

        from platforms.base import SpendRule
        from platforms.fees import PROLIFIC_ACADEMIC, PROLIFIC_CORPORATE, PROLIFIC_MIN_HOURLY, percent
        from platforms.ledger import Scope, paid_for_links
        from platforms.prolific.records import stored

        rules = []
        for env in ("production", "test"):
            for study in stored(r, env, "studies").values():
                if study.get("experiment") == experiment_id and study.get("reward_cents"):
                    rules.append(SpendRule(
                        "Prolific", env, Decimal(int(study["reward_cents"])) / 100, "", PROLIFIC_ACADEMIC,
                        dict.fromkeys(link_ids, 1), paid_for_links(r, Scope("prolific", env), "bonus", link_ids),
                        minimum_hourly=PROLIFIC_MIN_HOURLY,
                        note=f"academic or non-profit rate; corporate accounts pay {percent(PROLIFIC_CORPORATE.rate)} %"))
                    break
        return rules

    def worker_status(self, r, worker_id: str) -> list[str]:
        """The participant's submissions as ``mvt prolific submissions`` last stored them, and what the
        ledger did to them (approvals, rejections, returns asked, bonuses)."""
        from platforms.ledger import Scope, worker_ledger_lines
        from platforms.prolific.records import stored

        lines = []
        for env in ("production", "test"):
            mine = [(sid, sub) for sid, sub in sorted(stored(r, env, "submissions").items())
                    if sub.get("participant_id") == worker_id]
            lines += [f"Prolific {env}: submission {sid} {sub.get('status')} (study {sub.get('study_id')})"
                      for sid, sub in mine]
            lines += worker_ledger_lines(r, f"Prolific {env}", Scope("prolific", env), [sid for sid, _ in mine])
        return lines

    def confirmed(self, r, responses, settings) -> dict[str, dict]:
        """Submissions ``mvt prolific submissions`` stored (both environments), by SESSION_ID:
        ``APPROVED``/``AWAITING REVIEW`` confirm, ``REJECTED`` rejects."""
        from platforms.prolific.records import stored

        out = {}
        for env in ("production", "test"):
            for session, sub in stored(r, env, "submissions").items():
                status = sub.get("status")
                out[session] = {"worker_id": sub.get("participant_id"),
                                "status": "confirmed" if status in ("APPROVED", "AWAITING REVIEW")
                                else "rejected" if status == "REJECTED" else "other"}
        return out

    def register_commands(self, cli) -> None:
        """``mvt prolific …``."""
        from platforms.prolific import commands

        commands.register(cli)

