"""``mvt serve`` and ``mvt demo``: uvicorn over HTTPS, with the embedded Redis when needed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from kernel.errors import MVTError
from app.protocol import GuardedHttpToolsProtocol, raise_open_file_limit
from kernel.store.redis_server import embedded_store, registered_server
from kernel.settings import Settings
from app.tls import ensure_self_signed

KEEP_ALIVE_S = 10
"""Idle seconds before a kept-alive connection is closed: a worker's page asks every few seconds."""
SHUTDOWN_GRACE_S = 2
"""Seconds a stopping server gives requests read in full to be answered (requests still arriving
get 503 at once: `app.protocol.GuardedHttpToolsProtocol.shutdown`)."""


def run_server(settings: Settings, *, host: str = "127.0.0.1", port: int = 8443, certfile: Path | None = None,
               keyfile: Path | None = None, workers: int = 1, plain_http: bool = False,
               proxy_headers: bool = False, on_ready=None) -> None:
    """Serve the app until interrupted. Starts (and stops) the embedded Redis unless MVT_REDIS_URL is set,
    holding its data folder and restarting it if it exits (`kernel.store.redis_server`).

    ``on_ready(store, scheme)`` runs once Redis is up, before uvicorn starts.
    """
    import uvicorn

    if (certfile is None) != (keyfile is None):
        raise MVTError("give both --certfile and --keyfile, or neither (for a self-signed certificate)")
    if plain_http and certfile:
        raise MVTError("--plain-http serves without TLS; drop --certfile/--keyfile or --plain-http")
    if not plain_http and certfile is None:
        certfile, keyfile = ensure_self_signed(settings.data_dir, hosts=[host])
    raise_open_file_limit()
    settings.signing_key  # noqa: B018 - make the key file before worker processes race to
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that would
    # end the process before the embedded Redis is stopped, so turn it into SystemExit.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    scheme = "http" if plain_http else "https"
    with embedded_store(settings, role="serve") as store, registered_server(store, f"{scheme}://{host}:{port}"):
        url = store.url
        os.environ["MVT_REDIS_URL"] = url
        os.environ["MVT_DATA_DIR"] = str(settings.data_dir.resolve())
        if on_ready is not None:
            on_ready(store, scheme)
        tls = {} if plain_http else {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}
        uvicorn.run("app.main:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http=GuardedHttpToolsProtocol, proxy_headers=proxy_headers,
                    forwarded_allow_ips="*" if proxy_headers else None, access_log=False,
                    log_level="warning", timeout_keep_alive=KEEP_ALIVE_S, backlog=4096,
                    limit_concurrency=settings.max_connections, timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **tls)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)
