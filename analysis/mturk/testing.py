"""Helpers for tests: the real boto3 client behind botocore's Stubber, and MTurk-shaped data.

The Stubber checks every request against the real MTurk service model, and answers with
the responses queued on it; no AWS account or network is involved.
"""

from __future__ import annotations

from datetime import datetime, timezone

from botocore.stub import Stubber

from analysis.mturk.client import PRODUCTION_ENDPOINT, SANDBOX_ENDPOINT, Retry, make_client

ANSWER_NS = ("http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
             "QuestionFormAnswers.xsd")


class SleepRecorder:
    """A stand-in for ``time.sleep`` that only records the delays asked for."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def no_sleep_retry(attempts: int = 4) -> Retry:
    """A retry policy that records its delays in ``.sleep.delays`` instead of sleeping."""
    return Retry(attempts=attempts, sleep=SleepRecorder())


def stubbed_client(sandbox: bool = True):
    """``(client, stubber)``: a real boto3 ``mturk`` client with an activated Stubber."""
    client = make_client(sandbox, endpoint_url=SANDBOX_ENDPOINT if sandbox else PRODUCTION_ENDPOINT,
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def answer_xml(completion_code: str | None) -> str:
    """QuestionFormAnswers XML as MTurk returns it for an ExternalQuestion submission."""
    fields = [("assignmentId", "ignored")]
    if completion_code is not None:
        fields.append(("completion_code", completion_code))
    answers = "".join(f"<Answer><QuestionIdentifier>{name}</QuestionIdentifier>"
                      f"<FreeText>{value}</FreeText></Answer>" for name, value in fields)
    return f'<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="{ANSWER_NS}">{answers}</QuestionFormAnswers>'


def assignment(assignment_id: str, worker_id: str, hit_id: str, *, status: str = "Submitted",
               completion_code: str | None = None) -> dict:
    """One item of ``list_assignments_for_hit``'s ``Assignments``."""
    t = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    return {"AssignmentId": assignment_id, "WorkerId": worker_id, "HITId": hit_id,
            "AssignmentStatus": status, "AcceptTime": t, "SubmitTime": t,
            "Answer": answer_xml(completion_code)}
