"""Any URL-parameter panel (SONA, CloudResearch Connect, a lab's own) as a `platforms.base.Platform`.

No platform API: the experimenter's study file says it all (``[panel]`` in ``study.toml``,
`stimuli.study`): the name of the parameter that carries the participant's id, the completion
URL template (``{code}``, and optionally ``{id}``) and the codes. Participants arrive at
``/panel?experiment=EXP&<id_param>=ID``; the server places them like Prolific's (`kernel.placement`).
A panel gives no session id, so the assignment id is derived from the experiment and the
participant: one attempt per participant and experiment, and a return visit resumes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import quote

from kernel.ids import is_id
from kernel.loaded_study import experiment_study
from platforms.base import Arrival, ArrivalError, Platform


def _url(template: str, code: str, participant: str) -> str:
    return template.replace("{code}", quote(code, safe="")).replace("{id}", quote(participant, safe=""))


class PanelPlatform(Platform):
    """A panel configured by the study file's ``[panel]`` table."""

    name = "panel"
    codes_at_completion = True

    def __init__(self, experiment: str = "", panel: dict | None = None):
        self.experiment, self.panel = experiment, panel or {}

    def arrival(self, query: Mapping[str, str]) -> Arrival:
        """The participant id from ``panel.id_param``; the assignment id derived from it."""
        param = self.panel.get("id_param", "")
        participant = query.get(param)
        if not is_id(participant):
            raise ArrivalError(f"The participant id ({param}) in the address of this page is missing or not valid. "
                               "Please open the study from the panel's page.")
        digest = hashlib.sha256(f"{self.experiment}|{participant}".encode()).hexdigest()[:32]
        return Arrival(None, participant, f"panel-{digest}", self.experiment)

    def finish(self, query: Mapping[str, str], own_origin: str) -> dict:
        """Back to the panel at the end (the URL with the completion code comes with the complete
        answer: `completion_url`), or with the screened-out code when set."""
        participant = query.get(self.panel.get("id_param", ""), "")
        finish = {"method": "redirect", "return_sentence": self.words["return_sentence"]}
        if self.panel.get("screened_out_code"):
            finish["screened_out_url"] = _url(self.panel["completion_url"], self.panel["screened_out_code"],
                                              participant)
        return finish

    async def completion_url(self, r, settings, done) -> str | None:
        """The study file's ``panel.completion_url`` with its ``completion_code`` and the participant's id,
        read from the experiment's stored study when the work is complete."""
        panel = (await experiment_study(r, done.experiment) or {}).get("panel") or {}
        if not panel.get("completion_url"):
            return None
        return _url(panel["completion_url"], panel.get("completion_code", ""), done.worker_id)

    def router(self, pages):
        """``GET /panel?experiment=EXP&<id_param>=ID``: the participant of a panel configured by the
        experiment's study file, placed like a Prolific participant."""
        from platforms.panel.routes import router

        return router(self, pages)

    def control_summary(self, r, experiment_id: str, link_ids: list[str], records: list[dict]) -> str | None:
        """How many panel participants (``panel-…`` assignment ids) arrived."""
        n = sum(1 for rec in records if str(rec.get("assignment_id", "")).startswith("panel-"))
        return f"panel: {n} participant{'s' if n != 1 else ''}" if n else None

    def confirmed(self, r, responses, settings) -> dict[str, dict]:
        """A panel has no API: the server's own completion record confirms its participants'
        assignments (``panel-…`` ids whose ``assignment_status`` is ``complete``)."""
        if "assignment_status" not in responses.columns:
            return {}
        rows = responses[responses["assignment_id"].astype(str).str.startswith("panel-")]
        return {a: {"worker_id": w, "status": "confirmed" if s == "complete" else "other"}
                for a, w, s in zip(rows["assignment_id"], rows["worker_id"], rows["assignment_status"])}

    def register_commands(self, cli) -> None:
        """None: a panel has no API."""
