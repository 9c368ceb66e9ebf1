"""`mvt build-ratings`: the rating-study builder's command."""


import enum
from pathlib import Path
from typing import Annotated

import typer

from kernel.costs import (ARRIVALS_HELP, REWARD_HELP, fill_time, launch_costs, lists_per_link, parse_rate,
                          parse_reward)
from kernel.errors import exit_on_error


class Design(str, enum.Enum):
    """crowdMOS designs (`stimuli.ratings_design.plan_tasks`)."""

    random = "random"
    diff_source = "diff-source"
    same_source = "same-source"
    mushra = "mushra"
    dsis = "dsis"


def build_ratings_command(
    input_tsv: Annotated[Path, typer.Argument(help="crowdMOS input: <source> TAB <algorithm> TAB <file or URL>.")],
    exp_dir: Annotated[Path, typer.Argument(help="Output folder (created; re-runs keep converted files).")],
    design: Annotated[Design, typer.Option(help="random, diff-source, same-source, mushra or dsis.")],
    samples_per_task: Annotated[int, typer.Option(help="Samples rated in one task (link).")],
    ratings_per_sample: Annotated[int, typer.Option(help="Ratings of every sample (lists per link).")],
    base_url: Annotated[str, typer.Option(help="Server URL workers reach, for links.csv: https://NAME:PORT (not http://, not 127.0.0.1).")],
    study: Annotated[Path | None, typer.Option(help="TOML study file with a [ratings] table.")] = None,
    seed: Annotated[int, typer.Option(help="Seeds the design and the opaque file names.")] = 0,
    name: Annotated[str | None, typer.Option(
        help="Experiment id of 1–64 letters, digits, _ or - [default: EXP_DIR's name].")] = None,
    loudnorm: Annotated[bool | None, typer.Option(
        "--loudnorm/--no-loudnorm", help="Normalise audio loudness to -23 LUFS [default: the study file's].")] = None,
    reward: Annotated[str | None, typer.Option(help=REWARD_HELP)] = None,
    arrivals_per_hour: Annotated[str | None, typer.Option(help=ARRIVALS_HELP)] = None,
) -> None:
    """Build a rating study (ACR, DCR/DSIS, MUSHRA): browser-safe media, the design and links.csv.

    Example:

        mvt build-ratings stimuli/samples_ratings/audio.tsv mos1 --design random
        --samples-per-task 8 --ratings-per-sample 5 --base-url https://mos.example.org:8443
    """
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from stimuli.files import base_url_warning, checked_base_url
    from stimuli.ratings_build import build_ratings

    with exit_on_error():
        amount = parse_reward(reward) if reward is not None else None  # before the long part
        rate = parse_rate(arrivals_per_hour) if arrivals_per_hour is not None else None
        if warning := base_url_warning(checked_base_url(base_url)):
            typer.echo(warning, err=True)
        show = sys.stderr.isatty()
        bar = Progress(TextColumn("media"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       disable=not show, transient=True, console=Console(stderr=True))
        task = bar.add_task("media", total=None)
        with bar:
            result = build_ratings(input_tsv, exp_dir, design=design.value, samples_per_task=samples_per_task,
                                   ratings_per_sample=ratings_per_sample, base_url=base_url, study=study,
                                   seed=seed, name=name, loudnorm=loudnorm,
                                   progress=(lambda done, total: bar.update(task, completed=done, total=total))
                                   if show else None)
    typer.echo(result.summary())
    if amount is not None:
        typer.echo("\n".join(launch_costs(amount, exp_dir)))
    if rate is not None:
        typer.echo(fill_time(sum(lists_per_link(exp_dir)), rate))


def register(app: typer.Typer) -> None:
    """Add ``mvt build-ratings`` to the ``mvt`` CLI."""
    app.command("build-ratings")(build_ratings_command)
