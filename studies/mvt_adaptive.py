"""``mvt next-batch``: the next batch of an adaptive MVT study.

Reads the responses so far (``cells.csv`` written by ``mvt analyze``), decides per image which
durations still need answers (`analysis.adaptive`) and appends the batch's links to the
experiment (`stimuli.batches`). Lives with the MVT kind because it joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kernel.errors import BadExperiment, BuildOptionError, exit_on_error

if TYPE_CHECKING:
    from stimuli.batches import BatchResult


def next_batch(
    exp_dir: Annotated[Path, typer.Argument(help="The experiment folder of `mvt build … --adaptive`.")],
    from_dir: Annotated[Path, typer.Option(
        "--from", help="RESULTS_DIR of `mvt analyze` over every batch so far (its cells.csv).")],
    budget: Annotated[int | None, typer.Option(
        help="Most answers in this batch (most uncertain images first) [default: no limit].")] = None,
    answers_per_image: Annotated[int, typer.Option(help="Answers per unfinished image in this batch.")] = 6,
    confidence: Annotated[float, typer.Option(
        help="An image is finished when one MVT bin holds this much posterior.")] = 0.9,
    max_answers: Annotated[int, typer.Option(
        help="An image is finished with this many answers (the fixed design's).")] = 42,
    theta: Annotated[float, typer.Option(help="Recognised means proportion correct > theta.")] = 0.5,
    images_per_task: Annotated[int | None, typer.Option(help="Images per link [default: the build's].")] = None,
) -> None:
    """Build the next batch of an adaptive study: links for the answers still wanted.

    Example (after `mvt analyze --out results/` over the batches so far):

        mvt next-batch exp1 --from results/ --budget 5000 && mvt load exp1
    """
    with exit_on_error():
        if budget is not None and budget < 1:
            raise BuildOptionError(f"--budget ({budget}) must be at least 1")
        outcome = next_batch_of(exp_dir, from_dir, budget=budget, answers_per_image=answers_per_image,
                                confidence=confidence, max_answers=max_answers, theta=theta,
                                images_per_task=images_per_task)
    typer.echo(f"{outcome.n_finished} of {outcome.n_images} images finished after {outcome.done} batch(es); "
               f"posterior per image in {outcome.posterior_csv}")
    if outcome.batch is None:
        typer.echo("no image needs more answers: the study is finished")
        return
    result = outcome.batch
    typer.echo(f"batch {result.batch}: {len(result.link_ids)} links, {result.n_lists} lists, {result.n_answers} "
               f"answers for {result.n_images} images; links in {result.links_csv}; "
               f"now run `mvt load {exp_dir}`")


@dataclass(frozen=True)
class NextBatchOutcome:
    """What `next_batch_of` decided and wrote: the posterior file, and the new batch (None when finished)."""

    done: int
    n_images: int
    n_finished: int
    posterior_csv: Path
    batch: BatchResult | None


def next_batch_of(exp_dir: Path, results_dir: Path, *, budget: int | None = None, answers_per_image: int = 6,
                  confidence: float = 0.9, max_answers: int = 42, theta: float = 0.5,
                  images_per_task: int | None = None) -> NextBatchOutcome:
    """The work of ``mvt next-batch``: decide from ``results_dir/cells.csv``, append the batch.

    Writes ``exp_dir/posterior-after-batch-B.csv`` (B the batches so far; per image its batches
    and bin posterior) and, unless every image is finished, batch B + 1 (`stimuli.batches`).
    Raises `BadExperiment` or `BuildOptionError` with a sentence.
    """
    import pandas as pd

    from analysis.adaptive import next_batch_from_cells
    from stimuli.batches import append_batch, read_design

    exp_dir, results_dir = Path(exp_dir), Path(results_dir)
    design, stimuli = read_design(exp_dir)
    cells_path = results_dir / "cells.csv"
    if not cells_path.is_file():
        raise BadExperiment(f"{cells_path} is missing; run `mvt analyze --out {results_dir}` first")
    cells = pd.read_csv(cells_path)
    missing = {"image_id", "frames", "n", "k"} - set(cells.columns)
    if missing:
        raise BadExperiment(f"{cells_path} lacks the column(s) {', '.join(sorted(missing))}")
    image_ids = sorted(stimuli["images"])
    try:
        decision = next_batch_from_cells(
            cells, image_ids, [stimuli["images"][i]["label"] for i in image_ids], design["frame_counts"],
            n_options=len(design["classes"]), fps=design.get("fps", 60), theta=theta, confidence=confidence,
            max_answers=max_answers, answers_per_image=answers_per_image, budget=budget)
    except ValueError as exc:
        raise BuildOptionError(str(exc)) from None
    batches: dict[str, set[int]] = {}
    for link in design["links"]:
        for image_id in link["image_ids"]:
            batches.setdefault(image_id, set()).add(int(link.get("batch", 1)))
    table = decision.table
    table.insert(3, "batches", [" ".join(map(str, sorted(batches.get(i, ())))) for i in image_ids])
    done = int(design["adaptive"].get("batches", 1))
    out = exp_dir / f"posterior-after-batch-{done}.csv"
    table.to_csv(out, index=False)
    batch = append_batch(exp_dir, decision.wanted, images_per_task=images_per_task) if decision.wanted else None
    return NextBatchOutcome(done=done, n_images=len(image_ids), n_finished=decision.n_finished,
                            posterior_csv=out, batch=batch)


def register(app: typer.Typer) -> None:
    """Add ``mvt next-batch`` to the CLI."""
    app.command("next-batch")(next_batch)
