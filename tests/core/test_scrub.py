"""The scrub policy, seen through the API: once an operation returns, an envelope it replaced
is in no file of the store (SQLite: neither the database nor its WAL), and the SQLite store
scrubbed once for it (docs/security.md, "Keys at rest")."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
from quick_methods import PASS, TOKEN

from walletbackup import WalletBackup
from walletbackup.stores import SqliteStore

CLIENT, CUSTODIAN = bytes(range(1, 33)), bytes(range(101, 133))
UNLOCK = {"method": PASS, "passphrase": "p"}


@pytest.fixture(autouse=True)
def _quick() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture(params=["sqlite", "file"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store' / 'backups.db'}"
    return f"file://{tmp_path / 'store'}"


@pytest.fixture
def checkpoints(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    made: list[bool] = []
    real = SqliteStore._checkpoint

    def counted(self: SqliteStore, conn: sqlite3.Connection) -> bool:
        made.append(real(self, conn))
        return made[-1]

    monkeypatch.setattr(SqliteStore, "_checkpoint", counted)
    return made


def on_disk(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def envelopes(wb: WalletBackup, wallet: str) -> list[bytes]:
    """The wallet's client and custodian envelopes, as the stored document holds them."""
    document = json.loads(wb.custodian.store.load(wallet) or b"")  # type: ignore[union-attr]
    held = document["current"]
    return [held["client_envelope"].encode(), held["custodian_envelope"].encode()]


def forms(stored: bytes) -> list[bytes]:
    """A stored (base64url) envelope, and the raw bytes and standard base64 of it: any copy."""
    raw = base64.urlsafe_b64decode(stored + b"=" * (-len(stored) % 4))
    return [stored, raw, base64.b64encode(raw), raw.hex().encode()]


def test_a_replaced_envelope_is_gone_when_the_operation_returns(
    store_url: str, tmp_path: Path, checkpoints: list[bool]
) -> None:
    wb = WalletBackup(store=store_url, kms=f"local://{tmp_path / 'k.key'}", device_state=None)
    try:
        wb.backup_wallet("w", CLIENT, method=PASS, passphrase="p", custodian_share=CUSTODIAN)
        first = envelopes(wb, "w")
        for envelope in first:
            assert envelope in on_disk(tmp_path / "store")
        checkpoints.clear()
        wb.add_backup_method("w", TOKEN, token="t", unlock_with=UNLOCK)  # a new envelope
        disk = on_disk(tmp_path / "store")
        for envelope in first:
            assert not any(form in disk for form in forms(envelope))
        second = envelopes(wb, "w")
        wb.add_backup_method("w", PASS, passphrase="q", unlock_with=UNLOCK)  # a password change
        disk = on_disk(tmp_path / "store")
        for envelope in second:
            assert not any(form in disk for form in forms(envelope))
        if store_url.startswith("sqlite"):
            assert checkpoints == [True, True], "one scrub per operation"
            checkpoints.clear()
            wb.recover_wallet("w", method=PASS, passphrase="q")
            # A recovery records when the method last opened the wallet (verified_at): the
            # record is replaced, so the operation scrubs once, like any other replace.
            assert checkpoints == [True]
    finally:
        wb.close()


def test_a_superseded_pending_envelope_is_gone_too(
    store_url: str, tmp_path: Path, checkpoints: list[bool]
) -> None:
    wb = WalletBackup(
        store=store_url,
        kms=f"local://{tmp_path / 'k.key'}",
        mode="self-managed",
        device_state=None,
    )
    try:
        first = wb.backup_wallet(
            "w", CLIENT, method=PASS, passphrase="p", custodian_share=CUSTODIAN
        )
        document = json.loads(wb.custodian.store.load("w") or b"")  # type: ignore[union-attr]
        pending = document["pending"]["custodian_envelope"].encode()
        wb.backup_wallet(
            "w",
            CLIENT,
            method=PASS,
            passphrase="p2",
            custodian_share=CUSTODIAN,
            replace=True,
            cipher_text=first.cipher_text,
        )
        assert not any(form in on_disk(tmp_path / "store") for form in forms(pending))
    finally:
        wb.close()
