"""``check_presence``: is the iCloud Drive key file still in its folder? One folder listing,
against the fake iCloud Drive; and ``check_backups`` over a wallet whose key file is gone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID, OTHER_APPLE_ID, sign_in

from walletbackup import WalletBackup
from walletbackup.errors import MalformedBackup, MethodUnavailable
from walletbackup.methods import BackupMethod, Enrollment, MethodContext
from walletbackup.testing import new_context
from walletbackup_icloud import FOLDER_NAME, accounts

Factory = Callable[..., BackupMethod]
LISTING = "retrieveItemDetailsInFolders"
CLIENT, CUSTODIAN = b"client share", b"custodian share"


def enroll(make_method: Factory) -> tuple[Enrollment, MethodContext]:
    context = new_context()
    return make_method().enroll(context), context


def test_a_key_file_that_is_there_takes_one_listing(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    method = make_method()
    method.check_presence(enrollment.args, context)  # signs in and opens the drive once
    listings, downloads = fake.count(LISTING), fake.count("download/by_id")
    assert method.check_presence(enrollment.args, context) is True
    assert fake.count(LISTING) == listings + 1
    assert fake.count("download/by_id") == downloads  # the key itself is never fetched


@pytest.mark.parametrize("damage", ["trash", "purge", "replace", "folder"])
def test_a_key_file_that_is_gone_is_not_present(
    make_method: Factory, fake: FakeICloud, damage: str
) -> None:
    enrollment, context = enroll(make_method)
    file_id = str(enrollment.args["file_id"])
    if damage == "trash":
        fake.delete_behind(APPLE_ID, file_id)  # in Recently Deleted: not where it belongs
    elif damage == "purge":
        fake.delete_behind(APPLE_ID, file_id, purge=True)
    elif damage == "replace":
        fake.replace_behind(APPLE_ID, file_id)  # another file under its name is not the key
    else:
        fake.delete_behind(APPLE_ID, str(enrollment.args["folder_id"]), purge=True)
    assert make_method().check_presence(enrollment.args, context) is False


def test_another_apple_id_does_not_see_the_key_file(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    sign_in(fake, OTHER_APPLE_ID)
    assert make_method(apple_id=OTHER_APPLE_ID).check_presence(enrollment.args, context) is False


def test_passing_failures_are_retried(
    make_method: Factory, fake: FakeICloud, sleeps: list[float]
) -> None:
    enrollment, context = enroll(make_method)
    fake.fail(LISTING, 503, times=2)
    assert make_method().check_presence(enrollment.args, context) is True
    assert len(sleeps) == 2


def test_an_expired_session_cannot_tell(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    fake.expire_session(APPLE_ID)
    with pytest.raises(MethodUnavailable, match="walletbackup icloud login"):
        make_method().check_presence(enrollment.args, context)


def test_args_are_checked_before_any_request(make_method: Factory, fake: FakeICloud) -> None:
    enroll(make_method)
    before = len(fake.log)
    with pytest.raises(MalformedBackup):
        make_method().check_presence({"file_id": "x"}, new_context())
    assert len(fake.log) == before  # not even a sign-in


def test_check_backups_reports_a_gone_key_file(
    wb: WalletBackup, fake: FakeICloud, signed_in: accounts.SavedAccount
) -> None:
    wb.backup_wallet("w", CLIENT, method="icloud", custodian_share=CUSTODIAN)
    (healthy,) = wb.check_backups()
    assert healthy.ok and healthy.methods[0].present is True
    [item] = [f for f in fake.files(APPLE_ID, FOLDER_NAME) if f.full_name.endswith(".bin")]
    fake.delete_behind(APPLE_ID, item.drivewsid)
    (gone,) = wb.check_backups()
    assert [(p.kind, p.method) for p in gone.problems] == [("material", "icloud")]
    event = wb.audit_log("w")[-1]
    assert (event["type"], event["method"]) == ("material_missing", "icloud")
