"""``mvt prolific …``: Prolific operations through its API, safe by default and never twice.

A thin layer over `platforms.prolific`: each command parses options, calls one library function
with the Prolific client and the Redis client, and prints what it did (the same lines as
``mvt mturk …``, from ``platforms/cli.py``). Commands that change anything on Prolific only say
what they would do unless given ``--commit``. httpx and the operation modules are imported
inside the commands, so ``mvt --help`` stays fast.
"""


from pathlib import Path
from typing import Annotated, Optional

import typer

from kernel.costs import ARRIVALS_HELP
from platforms.cli import LISTING_HELP, CommitOption, listed, WorkersCsvOption, given_ids, print_report, session

prolific_app = typer.Typer(
    rich_markup_mode=None,  # plain help: [ratings] and [default: …] are words, not markup
    name="prolific",
    help="Prolific operations (token from PROLIFIC_TOKEN); nothing changes without --commit.",
    no_args_is_help=True,
)

StudyOption = Annotated[Optional[str], typer.Option(
    "--study-id", help="Prolific study id (default: the one study `create-study` recorded).")]
ParticipantsFileOption = Annotated[Optional[Path], typer.Option(
    "--workers-file", exists=True, dir_okay=False, help="Participant ids, one per line or a worker_id column.")]


def register(app: typer.Typer) -> None:
    """Add the ``prolific`` command group to the ``mvt`` CLI."""
    app.add_typer(prolific_app, name="prolific")


def make_client():
    """The Prolific client for ``PROLIFIC_API_URL`` (default api.prolific.com) and ``PROLIFIC_TOKEN``."""
    from platforms.prolific.client import make_client as make

    return make()


def _session():
    return session(lambda _settings: make_client(), lambda client: client.target_line())


def amount(value) -> str:
    """Amounts in the study's currency (Prolific pays in the account's GBP or USD)."""
    return f"{value} (study currency)"


@prolific_app.command(name="create-study")
def create_study_command(
        source: Annotated[Path, typer.Argument(exists=True, help="Experiment folder or its design.json.")],
        reward: Annotated[str, typer.Option(help="Reward per participant in the account's currency, e.g. 1.50.")],
        minutes: Annotated[int, typer.Option("--minutes", min=1, help="Estimated completion time in minutes.")],
        name: Annotated[Optional[str], typer.Option(help=LISTING_HELP.format("Title"))] = None,
        description: Annotated[Optional[str], typer.Option(help=LISTING_HELP.format("Description"))] = None,
        completion_code: Annotated[Optional[str], typer.Option(help="Code of a finished task (default: derived from the experiment).")] = None,
        screened_out_code: Annotated[str, typer.Option(help=(
            "Code for participants the device rules turn away before consent: they are asked to return "
            "the study (optional)."))] = "",
        no_consent_code: Annotated[Optional[str], typer.Option(help=(
            "Code for participants who decline consent: Prolific asks them to return the study "
            "(default: derived from the experiment)."))] = None,
        screen_out_reward: Annotated[str, typer.Option(help=(
            "Pay participants with the screened-out code this fixed amount instead (Prolific's in-study "
            "screening; less than the reward)."))] = "",
        device: Annotated[Optional[list[str]], typer.Option(help="desktop, tablet or mobile (repeatable; default desktop).")] = None,
        country_id: Annotated[Optional[list[str]], typer.Option(help="Prolific choice id of current-country-of-residence (repeatable).")] = None,
        exclude_group: Annotated[Optional[list[str]], typer.Option(help="Participant group to keep out, e.g. the one `block` fills (repeatable).")] = None,
        exclude_earlier: Annotated[bool, typer.Option(help="Keep out participants of our earlier studies and those our server blocks.")] = False,
        exclude_file: Annotated[Optional[Path], typer.Option(
            "--workers-file", exists=True, dir_okay=False,
            help="Participants to keep out of the study: ids one per line, or a worker_id column.")] = None,
        batch: Annotated[str, typer.Option(help="Name a new batch to create another study for the same experiment.")] = "",
        arrivals_per_hour: Annotated[Optional[str], typer.Option(help=ARRIVALS_HELP)] = None,
        commit: CommitOption = False) -> None:
    """Create the draft study: places = the experiment's lists, reward, time, codes, filters.

    Example: mvt prolific create-study exp1 --reward 1.50 --minutes 12 --exclude-earlier --commit
    """
    from platforms.inputs import read_ids
    from kernel.costs import fill_time, parse_rate
    from kernel.settings import Settings
    from platforms.prolific.studies import (Experiment, StudySettings, create_study, created_study,
                                            default_completion_code, default_no_consent_code,
                                            earlier_participants)

    with _session() as (client, r):
        rate = parse_rate(arrivals_per_hour) if arrivals_per_hour is not None else None
        experiment = Experiment.from_folder(source)
        excluded = list(read_ids(exclude_file, "worker_id")) if exclude_file else []
        key = Settings().signing_key
        if exclude_earlier:
            excluded += earlier_participants(r, client.environment)
        name, description = listed(source, name, description)
        settings = StudySettings(
            name=name, description=description, reward=reward, estimated_minutes=minutes,
            completion_code=completion_code or default_completion_code(key, experiment.name),
            no_consent_code=no_consent_code or default_no_consent_code(key, experiment.name),
            screened_out_code=screened_out_code, devices=tuple(device or ("desktop",)),
            countries=tuple(country_id or ()), exclude_groups=tuple(exclude_group or ()),
            exclude_participants=tuple(dict.fromkeys(excluded)), screen_out_reward=screen_out_reward)
        report = create_study(client, r, experiment, settings, commit=commit, batch=batch)
        print_report(report, money=True, price=amount)
        if rate is not None:
            typer.echo(fill_time(experiment.n_lists, rate))
        if report.having("succeeded"):
            study_id = created_study(r, client.environment, experiment.name)
            typer.echo(f"Draft study id {study_id}; next: `mvt prolific publish`.")


def _transition_command(verb: str, doc: str) -> None:
    """Register ``mvt prolific <verb>``: one study transition (publish, pause, resume, stop)."""

    def command(study_id: StudyOption = None, commit: CommitOption = False) -> None:
        from platforms.prolific.studies import transition_study

        with _session() as (client, r):
            print_report(transition_study(client, r, study_id, verb, commit=commit))

    command.__doc__ = f"{doc}\n\n    Example: mvt prolific {verb} --commit\n    "
    prolific_app.command(name=verb)(command)


for _verb, _doc in [("publish", "Publish the draft study: participants can take it from now on."),
                    ("pause", "Pause the study: no new participants until `resume`."),
                    ("resume", "Resume a paused study."),
                    ("stop", "Stop the study for good: no new participants; submissions can still be reviewed.")]:
    _transition_command(_verb, _doc)


@prolific_app.command()
def submissions(study_id: StudyOption = None) -> None:
    """Fetch the study's submissions and store them for review and bonus (changes nothing).

    Example: mvt prolific submissions
    """
    from platforms.prolific.submissions import fetch_submissions

    with _session() as (client, r):
        print_report(fetch_submissions(client, r, study_id))
        typer.echo("Stored; next: `mvt prolific review`.")


@prolific_app.command(name="review")
def review_command(
        study_id: StudyOption = None, commit: CommitOption = False, workers: WorkersCsvOption = None,
        flagged: Annotated[str, typer.Option(help="Finished sessions of participants flagged in --workers: hold or approve.")] = "hold",
        approve: Annotated[Optional[list[str]], typer.Option("--approve", help="Approve this submission id whatever the checks say (repeatable).")] = None,
        reject: Annotated[Optional[list[str]], typer.Option("--reject", help="Reject this submission id (repeatable; needs --category).")] = None,
        category: Annotated[Optional[str], typer.Option(help="Prolific's rejection category, e.g. NO_CODE, FAILED_CHECK, LOW_EFFORT.")] = None,
        reject_message: Annotated[Optional[str], typer.Option(help="Message to rejected participants (at least 100 characters).")] = None,
        request_return: Annotated[Optional[list[str]], typer.Option("--request-return", help="Ask the participant to return this submission (repeatable).")] = None,
        return_reason: Annotated[Optional[list[str]], typer.Option(help="Reason given with --request-return (repeatable).")] = None) -> None:
    """Approve submissions whose session finished on the server; hold the others with reasons.

    Rejects or asks for a return only for the submission ids given. Works on the submissions
    stored by `mvt prolific submissions`.
    Example: mvt prolific review --commit
    """
    from platforms.prolific.submissions import ReviewPolicy, review
    from platforms.screening import Screening

    with _session() as (client, r):
        extra = {"message": reject_message} if reject_message else {}
        if return_reason:
            extra["return_reasons"] = tuple(return_reason)
        policy = ReviewPolicy(approve=frozenset(approve or ()), reject=frozenset(reject or ()),
                              request_return=frozenset(request_return or ()), category=category,
                              flagged=flagged, **extra)
        screening = Screening.from_csv(workers) if workers else None
        print_report(review(client, r, study_id, policy=policy, screening=screening, commit=commit))


@prolific_app.command()
def bonus(study_id: StudyOption = None, commit: CommitOption = False,
          per_hit: Annotated[str, typer.Option(help="Per approved submission, for participants with at least --min-assignments.")] = "0.00",
          top50: Annotated[str, typer.Option(help="Extra per submission for the top 50% by correlation.")] = "0.00",
          top10: Annotated[str, typer.Option(help="Extra per submission for the top 10% (on top of --top50).")] = "0.00",
          min_assignments: Annotated[int, typer.Option(min=1, help="Approved submissions needed for any bonus.")] = 1,
          workers: WorkersCsvOption = None,
          retry_unknown: Annotated[Optional[list[str]], typer.Option(help="Pay this bulk bonus again after checking on Prolific that it was not paid.")] = None) -> None:
    """Pay crowdMOS bonuses through Prolific's bulk bonus; states the total before paying anything.

    Example: mvt prolific bonus --per-hit 0.10 --top50 0.05 --top10 0.10 --workers results/workers.csv --commit
    """
    from platforms.bonus import BonusScheme
    from platforms.prolific.bonus import pay_bonuses
    from platforms.screening import Screening

    with _session() as (client, r):
        scheme = BonusScheme(per_hit=per_hit, top50=top50, top10=top10, min_assignments=min_assignments)
        screening = Screening.from_csv(workers) if workers else None
        known = frozenset(retry_unknown or ())
        plan = pay_bonuses(client, r, study_id, scheme, screening=screening, commit=False, retry_unknown=known)
        typer.echo(f"Total bonus to pay: {amount(plan.total('planned'))} in {len(plan.having('planned'))} "
                   f"bonuses (Prolific adds its fee); already paid: {plan.total('skipped')}.")
        report = (pay_bonuses(client, r, study_id, scheme, screening=screening, commit=True, retry_unknown=known)
                  if commit else plan)
        print_report(report, money=True, price=amount)


@prolific_app.command()
def block(participant_ids: Annotated[Optional[list[str]], typer.Argument(help="Participant ids (PROLIFIC_PID).")] = None,
          group_id: Annotated[str, typer.Option(help="The participant group later studies exclude (create it once on Prolific).")] = ...,
          workers_file: ParticipantsFileOption = None,
          flagged_from: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Block every participant flagged in this workers.csv.")] = None,
          commit: CommitOption = False) -> None:
    """Block participants: add them to a participant group later studies exclude, and block them on our server.

    Example: mvt prolific block 5f0c… --group-id 65a1… --commit
    """
    from platforms.prolific.participants import block_participants

    ids = given_ids(participant_ids, workers_file, flagged_from, what="participant")
    with _session() as (client, r):
        print_report(block_participants(client, r, ids, group_id=group_id, commit=commit))


@prolific_app.command()
def message(participant_ids: Annotated[Optional[list[str]], typer.Argument(help="Participant ids (PROLIFIC_PID).")] = None,
            study_id: StudyOption = None,
            text: Annotated[str, typer.Option(help="The message.")] = "",
            message_file: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Read the message from this file.")] = None,
            workers_file: ParticipantsFileOption = None,
            commit: CommitOption = False) -> None:
    """Message participants about the study; each gets a given text once.

    Example: mvt prolific message 5f0c… --text "Thank you!" --commit
    """
    from platforms.prolific.participants import message_participants

    ids = given_ids(participant_ids, workers_file, what="participant")
    body = message_file.read_text() if message_file else text
    with _session() as (client, r):
        print_report(message_participants(client, r, ids, study_id=study_id, text=body, commit=commit))
