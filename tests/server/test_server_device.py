"""The device cases of ``remote_device_cases`` against the real service (uvicorn on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from remote_device_cases import *  # noqa: F403 - the kit's tests run here
from server_thread import serving
from service_fake import Endpoint

from walletbackup import Custodian
from walletbackup.stores import MemoryStore
from walletbackup_server import ServerState, Settings, Tenants, create_app


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    custodian = Custodian(
        store=f"sqlite://{tmp_path / 'custodian.db'}", kms=f"local://{tmp_path / 'custodian.key'}"
    )
    custodian.kms.create_key()
    tenants = Tenants(ServerState(MemoryStore()))
    tenants.add_tenant("acme")
    app = create_app(custodian, tenants.state, settings=Settings())
    with serving(app) as url:
        yield Endpoint(url, lambda user: tenants.mint_token("acme", user, 600).secret)
    custodian.close()
