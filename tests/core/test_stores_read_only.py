"""Stores on read-only media: recover, verify, status and wallets work; changes are refused.

The store's files are made really unwritable (``read_only``: ``chattr +i`` as root, which root
cannot write through either, else the write bits cleared), and the test checks that they are
byte for byte the same afterwards.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import quick_methods
from cli_support import PASSPHRASE, child_env, share_args
from quick_methods import PASS, TOKEN
from read_only import read_only, snapshot

from walletbackup import WalletBackup
from walletbackup.errors import StorageError
from walletbackup.stores import FileStore, SqliteStore, open_store

CLIENT, CUSTODIAN = bytes(range(1, 33)), bytes(range(101, 133))
SCRIPT = Path(sys.executable).parent / "walletbackup"


@pytest.fixture(autouse=True)
def _quick() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture(params=["sqlite", "file"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(tmp_path: Path) -> Path:
    """The directory that will be read-only: the store and nothing else (the KMS key is apart)."""
    (tmp_path / "media").mkdir()
    return tmp_path / "media"


def url_of(scheme: str, where: Path) -> str:
    return f"sqlite://{where / 'backups.db'}" if scheme == "sqlite" else f"file://{where / 'store'}"


def backed_up(url: str, kms: str) -> None:
    with WalletBackup(store=url, kms=kms, device_state=None) as wb:
        wb.backup_wallet("w", CLIENT, method=PASS, passphrase="p", custodian_share=CUSTODIAN)
        wb.add_backup_method("w", TOKEN, token="t", unlock_with={"method": PASS, "passphrase": "p"})


def test_reading_works_and_changes_are_refused(
    scheme: str, where: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, kms = url_of(scheme, where), f"local://{tmp_path / 'custodian.key'}"
    backed_up(url, kms)
    before = snapshot(where)
    with read_only(where):
        wb = WalletBackup(store=url, kms=kms, device_state=tmp_path / "device.json")
        try:
            assert wb.custodian.store.read_only
            assert wb.wallets() == ["w"]
            assert {s.method for s in wb.backup_status("w")} == {PASS, TOKEN}
            assert wb.available_recovery_methods("w") == sorted([PASS, TOKEN])
            with caplog.at_level(logging.WARNING, logger="walletbackup"):
                recovered = wb.recover_wallet("w", method=PASS, passphrase="p")
                wb.verify_backup("w", method=TOKEN, token="t")
                wb.recover_wallet("w", method=TOKEN, token="t")
            assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)
            warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1, warnings
            assert "read-only" in warnings[0]
            assert [e["type"] for e in wb.audit_log("w")] == ["backup", "add_method"]
            with pytest.raises(StorageError, match="read-only"):
                wb.add_backup_method(
                    "w", TOKEN, token="u", unlock_with={"method": PASS, "passphrase": "p"}
                )
            with pytest.raises(StorageError, match="read-only"):
                wb.custodian.store.append_audit(b"r", wallet_id="w", at=datetime.now(UTC))
        finally:
            wb.close()
        assert snapshot(where) == before


def test_a_copy_taken_while_the_database_was_open(where: Path, tmp_path: Path) -> None:
    """Its -wal and -shm files come along; what only the WAL holds is read too."""
    live = tmp_path / "live"
    store = SqliteStore(f"sqlite://{live / 'backups.db'}")
    try:
        store.save("w", b"document")
        store.append_audit(b"only in the WAL", wallet_id="w", at=datetime.now(UTC))
        for name in ("backups.db", "backups.db-wal", "backups.db-shm"):
            shutil.copy(live / name, where / name)
    finally:
        store.close()
    assert (where / "backups.db-wal").stat().st_size > 0
    with read_only(where):
        copy = open_store(f"sqlite://{where / 'backups.db'}")
        try:
            assert copy.read_only
            assert copy.load("w") == b"document"
            assert [e.record for e in copy.audit_records("w")] == [b"only in the WAL"]
        finally:
            copy.close()


def test_a_copy_with_a_wal_but_no_shm_says_what_to_do(where: Path, tmp_path: Path) -> None:
    live = tmp_path / "live"
    store = SqliteStore(f"sqlite://{live / 'backups.db'}")
    try:
        store.append_audit(b"only in the WAL", wallet_id="w", at=datetime.now(UTC))
        for name in ("backups.db", "backups.db-wal"):
            shutil.copy(live / name, where / name)
    finally:
        store.close()
    with read_only(where), pytest.raises(StorageError, match="its -wal and -shm files"):
        SqliteStore(f"sqlite://{where / 'backups.db'}")


def test_a_read_only_file_that_is_no_store_is_refused(where: Path) -> None:
    conn = sqlite3.connect(where / "other.db")
    conn.close()
    (where / "dir").mkdir()
    with read_only(where):
        with pytest.raises(StorageError, match=r"(not a|holds no) walletbackup store"):
            SqliteStore(f"sqlite://{where / 'other.db'}")
        with pytest.raises(StorageError, match=r"(not a|holds no) walletbackup store"):
            FileStore(f"file://{where / 'dir'}")


def walletbackup(
    home: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(home),
        cwd=home,
        check=False,
    )


def test_the_cli_reads_a_read_only_store(scheme: str, where: Path, tmp_path: Path) -> None:
    store = ["--store", url_of(scheme, where), "--kms", f"local://{tmp_path / 'custodian.key'}"]
    shares = share_args(tmp_path)
    made = walletbackup(
        tmp_path, *store, "backup", "w", "--method", "examplepassphrase", *shares,
        "--options-stdin", input=json.dumps({"passphrase": PASSPHRASE}),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    before = snapshot(where)
    with read_only(where):
        listed = walletbackup(tmp_path, *store, "wallets")
        assert (listed.returncode, listed.stdout, listed.stderr) == (0, "w\n", "")
        status = walletbackup(tmp_path, *store, "status", "w", "--json")
        assert status.returncode == 0, status.stderr
        verified = walletbackup(
            tmp_path,
            *store,
            "verify",
            "w",
            "--options-stdin",
            input=json.dumps({"passphrase": PASSPHRASE}),
        )
        assert verified.returncode == 0, verified.stderr
        warnings = [line for line in verified.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "read-only" in warnings[0], verified.stderr
        recovered = walletbackup(
            tmp_path,
            *store,
            "recover",
            "w",
            "--stdout",
            "--options-stdin",
            input=json.dumps({"passphrase": PASSPHRASE}),
        )
        assert recovered.returncode == 0, recovered.stderr
        assert CLIENT.hex() in recovered.stdout
        changed = walletbackup(
            tmp_path, *store, "add-method", "w", "examplepassphrase", "--options-stdin",
            input=json.dumps(
                {"passphrase": "new-passphrase-42", "unlock_with": {"passphrase": PASSPHRASE}}
            ),
        )  # fmt: skip
        assert changed.returncode == 8, changed.stderr  # StorageError
        assert "read-only" in changed.stderr
    assert snapshot(where) == before
