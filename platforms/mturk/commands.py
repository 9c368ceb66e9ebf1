"""``mvt mturk …``: MTurk operations through boto3, safe by default and never twice.

A thin layer over `platforms.mturk`: each command parses options, calls one library function
with the boto3 client and the Redis client, and prints what it did. Commands that change
anything on MTurk only say what they would do unless given ``--commit``.
"""


from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from kernel.costs import ARRIVALS_HELP
from platforms.cli import LISTING_HELP, CommitOption, listed, WorkersCsvOption, given_ids, print_report, session
# Its defaults are the create-hits options' defaults shown by --help; hits.py imports no boto3.
from platforms.mturk.hits import HITSettings

mturk_app = typer.Typer(
    rich_markup_mode=None,  # plain help: [ratings] and [default: …] are words, not markup
    name="mturk",
    help="MTurk operations (sandbox unless MVT_MTURK_SANDBOX=false); nothing changes without --commit.",
    no_args_is_help=True,
)

HitIdsOption = Annotated[Optional[list[str]], typer.Option("--hit-id", help="A HIT id (repeatable).")]
HitsFileOption = Annotated[Optional[Path], typer.Option(
    "--hits-file", exists=True, dir_okay=False,
    help="HIT ids, one per line, or a CSV with a HITId column (the web UI's batch results).")]


def register(app: typer.Typer) -> None:
    """Add the ``mturk`` command group to the ``mvt`` CLI."""
    app.add_typer(mturk_app, name="mturk")


@mturk_app.callback()
def _group(ctx: typer.Context,
           endpoint_url: Annotated[Optional[str], typer.Option(hidden=True)] = None) -> None:
    ctx.obj = {"endpoint_url": endpoint_url}


def make_client(sandbox: bool, endpoint_url: str | None = None):
    """The boto3 MTurk client (boto3 is imported here, when a command runs, not at start-up)."""
    from platforms.mturk.client import make_client as make

    return make(sandbox, endpoint_url=endpoint_url)


def _session(ctx: typer.Context):
    """The boto3 client and the Redis client; prints the target first; errors → one line."""
    from platforms.mturk.client import target_line

    endpoint_url = (ctx.obj or {}).get("endpoint_url")
    return session(lambda settings: make_client(settings.mturk_sandbox, endpoint_url=endpoint_url),
                   target_line)


def _hit_ids(client, hit_ids, hits_file, all_hits: bool = False) -> list[str] | None:
    from platforms.mturk.hits import account_hit_ids
    from platforms.inputs import read_ids

    ids = list(hit_ids or [])
    if hits_file:
        ids += read_ids(hits_file, "HITId")
    if all_hits:
        ids += account_hit_ids(client)
    return ids or None


@mturk_app.command()
def balance(ctx: typer.Context) -> None:
    """Account balance, and the HITs, assignments, bonuses and blocks we have recorded.

    Example: mvt mturk balance
    """
    from platforms.mturk.account import account_summary

    with _session(ctx) as (client, r):
        s = account_summary(client, r)
        typer.echo(f"Available balance: ${s.available}"
                   + (f" (on hold: ${s.on_hold})" if s.on_hold is not None else ""))
        statuses = ", ".join(f"{n} {k.lower()}" for k, n in s.assignments.items()) or "none stored"
        typer.echo(f"Our HITs: {s.n_hits}; assignments: {statuses}; bonuses paid: {s.n_bonuses} "
                   f"(${s.bonus_total}); workers blocked: {s.n_blocked}.")


@mturk_app.command()
def assignments(ctx: typer.Context, hit_id: HitIdsOption = None, hits_file: HitsFileOption = None,
                all_hits: Annotated[bool, typer.Option("--all", help="Every HIT of the account (list_hits).")] = False) -> None:
    """List the assignments of our HITs and store them for review and bonus (changes nothing).

    Our HITs are those `create-hits` made plus any given here (remembered from then on).
    Example: mvt mturk assignments --hits-file Batch_123_batch_results.csv
    """
    from platforms.mturk.assignments import fetch_assignments
    from platforms.mturk.client import environment_of
    from platforms.mturk.hits import select_hits

    with _session(ctx) as (client, r):
        env = environment_of(client)
        report = fetch_assignments(client, r, select_hits(r, env, _hit_ids(client, hit_id, hits_file, all_hits)))
        report.committed = True
        print_report(report)
        typer.echo("Stored; next: `mvt mturk review`.")


class Mismatched(str, Enum):
    hold = "hold"
    reject = "reject"


class Flagged(str, Enum):
    hold = "hold"
    approve = "approve"
    reject = "reject"


@mturk_app.command(name="review")
def review_command(
        ctx: typer.Context, commit: CommitOption = False, workers: WorkersCsvOption = None,
        mismatched: Annotated[Mismatched, typer.Option(help="Assignments whose completion does not match the server's.")] = Mismatched.hold,
        flagged: Annotated[Flagged, typer.Option(help="Matching assignments of workers flagged in --workers.")] = Flagged.hold,
        approve: Annotated[Optional[list[str]], typer.Option("--approve", help="Approve this assignment id whatever the checks say (repeatable).")] = None,
        reject: Annotated[Optional[list[str]], typer.Option("--reject", help="Reject this assignment id (repeatable).")] = None,
        reject_message: Annotated[Optional[str], typer.Option(help="Message to rejected workers (default: says why).")] = None) -> None:
    """Approve submitted assignments whose completion code matches the server's record.

    Others are held for your decision (or rejected with --mismatched reject / --flagged reject).
    Works on the assignments stored by `mvt mturk assignments`.
    Example: mvt mturk review --workers results/workers.csv --commit
    """
    from platforms.mturk.assignments import ReviewPolicy, review
    from platforms.screening import Screening

    with _session(ctx) as (client, r):
        extra = {"mismatch_message": reject_message, "flagged_message": reject_message} if reject_message else {}
        policy = ReviewPolicy(mismatched=mismatched.value, flagged=flagged.value,
                              approve=frozenset(approve or ()), reject=frozenset(reject or ()), **extra)
        screening = Screening.from_csv(workers) if workers else None
        print_report(review(client, r, policy=policy, screening=screening, commit=commit))


@mturk_app.command()
def bonus(ctx: typer.Context, commit: CommitOption = False,
          per_hit: Annotated[str, typer.Option(help="Dollars per approved assignment for workers with at least --min-assignments.")] = "0.00",
          top50: Annotated[str, typer.Option(help="Extra dollars per assignment for the top 50% by correlation.")] = "0.00",
          top10: Annotated[str, typer.Option(help="Extra dollars per assignment for the top 10% (on top of --top50).")] = "0.00",
          min_assignments: Annotated[int, typer.Option(min=1, help="Approved assignments needed for any bonus.")] = 1,
          workers: WorkersCsvOption = None,
          reason: Annotated[Optional[str], typer.Option(help="Message workers see with every bonus (default: one per kind).")] = None) -> None:
    """Pay crowdMOS bonuses for approved assignments; states the total before paying anything.

    Example: mvt mturk bonus --per-hit 0.10 --top50 0.05 --top10 0.10 --min-assignments 2 --workers results/workers.csv
    """
    from platforms.mturk.bonus import BonusScheme, pay_bonuses
    from platforms.screening import Screening

    with _session(ctx) as (client, r):
        extra = {"reason_base": reason, "reason_top50": reason, "reason_top10": reason} if reason else {}
        scheme = BonusScheme(per_hit=per_hit, top50=top50, top10=top10,
                             min_assignments=min_assignments, **extra)
        screening = Screening.from_csv(workers) if workers else None
        plan = pay_bonuses(client, r, scheme, screening=screening, commit=False)
        typer.echo(f"Total payout to do: ${plan.total('planned')} in {len(plan.having('planned'))} "
                   f"bonuses (MTurk adds its fee); already paid: ${plan.total('skipped')}.")
        report = pay_bonuses(client, r, scheme, screening=screening, commit=True) if commit else plan
        print_report(report, money=True)


@mturk_app.command()
def block(ctx: typer.Context, worker_ids: Annotated[Optional[list[str]], typer.Argument(help="Worker ids.")] = None,
          reason: Annotated[str, typer.Option(help="Why (kept on MTurk's record of the block).")] = "",
          workers_file: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Worker ids, one per line or a worker_id column.")] = None,
          flagged_from: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Block every worker flagged in this workers.csv.")] = None,
          commit: CommitOption = False) -> None:
    """Block workers on MTurk and on our server together.

    Example: mvt mturk block A1B2C3D4E5 --reason "random answers" --commit
    """
    from platforms.mturk.workers import block_workers

    ids = given_ids(worker_ids, workers_file, flagged_from)
    with _session(ctx) as (client, r):
        print_report(block_workers(client, r, ids, reason=reason, commit=commit))


@mturk_app.command()
def unblock(ctx: typer.Context, worker_ids: Annotated[Optional[list[str]], typer.Argument(help="Worker ids.")] = None,
            workers_file: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Worker ids, one per line or a worker_id column.")] = None,
            reason: Annotated[str, typer.Option(help="Why (optional).")] = "",
            commit: CommitOption = False) -> None:
    """Lift MTurk blocks and ours together.

    Example: mvt mturk unblock A1B2C3D4E5 --commit
    """
    from platforms.mturk.workers import unblock_workers

    ids = given_ids(worker_ids, workers_file)
    with _session(ctx) as (client, r):
        print_report(unblock_workers(client, r, ids, reason=reason, commit=commit))


@mturk_app.command()
def notify(ctx: typer.Context, worker_ids: Annotated[Optional[list[str]], typer.Argument(help="Worker ids.")] = None,
           subject: Annotated[str, typer.Option(help="Subject (up to 200 characters).")] = "",
           message: Annotated[str, typer.Option(help="Text (up to 4096 characters).")] = "",
           message_file: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Read the text from this file.")] = None,
           workers_file: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="Worker ids, one per line or a worker_id column.")] = None,
           commit: CommitOption = False) -> None:
    """Email workers through MTurk (100 per call); each worker gets a given message once.

    Example: mvt mturk notify --workers-file returning.txt --subject "New HITs" --message-file msg.txt --commit
    """
    from platforms.mturk.workers import notify_workers

    ids = given_ids(worker_ids, workers_file)
    text = message_file.read_text() if message_file else message
    with _session(ctx) as (client, r):
        print_report(notify_workers(client, r, ids, subject=subject, message=text, commit=commit))


@mturk_app.command(name="create-hits")
def create_hits_command(
        ctx: typer.Context,
        source: Annotated[Path, typer.Argument(exists=True, help="Experiment folder, its design.json, or links.csv.")],
        reward: Annotated[str, typer.Option(help="Dollars per assignment, e.g. 1.50.")],
        max_assignments: Annotated[Optional[int], typer.Option(min=1, help="Assignments per HIT (default from design.json: workers x durations).")] = None,
        title: Annotated[Optional[str], typer.Option(help=LISTING_HELP.format("Title"))] = None,
        description: Annotated[Optional[str], typer.Option(help=LISTING_HELP.format("Description"))] = None,
        keywords: Annotated[str, typer.Option()] = HITSettings.keywords,
        minutes: Annotated[Optional[int], typer.Option(help="Time a worker has per assignment (default MVT_ALLOTTED_MINUTES).")] = None,
        lifetime_days: Annotated[float, typer.Option(help="How long the HITs stay on MTurk.")] = HITSettings.lifetime_days,
        auto_approve_days: Annotated[float, typer.Option(help="Submitted work is approved automatically after this.")] = HITSettings.auto_approval_days,
        min_approval_rate: Annotated[int, typer.Option(help="Worker approval rate at least this percentage (0: any).")] = HITSettings.min_approval_rate,
        min_approved: Annotated[int, typer.Option(help="Worker's approved HITs at least this (0: any).")] = HITSettings.min_approved,
        country: Annotated[Optional[list[str]], typer.Option(help="Only workers in this country (ISO code; repeatable).")] = None,
        frame_height: Annotated[int, typer.Option(help="Height of MTurk's frame in pixels (0: whole window).")] = 0,
        batch: Annotated[str, typer.Option(help="Name a new batch to publish the same links again.")] = "",
        arrivals_per_hour: Annotated[Optional[str], typer.Option(help=ARRIVALS_HELP)] = None,
        commit: CommitOption = False) -> None:
    """Publish one HIT per experiment link (ExternalQuestion) and record the HIT ids.

    An alternative to the web UI with links.csv. Links that already have a HIT are skipped.
    Example: mvt mturk create-hits exp1 --reward 1.50 --country US --commit
    """
    from kernel.costs import fill_time, parse_rate
    from platforms.mturk.client import worker_site
    from platforms.mturk.hits import create_hits
    from platforms.mturk.inputs import read_links

    from kernel.settings import Settings

    with _session(ctx) as (client, r):
        rate = parse_rate(arrivals_per_hour) if arrivals_per_hour is not None else None
        title, description = listed(source, title, description)
        settings = HITSettings(reward=reward, title=title, description=description, keywords=keywords,
                               assignment_minutes=minutes or Settings().allotted_minutes,
                               lifetime_days=lifetime_days, auto_approval_days=auto_approve_days,
                               min_approval_rate=min_approval_rate, min_approved=min_approved,
                               countries=tuple(country or ()), frame_height=frame_height)
        links = read_links(source, max_assignments)
        report = create_hits(client, r, links, settings, commit=commit, batch=batch)
        print_report(report, money=True)
        if rate is not None:
            typer.echo(fill_time(sum(link.max_assignments for link in links), rate))
        if commit and report.having("succeeded"):
            typer.echo(f"Workers find them at {worker_site(client)}; "
                       "then `mvt mturk assignments` to follow them.")


@mturk_app.command()
def expire(ctx: typer.Context, hit_id: HitIdsOption = None, hits_file: HitsFileOption = None,
           commit: CommitOption = False) -> None:
    """Expire HITs now (default: all of ours); accepted assignments can still be finished.

    Example: mvt mturk expire --hit-id 3XYZ… --commit
    """
    from platforms.mturk.hits import expire_hits

    with _session(ctx) as (client, r):
        print_report(expire_hits(client, r, _hit_ids(client, hit_id, hits_file), commit=commit))


@mturk_app.command()
def extend(ctx: typer.Context, hit_id: HitIdsOption = None, hits_file: HitsFileOption = None,
           days: Annotated[Optional[float], typer.Option(help="Keep the HITs up this many days from now.")] = None,
           assignments: Annotated[Optional[int], typer.Option("--assignments", min=1, help="Add this many assignments to each HIT given.")] = None,
           repost: Annotated[Optional[Path], typer.Option(exists=True, dir_okay=False, help="repost.csv from `mvt analyze` (HIT_Link,count).")] = None,
           batch: Annotated[Optional[str], typer.Option(help="Name to repeat an extension on purpose (default: derived from the request).")] = None,
           commit: CommitOption = False) -> None:
    """More time and/or more assignments, e.g. to repost replaced assignments; each batch once.

    Example: mvt mturk extend --repost results/repost.csv --days 3 --commit
    """
    from platforms.mturk.client import environment_of
    from platforms.mturk.hits import extend_hits, remember_hits
    from platforms.mturk.inputs import read_repost

    with _session(ctx) as (client, r):
        env = environment_of(client)
        ids = _hit_ids(client, hit_id, hits_file)
        additional: dict[str, int] = {}
        if assignments:
            if not ids:
                raise typer.BadParameter("--assignments needs --hit-id or --hits-file")
            additional = {h: assignments for h in ids}
        if repost:
            for h, n in read_repost(repost, r, env).items():
                additional[h] = additional.get(h, 0) + n
        if ids:
            remember_hits(r, env, ids, "given")
        print_report(extend_hits(client, r, additional=additional,
                                  hit_ids=ids if days is not None else None, days=days,
                                  commit=commit, batch=batch))
