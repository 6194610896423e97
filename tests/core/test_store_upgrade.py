"""Stores written by the release before this one open in the new layout, nothing lost.

``tests/fixtures/old_stores`` holds a SQLite store and a file store that the earlier code really
wrote (``make.py`` there says how): schema 1 with an audit table of records only, and layout 1
with one ``audit.log``. Opening them upgrades them; a read-only copy is read as it is.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from read_only import read_only, snapshot

from walletbackup.state import WalletRecord
from walletbackup.stores import FileStore, SqliteStore, Store, filelog

OLD = Path(__file__).parents[1] / "fixtures" / "old_stores"
WALLETS = ["wallet-a", "wallet-b"]


def old_documents() -> dict[str, bytes]:
    conn = sqlite3.connect(f"file:{OLD / 'backups.db'}?mode=ro&immutable=1", uri=True)
    try:
        return {w: bytes(d) for w, d in conn.execute("SELECT wallet_id, document FROM documents")}
    finally:
        conn.close()


def old_records(scheme: str) -> list[bytes]:
    if scheme == "file":
        return [record for record, _, _ in filelog.legacy_records(OLD / "store" / "audit.log")]
    conn = sqlite3.connect(f"file:{OLD / 'backups.db'}?mode=ro&immutable=1", uri=True)
    try:
        return [bytes(r) for (r,) in conn.execute("SELECT record FROM audit ORDER BY seq")]
    finally:
        conn.close()


def copy_of(scheme: str, tmp_path: Path) -> str:
    if scheme == "sqlite":
        shutil.copy(OLD / "backups.db", tmp_path / "backups.db")
        return f"sqlite://{tmp_path / 'backups.db'}"
    shutil.copytree(OLD / "store", tmp_path / "store")
    return f"file://{tmp_path / 'store'}"


def open_(url: str) -> Store:
    return (SqliteStore if url.startswith("sqlite") else FileStore)(url)


@pytest.fixture(params=["sqlite", "file"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_fixture_is_what_the_old_code_wrote() -> None:
    assert (OLD / "store" / "FORMAT").read_bytes() == b"1\n"
    conn = sqlite3.connect(f"file:{OLD / 'backups.db'}?mode=ro&immutable=1", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    finally:
        conn.close()
    for document in old_documents().values():
        assert json.loads(document)["schema"] == 1


def test_upgraded_without_losing_a_wallet_or_a_record(scheme: str, tmp_path: Path) -> None:
    url = copy_of(scheme, tmp_path)
    records = old_records(scheme)
    assert len(records) == 5  # two backups, a verify, a failed recovery, a password change
    store = open_(url)
    try:
        assert list(store.wallets()) == WALLETS
        for wallet, document in old_documents().items():
            assert WalletRecord.from_bytes(store.load(wallet) or b"", wallet).wallet_id == wallet
            if scheme == "sqlite":
                assert store.load(wallet) == document
        entries = list(store.audit_records())
        assert [e.record for e in entries] == records
        assert [e.seq for e in entries] == list(range(1, 6))
        for entry in entries:
            event = json.loads(entry.record)
            assert entry.wallet_id == event["wallet_id"]
            assert entry.at.isoformat() == event["at"]
        for wallet in WALLETS:
            assert [e.record for e in store.audit_records(wallet)] == [
                r for r in records if json.loads(r)["wallet_id"] == wallet
            ]
        assert store.append_audit(b"new", wallet_id="wallet-a", at=entries[-1].at) == 6
    finally:
        store.close()
    if scheme == "file":
        store_dir = tmp_path / "store"
        assert (store_dir / "FORMAT").read_bytes() == b"2\n"
        assert not (store_dir / "audit.log").exists()
    else:
        conn = sqlite3.connect(tmp_path / "backups.db")
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        conn.close()


def test_an_upgrade_that_died_midway_is_done_again(tmp_path: Path) -> None:
    url = copy_of("file", tmp_path)
    half = filelog.AuditLog(tmp_path / "store" / "audit")
    half.create()
    half.append(b"half of an upgrade", "wallet-a", filelog._NO_TIME)
    half.close()
    store = open_(url)
    try:
        assert [e.record for e in store.audit_records()] == old_records("file")
    finally:
        store.close()


def test_a_read_only_old_store_is_read_as_it_is(scheme: str, tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    url = copy_of(scheme, tmp_path / "media")
    before = snapshot(tmp_path / "media")
    with read_only(tmp_path / "media"):
        store = open_(url)
        try:
            assert store.read_only
            assert list(store.wallets()) == WALLETS
            records = old_records(scheme)
            assert [e.record for e in store.audit_records()] == records
            assert [e.record for e in store.audit_records("wallet-b", after=1, limit=1)] == [
                r for r in records[1:] if json.loads(r)["wallet_id"] == "wallet-b"
            ][:1]
        finally:
            store.close()
    assert snapshot(tmp_path / "media") == before
