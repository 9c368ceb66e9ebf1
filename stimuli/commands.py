"""`mvt build`: the stimulus builder's command."""


import sys
from pathlib import Path
from typing import Annotated

import typer

from kernel.costs import (ARRIVALS_HELP, REWARD_HELP, fill_time, launch_costs, lists_per_link, parse_rate,
                          parse_reward)
from kernel.errors import BuildOptionError, exit_on_error


def build(
    ctx: typer.Context,
    image_dir: Annotated[Path, typer.Argument(help="ImageFolder: <class>/<image> files.")],
    exp_dir: Annotated[Path, typer.Argument(help="Output folder (created; re-runs resume).")],
    frame_counts: Annotated[list[int], typer.Option(
        help="Image durations in frames at 60 fps, e.g. 1 3 6 9 15 600 (after IMAGE_DIR EXP_DIR).")],
    images_per_task: Annotated[int, typer.Option(help="Images per link (HIT).")],
    workers: Annotated[int, typer.Option(help="Workers per link.")],
    base_url: Annotated[str, typer.Option(help="Server URL workers reach, for links.csv: https://NAME:PORT (not http://, not 127.0.0.1).")],
    size: Annotated[int, typer.Option(help="Side of the square video in pixels.")] = 512,
    fixation_ms: Annotated[float, typer.Option(help="Fixation cross duration (ms).")] = 500,
    mask_ms: Annotated[float, typer.Option(help="Mask duration (ms).")] = 500,
    seed: Annotated[int, typer.Option(help="Seeds masks and design; same seed, same files.")] = 0,
    jobs: Annotated[int | None, typer.Option(help="Encoding processes [default: CPU count].")] = None,
    name: Annotated[str | None, typer.Option(
        help="Experiment id of 1–64 letters, digits, _ or - [default: EXP_DIR's name].")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Fully decode already finished videos before keeping them.")] = False,
    study: Annotated[Path | None, typer.Option(
        help="study.toml: title, description, pay, contact, consent, practice_trials, [device] rules "
             "(see README); what it leaves out is derived from the design.")] = None,
    practice_dir: Annotated[Path | None, typer.Option(
        help="ImageFolder of practice images [default: the bundled samples].")] = None,
    adaptive: Annotated[bool, typer.Option(
        "--adaptive", help="First batch of an adaptive study (use --workers 2); later batches: "
                           "`mvt next-batch`.")] = False,
    reward: Annotated[str | None, typer.Option(help=REWARD_HELP)] = None,
    arrivals_per_hour: Annotated[str | None, typer.Option(help=ARRIVALS_HELP)] = None,
) -> None:
    """Build stimulus videos, the balanced design and links.csv.

    Example:

        mvt build images/ exp1 --frame-counts 1 3 6 9 15 600 --images-per-task 50
        --workers 7 --base-url https://mvt.example.org:8443 --study study.toml
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from stimuli.build import build_experiment
    from stimuli.files import base_url_warning, checked_base_url

    with exit_on_error():
        amount = parse_reward(reward) if reward is not None else None  # before the long part
        rate = parse_rate(arrivals_per_hour) if arrivals_per_hour is not None else None
        if warning := base_url_warning(checked_base_url(base_url)):
            typer.echo(warning, err=True)
        classes = sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if image_dir.is_dir() else []
        # Before the long part, so a mistake costs no encoding time (an empty folder is an error below).
        if len(classes) == 1 and any(not f.name.startswith(".") for f in classes[0].iterdir()):
            typer.echo(f"warning: {image_dir} has one class folder ({classes[0].name!r}): every trial offers that one "
                       "answer, so every answer counts as correct; an ImageFolder has a folder per class "
                       "(<class>/<image>)", err=True)
        frame_counts = [*frame_counts, *_extra_frame_counts(ctx.args)]
        show = sys.stderr.isatty()
        # No auto-refresh thread: the builder forks its encoder processes while this runs.
        bar = Progress(TextColumn("videos"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), auto_refresh=False, disable=not show,
                       transient=True, console=Console(stderr=True))
        task = bar.add_task("videos", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            bar.refresh()

        with bar:
            result = build_experiment(
                image_dir, exp_dir, frame_counts=frame_counts, images_per_task=images_per_task,
                workers=workers, base_url=base_url, size=size, fixation_ms=fixation_ms,
                mask_ms=mask_ms, seed=seed, jobs=jobs, name=name,
                progress=progress if show else None, verify=verify, study=study, practice_dir=practice_dir,
                adaptive=adaptive)
    typer.echo(
        f"{result.n_videos} videos for {result.n_images} images ({result.n_encoded} built, "
        f"{result.n_skipped} already there) in {result.seconds:.1f} s; "
        f"{result.n_links} links in {exp_dir / 'links.csv'}")
    if result.last_link_images is not None:
        typer.echo(f"note: the last link has {result.last_link_images} images "
                   f"(fewer than --images-per-task {result.images_per_task})")
    if amount is not None:
        typer.echo("\n".join(launch_costs(amount, exp_dir)))
    if rate is not None:
        typer.echo(fill_time(sum(lists_per_link(exp_dir)), rate))


def _extra_frame_counts(args: list[str]) -> list[int]:
    """The values after the first of ``--frame-counts 1 3 6`` (Click takes one value per option)."""
    counts = []
    for arg in args:
        if arg.startswith("-") and not arg.lstrip("-").isdigit():
            raise BuildOptionError(f"no such option: {arg}")
        try:
            counts.append(int(arg))
        except ValueError:
            raise BuildOptionError(
                f"frame count {arg!r} is not a whole number (give IMAGE_DIR EXP_DIR before the options)"
            ) from None
    return counts


def samples(dest: Annotated[Path, typer.Argument(file_okay=False, help="Folder to copy them into (made if needed).")]):
    """Copy the bundled CC0 samples out of the installed package, to try the builds on.

    DEST/images is an ImageFolder for mvt build (4 shapes x 4 pictures); DEST/ratings holds
    audio.tsv and images.tsv with their files, for mvt build-ratings. Files already there are
    overwritten with the bundled ones.

    Example: mvt samples samples; mvt build-ratings samples/ratings/audio.tsv mos1 --design random ...
    """
    import shutil

    from stimuli.practice import SAMPLES
    from stimuli.ratings_build import SAMPLES_DIR

    with exit_on_error():
        try:
            shutil.copytree(SAMPLES, dest / "images", dirs_exist_ok=True)
            shutil.copytree(SAMPLES_DIR, dest / "ratings", dirs_exist_ok=True)
        except OSError as exc:
            raise BuildOptionError(f"cannot copy the samples into {dest} ({exc})") from None
    n_images = sum(1 for p in (dest / "images").rglob("*.png"))
    typer.echo(f"copied {n_images} images to {dest / 'images'} and the rating samples to {dest / 'ratings'} "
               f"(audio.tsv, images.tsv); the licence is in each folder's LICENSE")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the ``mvt`` CLI."""
    app.command("build", context_settings={"allow_extra_args": True,
                                           "ignore_unknown_options": True})(build)
    app.command("samples")(samples)
