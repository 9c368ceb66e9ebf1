"""Commands of the experiment server: serve, load, export, drop, replace, block, unblock, demo."""


import json
from pathlib import Path
from typing import Annotated

import typer

from kernel.errors import exit_on_error


def _check_port_free(host: str, port: int) -> None:
    """Raise `MVTError` (one line, before anything is started or printed) when ``host:port`` is taken,
    naming the mvt server that holds it when one on this machine noted itself there."""
    import socket

    from kernel.errors import MVTError
    from kernel.store.redis_server import running_servers

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            holders = [s for s in running_servers() if s["address"].rsplit(":", 1)[-1] == str(port)]
            who = (f"mvt serve (pid {holders[0]['pid']}) serves {holders[0]['address']} there" if holders
                   else "another program uses it")
            raise MVTError(f"cannot listen on {host}:{port} ({exc.strerror}): {who}; stop it or choose "
                           "another --port") from None


def _quiet_interrupt(record) -> bool:
    """Logging filter: no traceback for the tasks a second Ctrl-C cancels (uvicorn logs starlette's
    lifespan traceback as an error, and then that shutdown "failed")."""
    import asyncio

    exc = record.exc_info[1] if record.exc_info else None
    while exc is not None:
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            return False
        exc = exc.__context__
    message = record.getMessage()
    if message.startswith("Traceback") and message.rstrip().endswith(("CancelledError", "KeyboardInterrupt")):
        _quiet_interrupt.cancelled = True
        return False
    return not (message == "Application shutdown failed. Exiting." and getattr(_quiet_interrupt, "cancelled", False))


def _stopped_line() -> str:
    """What ``mvt serve`` says once stopped: how many requests still arriving were told to retry."""
    from app.protocol import GuardedHttpToolsProtocol

    n = GuardedHttpToolsProtocol.told_to_retry
    told = f"; {n} request{'s' if n != 1 else ''} still arriving {'were' if n != 1 else 'was'} told to retry (503)" \
        if n else ""
    return f"stopped{told}"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8443,
    certfile: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="TLS certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="TLS private key (PEM).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (one per core is fastest).")] = 1,
    plain_http: Annotated[bool, typer.Option("--plain-http", help="No TLS: only behind an HTTPS proxy.")] = False,
    proxy_headers: Annotated[bool, typer.Option(
        "--proxy-headers", help="Read X-Forwarded-For/-Proto from trusted proxies: --forwarded-allow-ips, "
                                "else MVT_TRUSTED_PROXIES, else a proxy on this host (127.0.0.1, ::1).")] = False,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", help="Comma-separated proxy addresses or networks trusted to name the client "
                                      "(implies --proxy-headers; overrides MVT_TRUSTED_PROXIES).")] = None,
    log_format: Annotated[str, typer.Option(help="One line per allocation, completion and refusal on stderr: "
                                                 "text, json or off.")] = "text",
) -> None:
    """Serve the experiment over HTTPS (self-signed certificate in MVT_DATA_DIR unless given).

    Ctrl-C stops within 2 s: requests still arriving get 503 (the page retries), requests read in
    full get 2 s to be answered; a second Ctrl-C stops at once.

    Example: mvt serve --host 0.0.0.0 --port 8443 --workers 2
    Behind a proxy at 10.0.0.5: mvt serve --plain-http --forwarded-allow-ips 10.0.0.5
    """
    from kernel.settings import Settings

    from app.serve import run_server
    from kernel.store.redis_server import store_description

    import os

    # Through the environment, so that every server process (--workers N) reads it.
    os.environ["MVT_LOG_FORMAT"] = log_format
    with exit_on_error():
        settings = Settings()
        _check_port_free(host, port)

        def ready(store, scheme: str) -> None:
            typer.echo(f"store: {store_description(store, settings)}")
            typer.echo(f"serving {scheme}://{host}:{port}; Ctrl-C stops")

        import logging

        logging.getLogger("uvicorn.error").addFilter(_quiet_interrupt)
        run_server(settings, host=host, port=port, certfile=certfile, keyfile=keyfile, workers=workers,
                   plain_http=plain_http, proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips,
                   on_ready=ready)
        typer.echo(_stopped_line())


def load(
    exp_dir: Annotated[Path, typer.Argument(help="A folder written by `mvt build`.")],
    new_store: Annotated[bool, typer.Option(
        "--new-store", help="Load into a new or empty store even while servers on this machine use others.")] = False,
) -> None:
    """Put a built experiment into Redis (idempotent).

    Refuses a new or empty MVT_DATA_DIR store that no running server uses while another server
    runs (the experiment would reach no worker), unless --new-store; with MVT_REDIS_URL (which
    servers on other hosts may use) it only warns.

    Example: mvt load exp1
    """
    from kernel.errors import NoStore
    from kernel.settings import Settings

    from studies.loader import load_experiment
    from kernel.store.redis_server import empty_store_warning, open_redis, unserved_store_refusal

    with exit_on_error():
        settings = Settings()
        if not new_store and (refusal := unserved_store_refusal(settings)):
            raise NoStore(refusal)
        with open_redis(settings) as r:
            if not new_store and (refusal := unserved_store_refusal(settings, r, r.mvt_store_url)):
                raise NoStore(refusal)
            warning = empty_store_warning(r, r.mvt_store_url) if settings.redis_url else None
            typer.echo(load_experiment(r, exp_dir).summary())
            if warning:
                typer.echo(warning, err=True)


def export(
    out: Annotated[Path, typer.Argument(help="CSV file to write.")],
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", help="Experiment id(s) to export; needed when the store holds several.")] = None,
) -> None:
    """Write every recorded response to a CSV file, one row per trial, with its experiment id and the
    columns of its study kind (MVT: image_id, label, frames ...; ratings: sample_id, rating ...).

    With several experiments in the store, name them: --experiment NAME (repeatable). Experiments of
    different kinds have different columns: export each kind to its own file.

    Example: mvt export responses.csv --experiment exp1
    """
    from kernel.export import check_writable, choose_experiments, experiment_links, write_csv
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    with exit_on_error():
        check_writable(out)  # before the store is opened: a typo costs no wait
    with exit_on_error(), open_redis(Settings(), existing=True) as r:
        chosen = choose_experiments(experiment_links(r), experiment)
        n = write_csv(r, out, chosen)
        typer.echo(f"wrote {n} responses to {out}")


def drop(
    experiment: Annotated[str, typer.Argument(help="The experiment id to remove (as mvt load printed it).")],
    commit: Annotated[bool, typer.Option("--commit", help="Remove it; without this only show what would go.")] = False,
) -> None:
    """Remove an experiment (a demo, a pilot) from the store: its links, lists, assignments,
    responses and index entries. A dry run unless --commit; export its responses first.

    Example: mvt drop pilot1; mvt drop pilot1 --commit
    """
    from kernel.drop import drop as drop_experiment
    from kernel.drop import plan_drop
    from kernel.settings import Settings
    from kernel.store.redis_server import open_redis

    with exit_on_error(), open_redis(Settings(), existing=True) as r:
        plan = plan_drop(r, experiment)
        if not commit:
            typer.echo(f"would remove {plan.summary()}")
            typer.echo(f"Dry run: nothing was removed. Export its responses first (mvt export FILE --experiment "
                       f"{experiment}), then add --commit.")
            return
        drop_experiment(r, plan)
        typer.echo(f"removed {plan.summary()}")


def replace(assignment_ids: Annotated[list[str], typer.Argument(help="Assignment ids.")]) -> None:
    """Mark assignments for replacement: new workers redo their lists.

    Example: mvt replace 3ABC... 3DEF...
    """
    from kernel.settings import Settings

    from kernel.admin import mark_for_replacement
    from kernel.store.redis_server import open_redis

    with exit_on_error(), open_redis(Settings(), existing=True) as r:
        marked = mark_for_replacement(r, assignment_ids)
        typer.echo(f"marked {len(marked)} of {len(assignment_ids)} assignments for replacement")
        for assignment_id in assignment_ids:
            if assignment_id not in marked:
                typer.echo(f"not marked: {assignment_id} (unknown, already marked, or already taken over)")


def block(worker_ids: Annotated[list[str], typer.Argument(help="Worker ids.")]) -> None:
    """Block workers from new and unfinished tasks.

    Example: mvt block A1B2C3D4E5
    """
    from kernel.settings import Settings

    from kernel.admin import blocked_workers, block_workers
    from kernel.store.redis_server import open_redis

    with exit_on_error(), open_redis(Settings()) as r:
        block_workers(r, worker_ids)
        typer.echo(f"blocked {len(worker_ids)} workers; {len(blocked_workers(r))} blocked in total")


def unblock(worker_ids: Annotated[list[str], typer.Argument(help="Worker ids.")]) -> None:
    """Lift blocks.

    Example: mvt unblock A1B2C3D4E5
    """
    from kernel.settings import Settings

    from kernel.admin import blocked_workers, unblock_workers
    from kernel.store.redis_server import open_redis

    with exit_on_error(), open_redis(Settings()) as r:
        unblock_workers(r, worker_ids)
        typer.echo(f"unblocked {len(worker_ids)} workers; {len(blocked_workers(r))} blocked in total")


def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8443,
    ratings: Annotated[bool, typer.Option(
        "--ratings", help="Serve a rating study of the bundled samples (--design, --media) instead.")] = False,
    design: Annotated[str, typer.Option(
        help="With --ratings: random, diff-source, same-source, mushra or dsis.")] = "random",
    media: Annotated[str, typer.Option(help="With --ratings: the bundled audio or images.")] = "audio",
) -> None:
    """Build a small experiment from the bundled samples, load it, serve it, print the URLs.

    Example: mvt demo --port 8443; mvt demo --ratings --design dsis --media images
    """
    from kernel.settings import Settings

    from studies.loader import load_experiment
    from kernel.store.connect import client_from_url
    from app.serve import run_server
    from stimuli.build import build_demo
    from kernel.store.redis_server import store_description

    with exit_on_error():
        settings = Settings()
        _check_port_free(host, port)
        base = f"https://{host}:{port}"
        if ratings:
            from stimuli.ratings_build import build_ratings_demo

            exp_dir = build_ratings_demo(settings.data_dir.resolve(), base, design, media)
        elif (design, media) != ("random", "audio"):
            raise typer.BadParameter("--design and --media choose a rating demo: add --ratings")
        else:
            exp_dir = build_demo(settings.data_dir, base)
        link = json.loads((exp_dir / "design.json").read_text())["links"][0]["link_id"]

        def ready(store, scheme: str) -> None:
            typer.echo(f"store: {store_description(store, settings)}")
            client = client_from_url(store.url)
            try:
                typer.echo(load_experiment(client, exp_dir).summary())
            finally:
                client.close()
            typer.echo(f"worker page:     {base}/experiment.html?link={link}&b=DEMO_A1&c=DEMO_H1&d=DEMO_W1")
            typer.echo(f"landing preview: {base}/mturk/landing?link={link}&assignmentId=DEMO_A1&hitId=DEMO_H1"
                       f"&workerId=DEMO_W1&turkSubmitTo={base}")
            typer.echo("the certificate is self-signed: accept it in the browser once. Ctrl-C stops.")

        run_server(settings, host=host, port=port, on_ready=ready)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the ``mvt`` CLI."""
    for command in (serve, load, export, drop, replace, block, unblock, demo):
        app.command(command.__name__)(command)
