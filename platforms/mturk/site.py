"""MTurk's own names and origins, shared by the platform, its routes and the landing layout's block."""

from __future__ import annotations

PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
"""The assignment id MTurk sends while a worker previews a HIT they have not accepted."""
SUBMIT_ORIGINS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
"""Where ``externalSubmit`` may go (``turkSubmitTo``)."""
# Where MTurk shows a HIT: the worker site, and the content domain of Design Layout projects.
FRAME_ANCESTORS = ("https://*.mturk.com", "https://*.mturkcontent.com", "https://mturkcontent.com")
# externalSubmit may redirect within MTurk's sites, and form-action applies to redirects too.
FORM_ACTION = ("https://*.mturk.com",)
WORDS = {"platform": "MTurk", "task": "HIT", "participant_id": "worker ID",
         "return_sentence": "Please return the HIT."}
"""What MTurk's workers read (`platforms.base.Platform.words`)."""
