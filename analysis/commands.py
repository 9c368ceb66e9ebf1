"""``mvt analyze``: MVT per image, accuracy, worker screening, report; optional replacement."""


import dataclasses
import enum
import json
from pathlib import Path

import typer

from analysis.options import check_analysis_options
from kernel.errors import BadExperiment, ExperimentChoice, ReplaceNeedsRedis, exit_on_error


class Rule(str, enum.Enum):
    """MVT decision rules (see `analysis.mvt`)."""

    stable = "stable"
    first = "first"
    isotonic = "isotonic"


ANALYZE_HELP = """Analyse responses: MVT per image, accuracy per duration, worker screening, report.

Reads the responses from Redis (MVT_REDIS_URL, else the embedded server in MVT_DATA_DIR), or from a CSV written by `mvt export` with --responses. With several experiments there, name the ones to analyse: --experiment NAME [NAME ...] (several are pooled; they must share durations and answer options). Writes DIR/mvt.csv (MVT per image with bootstrap intervals), DIR/accuracy.csv, DIR/workers.csv (screening flags and reasons), DIR/cells.csv (per image and duration), DIR/report.html, and every other number of the report as CSV (worker_profiles, psychometric, rules, mvt_histogram, summary, progress, timing).

--metadata FILE joins image metadata (image_id,<columns>); --by COLUMN splits tables and figures by it (a metadata column, experiment or label).

With --replace (Redis only) the flagged workers' assignments are marked for replacement and DIR/repost.csv lists the links that need assignments again.

Rating studies (mvt build-ratings) are analysed as such: from Redis when the chosen experiment is one, from a CSV with --design EXP_DIR (also spelt --ratings). They write DIR/mos_by_algorithm.csv, DIR/mos_by_sample.csv, DIR/workers.csv and DIR/report.html (analysis.ratings).

Adaptive MVT studies (mvt build --adaptive) likewise (from a CSV with --design EXP_DIR): the MVT of each image is the most probable bin of its posterior with a 95 % credible interval, workers are screened by the model, and DIR/mvt.csv, DIR/cells.csv, DIR/workers.csv, DIR/batches.csv and DIR/report.html are written (analysis.adaptive_analysis).

Example: mvt analyze --out results --experiment exp1 --metadata images.csv --by source --bootstrap 1000
"""


def designs_from_redis(r) -> dict[str, dict]:
    """The ``design.json`` of every loaded link's experiment, by link id.

    The loader records each link's ``videos`` folder; ``design.json`` sits next to it. Links
    whose experiment folder is gone are left out.
    """
    from kernel.store import keys

    designs: dict[str, dict] = {}
    cache: dict[str, dict | None] = {}
    for link_id in sorted(r.smembers(keys.links_index())):
        videos_dir = r.hget(keys.link_meta(link_id), "videos_dir")
        if not videos_dir:
            continue
        if videos_dir not in cache:
            path = Path(videos_dir).parent / "design.json"
            try:
                cache[videos_dir] = json.loads(path.read_text())
            except (OSError, ValueError):
                cache[videos_dir] = None
        if cache[videos_dir] is not None:
            designs[link_id] = cache[videos_dir]
    return designs


def _pooled_design(designs: dict[str, dict]) -> tuple[list[int] | None, int | None]:
    """Frame counts and number of answer options shared by the designs of the selected links.

    Raises
    ------
    ExperimentChoice
        If the experiments differ in durations or options (pooling them would mark images
        insufficient at durations they were never shown at, and mix guess rates).
    """
    shapes = {}
    for d in designs.values():
        shapes.setdefault((tuple(sorted(int(f) for f in d.get("frame_counts", []))), len(d.get("classes", []))),
                          set()).add(d.get("experiment_id", "?"))
    if len(shapes) > 1:
        described = "; ".join(f"{', '.join(sorted(names))}: frames {' '.join(map(str, grid))}, {n} options"
                              for (grid, n), names in sorted(shapes.items()))
        raise ExperimentChoice(f"the experiments differ in durations or answer options ({described}); "
                               f"analyse them separately")
    if not shapes:
        return None, None
    (grid, n_options), = shapes
    return list(grid) or None, n_options or None


@dataclasses.dataclass
class AnalysisRequest:
    """What ``mvt analyze`` hands the chosen experiments' study kind (`studies.base.StudyKind.analyze`).

    ``r`` is the open store (None with ``--responses``), ``experiments``, ``links`` and ``designs``
    (``design.json`` by link id) what was chosen in it; ``design_dir`` is ``--ratings EXP_DIR``
    with a CSV; ``confirmed(table)`` gives the platforms' records of the table's assignments
    (`platforms.confirmed_records`, for `analysis.verified`); ``options`` every other CLI option.
    """

    out: Path
    options: dict
    responses: Path | None = None
    design_dir: Path | None = None
    r: object = None
    settings: object = None
    experiments: list[str] = dataclasses.field(default_factory=list)
    links: set[str] = dataclasses.field(default_factory=set)
    designs: dict[str, dict] = dataclasses.field(default_factory=dict)
    confirmed: object = None


def run_analyze(*, out: Path, responses: Path | None, kind_of, confirmed=None, experiments=None,
                ratings: Path | None = None, **options) -> list[str]:
    """Run the analysis behind ``mvt analyze`` and return the summary lines it prints.

    ``kind_of(design_or_None)`` is the study kind of an experiment's ``design.json`` (the CLI
    passes `studies.kind_of`; None: a CSV without ``--ratings``); the chosen experiments must be
    of one kind, whose ``analyze`` runs. ``confirmed(r, table, settings)`` gives the platforms'
    records (`platforms.confirmed_records`).
    """
    if responses is not None and (options.get("replace") or options.get("block")):
        raise ReplaceNeedsRedis(
            "--replace and --block change assignments in Redis, but --responses reads a CSV; "
            "run mvt analyze without --responses, with MVT_REDIS_URL (or MVT_DATA_DIR) pointing at the server")
    if responses is not None:
        design = None
        if ratings is not None:
            path = Path(ratings) / "design.json"
            try:
                design = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise BadExperiment(f"--ratings {ratings}: cannot read {path} ({exc})") from None
        request = AnalysisRequest(out=out, options=options, responses=responses, design_dir=ratings,
                                  experiments=experiments)
        return kind_of(design).analyze(request)
    from kernel.export import choose_experiments, experiment_links
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    settings = Settings()
    with open_redis(settings, existing=True) as r:
        by_experiment = experiment_links(r)
        chosen = choose_experiments(by_experiment, experiments)
        links = {link for name in chosen for link in by_experiment[name]}
        designs = {link: d for link, d in designs_from_redis(r).items() if link in links}
        kinds = {}
        for design in designs.values():
            kinds.setdefault(kind_of(design).name, kind_of(design))
        if len(kinds) > 1:
            raise ExperimentChoice(f"the chosen experiments are of different study kinds ({', '.join(sorted(kinds))}); "
                                   f"analyse each kind on its own with --experiment")
        kind = next(iter(kinds.values())) if kinds else kind_of(None)
        request = AnalysisRequest(out=out, options=options, r=r, settings=settings, experiments=chosen, links=links,
                                  designs=designs,
                                  confirmed=None if confirmed is None else (lambda table: confirmed(r, table, settings)))
        return kind.analyze(request)


def _without_unmeasured(table, keep: bool, lines: list[str]):
    """MVT trials with no timing verdict and no measured frames get ``timing_ok`` false (so every
    analysis excludes them like a wrong timing) unless ``keep``; a line says how many."""
    if "timing_ok" not in table.columns or keep:
        return table
    unmeasured = (_blank(table["timing_ok"]) & _blank(table["presented_frames"])).to_numpy(dtype=bool)
    if unmeasured.any():
        lines.append(f"{int(unmeasured.sum())} trial(s) without timing excluded (--keep-unmeasured keeps them)")
        table = table.copy()
        table["timing_ok"] = table["timing_ok"].astype(object).where(~unmeasured, False)
    return table


def _blank(column):
    """Missing or empty-text cells of ``column`` (typed columns, as `prepare_responses` gives, are
    only tested for missing values: their cells are never text)."""
    if str(column.dtype) in ("boolean", "Int64"):
        return column.isna()
    return column.astype("string").str.strip().replace("", None).isna()


def mvt_responses(request: AnalysisRequest, lines: list[str], columns=None):
    """The MVT responses ``mvt analyze`` reads for `request`, and the experiments they belong to.

    From a CSV: the chosen experiments' rows (`analysis.analyze.select_experiments`), only
    `columns` of it when given (`analysis.responses.read_responses_csv`). From Redis:
    the chosen experiments' rows, kept by the platforms' records (`analysis.verified`; its line
    goes to `lines`). Either way trials without timing are excluded unless ``--keep-unmeasured``.
    """
    from analysis.analyze import select_experiments
    from analysis.responses import read_responses_csv, read_responses_redis
    from analysis.verified import verify_responses

    keep = request.options.get("keep_unmeasured", False)
    if request.responses is not None:
        table, chosen = select_experiments(read_responses_csv(request.responses, columns), request.experiments)
        return _rescaled_note(_without_unmeasured(table, keep, lines), lines), chosen
    table = _rescaled_note(_without_unmeasured(read_responses_redis(request.r, request.experiments), keep, lines), lines)
    verification = verify_responses(table, request.confirmed(table) if request.confirmed else {})
    lines.append(verification.summary(request.options.get("verified_only")))
    return (verification.kept(request.options.get("verified_only")).drop(columns=["verified"]),
            tuple(request.experiments))


def act_on_flags(request: AnalysisRequest, assignments: list[str], workers: list[str], lines: list[str]):
    """``--replace`` (mark `assignments` for replacement, write ``repost.csv``) and ``--block``
    (block `workers`), each with its line; the links' progress after marking (None without ``--replace``)."""
    from analysis.analyze import repost_table, write_repost
    from kernel import admin

    r, o, progress = request.r, request.options, None
    if o.get("replace"):
        marked = admin.mark_for_replacement(r, assignments)
        progress = [p for p in admin.link_progress(r) if p.link_id in request.links]
        urls = o.get("base_url") or {link: d["base_url"] for link, d in request.designs.items() if d.get("base_url")}
        repost = repost_table(progress, base_url=urls)
        Path(request.out).mkdir(parents=True, exist_ok=True)
        write_repost(repost, Path(request.out) / "repost.csv")
        lines.append(f"marked {len(marked)} assignment(s) of {len(workers)} flagged worker(s) for "
                     f"replacement; {int(repost['n_assignments'].sum())} assignment(s) to repost on "
                     f"{len(repost)} link(s) ({Path(request.out) / 'repost.csv'})")
    if o.get("block"):
        admin.block_workers(r, workers)
        lines.append(f"blocked {len(workers)} flagged worker(s)")
    return progress


def _rescaled_note(table, lines: list[str]):
    """A line saying how many MVT trials were drawn outside the study's ``max_rescale`` (stored with
    ``timing_ok`` false and ``timing_reason`` ``rescaled``, so excluded like a wrong timing)."""
    if "timing_reason" in table.columns:
        import numpy as np
        import pandas as pd

        # each distinct reason tested once (as text, stripped), then counted by its code
        codes, reasons = pd.factorize(table["timing_reason"])
        rescaled = [i for i, reason in enumerate(reasons) if str(reason).strip() == "rescaled"]
        n = int(np.isin(codes, rescaled).sum())
        if n:
            lines.append(f"{n} trial(s) drawn outside the study's max_rescale excluded (timing_reason rescaled)")
    return table


def run_mvt(request: AnalysisRequest) -> list[str]:
    """``mvt analyze`` for MVT experiments (the MVT kind's analysis)."""
    from analysis.analyze import READ_COLUMNS, add_metadata, analyze, progress_from_responses, read_metadata, write_outputs

    o = request.options
    rule, by, out = o["rule"], o.get("by"), request.out
    replace, block = o.get("replace", False), o.get("block", False)
    options = dict(rule=rule, theta=o["theta"], inclusive=o["inclusive"], n_bootstrap=o["bootstrap"], rng=o["seed"],
                   control_threshold=o["control_threshold"], min_r=o["min_r"], psychometric=True,
                   guess_rate=o.get("guess_rate"), by=by, ddof=o.get("ddof", 1),
                   min_correlation_trials=o.get("min_correlation_trials", 20))
    if request.design_dir is not None:
        path = Path(request.design_dir) / "design.json"
        raise BadExperiment(f"--design {request.design_dir}: {path} is a fixed MVT study, whose analysis needs no "
                            f"design; leave --design out")
    meta = read_metadata(o["metadata"]) if o.get("metadata") is not None else None
    lines = []
    table, chosen = mvt_responses(request, lines, READ_COLUMNS + tuple(filter(None, [by]))
                                  + (tuple(meta.columns) if meta is not None else ()))
    table = add_metadata(table, meta, by)
    if request.responses is not None:
        result = analyze(table, source=str(request.responses), experiments=chosen, **options)
    else:
        from kernel import admin

        r, links, designs = request.r, request.links, request.designs
        frame_counts, n_options = _pooled_design(designs)
        progress = [p for p in admin.link_progress(r) if p.link_id in links]
        from analysis.flags import MVT_NUMBERS, MVT_RULES, keep_flags, stored_reasons
        from kernel.flags import stored_flags

        result = analyze(table, link_progress=progress, source="redis", frame_counts=frame_counts,
                         n_choices=n_options, experiments=tuple(request.experiments),
                         standing_flags=stored_reasons(stored_flags(r)), **options)
        flag_line = keep_flags(r, result.screening.workers, rules=MVT_RULES, numbers=MVT_NUMBERS,
                               experiments=request.experiments)
        flagged_workers = result.screening.workers.loc[result.screening.workers["flagged"], "worker_id"].tolist()
        progress = act_on_flags(request, result.screening.flagged_assignments(), flagged_workers, lines)
        if progress is not None:
            result = dataclasses.replace(
                result, progress=progress_from_responses(result.responses, result.screening, progress))
    paths = write_outputs(result, out, draws=o.get("draws", False))
    s = result.screening.summary()
    c = result.mvt.status_counts()
    lines.insert(0, f"{s['responses']} responses, {s['used']} used; {s['workers']} workers, {s['flagged']} flagged; "
                    f"{len(result.mvt.table)} images: {c['ok']} with an MVT, {c['unrecognised']} unrecognised, "
                    f"{c['insufficient']} insufficient (rule {rule})")
    if result.experiments:
        lines.insert(0, f"experiment(s): {', '.join(result.experiments)}")
    lines.insert(len(lines) - (2 if replace and block else 1 if replace or block else 0),
                 "wrote " + ", ".join(str(p) for p in paths.values()))
    for note in result.notes:
        lines.insert(1 + bool(result.experiments), note)
    if request.responses is None:
        lines.append(flag_line)
    return lines


def run_unflag(worker_id: str, reason: str) -> str:
    """Clear a worker's stored analysis flag (`kernel.flags.clear_flag`) and say what was cleared."""
    from kernel.flags import clear_flag
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    with open_redis(Settings()) as r:
        record = clear_flag(r, worker_id, reason)
    flag = record["flag"]
    return (f"cleared the flag of {worker_id} (analysis run {flag.get('run')}, {flag.get('at')}: "
            f"{flag.get('reason') or 'no reason recorded'}); reason kept: {reason}")


def register(app: typer.Typer, *, kind_of, confirmed=None) -> None:
    """Add ``mvt analyze`` and ``mvt unflag`` to the ``mvt`` CLI; ``kind_of`` and ``confirmed`` as for
    `run_analyze` (the CLI, the composition root, passes the study kinds' and the platforms')."""

    @app.command("unflag")
    def unflag_command(worker: str = typer.Argument(..., help="The worker (platform participant) id."),
                       reason: str = typer.Option(..., "--reason", help="Why the flag is cleared (kept in the "
                                                  "store with the cleared flag).")) -> None:
        """Clear a worker's flag stored by mvt analyze, keeping the reason; review and bonus then treat them as unflagged.

        Example: mvt unflag A1B2C3D4E5 --reason "checked the answers by hand: attentive"
        """
        with exit_on_error():
            typer.echo(run_unflag(worker, reason))

    @app.command("analyze", help=ANALYZE_HELP, context_settings={"allow_extra_args": True})
    def analyze_command(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="Folder for the output files."),
        experiment: list[str] | None = typer.Option(None, "--experiment", help="Experiment id(s) to analyse "
                                                    "(--experiment A B, or repeated); needed when there are several."),
        metadata: Path | None = typer.Option(None, "--metadata", help="Image metadata CSV: image_id,<any columns>."),
        by: str | None = typer.Option(None, "--by", help="Split tables and figures by this column (metadata, "
                                      "experiment or label)."),
        guess_rate: float | None = typer.Option(None, "--guess-rate", help="Psychometric guess rate; default 1 / "
                                                "answer options shown per trial."),
        draws: bool = typer.Option(False, "--draws", help="Also write every bootstrap draw (bootstrap_draws.csv)."),
        responses: Path | None = typer.Option(None, "--responses", help="Read this responses CSV instead of Redis."),
        rule: Rule = typer.Option(Rule.stable, "--rule", help="MVT rule: stable, first or isotonic."),
        theta: float = typer.Option(0.5, "--theta", help="Recognised means proportion correct > theta."),
        inclusive: bool = typer.Option(False, "--inclusive", help="Recognised means proportion correct >= theta."),
        bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples (0: none)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
        replace: bool = typer.Option(False, "--replace", help="Mark flagged workers' assignments for replacement "
                                     "(Redis only) and write repost.csv."),
        block: bool = typer.Option(False, "--block", help="Block the flagged workers (Redis only)."),
        base_url: str | None = typer.Option(None, "--base-url", help="Base URL of the repost.csv links; default "
                                            "each link's design.json base_url, else HIT_Link holds link ids."),
        psychometric: bool = typer.Option(False, "--psychometric", help="Kept for scripts: the psychometric fit "
                                          "(threshold_ms, psychometric.csv) now always runs."),
        control_threshold: float = typer.Option(0.6, "--control-threshold", help="Flag workers whose accuracy "
                                                "at the longest duration is below this."),
        min_r: float = typer.Option(0.25, "--min-r", help="Flag workers whose accuracy profile (ratings: "
                                    "scores) correlates with everybody else's below this (-1..1)."),
        min_correlation_trials: int = typer.Option(20, "--min-correlation-trials", help="MVT: the correlation "
                                                   "rule applies to workers with at least this many usable trials."),
        ddof: int = typer.Option(1, "--ddof", help="Delta degrees of freedom of the crowdMOS variances: 1 "
                                 "(unbiased sample variances) or 0 [default: 1]."),
        z_limit: float = typer.Option(2.5, "--z-limit", help="Ratings: a rating is an outlier beyond this many "
                                      "standard deviations from its algorithm's mean (and more than one scale step "
                                      "from it and from its sample's mean)."),
        max_outlier_share: float = typer.Option(0.05, "--max-outlier-share", help="Ratings: flag workers with "
                                                "more than this share of outliers (0..1)."),
        min_screen_ratings: int = typer.Option(20, "--min-screen-ratings", help="Ratings: the outlier rule "
                                               "applies to workers with at least this many ratings."),
        no_rating_screen: bool = typer.Option(False, "--no-rating-screen", help="Ratings: turn the correlation "
                                              "and outlier rules off (traps, gold, headphones and the MUSHRA "
                                              "reference rule stay)."),
        verified_only: bool | None = typer.Option(None, "--verified-only/--all-work", help="Keep only work the "
                                                  "platform's records confirm (mvt mturk assignments, mvt prolific "
                                                  "submissions) [default: on when such records exist]."),
        ratings: Path | None = typer.Option(None, "--design", "--ratings", help="With --responses: the EXP_DIR of "
                                            "the rating or adaptive MVT study they belong to, whose analysis needs "
                                            "its design (from Redis, the study is found by its links)."),
        keep_unmeasured: bool = typer.Option(False, "--keep-unmeasured", help="Keep MVT trials with no timing "
                                             "verdict (old exports; by default they are excluded like a wrong "
                                             "timing)."),
    ) -> None:
        if not 0 <= theta < 1:
            raise typer.BadParameter(f"theta ({theta!r}) must be a proportion in [0, 1)", param_hint="--theta")
        if guess_rate is not None and not 0 < guess_rate < 1:
            raise typer.BadParameter(f"guess rate ({guess_rate!r}) must be in (0, 1)", param_hint="--guess-rate")
        if ctx.args and not experiment:
            raise typer.BadParameter(f"unexpected argument(s) {' '.join(ctx.args)}", param_hint="--experiment")
        names = [*(experiment or []), *ctx.args] or None
        with exit_on_error():
            check_analysis_options(min_r=min_r, z_limit=z_limit, max_outlier_share=max_outlier_share,
                                   min_screen_ratings=min_screen_ratings, ddof=ddof,
                                   control_threshold=control_threshold, min_correlation_trials=min_correlation_trials)
            for line in run_analyze(out=out, responses=responses, kind_of=kind_of, confirmed=confirmed,
                                    rule=rule.value, theta=theta, inclusive=inclusive,
                                    bootstrap=bootstrap, seed=seed, replace=replace, block=block, base_url=base_url,
                                    control_threshold=control_threshold, min_r=min_r,
                                    experiments=names, metadata=metadata, by=by, guess_rate=guess_rate, draws=draws,
                                    verified_only=verified_only, ratings=ratings, ddof=ddof,
                                    min_correlation_trials=min_correlation_trials,
                                    rating_screen=dict(z_limit=z_limit, max_outlier_share=max_outlier_share,
                                                       min_screen_ratings=min_screen_ratings,
                                                       screen=not no_rating_screen),
                                    keep_unmeasured=keep_unmeasured):
                typer.echo(line)
