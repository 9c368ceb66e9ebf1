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

from kernel import csvsafe
from kernel.errors import BadExperiment, BuildOptionError, exit_on_error

if TYPE_CHECKING:
    from stimuli.batches import BatchResult


def next_batch(
    exp_dir: Annotated[Path, typer.Argument(help="The experiment folder of `mvt build … --adaptive`.")],
    from_dir: Annotated[Path | None, typer.Option(
        "--from", help="RESULTS_DIR of `mvt analyze` over every batch so far (its cells.csv).")] = None,
    responses: Annotated[Path | None, typer.Option(
        help="Instead of --from: `mvt export` CSV of every batch so far; workers are then screened by "
             "the model (analysis.adaptive.screen_by_expectation) instead of the control rule.")] = None,
    budget: Annotated[int | None, typer.Option(
        help="Most answers in this batch (most uncertain images first) [default: no limit].")] = None,
    answers_per_image: Annotated[int, typer.Option(help="Answers per unfinished image in this batch.")] = 6,
    confidence: Annotated[float, typer.Option(
        help="An image is finished when one MVT bin holds this much posterior.")] = 0.9,
    max_answers: Annotated[int, typer.Option(
        help="An image is finished with this many answers (the fixed design's).")] = 42,
    theta: Annotated[float, typer.Option(help="Recognised means proportion correct > theta.")] = 0.5,
    images_per_task: Annotated[int | None, typer.Option(help="Images per link [default: the build's].")] = None,
    no_build: Annotated[bool, typer.Option(
        "--no-build", help="Write the posterior only (after the last batch: the study's MVTs).")] = False,
) -> None:
    """Build the next batch of an adaptive study: links for the answers still wanted.

    Example (after `mvt analyze --out results/` over the batches so far):

        mvt next-batch exp1 --from results/ --budget 5000 && mvt load exp1
    """
    with exit_on_error():
        if budget is not None and budget < 1:
            raise BuildOptionError(f"--budget ({budget}) must be at least 1")
        if (from_dir is None) == (responses is None):
            raise BuildOptionError("give either --from RESULTS_DIR (cells.csv of mvt analyze) or --responses FILE.csv "
                                   "(mvt export)")
        outcome = next_batch_of(exp_dir, from_dir, responses=responses, budget=budget,
                                answers_per_image=answers_per_image, confidence=confidence, max_answers=max_answers,
                                theta=theta, images_per_task=images_per_task, build=not no_build)
    if outcome.flagged_workers:
        typer.echo(f"{len(outcome.flagged_workers)} worker(s) left out by the model-based screening: "
                   f"{' '.join(outcome.flagged_workers)}")
    typer.echo(f"{outcome.n_finished} of {outcome.n_images} images finished after {outcome.done} batch(es); "
               f"posterior per image in {outcome.posterior_csv}")
    if outcome.batch is None:
        typer.echo("no batch built (--no-build)" if no_build and outcome.n_wanted else
                   "no image needs more answers: the study is finished")
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
    n_wanted: int = 0
    flagged_workers: tuple = ()


def next_batch_of(exp_dir: Path, results_dir: Path | None, *, responses: Path | None = None,
                  budget: int | None = None, answers_per_image: int = 6, confidence: float = 0.9,
                  max_answers: int = 42, theta: float = 0.5, images_per_task: int | None = None,
                  build: bool = True) -> NextBatchOutcome:
    """The work of ``mvt next-batch``: decide from ``results_dir/cells.csv`` (or from the
    ``responses`` CSV of ``mvt export``, screened by the model), append the batch.

    Writes ``exp_dir/posterior-after-batch-B.csv`` (B the batches so far; per image its batches
    and bin posterior) and, unless every image is finished (or not `build`), batch B + 1
    (`stimuli.batches`). Raises `BadExperiment` or `BuildOptionError` with a sentence.
    """
    import pandas as pd

    from analysis.adaptive import next_batch_from_cells, next_batch_from_responses
    from stimuli.batches import append_batch, read_design

    exp_dir = Path(exp_dir)
    design, stimuli = read_design(exp_dir)
    image_ids = sorted(stimuli["images"])
    common = dict(n_options=len(design["classes"]), fps=design.get("fps", 60), theta=theta, confidence=confidence,
                  max_answers=max_answers, answers_per_image=answers_per_image, budget=budget)
    labels = [stimuli["images"][i]["label"] for i in image_ids]
    if responses is not None:
        from analysis.responses import read_responses_csv

        table = read_responses_csv(responses)
        if "experiment" in table.columns:
            table = table[table["experiment"].astype(str) == design["experiment_id"]]
    else:
        results_dir = Path(results_dir)
        cells_path = results_dir / "cells.csv"
        if not cells_path.is_file():
            raise BadExperiment(f"{cells_path} is missing; run `mvt analyze --out {results_dir}` first")
        cells = csvsafe.restore_frame(pd.read_csv(cells_path, dtype={"image_id": str}), ["image_id"])
        missing = {"image_id", "frames", "n", "k"} - set(cells.columns)
        if missing:
            raise BadExperiment(f"{cells_path} lacks the column(s) {', '.join(sorted(missing))}")
    if build:
        _refuse_unanswered_batch(exp_dir, design, table if responses is not None else None, results_dir)
    try:
        if responses is not None:
            decision = next_batch_from_responses(table, image_ids, labels, design["frame_counts"], **common)
        else:
            decision = next_batch_from_cells(cells, image_ids, labels, design["frame_counts"], **common)
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
    csvsafe.write_frame(table, out)
    batch = (append_batch(exp_dir, decision.wanted, images_per_task=images_per_task)
             if decision.wanted and build else None)
    return NextBatchOutcome(done=done, n_images=len(image_ids), n_finished=decision.n_finished,
                            posterior_csv=out, batch=batch, n_wanted=len(decision.wanted),
                            flagged_workers=decision.flagged_workers)


def _refuse_unanswered_batch(exp_dir: Path, design: dict, responses, results_dir: Path | None) -> None:
    """`BadExperiment` when the answers read have none from the latest batch's links.

    Planning again from the answers the last plan was made from would ask the same questions a
    second time (a duplicate batch): the latest batch must have been loaded, posted and answered
    first. The responses CSV says by its ``link_id``s; ``mvt analyze``'s results by
    ``batches.csv`` (`analysis.adaptive_analysis.BATCH_COLUMNS`).
    """
    import pandas as pd

    latest = max(int(link.get("batch", 1)) for link in design["links"])
    links = {link["link_id"] for link in design["links"] if int(link.get("batch", 1)) == latest}
    if responses is not None:
        answered = int(responses["link_id"].astype(str).isin(links).sum()) if "link_id" in responses else 0
        where = "the responses CSV"
    else:
        path = Path(results_dir) / "batches.csv"
        if not path.is_file():
            raise BadExperiment(f"{path} is missing: {results_dir} was not written by `mvt analyze` of the adaptive "
                                f"study {design['experiment_id']}; run `mvt analyze --out {results_dir} --experiment "
                                f"{design['experiment_id']}` again")
        batches = pd.read_csv(path)
        answered = int(batches.loc[batches["batch"] == latest, "n_responses"].sum())
        where = str(path)
    if answered == 0:
        raise BadExperiment(
            f"batch {latest} of {design['experiment_id']} has no answers in {where}: a batch planned now would ask again "
            f"what batch {latest} asks. Load it (`mvt load {exp_dir}`), post links-batch-{latest}.csv, collect answers, "
            f"analyse or export again, then run `mvt next-batch` (--no-build writes only the posterior)")


def register(app: typer.Typer) -> None:
    """Add ``mvt next-batch`` to the CLI."""
    app.command("next-batch")(next_batch)
