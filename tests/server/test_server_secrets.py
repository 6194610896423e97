"""No secret reaches a log line, a metric or an error body, through a whole flow.

A tenant is made, its backend mints a user token, a device backs up (a known client share,
custodian share and passphrase) and recovers, the tenant's node fetches the custodian share, and
callers try near-miss credentials. Every logger runs at DEBUG (uvicorn's access log included),
/metrics is scraped, every answer body is kept; none of them holds any secret, in any of the
spellings a careless line would use (raw, hex, base64, base64url).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import quick_methods
import uvicorn
from quick_methods import PASS
from service_http import bearer

from walletbackup import Custodian, WalletBackup
from walletbackup_server import ServerState, Tenants, create_app
from walletbackup_server.auditchain import ChainedStore


class Recording(httpx.Client):
    """An httpx client that keeps every error answer's body (a share answer holds the share)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bodies: list[str] = []

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        if response.status_code >= 400:
            self.bodies.append(response.text)
        return response


@contextmanager
def serving_loudly(app: Any) -> Iterator[str]:
    """uvicorn as loud as it gets: access log on, every logger at DEBUG."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, access_log=True, log_config=None,
                       log_level="debug", proxy_headers=False)
    )  # fmt: skip
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def spellings(secret: str | bytes) -> set[str]:
    """How a secret could show up in text: as itself, hex, base64 and base64url."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = {
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        repr(raw)[2:-1],
    }
    if isinstance(secret, str):
        forms.add(secret)
    return {form for form in forms if len(form) >= 8}


def near_misses(credential: str) -> list[str]:
    """Credentials one step from a real one: a changed last character, another prefix, short."""
    flipped = credential[:-1] + ("A" if credential[-1] != "A" else "B")
    other = "wbu_" if credential.startswith("wbk_") else "wbk_"
    return [flipped, other + credential[4:], credential[:-1], credential + "A"]


def test_no_secret_in_logs_metrics_or_error_bodies(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "walletbackup", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    client_share, custodian_share = os.urandom(32), os.urandom(32)
    passphrase = "correct horse battery staple 7141"

    with quick_methods.installed():
        custodian = Custodian(
            store=f"sqlite://{tmp_path / 'custodian.db'}",
            kms=f"local://{tmp_path / 'custodian.key'}",
        )
        custodian.kms.create_key()
        state = ServerState.open(f"sqlite://{tmp_path / 'state.db'}")
        backend, node = Tenants(state).add_tenant("acme")
        app = create_app(custodian, state)
        with serving_loudly(app) as url, Recording(base_url=url) as client:
            minted = client.post(
                "/v1/tokens", json={"user": "alice"}, headers=bearer(backend.secret)
            )
            token = minted.json()["token"]
            device = WalletBackup(custodian=url, token=token, device_state=None)
            device.backup_wallet(
                "w1", client_share, method=PASS, passphrase=passphrase,
                custodian_share=custodian_share,
            )  # fmt: skip
            device.verify_backup("w1", method=PASS, passphrase=passphrase)
            recovered = device.recover_wallet("w1", method=PASS, passphrase=passphrase)
            assert (recovered.client_share, recovered.custodian_share) == (client_share, None)
            share = "/v1/users/alice/wallets/w1/revisions/1/custodian-share"
            assert client.get(share, headers=bearer(node.secret)).status_code == 200
            assert client.post("/v1/wallets/w1/revisions/1/check", json={},
                               headers=bearer(token)).status_code == 200  # fmt: skip

            misses = [*near_misses(token), *near_misses(backend.secret), *near_misses(node.secret)]
            for miss in misses:
                for method, path in (("GET", "/v1/wallets/w1"), ("POST", "/v1/tokens"),
                                     ("GET", share), ("GET", "/v1/me")):  # fmt: skip
                    answer = client.request(method, path, json={"user": "x"}, headers=bearer(miss))
                    assert answer.status_code in (400, 401), (path, answer.status_code)
            # Wrong passphrase: the device's own error path, through the service.
            try:
                device.recover_wallet("w1", method=PASS, passphrase=passphrase + "x")
            except Exception as exc:  # any failure: its text is checked below
                client.bodies.append(str(exc))
            device.close()
            metrics = client.get("/metrics").text
        assert isinstance(custodian.store, ChainedStore)
        chain_key = custodian.store.key.get()
        custodian.close()
        state.close()

    logged = caplog.text
    assert "uvicorn.access" in {r.name for r in caplog.records}, "the access log was not captured"
    assert "walletbackup.server.access" in {r.name for r in caplog.records}
    assert len(client.bodies) >= len(misses) * 4
    everything = "\n".join([logged, metrics, *client.bodies])
    secrets = [token, backend.secret, node.secret, passphrase, client_share, custodian_share,
               chain_key, *misses]  # fmt: skip
    # Which secrets leaked, by number: a failing test must not print them either.
    leaked = [
        n for n, secret in enumerate(secrets) if any(f in everything for f in spellings(secret))
    ]
    assert leaked == []
