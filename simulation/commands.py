"""``mvt simulate``: simulated workers against a running server."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from app.errors import exit_on_error


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
) -> None:
    """Drive the real HTTP API with simulated workers and write the ground truth.

    Example: mvt simulate exp1 --workers 200 --concurrency 50 --out sim/
    """
    from simulation.workers import WorkerModel, simulate

    with exit_on_error():
        design = json.loads((exp_dir / "design.json").read_text())
        model = WorkerModel(think_ms=think_ms, p_reload=p_reload, p_abandon=p_abandon,
                            p_retry=p_retry, tasks_per_worker=tasks_per_worker)
        result = simulate(base_url or design["base_url"], exp_dir, n_workers=workers,
                          concurrency=concurrency, model=model, rng=seed, verify=verify)
        summary = result.summary()
        if out:
            out.mkdir(parents=True, exist_ok=True)
            result.truth.write_csv(out / "truth.csv")
            (out / "simulation.json").write_text(json.dumps(summary, indent=2))
        typer.echo(json.dumps(summary, indent=2))
