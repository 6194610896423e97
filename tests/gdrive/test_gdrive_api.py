"""gdrive through the Python API (WalletBackup), with gdrive as the wallet's only method.

Real SQLite store and local KMS key file; the real google-auth code against the fake Google.
The password-first scenarios are in test_gdrive_e2e_password.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from gdrive_browser import ScriptedBrowser
from gdrive_fake import FakeGoogle, Fault
from gdrive_support import user_credentials
from google.oauth2.credentials import Credentials

from walletbackup import BackupNotFound, MethodUnavailable, WalletBackup
from walletbackup.retry import RetriesExhausted
from walletbackup_gdrive import signin

CLIENT, CUSTODIAN = b"client share \x00\xff", b"custodian share"


def back_up(wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="gdrive", custodian_share=CUSTODIAN, credentials=credentials, **drive
    )


def test_recover_on_a_fresh_machine(
    google: FakeGoogle,
    urls: dict[str, str],
    wb: WalletBackup,
    credentials: Credentials,
    drive: dict[str, Any],
) -> None:
    back_up(wb, credentials, drive)
    # A new machine: a new WalletBackup, and the user signs in again (a new refresh token).
    with WalletBackup(**urls) as fresh:
        recovered = fresh.recover_wallet(
            "w", method="gdrive", credentials=user_credentials(google), **drive
        )
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)


def test_another_google_account_cannot_recover(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    back_up(wb, credentials, drive)
    with pytest.raises(BackupNotFound, match="is gone"):
        wb.recover_wallet(
            "w", method="gdrive", credentials=user_credentials(google, user="mallory"), **drive
        )


def test_an_outage_leaves_the_previous_backup_and_says_so(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    back_up(wb, credentials, drive)
    before = wb.backup_status("w")
    google.inject(Fault("POST /upload", 503, count=100))
    with pytest.raises(RetriesExhausted, match="try again later"):
        wb.backup_wallet(
            "w",
            b"reshared",
            method="gdrive",
            custodian_share=b"reshared c",
            credentials=credentials,
            **drive,
        )
    assert wb.backup_status("w") == before
    assert len(google.files_of()) == 1
    got = wb.recover_wallet("w", method="gdrive", credentials=credentials, **drive)
    assert got.client_share == CLIENT
    last_backup = [e for e in wb.audit_log("w") if e["type"] == "backup"][-1]
    assert (last_backup["outcome"], last_backup["error"]) == ("failed", "RetriesExhausted")


def test_a_new_gdrive_key_replaces_the_old_one(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    back_up(wb, credentials, drive)
    (old,) = google.files_of()
    wb.rewrap_backup("w", "gdrive", credentials=credentials, **drive)
    (new,) = google.files_of()  # the old key file was discarded after the new one was stored
    assert new.id != old.id
    assert (
        wb.recover_wallet("w", method="gdrive", credentials=credentials, **drive).client_share
        == CLIENT
    )


def test_a_discard_that_fails_is_retried_later(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    back_up(wb, credentials, drive)
    google.inject(Fault("DELETE /drive/v3/files/", 503, count=5))
    wb.rewrap_backup("w", "gdrive", credentials=credentials, **drive)  # succeeds all the same
    assert len(google.files_of()) == 2  # the old key is still queued for deletion
    wb.rewrap_backup("w", "gdrive", credentials=credentials, **drive)
    assert len(google.files_of()) == 1


def test_a_removed_app_makes_recovery_say_why(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    back_up(wb, credentials, drive)
    google.remove_app("alice", credentials.client_id)
    with pytest.raises(BackupNotFound, match="removed this app's access"):
        wb.recover_wallet("w", method="gdrive", credentials=user_credentials(google), **drive)


def test_without_google_auth_the_api_names_the_install(
    wb: WalletBackup, monkeypatch: pytest.MonkeyPatch, credentials: Credentials
) -> None:
    for name in list(sys.modules):
        if name.split(".")[:2] in (["google", "auth"], ["google", "oauth2"]):
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MethodUnavailable, match="pip install walletbackup-gdrive"):
        wb.backup_wallet(
            "w", CLIENT, method="gdrive", custodian_share=CUSTODIAN, credentials=credentials
        )


def test_a_desktop_user_signed_in_with_the_cli_flow(
    google: FakeGoogle,
    urls: dict[str, str],
    browser: ScriptedBrowser,
    client_secrets: Path,
    tmp_path: Path,
    drive: dict[str, Any],
) -> None:
    path = tmp_path / "signin.json"
    signin.login(client_secrets, path, wait_seconds=10)
    with WalletBackup(**urls) as wb:
        wb.backup_wallet(
            "w", CLIENT, method="gdrive", custodian_share=CUSTODIAN, signin_file=path, **drive
        )
    with WalletBackup(**urls) as later:
        got = later.recover_wallet("w", method="gdrive", signin_file=path, **drive)
    assert got.custodian_share == CUSTODIAN
