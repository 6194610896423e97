"""docs/api.md and docs/methods/gdrive.md run as written, against the loopback fake of Google.

Both pages back up with a password before adding Google Drive, so they need the password plugin
beside gdrive (nox session "all"). The pages leave the method's ``api_root`` at its default,
Google's address: here that default points at the fake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_blocks import run_page
from gdrive_fake import FakeGoogle
from gdrive_support import CLIENT_ID, CLIENT_SECRET
from google.oauth2.credentials import Credentials

from walletbackup import WalletBackup, split_secret
from walletbackup_gdrive import method as gdrive_method
from walletbackup_gdrive import signin

pytestmark = pytest.mark.cross_plugin

CLIENT, CUSTODIAN = split_secret(bytes(range(32)))
PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def drive_at_the_fake(google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gdrive_method, "DEFAULT_API_ROOT", google.url)


def test_api_page(tmp_path: Path, google: FakeGoogle, credentials: Credentials) -> None:
    # What the page's introduction says the examples take from the application.
    given = {
        "client_share": CLIENT,
        "custodian_share": CUSTODIAN,
        "password": PASSWORD,
        "creds": credentials,
    }
    namespace = run_page("docs/api.md", tmp_path, given)
    assert google.files_of() == []  # the removed method's key file was deleted
    with WalletBackup() as wb:
        assert wb.wallets() == ["wallet-1", "wallet-2"]
        assert wb.available_recovery_methods("wallet-1") == ["password"]
        assert wb.custodian.kms.key_info().versions == (2,)  # rotated, rewrapped, retired
        recovered = wb.recover_wallet(
            "wallet-1", method="password", password=namespace["new_password"]
        )
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)


def test_gdrive_method_page(tmp_path: Path, google: FakeGoogle, credentials: Credentials) -> None:
    # "wallet-1, a wallet backed up with a password, on a WalletBackup named wb".
    wb = WalletBackup()
    wb.backup_wallet(
        "wallet-1", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN
    )
    # The desktop example: the same Google account, signed in with `walletbackup gdrive login`.
    signin.save(
        signin.SignIn(
            signin.default_path(),
            CLIENT_ID,
            CLIENT_SECRET,
            google.grant(CLIENT_ID),
            google.token_uri,
        )
    )
    given = {"wb": wb, "password": PASSWORD, "user_credentials": credentials}
    run_page("docs/methods/gdrive.md", tmp_path, given)
    assert len(google.files_of()) == 1  # the key file both recoveries read
