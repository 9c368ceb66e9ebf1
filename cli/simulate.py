"""``mvt simulate``: simulated workers against a running server, answering as the experiment's study kind says
(`studies.base.StudyKind.simulated_answers`: MVT workers recognise, raters score)."""


import json
import math
from pathlib import Path

import typer

from kernel.errors import exit_on_error


def simulate_command(
    exp_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="The built experiment (for the ground truth)."),
    workers: int = typer.Option(100, "--workers", min=1, help="Number of simulated workers."),
    concurrency: int = typer.Option(20, "--concurrency", min=1, help="Workers active at once."),
    base_url: str = typer.Option(None, "--base-url", help="Server URL; default: design.json's base_url."),
    out: Path = typer.Option(None, "--out", help="Write truth.csv and simulation.json here."),
    seed: int = typer.Option(0, "--seed"),
    think_ms: float = typer.Option(0.0, "--think-ms", help="Mean think time per trial (0 for load tests)."),
    p_reload: float = typer.Option(0.05, "--p-reload", min=0, max=1),
    p_abandon: float = typer.Option(0.0, "--p-abandon", min=0, max=1),
    p_retry: float = typer.Option(0.05, "--p-retry", min=0, max=1),
    tasks_per_worker: int = typer.Option(1, "--tasks-per-worker", min=1),
    verify: bool = typer.Option(False, "--verify/--no-verify", help="Verify the TLS certificate."),
    careless: float = typer.Option(0.0, "--careless", min=0, max=1, help="Rating studies: share of careless "
                                   "raters (random scores, traps failed but by chance)."),
    mu: list[str] = typer.Option(None, "--mu", help="Rating studies: an algorithm's latent mean, ALG=VALUE in "
                                 "scale points (repeat for every algorithm); default drawn from the seed."),
    batches: int = typer.Option(1, "--batches", min=1, help="Adaptive studies (mvt build --adaptive): run this "
                                "many batches, each analysed, followed by `mvt next-batch` and `mvt load` "
                                "(needs the server's store: MVT_REDIS_URL or MVT_DATA_DIR); --out is required."),
) -> None:
    """Drive the real HTTP API with simulated workers and write the ground truth.

    Exits 1, saying why, when simulated workers could not finish their tasks. They all come from
    one address, so a server's per-client limits (MVT_LIMIT_*) would throttle them as one client:
    simulate against a scratch server started with the limits off (the error names the settings).

    The experiment's kind (design.json) decides how they answer: MVT workers recognise images
    from a psychometric model; raters of a rating study score samples from a population with
    known MOS per algorithm (simulation/raters.py). truth.csv holds the true MVT per image, or
    the true MOS per algorithm and per sample.

    Example: mvt simulate exp1 --workers 200 --concurrency 50 --out sim/
    """
    from simulation.workers import WorkerModel, simulate
    from studies import get_kind

    with exit_on_error():
        design = json.loads((exp_dir / "design.json").read_text())
        kind = get_kind(design.get("kind"))
        model = WorkerModel(think_ms=think_ms, p_reload=p_reload, p_abandon=p_abandon,
                            p_retry=p_retry, tasks_per_worker=tasks_per_worker)
        if batches > 1:
            _simulate_adaptive(exp_dir, design, batches, out, base_url, concurrency, model, seed, verify)
            return
        given = {"careless": careless or None, "mu": _latent_means(mu)}
        extra = sorted(name for name, value in given.items() if value is not None and name not in kind.simulation_options)
        if extra:
            named = " and ".join("--" + name for name in extra)
            takes = ", ".join("--" + name for name in sorted(kind.simulation_options)) or "none of them"
            raise typer.BadParameter(f"{named} {'is not an option' if len(extra) == 1 else 'are not options'} of "
                                     f"{kind.name} studies ({exp_dir} is one); they take {takes}")
        try:
            answers = kind.simulated_answers(exp_dir, model=model, rng=seed,
                                             options={k: v for k, v in given.items() if v is not None})
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mu") from None
        result = simulate(base_url or design["base_url"], exp_dir, n_workers=workers,
                          concurrency=concurrency, model=model, rng=seed, verify=verify, answers=answers)
        summary = result.summary()
        if out:
            out.mkdir(parents=True, exist_ok=True)
            result.truth.write_csv(out / "truth.csv")
            (out / "simulation.json").write_text(json.dumps(summary, indent=2))
        typer.echo(json.dumps(summary, indent=2))
    from simulation.stack import SIMULATION_LIMITS

    problem = result.problem(" ".join(f"{name}=0" for name in SIMULATION_LIMITS))
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1)


def _simulate_adaptive(exp_dir, design, batches, out, base_url, concurrency, model, seed, verify) -> None:
    """``mvt simulate --batches N``: a whole adaptive study (`studies.mvt_adaptive_simulation`)."""
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis
    from studies.mvt_adaptive_simulation import simulate_adaptive

    if "adaptive" not in design:
        raise typer.BadParameter(f"{exp_dir} is not an adaptive study (mvt build … --adaptive)", param_hint="--batches")
    if out is None:
        raise typer.BadParameter("an adaptive run writes each batch's analysis: give --out DIR", param_hint="--out")
    with open_redis(Settings()) as r:
        run = simulate_adaptive(r, base_url or design["base_url"], exp_dir, out, n_batches=batches,
                                concurrency=concurrency, model=model, rng=seed, verify=verify)
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.json").write_text(json.dumps(run.summary(), indent=2))
    typer.echo(json.dumps(run.summary(), indent=2))


def _latent_means(pairs: list[str] | None) -> dict[str, float] | None:
    """``["REF=4.5", "noise=2"]`` as ``{"REF": 4.5, "noise": 2.0}``; None when none are given."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name or not math.isfinite(out.get(name, 0.0)):
            raise typer.BadParameter(f"{pair!r} must be ALGORITHM=NUMBER, e.g. REF=4.5", param_hint="--mu")
    return out
