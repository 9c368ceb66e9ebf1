"""``mvt analyze`` for rating studies: read the responses and the design, analyse, write, summarise.

The rating kind's analysis (`studies.ratings.RatingsKind.analyze` calls `run_ratings`): from Redis
the chosen experiments' links (their design.json), from a CSV the study ``--ratings EXP_DIR`` names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kernel import csvsafe
from kernel.errors import BadExperiment


def ratings_designs(designs: dict[str, dict]) -> dict[str, dict]:
    """The rating experiments of the chosen links' designs (all of the rating kind), by experiment id."""
    return {d["experiment_id"]: d for d in designs.values()}


def run_ratings(request) -> list[str]:
    """``mvt analyze`` for rating experiments (an `analysis.commands.AnalysisRequest`)."""
    o = request.options
    options = {**(o.get("rating_screen") or {}), "ddof": o.get("ddof", 1)}
    if request.responses is not None:
        if request.design_dir is None:
            raise BadExperiment("a rating study's responses CSV needs --ratings EXP_DIR (the built study)")
        return run_ratings_csv(out=request.out, responses=request.responses, exp_dir=request.design_dir,
                               min_r=o["min_r"], **options)
    return run_ratings_redis(request.r, request.designs, out=request.out, replace=o.get("replace", False),
                             block=o.get("block", False), min_r=o["min_r"], verified_only=o.get("verified_only"),
                             confirmed=request.confirmed, **options)


def _summary(result, paths) -> list[str]:
    w = result.workers
    best = result.by_algorithm.sort_values("mos", ascending=False)
    # Every interval is on the scale with positive width; one that is not crowdMOS names its method.
    scores = ", ".join(f"{r.algorithm} {r.mos:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                       + ("" if r.ci_method == "crowdmos" else f" ({r.ci_method})") for r in best.itertuples())
    note = [result.settings["status_note"]] if result.settings.get("status_note") else []
    return [f"{len(result.used)} ratings used; {len(w)} workers, {int(w['flagged'].sum())} flagged; "
            f"{len(result.slow_assignments)} assignment(s) too fast; design {result.design} ({result.scale})",
            *note,
            f"no estimate: {result.nothing_left}" if result.nothing_left else f"per algorithm: {scores}",
            "wrote " + ", ".join(str(p) for p in paths.values())]


def write_progress(result, out: Path, link_progress=None) -> Path:
    """``progress.csv`` of a rating study (`analysis.analyze.PROGRESS_COLUMNS`): assignments per link
    from Redis (``link_progress``) or counted from the responses, with flagged complete assignments."""
    from analysis.analyze import progress_from_responses

    path = Path(out) / "progress.csv"
    progress = progress_from_responses(result.responses, result, link_progress)
    progress.to_csv(path, index=False)
    return path


def run_ratings_csv(*, out: Path, responses: Path, exp_dir: Path, min_r: float, **options) -> list[str]:
    """Analyse a responses CSV of the rating study built in ``exp_dir`` (``--replace`` and
    ``--block`` were refused before: a CSV changes nothing in Redis); ``options`` go to
    `analysis.ratings.analyze_ratings` (``ddof``, ``z_limit``, ``max_outlier_share``, ``min_screen_ratings``,
    ``screen``)."""
    from analysis.ratings import analyze_ratings, write_outputs

    path = Path(exp_dir) / "design.json"
    try:
        design = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadExperiment(f"--ratings {exp_dir}: cannot read {path} ({exc})") from None
    raw = pd.read_csv(responses, dtype=str, keep_default_na=False, na_values=[""])
    # mvt export wrote formula-like text (a source named "=x") with a leading quote: read back what was stored
    csvsafe.restore_frame(raw, raw.columns)
    result = analyze_ratings(raw, design, min_r=min_r, **options)
    paths = write_outputs(result, out, source=str(responses))
    paths["progress"] = write_progress(result, out)
    return _summary(result, paths)


def run_ratings_redis(r, designs: dict[str, dict], *, out: Path, replace: bool, block: bool,
                      min_r: float, verified_only: bool | None = None, confirmed=None,
                      **options) -> list[str]:
    """Analyse the one rating experiment loaded in Redis; ``--replace``/``--block`` act on flagged workers;
    ``options`` as for `run_ratings_csv`. ``verified_only`` as for MVT studies (`analysis.verified`):
    keep only work the platform's records confirm (default: when such records exist; ``confirmed(table)``
    gives the registered platforms' records); the line saying what was kept comes first."""
    from analysis.ratings import analyze_ratings, write_outputs
    from kernel import admin
    from kernel.export import iter_response_rows

    experiments = ratings_designs(designs)
    if len(experiments) > 1:
        names = ", ".join(sorted(experiments))
        raise BadExperiment(f"the store holds {len(experiments)} rating experiments ({names}); "
                            f"analyse one at a time with --experiment NAME")
    (experiment_id, design), = experiments.items()
    from analysis.flags import RATING_NUMBERS, RATING_RULES, keep_flags, stored_reasons
    from kernel.flags import stored_flags

    from analysis.verified import verify_responses

    raw = pd.DataFrame(list(iter_response_rows(r, [experiment_id])))
    verification = verify_responses(raw, confirmed(raw) if confirmed else {}) if len(raw) else None
    if verification is not None:
        raw = verification.kept(verified_only).drop(columns=["verified", "verification"])
    result = analyze_ratings(raw, design, min_r=min_r, standing_flags=stored_reasons(stored_flags(r)), **options)
    links = {link["link_id"] for link in design.get("links", [])}
    paths = write_outputs(result, out, source=f"redis (experiment {experiment_id})")
    paths["progress"] = write_progress(result, out, [p for p in admin.link_progress(r) if p.link_id in links])
    lines = _summary(result, paths)
    if replace:
        from analysis.analyze import repost_table, write_repost

        marked = admin.mark_for_replacement(r, result.flagged_assignments())
        progress = [p for p in admin.link_progress(r) if p.link_id in links]
        write_progress(result, out, progress)
        repost = repost_table(progress, base_url=design.get("base_url"))
        write_repost(repost, Path(out) / "repost.csv")
        lines.append(f"marked {len(marked)} assignment(s) of flagged or too fast workers for replacement; "
                     f"{int(repost['n_assignments'].sum())} assignment(s) to repost on {len(repost)} link(s) "
                     f"({Path(out) / 'repost.csv'})")
    if block:
        flagged = result.workers.loc[result.workers["flagged"], "worker_id"].tolist()
        admin.block_workers(r, flagged)
        lines.append(f"blocked {len(flagged)} flagged worker(s)")
    if verification is not None:
        lines.append(verification.summary(verified_only))
    lines.append(keep_flags(r, result.workers, rules=RATING_RULES, numbers=RATING_NUMBERS,
                            experiments=[experiment_id]))
    return lines
