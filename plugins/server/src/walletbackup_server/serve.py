"""``walletbackup serve``: the app on uvicorn, in this process, until SIGTERM or Ctrl-C.

Once the socket listens, exactly one line ``listening on http://HOST:PORT`` goes to standard
output (the real port when ``--listen`` asked for port 0), so a supervisor or a test can read
where the service is. On SIGTERM uvicorn stops accepting, lets requests in flight finish, and
the process exits 0 after closing the stores.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import uvicorn

from walletbackup import Custodian
from walletbackup.kms import KmsKeyMissing

from .app import create_app
from .config import ServerConfig
from .state import ServerState

log = logging.getLogger("walletbackup.server")


def run(config: ServerConfig) -> None:
    """Serve until told to stop."""
    host, port = config.address()
    settings = config.settings()
    custodian = Custodian(store=config.store, kms=config.kms)
    state = ServerState.open(config.state_url())
    try:
        _ensure_kms_key(custodian)
        app = create_app(custodian, state, settings=settings)
        # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 on its own;
        # the app decides whom to believe (settings.trusted_proxies, rate limits by source).
        server = uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=port, access_log=False, log_config=None, proxy_headers=False
            )
        )
        # uvicorn re-raises the signal that stopped it once it is done; a handler that does
        # nothing lets the process end normally (exit 0) after the stores are closed.
        previous = signal.signal(signal.SIGTERM, _ignore)
        try:
            asyncio.run(_serve(server))
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        state.close()
        custodian.close()


async def _serve(server: uvicorn.Server) -> None:
    announce = asyncio.create_task(_announce(server))
    try:
        await server.serve()
    finally:
        announce.cancel()


async def _announce(server: uvicorn.Server) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"listening on http://{shown}:{port}\n")
    sys.stdout.flush()


def _ensure_kms_key(custodian: Custodian) -> None:
    """Create the KMS key of a new custodian (no sealed share yet), so /readyz can say ready.

    With shares already sealed and the key missing, nothing is created: a new key would not
    open them, and /readyz says the KMS is not ready until the key is restored.
    """
    try:
        custodian.kms.key_info()
    except KmsKeyMissing:
        if next(iter(custodian.store.wallets()), None) is None:
            custodian.kms.create_key()
            log.info("created a new KMS key for the empty custodian store")


def _ignore(*_: Any) -> None:
    pass


__all__ = ["run"]
