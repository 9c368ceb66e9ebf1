"""``mvt analyze``: MVT per image, accuracy, worker screening, report; optional replacement."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path

import typer

from app.errors import ReplaceNeedsRedis, exit_on_error


class Rule(str, enum.Enum):
    """MVT decision rules (see `analysis.mvt`)."""

    stable = "stable"
    first = "first"
    isotonic = "isotonic"


ANALYZE_HELP = """Analyse responses: MVT per image, accuracy per duration, worker screening, report.

Reads every response from Redis (MVT_REDIS_URL, else the embedded server in MVT_DATA_DIR), or from a CSV written by `mvt export` with --responses. Writes DIR/mvt.csv (MVT per image with bootstrap intervals), DIR/accuracy.csv, DIR/workers.csv (screening flags and reasons), DIR/cells.csv (per image and duration) and DIR/report.html.

With --replace (Redis only) the flagged workers' assignments are marked for replacement and DIR/repost.csv lists the links that need assignments again.

Rating studies (mvt build-ratings) are analysed as such: from Redis when a loaded experiment is one, from a CSV with --ratings EXP_DIR. They write DIR/mos_by_algorithm.csv, DIR/mos_by_sample.csv, DIR/workers.csv and DIR/report.html (analysis.ratings).

Example: mvt analyze --out results --responses responses.csv --rule stable --bootstrap 1000
"""


def designs_from_redis(r) -> dict[str, dict]:
    """The ``design.json`` of every loaded link's experiment, by link id.

    The loader records each link's ``videos`` folder; ``design.json`` sits next to it. Links
    whose experiment folder is gone are left out.
    """
    from app.store import keys

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


def run_analyze(*, out: Path, responses: Path | None, rule: str, theta: float, inclusive: bool, bootstrap: int,
                seed: int, replace: bool, block: bool, base_url: str | None, psychometric: bool,
                control_threshold: float, min_r: float, ratings: Path | None = None) -> list[str]:
    """Run the analysis behind ``mvt analyze`` and return the summary lines it prints."""
    if ratings is not None and responses is not None:
        from analysis.ratings_commands import run_ratings_csv

        return run_ratings_csv(out=out, responses=responses, exp_dir=ratings, replace=replace, block=block,
                               min_r=min_r)
    from analysis.analyze import analyze, progress_from_responses, repost_table, write_outputs, write_repost
    from analysis.responses import read_responses_csv, read_responses_redis

    options = dict(rule=rule, theta=theta, inclusive=inclusive, n_bootstrap=bootstrap, rng=seed,
                   control_threshold=control_threshold, min_r=min_r, psychometric=psychometric)
    lines = []
    if responses is not None:
        if replace or block:
            raise ReplaceNeedsRedis(
                "--replace and --block change assignments in Redis, but --responses reads a CSV; "
                "run mvt analyze without --responses, with MVT_REDIS_URL (or MVT_DATA_DIR) pointing at the server")
        result = analyze(read_responses_csv(responses), source=str(responses), **options)
    else:
        from app import admin
        from app.store.redis_server import open_redis
        from app.settings import Settings

        with open_redis(Settings()) as r:
            designs = designs_from_redis(r)
            if any(d.get("kind") == "ratings" for d in designs.values()):
                from analysis.ratings_commands import run_ratings_redis

                return run_ratings_redis(r, designs, out=out, replace=replace, block=block, min_r=min_r)
            frame_counts = sorted({int(f) for d in designs.values() for f in d.get("frame_counts", [])}) or None
            classes = {c for d in designs.values() for c in d.get("classes", [])}
            result = analyze(read_responses_redis(r), link_progress=admin.link_progress(r), source="redis",
                             frame_counts=frame_counts, n_choices=len(classes) or None, **options)
            flagged_workers = result.screening.workers.loc[result.screening.workers["flagged"], "worker_id"].tolist()
            if replace:
                marked = admin.mark_for_replacement(r, result.screening.flagged_assignments())
                progress = admin.link_progress(r)
                result = dataclasses.replace(
                    result, progress=progress_from_responses(result.responses, result.screening, progress))
                urls = base_url or {link: d["base_url"] for link, d in designs.items() if d.get("base_url")}
                table = repost_table(progress, base_url=urls)
                Path(out).mkdir(parents=True, exist_ok=True)
                write_repost(table, Path(out) / "repost.csv")
                lines.append(f"marked {len(marked)} assignment(s) of {len(flagged_workers)} flagged worker(s) for "
                             f"replacement; {int(table['n_assignments'].sum())} assignment(s) to repost on "
                             f"{len(table)} link(s) ({Path(out) / 'repost.csv'})")
            if block:
                admin.block_workers(r, flagged_workers)
                lines.append(f"blocked {len(flagged_workers)} flagged worker(s)")
    paths = write_outputs(result, out)
    s = result.screening.summary()
    c = result.mvt.status_counts()
    lines.insert(0, f"{s['responses']} responses, {s['used']} used; {s['workers']} workers, {s['flagged']} flagged; "
                    f"{len(result.mvt.table)} images: {c['ok']} with an MVT, {c['unrecognised']} unrecognised, "
                    f"{c['insufficient']} insufficient (rule {rule})")
    lines.insert(1, "wrote " + ", ".join(str(p) for p in paths.values()))
    return lines


def register(app: typer.Typer) -> None:
    """Add ``mvt analyze`` to the ``mvt`` CLI."""

    @app.command("analyze", help=ANALYZE_HELP)
    def analyze_command(
        out: Path = typer.Option(..., "--out", help="Folder for the output files."),
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
        psychometric: bool = typer.Option(False, "--psychometric", help="Also fit a psychometric function per "
                                          "image (threshold_ms column)."),
        control_threshold: float = typer.Option(0.6, "--control-threshold", help="Flag workers whose accuracy "
                                                "at the longest duration is below this."),
        min_r: float = typer.Option(0.25, "--min-r", help="Flag workers whose accuracy profile correlates "
                                    "with everybody else's below this."),
        ratings: Path | None = typer.Option(None, "--ratings", help="With --responses: the EXP_DIR of the rating "
                                            "study they belong to (from Redis, rating studies are found by kind)."),
    ) -> None:
        if not 0 <= theta < 1:
            raise typer.BadParameter(f"theta ({theta!r}) must be a proportion in [0, 1)", param_hint="--theta")
        with exit_on_error():
            for line in run_analyze(out=out, responses=responses, rule=rule.value, theta=theta, inclusive=inclusive,
                                    bootstrap=bootstrap, seed=seed, replace=replace, block=block, base_url=base_url,
                                    psychometric=psychometric, control_threshold=control_threshold, min_r=min_r,
                                    ratings=ratings):
                typer.echo(line)
