"""The one table of refusal reasons: reason word → exception (and so HTTP status), the operator's
detail and the participant's sentence.

A refusal a participant can meet comes from a Lua script's ``{'refused', reason, …}``, from the
service (preview, tokens, limits) or from placement. `REASONS` holds, per reason word: the
`kernel.errors` class raised (its ``status_code`` is the HTTP status, its docstring the meaning);
``detail``, the sentence an experimenter reads in the HTTP answer's ``detail`` and in logs, with
``{link}``, ``{worker}``, ``{assignment}``, ``{cap}``, ``{trial}``, ``{response}``, ``{n_done}``,
``{n_trials}`` filled in; and ``sentence``, what the participant is told, in the words of their
platform (``{task}``: "HIT", "study"; ``{participant_id}``: "worker ID", "Prolific ID"; the
platform's `platforms.base.Platform.words`). ``tests/test_reasons.py`` reads the Lua scripts and
fails on a reason they can return that is not here.

The page gets the sentences in its ``mvt-config`` JSON (`worker_sentences`), and
``mturk_landing/landing.html``, which must stay a single pasteable file, carries a generated copy
in MTurk's words (`platforms.mturk.landing`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel import errors


@dataclass(frozen=True)
class Reason:
    """One refusal: its exception, the experimenter's detail and the participant's sentence."""

    error: type[errors.MVTError]
    detail: str
    sentence: str | None = None
    #: the script's word when it differs from the error's (the API answers with ``error.reason``)
    script_word: str | None = None

    @property
    def word(self) -> str:
        """The reason word of the table: the script's, else the one the API answers with."""
        return self.script_word or self.error.reason

    @property
    def status_code(self) -> int:
        """The HTTP status of the refusal."""
        return self.error.status_code


_TABLE = (
    Reason(errors.WorkerBlocked, "worker {worker} is blocked from this experiment",
           "Sorry, your {participant_id} cannot take part in this study."),
    Reason(errors.SeenLink, "worker {worker} has already seen the images of link {link}; "
                            "each worker may do one task per link",
           "You have already done this task. Each participant can do it only once."),
    Reason(errors.SeenLink, "worker {worker} has already seen images of link {link} in another task of this "
                            "experiment; each worker sees an image once", script_word="seen_image"),
    Reason(errors.CapReached, "worker {worker} has already done the maximum of {cap} tasks of this experiment",
           "You have reached the maximum number of tasks one participant can do in this study."),
    Reason(errors.LinkFull, "every list of link {link} is taken; return this HIT and try another one",
           "This task is full: enough participants have already done it."),
    Reason(errors.UnknownLink, "link {link!r} is not part of any loaded experiment; check the HIT's link",
           "This task is not known to the task server (the {task} is set up wrongly)."),
    Reason(errors.ExperimentPaused, "new arrivals on link {link} are paused by the researcher; nothing was "
                                    "allocated",
           "The researcher has paused this study for now: no new tasks are handed out. You may try again "
           "later."),
    Reason(errors.AssignmentExpired, "assignment {assignment} was idle too long and its task went to another "
                                     "worker; please return this HIT",
           "The time allowed for this task has run out."),
    Reason(errors.AssignmentReplaced, "assignment {assignment} was replaced and its task went to another worker; "
                                      "please return this HIT",
           "This assignment was withdrawn by the researcher."),
    Reason(errors.WrongWorker, "assignment {assignment} belongs to another worker",
           "This assignment belongs to another {participant_id}."),
    Reason(errors.BadToken, "the assignment token is not valid",
           "This page's task session is not valid any more; please reload the page."),
    Reason(errors.PreviewAssignment, "this is MTurk's preview: accept the HIT to start the task",
           "This is MTurk's preview: accept the HIT to start the task."),
    Reason(errors.RateLimited, "too many requests from this client",
           "Too many requests came from your network in a short time; please wait a moment."),
    Reason(errors.AnsweredElsewhere, "trial {trial} was already answered in another tab or window of this task",
           "This trial was already answered in another tab or window. Please close this one and "
           "continue in the other."),
    Reason(errors.UnknownAssignment, "assignment {assignment} has no list on link {link}; reload the task page"),
    Reason(errors.BadTrial, "trial {trial} does not exist in this task"),
    Reason(errors.BadResponse, "response {response!r} is not one of this task's answer options"),
    Reason(errors.Incomplete, "only {n_done} of {n_trials} trials are recorded; finish every trial first"),
)
REASONS: dict[str, Reason] = {reason.word: reason for reason in _TABLE}
"""Every refusal by its reason word."""

ELIGIBILITY_REASONS = ("blocked", "seen_link", "cap_reached", "link_full", "unknown_link", "paused")
"""The reasons ``GET /api/eligibility`` may answer (docs/interfaces.md)."""

FALLBACK_SENTENCE = "Sorry, you cannot take part in this task."
NOTHING_RECORDED = "Nothing has been recorded."
"""The last sentence of a refusal that came before anything was allocated (`turned_away`)."""
MTURK_WORDS = {"task": "HIT", "participant_id": "worker ID", "return_sentence": "Please return the HIT."}
"""The words of the sentences where no platform's are known (the landing layout is MTurk's)."""


def refusal(reason: str, **values) -> errors.MVTError:
    """The exception for a refusal ``reason`` with its detail; an unknown word gives `MVTError`."""
    found = REASONS.get(reason)
    if found is None:
        return errors.MVTError(f"refused ({reason})")
    return found.error(found.detail.format_map(_Missing(values)))


def worker_sentences(words: dict[str, str] | None = None) -> dict[str, str]:
    """Reason word → the participant's sentence, in ``words`` (a platform's; default MTurk's)."""
    words = {**MTURK_WORDS, **(words or {})}
    return {word: r.sentence.format_map(words) for word, r in REASONS.items() if r.sentence}


def turned_away(problem: str, words: dict[str, str] | None = None) -> str:
    """What a participant turned away before anything was allocated reads: ``problem`` (one or more
    whole sentences), how to give the task back (the ``return_sentence`` of ``words``, a platform's;
    default MTurk's) and `NOTHING_RECORDED`, each its own sentence. The pages compose the same in
    ``static/common/words.js`` (``turnedAway``).

    >>> turned_away("This task is full.", {"return_sentence": "Please return the study on Prolific."})
    'This task is full. Please return the study on Prolific. Nothing has been recorded.'
    """
    back = (words or {}).get("return_sentence") or MTURK_WORDS["return_sentence"]
    return f"{problem.strip()} {back.strip()} {NOTHING_RECORDED}"


class _Missing(dict):
    """Format values where a detail names one the caller did not have: ``?``."""

    def __missing__(self, key: str) -> str:
        return "?"
