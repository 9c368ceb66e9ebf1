"""What a worker is told when the server refuses them: one sentence per refusal ``reason``.

The reason words are those of `kernel.errors` (and docs/contracts.md). These sentences are the
only copy: `app.routes.pages` serves them to the runner in the page's ``mvt-config`` JSON
(``reasons``, ``reason_fallback``), and ``mturk_landing/landing.html``, which must stay a single
pasteable file, carries a generated copy (`platforms.mturk.landing`, ``python -m
platforms.mturk.landing --write-landing``; ``tests/test_reasons.py`` fails while the copy differs).
"""

from __future__ import annotations

WORKER_SENTENCES: dict[str, str] = {
    "blocked": "Sorry, your worker ID cannot take part in this study.",
    "seen_link": "You have already done this task. Each worker can do it only once.",
    "cap_reached": "You have reached the maximum number of tasks one worker can do in this study.",
    "link_full": "This task is full: enough workers have already done it.",
    "unknown_link": "This task is not known to the task server (the HIT is set up wrongly).",
    "expired": "The time allowed for this task has run out.",
    "replaced": "This assignment was withdrawn by the requester.",
    "wrong_worker": "This assignment belongs to another worker ID.",
    "bad_token": "This page's task session is not valid any more; please reload the page.",
    "preview": "This is MTurk's preview: accept the HIT to start the task.",
    "rate_limited": "Too many requests came from your network in a short time; please wait a moment.",
    "other_tab": "This trial was already answered in another tab or window. Please close this one and "
                 "continue in the other.",
}
FALLBACK_SENTENCE = "Sorry, you cannot take part in this task."
