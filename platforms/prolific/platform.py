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
                    return f"Prolific study {study.get('study_id')} ({study.get('places', '?')} places)" + \
                        _hourly_pay(study.get("reward_cents"), records)
        return None

    def worker_status(self, r, worker_id: str) -> list[str]:
        """The participant's submissions as ``mvt prolific submissions`` last stored them."""
        from platforms.prolific.records import stored

        return [f"Prolific {env}: submission {sid} {sub.get('status')} (study {sub.get('study_id')})"
                for env in ("production", "test")
                for sid, sub in sorted(stored(r, env, "submissions").items())
                if sub.get("participant_id") == worker_id]

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


def _hourly_pay(reward_cents, records: list[dict]) -> str:
    """``; reward 1.50, median task 6.0 min: 15.00 an hour (minimum …)``: the effective pay the
    experiment's completed tasks imply, against Prolific's minimum (`platforms.fees`)."""
    import statistics

    from platforms.fees import PROLIFIC_MIN_HOURLY

    minutes = [(rec["completed_ms"] - rec["started_ms"]) / 60_000 for rec in records
               if rec.get("completed_ms") and rec.get("started_ms")]
    if not reward_cents or not minutes or statistics.median(minutes) <= 0:
        return ""
    median = statistics.median(minutes)
    hourly = reward_cents / 100 * 60 / median
    return (f"; reward {reward_cents / 100:.2f}, median task {median:.1f} min: {hourly:.2f} an hour "
            f"(Prolific's minimum {PROLIFIC_MIN_HOURLY})")
