"""The issue's scenario end to end: back up with a password, add gdrive, recover with gdrive on
a fresh machine; a Drive outage while adding gdrive changes nothing.

Needs the password plugin installed beside gdrive (the nox session installs both).
"""

from __future__ import annotations

from typing import Any

import pytest
from gdrive_fake import FakeGoogle, Fault
from gdrive_support import user_credentials
from google.oauth2.credentials import Credentials

from walletbackup import WalletBackup
from walletbackup.retry import RetriesExhausted

#: The issue's scenario needs the password plugin beside gdrive: runs in the session "all".
pytestmark = pytest.mark.cross_plugin

PASSWORD = "correct horse battery staple 42"
FAST = {"low_memory": True, "target_seconds": 0.001}
UNLOCK = {"method": "password", "password": PASSWORD}
CLIENT, CUSTODIAN = b"client share", b"custodian share"


@pytest.fixture
def wb(wb: WalletBackup) -> WalletBackup:
    """The shared ``wb``, with wallet w backed up with a password."""
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    return wb


def test_add_gdrive_then_recover_on_a_fresh_machine(
    google: FakeGoogle,
    urls: dict[str, str],
    wb: WalletBackup,
    credentials: Credentials,
    drive: dict[str, Any],
) -> None:
    wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    assert wb.available_recovery_methods("w") == ["gdrive", "password"]
    assert {s.method: s.status for s in wb.backup_status("w")} == {
        "gdrive": "stored",
        "password": "stored",
    }
    # The lost phone: a new machine, a new WalletBackup, the user signs in to Google again.
    refreshed = Credentials(
        None,
        refresh_token=google.grant(credentials.client_id),
        token_uri=google.token_uri,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        scopes=credentials.scopes,
    )
    with WalletBackup(**urls) as fresh:
        got = fresh.recover_wallet("w", method="gdrive", credentials=refreshed, **drive)
        assert fresh.verify_backup("w", method="gdrive", credentials=refreshed, **drive)
    assert (got.client_share, got.custodian_share) == (CLIENT, CUSTODIAN)


def test_an_outage_while_adding_gdrive_changes_nothing(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    before = wb.backup_status("w")
    google.inject(Fault("POST /upload", 503, count=100))
    with pytest.raises(RetriesExhausted, match="Google Drive could not upload the key file"):
        wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    assert wb.backup_status("w") == before
    assert wb.available_recovery_methods("w") == ["password"]
    assert google.files_of() == []
    assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == CLIENT
    event = [e for e in wb.audit_log("w") if e["type"] == "add_method"][-1]
    assert (event["method"], event["outcome"], event["error"]) == (
        "gdrive",
        "failed",
        "RetriesExhausted",
    )
    # Drive is back: adding it now works, and the password still does.
    google.faults.clear()
    wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    assert wb.available_recovery_methods("w") == ["gdrive", "password"]


def test_an_outage_while_reading_back_leaves_no_key_behind(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    # The upload works, the read-back does not: enroll fails and removes its own upload.
    google.inject(Fault("GET /drive/v3/files/", 503, count=5))
    with pytest.raises(RetriesExhausted, match="download the key file"):
        wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    assert google.files_of() == []
    assert wb.available_recovery_methods("w") == ["password"]


def test_remove_gdrive_deletes_its_key_file(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    assert len(google.files_of()) == 1
    wb.remove_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    assert google.files_of() == []
    assert wb.available_recovery_methods("w") == ["password"]


def test_the_user_removing_the_app_leaves_the_password(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=credentials, **drive)
    google.remove_app("alice", credentials.client_id)
    got = wb.recover_wallet("w", method="password", password=PASSWORD)
    assert got.client_share == CLIENT
    # Re-adding gdrive after signing in again restores it as a recovery path.
    again = user_credentials(google)
    wb.add_backup_method("w", "gdrive", unlock_with=UNLOCK, credentials=again, **drive)
    assert (
        wb.recover_wallet("w", method="gdrive", credentials=again, **drive).custodian_share
        == CUSTODIAN
    )
