"""``mvt analyze`` for rating studies: read the responses and the design, analyse, write, summarise.

The rating kind's analysis (`studies.ratings.RatingsKind.analyze` calls `run_ratings`): from Redis
the chosen experiments' links (their design.json), from a CSV the study ``--ratings EXP_DIR`` names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kernel.errors import BadExperiment


def ratings_designs(designs: dict[str, dict]) -> dict[str, dict]:
    """The rating experiments of the chosen links' designs (all of the rating kind), by experiment id."""
    return {d["experiment_id"]: d for d in designs.values()}


def run_ratings(request) -> list[str]:
    """``mvt analyze`` for rating experiments (an `analysis.commands.AnalysisRequest`)."""
    o = request.options
    if request.responses is not None:
        if request.design_dir is None:
            raise BadExperiment("a rating study's responses CSV needs --ratings EXP_DIR (the built study)")
        return run_ratings_csv(out=request.out, responses=request.responses, exp_dir=request.design_dir,
                               min_r=o["min_r"])
    return run_ratings_redis(request.r, request.designs, out=request.out, replace=o.get("replace", False),
                             block=o.get("block", False), min_r=o["min_r"])


def _summary(result, paths) -> list[str]:
    w = result.workers
    best = result.by_algorithm.sort_values("mos", ascending=False)
    # A NaN interval (df < 1: one worker or one sample of the algorithm) is named, not printed as [nan, nan].
    scores = ", ".join(f"{r.algorithm} {r.mos:.2f} " + (f"[{r.ci_low:.2f}, {r.ci_high:.2f}]" if pd.notna(r.ci_low)
                                                        else f"[no interval, df {r.df}]") for r in best.itertuples())
    return [f"{len(result.used)} ratings used; {len(w)} workers, {int(w['flagged'].sum())} flagged; "
            f"{len(result.slow_assignments)} assignment(s) too fast; design {result.design} ({result.scale})",
            f"no estimate: {result.nothing_left}" if result.nothing_left else f"per algorithm: {scores}",
            "wrote " + ", ".join(str(p) for p in paths.values())]


def run_ratings_csv(*, out: Path, responses: Path, exp_dir: Path, min_r: float) -> list[str]:
    """Analyse a responses CSV of the rating study built in ``exp_dir`` (``--replace`` and
    ``--block`` were refused before: a CSV changes nothing in Redis)."""
    from analysis.ratings import analyze_ratings, write_outputs

    path = Path(exp_dir) / "design.json"
    try:
        design = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadExperiment(f"--ratings {exp_dir}: cannot read {path} ({exc})") from None
    raw = pd.read_csv(responses, dtype=str, keep_default_na=False, na_values=[""])
    result = analyze_ratings(raw, design, min_r=min_r)
    return _summary(result, write_outputs(result, out, source=str(responses)))


def run_ratings_redis(r, designs: dict[str, dict], *, out: Path, replace: bool, block: bool,
                      min_r: float) -> list[str]:
    """Analyse the one rating experiment loaded in Redis; ``--replace``/``--block`` act on flagged workers."""
    from analysis.ratings import analyze_ratings, write_outputs
    from kernel import admin
    from kernel.export import iter_response_rows

    experiments = ratings_designs(designs)
    if len(experiments) > 1:
        names = ", ".join(sorted(experiments))
        raise BadExperiment(f"the store holds {len(experiments)} rating experiments ({names}); "
                            f"analyse one at a time with --experiment NAME")
    (experiment_id, design), = experiments.items()
    raw = pd.DataFrame(list(iter_response_rows(r, [experiment_id])))
    result = analyze_ratings(raw, design, min_r=min_r)
    lines = _summary(result, write_outputs(result, out, source=f"redis (experiment {experiment_id})"))
    if replace:
        marked = admin.mark_for_replacement(r, result.flagged_assignments())
        lines.append(f"marked {len(marked)} assignment(s) of flagged or too fast workers for replacement")
    if block:
        flagged = result.workers.loc[result.workers["flagged"], "worker_id"].tolist()
        admin.block_workers(r, flagged)
        lines.append(f"blocked {len(flagged)} flagged worker(s)")
    return lines
