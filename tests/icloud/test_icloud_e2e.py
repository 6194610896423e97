"""The icloud method end to end through WalletBackup (core and this plugin only)."""

from __future__ import annotations

import pytest
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID

from walletbackup import BackupNotFound, MethodUnavailable, WalletBackup
from walletbackup_icloud import FOLDER_NAME, accounts

CLIENT = b"client-share:" + bytes(range(32))
CUSTODIAN = b"custodian-share:" + bytes(range(32, 64))


def key_files(fake: FakeICloud) -> list[str]:
    return [f.full_name for f in fake.files(APPLE_ID, FOLDER_NAME) if f.full_name.endswith(".bin")]


def test_back_up_and_recover_with_icloud(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    result = wb.backup_wallet("w", CLIENT, method="icloud", custodian_share=CUSTODIAN)
    assert result.status == "stored"
    assert result.methods == ("icloud",)
    assert len(key_files(fake)) == 1
    recovered = wb.recover_wallet("w", method="icloud")
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)
    wb.verify_backup("w", method="icloud")


def test_backing_up_again_discards_the_old_key_file(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.backup_wallet("w", CLIENT, method="icloud", custodian_share=CUSTODIAN)
    first = key_files(fake)
    wb.backup_wallet("w", CLIENT, method="icloud", custodian_share=CUSTODIAN)
    second = key_files(fake)
    assert len(second) == 1
    assert second != first
    assert fake.trash(APPLE_ID) == []
    assert wb.recover_wallet("w", method="icloud").client_share == CLIENT


def test_deleted_key_file_fails_recovery_saying_so(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.backup_wallet("w", CLIENT, method="icloud", custodian_share=CUSTODIAN)
    [item] = [f for f in fake.files(APPLE_ID, FOLDER_NAME) if f.full_name.endswith(".bin")]
    fake.delete_behind(APPLE_ID, item.drivewsid)
    with pytest.raises(BackupNotFound, match="Recently Deleted"):
        wb.recover_wallet("w", method="icloud")


def test_without_a_sign_in_the_backup_is_refused_before_anything_is_written(
    wb: WalletBackup,
) -> None:
    with pytest.raises(MethodUnavailable, match="walletbackup icloud login"):
        wb.backup_wallet("w", CLIENT, method="icloud", custodian_share=CUSTODIAN)
    assert wb.wallets() == []
