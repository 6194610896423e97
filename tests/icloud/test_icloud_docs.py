"""docs/methods/icloud.md runs as written, against the loopback fake of iCloud.

The page adds iCloud to a wallet backed up with a password: it needs the password plugin beside
icloud (nox session "all").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_blocks import run_page
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID

from walletbackup import WalletBackup, split_secret
from walletbackup_icloud import FOLDER_NAME, accounts

pytestmark = pytest.mark.cross_plugin

CLIENT, CUSTODIAN = split_secret(bytes(range(32)))
PASSWORD = "correct horse battery staple 42"


def test_icloud_method_page(
    tmp_path: Path, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    # `walletbackup icloud login` ran once (signed_in); then, as the page says, "wallet-1, a
    # wallet backed up with a password, on a WalletBackup named wb".
    wb = WalletBackup()
    wb.backup_wallet(
        "wallet-1", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN
    )
    run_page("docs/methods/icloud.md", tmp_path, {"wb": wb, "password": PASSWORD})
    key_files = [f for f in fake.files(APPLE_ID, FOLDER_NAME) if f.full_name.endswith(".bin")]
    assert len(key_files) == 1  # the key file the recovery read
