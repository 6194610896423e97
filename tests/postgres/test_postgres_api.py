"""Through the public API: a backup and a recovery with ``store="postgresql://..."``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
from postgres_cluster import PostgresCluster
from quick_methods import PASS

from walletbackup import WalletBackup, plugins


@pytest.fixture
def _quick_and_postgres() -> Iterator[None]:
    """The fake ``quick`` methods, and this plugin: the only entry points loaded."""
    with quick_methods.installed(), pytest.MonkeyPatch.context() as patch:
        patch.setenv(plugins.ENV_VAR, "quick,postgres")
        plugins.reset_plugins()
        yield


@pytest.mark.usefixtures("_quick_and_postgres")
def test_backup_and_recover(
    postgres_cluster: PostgresCluster, database_url: str, tmp_path: Path
) -> None:
    options = {
        "store": database_url,
        "kms": f"local://{tmp_path / 'custodian.key'}",
        "device_state": tmp_path / "device",
    }
    with WalletBackup(**options) as wb:
        wb.backup_wallet(
            "wallet-1",
            b"client share",
            method=PASS,
            passphrase="correct horse",
            custodian_share=b"custodian share",
        )
    # Another instance, as another process would: everything comes from PostgreSQL.
    with WalletBackup(**options) as wb:
        recovered = wb.recover_wallet("wallet-1", method=PASS, passphrase="correct horse")
        assert recovered.client_share == b"client share"
        assert recovered.custodian_share == b"custodian share"
        events = [event["type"] for event in wb.custodian.audit_log("wallet-1")]
        assert postgres_cluster.password not in f"{wb.custodian!r} {wb.custodian.location}"
    assert events[0] == "backup"
    assert events[-1] == "recover"
