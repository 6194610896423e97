"""Wallets backed up by the release before this one recover after their store is upgraded.

The stores in tests/fixtures/old_stores were written by that code (store schema 1 / file layout
1, records of schema 1, envelope format v1; ``make.py`` there says how and holds the passwords).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from e2e_support import FAST
from old_stores.make import CHANGED, PASSWORDS, SHARES

from walletbackup import WalletBackup
from walletbackup.errors import StaleBackup, UnlockFailed

OLD = Path(__file__).parents[1] / "fixtures" / "old_stores"


@pytest.fixture(params=["sqlite", "file"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A copy of the old store and its KMS key file (git keeps no file modes: 0600 again)."""
    shutil.copy(OLD / "custodian.key", tmp_path / "custodian.key")
    (tmp_path / "custodian.key").chmod(0o600)
    if request.param == "sqlite":
        shutil.copy(OLD / "backups.db", tmp_path / "backups.db")
        store = f"sqlite://{tmp_path / 'backups.db'}"
    else:
        shutil.copytree(OLD / "store", tmp_path / "store")
        store = f"file://{tmp_path / 'store'}"
    return {"store": store, "kms": f"local://{tmp_path / 'custodian.key'}"}


def test_every_old_wallet_recovers_and_changes(old: dict[str, str]) -> None:
    with WalletBackup(**old) as wb:
        assert wb.wallets() == sorted(SHARES)
        current = {"wallet-a": PASSWORDS["wallet-a"], "wallet-b": CHANGED}
        for wallet, password in current.items():
            recovered = wb.recover_wallet(wallet, method="password", password=password)
            assert (recovered.client_share, recovered.custodian_share) == SHARES[wallet]
        with pytest.raises((UnlockFailed, StaleBackup)):
            wb.recover_wallet("wallet-b", method="password", password=PASSWORDS["wallet-b"])
        assert [e["type"] for e in wb.audit_log("wallet-b")] == [
            "backup",
            "add_method",
            "recover",
            "recover",
        ]
        wb.add_backup_method(
            "wallet-a",
            "password",
            password="a password of the new release",
            unlock_with={"method": "password", "password": PASSWORDS["wallet-a"]},
            **FAST,
        )
    with WalletBackup(**old) as again:  # another process, on the upgraded store
        recovered = again.recover_wallet(
            "wallet-a", method="password", password="a password of the new release"
        )
        assert (recovered.client_share, recovered.custodian_share) == SHARES["wallet-a"]
        events = again.audit_log("wallet-a")
        assert [e["type"] for e in events][-2:] == ["add_method", "recover"]
        assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
