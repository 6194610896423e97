"""``check_presence``: is the Drive key file still there? One metadata request, against the fake
Google, with its faults; and ``check_backups`` over a wallet whose key file is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from gdrive_fake import FakeGoogle, Fault
from gdrive_support import user_credentials
from google.oauth2.credentials import Credentials

from walletbackup import WalletBackup
from walletbackup.errors import MalformedBackup, MethodUnavailable
from walletbackup.methods import Enrollment, MethodContext
from walletbackup.testing import new_context
from walletbackup_gdrive import GDriveMethod

Make = Callable[..., GDriveMethod]
FILE = "GET /drive/v3/files/"
CLIENT, CUSTODIAN = b"client share", b"custodian share"


def enrolled(make_method: Make) -> tuple[Enrollment, MethodContext]:
    context = new_context()
    return make_method().enroll(context), context


def test_a_key_file_that_is_there_takes_one_metadata_request(
    google: FakeGoogle, make_method: Make
) -> None:
    enrollment, context = enrolled(make_method)
    before, reads = google.count(FILE), google.media_reads
    assert make_method().check_presence(enrollment.args, context) is True
    assert google.count(FILE) == before + 1
    assert google.media_reads == reads  # the key itself is never fetched


def test_a_deleted_key_file_is_not_present(google: FakeGoogle, make_method: Make) -> None:
    enrollment, context = enrolled(make_method)
    google.remove(str(enrollment.args["file_id"]))
    assert make_method().check_presence(enrollment.args, context) is False


def test_another_account_does_not_see_the_key_file(google: FakeGoogle, make_method: Make) -> None:
    enrollment, context = enrolled(make_method)
    mallory = make_method(credentials=user_credentials(google, user="mallory"))
    assert mallory.check_presence(enrollment.args, context) is False


def test_passing_failures_are_retried(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    enrollment, context = enrolled(make_method)
    google.inject(Fault(FILE, 503, count=2))
    assert make_method().check_presence(enrollment.args, context) is True
    assert len(sleeps) == 2


def test_a_revoked_sign_in_cannot_tell(google: FakeGoogle, make_method: Make) -> None:
    enrollment, context = enrolled(make_method)
    google.remove_app("alice", "123-desktop.apps.googleusercontent.com")
    with pytest.raises(MethodUnavailable, match="gdrive login"):
        make_method().check_presence(enrollment.args, context)


def test_args_are_checked_before_any_request(google: FakeGoogle, make_method: Make) -> None:
    before = len(google.requests)
    with pytest.raises(MalformedBackup):
        make_method().check_presence({"file_id": "../../x"}, new_context())
    assert len(google.requests) == before


def test_check_backups_reports_a_gone_key_file(
    google: FakeGoogle, wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="gdrive", custodian_share=CUSTODIAN, credentials=credentials, **drive
    )
    options = {"gdrive": {"credentials": credentials, **drive}}
    (healthy,) = wb.check_backups(method_options=options)
    assert healthy.ok and healthy.methods[0].present is True
    (key_file,) = google.files_of()
    google.remove(key_file.id)
    (gone,) = wb.check_backups(method_options=options)
    assert [(p.kind, p.method) for p in gone.problems] == [("material", "gdrive")]
    assert wb.audit_log("w")[-1]["type"] == "material_missing"


def test_check_backups_without_a_sign_in_says_it_cannot_tell(
    wb: WalletBackup, credentials: Credentials, drive: dict[str, Any]
) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="gdrive", custodian_share=CUSTODIAN, credentials=credentials, **drive
    )
    # An operator's machine: no credentials, no saved sign-in.
    (result,) = wb.check_backups()
    assert result.ok
    assert result.methods[0].present is None
    assert "not signed in to Google Drive" in result.methods[0].detail
