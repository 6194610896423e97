"""The service in-process: a custodian on SQLite and a local key file, two tenants, tokens.

``world`` gives an app served by uvicorn on a loopback port with tenant ``acme`` (users alice and
bob) and tenant ``other`` (user carol), every kind of credential, and the fast test methods
(``quick_methods``) installed alone, so no other plugin is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import quick_methods
from server_thread import serving
from softhsm_token import softhsm_conf, softhsm_token
from starlette.applications import Starlette

from walletbackup import Custodian, WalletBackup
from walletbackup.stores import MemoryStore
from walletbackup_server import ServerState, Settings, Tenants, create_app
from walletbackup_server.auth import digest


@dataclass
class World:
    custodian: Custodian
    state: ServerState
    tenants: Tenants
    client: httpx.Client
    app: Starlette
    creds: dict[str, str]
    devices: list[WalletBackup] = field(default_factory=list)

    def device(self, user: str = "alice", mode: str = "managed") -> WalletBackup:
        """A device of ``user`` (a real :class:`WalletBackup` over HTTP), closed at the end."""
        url = str(self.client.base_url)
        wb = WalletBackup(custodian=url, token=self.creds[user], device_state=None, mode=mode)
        self.devices.append(wb)
        return wb


@pytest.fixture
def server_settings() -> Settings:
    """The service's settings in ``world``; a test module overrides this fixture to change them."""
    return Settings()


@pytest.fixture
def world(tmp_path: Path, server_settings: Settings) -> Iterator[World]:
    with quick_methods.installed():
        custodian = Custodian(
            store=f"sqlite://{tmp_path / 'custodian.db'}",
            kms=f"local://{tmp_path / 'custodian.key'}",
        )
        custodian.kms.create_key()
        state = ServerState(MemoryStore())
        tenants = Tenants(state)
        backend, node = tenants.add_tenant("acme")
        other_backend, other_node = tenants.add_tenant("other")
        expired = tenants.mint_token("acme", "alice", 60).secret
        document = state.load(f"credential/{digest(expired)}")
        assert document is not None
        state.save(
            f"credential/{digest(expired)}", document | {"expires_at": "2000-01-01T00:00:00+00:00"}
        )
        creds = {
            "backend": backend.secret,
            "custodian": node.secret,
            "other_backend": other_backend.secret,
            "other_custodian": other_node.secret,
            "alice": tenants.mint_token("acme", "alice", 600).secret,
            "bob": tenants.mint_token("acme", "bob", 600).secret,
            "carol": tenants.mint_token("other", "carol", 600).secret,
            "expired": expired,
        }
        app = create_app(custodian, state, settings=server_settings)
        with serving(app) as url, httpx.Client(base_url=url) as client:
            world = World(custodian, state, tenants, client, app, creds)
            yield world
            for wb in world.devices:
                wb.close()
        custodian.close()


# The walkthrough on PostgreSQL keeps the custodian key in SoftHSM2 (cross_plugin, in "all").
__all__ = ["softhsm_conf", "softhsm_token"]
