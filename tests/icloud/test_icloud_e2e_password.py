"""Password first, then iCloud, through WalletBackup (needs walletbackup-password installed)."""

from __future__ import annotations

import pytest
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID
from retry_support import assert_backoff

from walletbackup import BackupNotFound, MethodUnavailable, WalletBackup
from walletbackup.retry import RetriesExhausted
from walletbackup_icloud import FOLDER_NAME, accounts

#: Backs up with the password method first, as users do: needs the password plugin beside
#: icloud, so it runs in the nox session "all".
pytestmark = pytest.mark.cross_plugin

PASSWORD = "correct horse battery staple 42"
FAST = {"low_memory": True, "target_seconds": 0.001}
UNLOCK = {"method": "password", "password": PASSWORD}
CLIENT = b"client-share:" + bytes(range(32))
CUSTODIAN = b"custodian-share:" + bytes(range(32, 64))


@pytest.fixture
def wb(wb: WalletBackup) -> WalletBackup:
    """The shared ``wb``, with wallet w backed up with a password."""
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    return wb


def key_files(fake: FakeICloud) -> list[str]:
    return [f.full_name for f in fake.files(APPLE_ID, FOLDER_NAME) if f.full_name.endswith(".bin")]


def test_add_icloud_then_recover_with_it(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    result = wb.add_backup_method("w", "icloud", unlock_with=UNLOCK, apple_id=APPLE_ID)
    assert result.methods == ("icloud", "password")
    assert len(key_files(fake)) == 1
    recovered = wb.recover_wallet("w", method="icloud", apple_id=APPLE_ID)
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)
    assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == CLIENT


def test_adding_icloud_again_replaces_its_key_file(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.add_backup_method("w", "icloud", unlock_with=UNLOCK)
    first = key_files(fake)
    wb.add_backup_method("w", "icloud", unlock_with=UNLOCK)
    assert len(key_files(fake)) == 1
    assert key_files(fake) != first
    assert fake.trash(APPLE_ID) == []
    assert wb.recover_wallet("w", method="icloud").client_share == CLIENT


def test_removing_icloud_deletes_its_key_file(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.add_backup_method("w", "icloud", unlock_with=UNLOCK)
    wb.remove_backup_method("w", "icloud", unlock_with=UNLOCK)
    assert key_files(fake) == []
    assert fake.trash(APPLE_ID) == []
    with pytest.raises(BackupNotFound, match="no icloud method"):
        wb.recover_wallet("w", method="icloud")


def test_deleted_key_file_leaves_the_password_working(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.add_backup_method("w", "icloud", unlock_with=UNLOCK)
    [item] = [f for f in fake.files(APPLE_ID, FOLDER_NAME) if f.full_name.endswith(".bin")]
    fake.delete_behind(APPLE_ID, item.drivewsid, purge=True)
    with pytest.raises(BackupNotFound, match="missing from the folder"):
        wb.recover_wallet("w", method="icloud")
    assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == CLIENT


def test_icloud_outage_while_adding_keeps_the_backup(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount, sleeps: list[float]
) -> None:
    fake.fail("createFolders", 503, times=10)
    with pytest.raises(RetriesExhausted, match=r"\(4 attempts\); try again later"):
        wb.add_backup_method("w", "icloud", unlock_with=UNLOCK, sleep=sleeps.append)
    assert_backoff(sleeps, [0.5, 1.0, 2.0])
    assert wb.available_recovery_methods("w") == ["password"]
    assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == CLIENT


def test_expired_icloud_session_says_to_sign_in_again(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.add_backup_method("w", "icloud", unlock_with=UNLOCK)
    fake.expire_session(APPLE_ID)
    with pytest.raises(MethodUnavailable, match="walletbackup icloud login"):
        wb.recover_wallet("w", method="icloud")
