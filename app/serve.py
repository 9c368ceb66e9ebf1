"""``mvt serve`` and ``mvt demo``: uvicorn over HTTPS, with the embedded Redis when needed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from kernel.errors import MVTError
from app.protocol import GuardedConfig, GuardedHttpToolsProtocol, raise_open_file_limit
from kernel.store.redis_server import embedded_store, registered_server
from kernel.settings import LOOPBACK_PROXIES, Settings, trusted_proxy_list
from app.tls import ensure_self_signed

KEEP_ALIVE_S = 10
"""Idle seconds before a kept-alive connection is closed: a worker's page asks every few seconds."""
SHUTDOWN_GRACE_S = 2
"""Seconds a stopping server gives requests read in full to be answered (requests still arriving
get 503 at once: `app.protocol.GuardedHttpToolsProtocol.shutdown`)."""


def proxy_options(settings: Settings, proxy_headers: bool = False, forwarded_allow_ips: str | None = None) -> dict:
    """uvicorn's ``proxy_headers`` and ``forwarded_allow_ips`` for the proxies trusted to name the client.

    ``forwarded_allow_ips`` (``--forwarded-allow-ips``), else ``MVT_TRUSTED_PROXIES``, else, with
    ``proxy_headers`` (``--proxy-headers``), this host's loopback addresses; none at all: headers are
    ignored and the client is the TCP peer. Only a peer in the list may name the client, and the
    client is then the rightmost ``X-Forwarded-For`` entry not in the list (uvicorn's rule for a
    list; with ``*`` it would take the leftmost, which the client writes itself).

    >>> proxy_options(Settings(_env_file=None), forwarded_allow_ips="10.0.0.5")
    {'proxy_headers': True, 'forwarded_allow_ips': '10.0.0.5'}
    >>> proxy_options(Settings(_env_file=None))
    {'proxy_headers': False, 'forwarded_allow_ips': None}
    """
    if forwarded_allow_ips is not None:
        try:
            trusted = trusted_proxy_list(forwarded_allow_ips, "--forwarded-allow-ips")
        except ValueError as exc:
            raise MVTError(str(exc)) from None
    else:
        trusted = settings.trusted_proxies
    if not trusted and proxy_headers:
        trusted = LOOPBACK_PROXIES
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def run_server(settings: Settings, *, host: str = "127.0.0.1", port: int = 8443, certfile: Path | None = None,
               keyfile: Path | None = None, workers: int = 1, plain_http: bool = False,
               proxy_headers: bool = False, forwarded_allow_ips: str | None = None, on_ready=None) -> None:
    """Serve the app until interrupted. Starts (and stops) the embedded Redis unless MVT_REDIS_URL is set,
    holding its data folder and restarting it if it exits (`kernel.store.redis_server`).

    Client addresses come from `proxy_options`. ``on_ready(store, scheme)`` runs once Redis is up,
    before uvicorn starts.
    """
    import uvicorn

    if (certfile is None) != (keyfile is None):
        raise MVTError("give both --certfile and --keyfile, or neither (for a self-signed certificate)")
    if plain_http and certfile:
        raise MVTError("--plain-http serves without TLS; drop --certfile/--keyfile or --plain-http")
    if not plain_http and certfile is None:
        certfile, keyfile = ensure_self_signed(settings.data_dir, hosts=[host])
    proxies = proxy_options(settings, proxy_headers, forwarded_allow_ips)
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
        # uvicorn.run, with the config whose TLS the protocol starts itself (handshake deadline and budget)
        config = GuardedConfig("app.main:app_from_environment", factory=True, host=host, port=port,
                               workers=workers, loop="uvloop", http=GuardedHttpToolsProtocol, **proxies,
                               access_log=False, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S,
                               backlog=4096, limit_concurrency=settings.max_connections,
                               timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **tls)
        server = uvicorn.Server(config)
        try:  # as uvicorn.run: the Ctrl-C uvicorn re-raises after its graceful shutdown ends here
            if workers > 1:
                from uvicorn.supervisors import Multiprocess

                from app.overview_cache import Publisher

                config.supervisor_pid = os.getpid()  # the workers die with this process, kill -9 included
                # The control room's overview is computed here, in a process that serves no requests.
                publisher = Publisher(url, settings.allotted_minutes).start()
                try:
                    Multiprocess(config, sockets=[config.bind_socket()]).run()
                finally:
                    publisher.stop()
            else:
                server.run()
        except KeyboardInterrupt:
            pass
        if workers == 1 and not server.started:
            raise MVTError(f"the server could not listen on {host}:{port} (see the message above)")


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)
