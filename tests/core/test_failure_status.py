"""A change that fails on a full disk keeps its cause in the status, and failures stay bounded.

The store below fails its writes the way SQLite does when the disk fills up. A change whose
new revision was written but could not be made current leaves it pending at the custodian, which
cannot record why (its disk is full); the device remembers the cause, shows it in the status,
and hands it to the custodian at the next change, so the revision reads ``failed`` with the
disk's error rather than "interrupted before the backup was verified".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import quick_methods
from quick_methods import PASS

from walletbackup import StorageError, WalletBackup
from walletbackup.errors import UnlockFailed
from walletbackup.state import FAILED_KEPT
from walletbackup.stores import SqliteStore

CLIENT, CUSTODIAN = b"c" * 32, b"k" * 32
FULL = "database or disk is full; the disk is full: free some space and retry"


class FillingStore(SqliteStore):
    """A SQLite store on a disk that fills up after a number of writes, until space is freed."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writes_left: int | None = None
        #: the next write lands, then fails (a commit, then a failing checkpoint)
        self.fail_after_writing = False

    def fill_after(self, writes: int) -> None:
        self.writes_left = writes

    def free_space(self) -> None:
        self.writes_left = None

    def save(self, wallet_id: str, document: bytes) -> None:
        if self.writes_left is not None:
            if self.writes_left <= 0:
                raise StorageError(f"SQLite database {self.path}: {FULL}")
            self.writes_left -= 1
        super().save(wallet_id, document)
        if self.fail_after_writing:
            self.fail_after_writing = False
            raise StorageError(f"SQLite database {self.path}: {FULL}")

    def append_audit(self, record: bytes, **where: Any) -> int:
        if self.writes_left is not None and self.writes_left <= 0:
            raise StorageError(f"SQLite database {self.path}: {FULL}")
        return super().append_audit(record, **where)


class Device:
    """One device on one store; each call is a fresh WalletBackup, as separate commands are."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = FillingStore(f"sqlite://{tmp_path / 'b.db'}")
        self.kms = f"local://{tmp_path / 'k.key'}"
        self.state = tmp_path / "device.json"

    def __call__(self) -> WalletBackup:
        return WalletBackup(store=self.store, kms=self.kms, device_state=self.state)

    def change(self, old: str, new: str) -> None:
        self().add_backup_method(
            "w", PASS, unlock_with={"method": PASS, "passphrase": old}, passphrase=new
        )

    def opens_with(self, passphrase: str) -> bool:
        try:
            self().recover_wallet("w", method=PASS, passphrase=passphrase)
        except UnlockFailed:
            return False
        return True


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    with quick_methods.installed():
        device = Device(tmp_path)
        device().backup_wallet(
            "w", CLIENT, method=PASS, passphrase="alpha", custodian_share=CUSTODIAN
        )
        yield device
        device.store.close()


def _rows(device: Device, status: str) -> list[str]:
    return [s.detail for s in device().backup_status("w") if s.status == status]


def test_a_full_disk_while_making_a_change_current_keeps_its_cause(device: Device) -> None:
    device.store.fill_after(1)  # the new revision is written, making it current is not
    with pytest.raises(StorageError, match="disk is full"):
        device.change("alpha", "bravo")
    # Still full: the status shows the cause the device remembers; the old backup recovers.
    [pending] = _rows(device, "pending")
    assert pending.startswith("not made current: StorageError: ")
    assert FULL in pending
    assert device.opens_with("alpha")
    device.store.free_space()
    device.change("alpha", "charlie")
    [failed] = _rows(device, "failed")
    assert failed.startswith("not made current: StorageError: ")
    assert FULL in failed
    assert "interrupted" not in failed
    assert device.opens_with("charlie")
    assert not device.opens_with("bravo")


def test_a_write_that_fails_after_it_landed_keeps_its_cause(device: Device) -> None:
    device.store.fail_after_writing = True  # the pending revision is stored, then an error
    with pytest.raises(StorageError, match="disk is full"):
        device.change("alpha", "bravo")
    [pending] = _rows(device, "pending")
    assert pending.startswith("write failed: StorageError: ")
    device.change("alpha", "charlie")
    [failed] = _rows(device, "failed")
    assert failed.startswith("write failed: StorageError: ")
    assert FULL in failed
    assert device.opens_with("charlie")


def test_a_change_the_device_did_not_see_fail_still_reads_interrupted(
    device: Device, tmp_path: Path
) -> None:
    device.store.fill_after(1)
    with pytest.raises(StorageError):
        device.change("alpha", "bravo")
    device.store.free_space()
    # Another device (no memory of the failure) makes the next change.
    other = WalletBackup(store=device.store, kms=device.kms, device_state=tmp_path / "other.json")
    other.add_backup_method(
        "w", PASS, unlock_with={"method": PASS, "passphrase": "alpha"}, passphrase="delta"
    )
    assert _rows(device, "failed") == ["interrupted before the backup was verified"]


def test_many_failed_changes_keep_the_status_list_bounded(device: Device) -> None:
    for _ in range(3 * FAILED_KEPT):
        # One write to record the previous failure, one for the new revision; then full.
        device.store.fill_after(1 if not _rows(device, "pending") else 2)
        with pytest.raises(StorageError):
            device.change("alpha", "bravo")
        device.store.free_space()
    device.change("alpha", "charlie")
    statuses = device().backup_status("w")
    failed = [s for s in statuses if s.status == "failed"]
    assert len(failed) == FAILED_KEPT
    assert all(FULL in s.detail for s in failed)
    assert [s.status for s in statuses].count("stored") == 1
    assert len(statuses) == FAILED_KEPT + 1
