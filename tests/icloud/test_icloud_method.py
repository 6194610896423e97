"""The icloud method on pyicloud's own Drive service, against the loopback fake iCloud Drive."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest
from icloud_fake import ROOT_ID, FakeICloud
from icloud_support import APPLE_ID, OTHER_APPLE_ID, loopback_service, sign_in
from retry_support import assert_backoff

from walletbackup.errors import (
    BackupNotFound,
    MalformedBackup,
    MethodUnavailable,
    StorageError,
    UnlockFailed,
)
from walletbackup.methods import BackupMethod, Enrollment, MethodContext
from walletbackup.retry import RetriesExhausted
from walletbackup.testing import new_context
from walletbackup_icloud import FOLDER_NAME, ICloudMethod, accounts
from walletbackup_icloud.keyfile import README_NAME, README_TEXT, key_file_name

Factory = Callable[..., BackupMethod]
RELOGIN = "walletbackup icloud login"


def enroll(make_method: Factory) -> tuple[Enrollment, MethodContext]:
    context = new_context()
    return make_method().enroll(context), context


# --- enroll --------------------------------------------------------------------------------------


def test_enroll_writes_a_named_key_file_and_a_readme(
    make_method: Factory, fake: FakeICloud
) -> None:
    enrollment, context = enroll(make_method)
    files = {item.full_name: item for item in fake.files(APPLE_ID, FOLDER_NAME)}
    name = enrollment.args["file"]
    assert set(files) == {README_NAME, name}
    assert name.startswith("walletbackup-key-")
    assert name.endswith("-DO-NOT-DELETE.bin")
    assert context.stanza_id in name
    key_file = files[name]
    assert key_file.content == enrollment.secret
    assert files[README_NAME].content == README_TEXT.encode()
    folder = fake.folder(APPLE_ID, FOLDER_NAME)
    assert folder is not None
    assert enrollment.args == {
        "v": 1,
        "folder": FOLDER_NAME,
        "folder_id": folder.drivewsid,
        "file": name,
        "file_id": key_file.drivewsid,
    }


def test_second_enrollment_reuses_the_folder_and_readme(
    make_method: Factory, fake: FakeICloud
) -> None:
    first, _ = enroll(make_method)
    uploads = fake.count("upload/web")
    second, _ = enroll(make_method)
    assert fake.count("upload/web") == uploads + 1  # the key file only
    assert fake.count("createFolders") == 1
    assert first.args["folder_id"] == second.args["folder_id"]
    assert len(fake.files(APPLE_ID, FOLDER_NAME)) == 3


def test_enroll_never_overwrites_a_file_of_the_same_name(
    make_method: Factory, fake: FakeICloud
) -> None:
    first, _ = enroll(make_method)
    context = new_context()
    taken = fake.put_file(APPLE_ID, first.args["folder_id"], key_file_name(context), b"mine")
    with pytest.raises(StorageError, match="refusing to overwrite"):
        make_method().enroll(context)
    assert fake.item(APPLE_ID, taken.drivewsid).content == b"mine"


def test_enroll_reads_the_upload_back_and_removes_a_bad_copy(
    make_method: Factory, fake: FakeICloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(make_method)  # folder and README exist
    real = fake._new_file

    def garbling(account: Any, folder: Any, full_name: str, content: bytes) -> Any:
        garbled = bytes(b ^ 1 for b in content) if full_name.endswith(".bin") else content
        return real(account, folder, full_name, garbled)

    monkeypatch.setattr(fake, "_new_file", garbling)
    with pytest.raises(StorageError, match="differs from what was uploaded"):
        make_method().enroll(new_context())
    assert len(fake.files(APPLE_ID, FOLDER_NAME)) == 2  # README and the first key only
    assert fake.trash(APPLE_ID) == []  # the bad copy was deleted and purged


# --- unlock --------------------------------------------------------------------------------------


def test_unlock_finds_a_file_renamed_in_place(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    fake.rename_behind(APPLE_ID, enrollment.args["file_id"], "renamed by someone.bin")
    assert make_method().unlock(enrollment.args, context) == enrollment.secret


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("trash", "is in Recently Deleted"),
        ("purge", "is missing from the folder"),
        ("replace", "replaced by a different file with the same name"),
        ("folder", "is in Recently Deleted"),
        ("folder-purge", "holding the key file is gone"),
    ],
)
def test_missing_key_file_is_backup_not_found(
    make_method: Factory, fake: FakeICloud, damage: str, message: str
) -> None:
    enrollment, context = enroll(make_method)
    file_id, folder_id = enrollment.args["file_id"], enrollment.args["folder_id"]
    if damage == "trash":
        fake.delete_behind(APPLE_ID, file_id)
    elif damage == "purge":
        fake.delete_behind(APPLE_ID, file_id, purge=True)
    elif damage == "replace":
        fake.replace_behind(APPLE_ID, file_id)
    elif damage == "folder":
        fake.delete_behind(APPLE_ID, folder_id)
    else:
        fake.delete_behind(APPLE_ID, folder_id, purge=True)
    with pytest.raises(BackupNotFound, match=message) as info:
        make_method().unlock(enrollment.args, context)
    assert APPLE_ID in str(info.value)


@pytest.mark.parametrize("size", [0, 31, 33, 4096])
def test_key_file_of_another_size_is_unlock_failed(
    make_method: Factory, fake: FakeICloud, size: int
) -> None:
    enrollment, context = enroll(make_method)
    fake.alter_behind(APPLE_ID, enrollment.args["file_id"], b"\x07" * size)
    with pytest.raises(UnlockFailed, match="was altered"):
        make_method().unlock(enrollment.args, context)


def test_unlock_with_another_apple_id_says_which_account_it_looked_in(
    make_method: Factory, fake: FakeICloud
) -> None:
    enrollment, context = enroll(make_method)
    sign_in(fake, OTHER_APPLE_ID)
    with pytest.raises(BackupNotFound, match=OTHER_APPLE_ID):
        make_method(apple_id=OTHER_APPLE_ID).unlock(enrollment.args, context)


# --- discard -------------------------------------------------------------------------------------


def test_discard_deletes_and_purges_the_key_file(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    make_method().discard(enrollment.args, context)
    assert [item.full_name for item in fake.files(APPLE_ID, FOLDER_NAME)] == [README_NAME]
    assert fake.trash(APPLE_ID) == []


def test_discard_purges_a_file_already_in_recently_deleted(
    make_method: Factory, fake: FakeICloud
) -> None:
    enrollment, context = enroll(make_method)
    fake.delete_behind(APPLE_ID, enrollment.args["file_id"])
    make_method().discard(enrollment.args, context)
    assert fake.trash(APPLE_ID) == []


def test_discard_leaves_a_replacement_alone(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    other = fake.replace_behind(APPLE_ID, enrollment.args["file_id"])
    make_method().discard(enrollment.args, context)
    assert fake.item(APPLE_ID, other.drivewsid).trashed is False


# --- transient faults: bounded retries with backoff ----------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_status_is_retried_with_backoff(
    make_method: Factory, fake: FakeICloud, sleeps: list[float], status: int
) -> None:
    enrollment, context = enroll(make_method)
    fake.fail("retrieveItemDetailsInFolders", status, times=2)
    assert make_method().unlock(enrollment.args, context) == enrollment.secret
    assert_backoff(sleeps, [0.5, 1.0])


def test_persistent_5xx_gives_up_after_the_attempts(
    make_method: Factory, fake: FakeICloud, sleeps: list[float]
) -> None:
    enrollment, context = enroll(make_method)
    fake.fail("download/by_id", 503, times=10)
    before = fake.count("download/by_id")
    with pytest.raises(RetriesExhausted, match=r"HTTP 503 \(3 attempts\); try again later"):
        make_method(attempts=3).unlock(enrollment.args, context)
    assert_backoff(sleeps, [0.5, 1.0])
    assert fake.count("download/by_id") == before + 3


def test_backoff_is_capped(make_method: Factory, fake: FakeICloud, sleeps: list[float]) -> None:
    enrollment, context = enroll(make_method)
    fake.fail("download/by_id", 500, times=9)
    assert make_method(attempts=10).unlock(enrollment.args, context) == enrollment.secret
    assert_backoff(sleeps, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0])


@pytest.mark.parametrize("route", ["requestWebAccessState", "download/by_id", "content/download"])
def test_dropped_connection_is_retried(
    make_method: Factory, fake: FakeICloud, sleeps: list[float], route: str
) -> None:
    enrollment, context = enroll(make_method)
    fake.drop(route)
    assert make_method().unlock(enrollment.args, context) == enrollment.secret
    assert_backoff(sleeps, [0.5])


def test_connection_dropped_mid_download_is_retried(
    make_method: Factory, fake: FakeICloud, sleeps: list[float]
) -> None:
    enrollment, context = enroll(make_method)
    fake.drop("content/download", mid_body=True)
    assert make_method().unlock(enrollment.args, context) == enrollment.secret
    assert_backoff(sleeps, [0.5])


def test_stalled_answer_times_out_and_is_retried(
    make_method: Factory, fake: FakeICloud, sleeps: list[float]
) -> None:
    enrollment, context = enroll(make_method)
    fake.stall("download/by_id", seconds=3)
    method = make_method(timeout=0.3)
    assert method.unlock(enrollment.args, context) == enrollment.secret
    assert_backoff(sleeps, [0.5])


@pytest.mark.parametrize("route", ["update/documents", "content/upload"])
def test_upload_whose_answer_was_lost_is_not_done_twice(
    make_method: Factory, fake: FakeICloud, route: str
) -> None:
    first, _ = enroll(make_method)
    fake.drop(route, after_apply=True)
    enrollment, context = enroll(make_method)
    names = sorted(item.full_name for item in fake.files(APPLE_ID, FOLDER_NAME))
    # One copy each: no "... 2.bin" conflict copy from a second upload.
    assert names == sorted([README_NAME, first.args["file"], enrollment.args["file"]])
    assert make_method().unlock(enrollment.args, context) == enrollment.secret


def test_folder_whose_answer_was_lost_is_not_made_twice(
    make_method: Factory, fake: FakeICloud
) -> None:
    fake.drop("createFolders", after_apply=True)
    enroll(make_method)
    folders = [i for i in fake.accounts[APPLE_ID].children(ROOT_ID) if i.type == "FOLDER"]
    assert [folder.name for folder in folders] == [FOLDER_NAME]


def test_delete_whose_answer_was_lost_completes(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    fake.drop("deleteItems", after_apply=True)
    make_method().discard(enrollment.args, context)
    assert fake.trash(APPLE_ID) == []
    assert [item.full_name for item in fake.files(APPLE_ID, FOLDER_NAME)] == [README_NAME]


# --- sign-in problems: no retries, say what to run -----------------------------------------------


@pytest.mark.parametrize(("status", "json_body"), [(401, False), (421, True), (450, True)])
def test_expired_session_asks_to_sign_in_again(
    make_method: Factory, fake: FakeICloud, sleeps: list[float], status: int, json_body: bool
) -> None:
    enrollment, context = enroll(make_method)
    fake.fail("retrieveItemDetailsInFolders", status, json_body=json_body)
    with pytest.raises(MethodUnavailable, match=RELOGIN) as info:
        make_method().unlock(enrollment.args, context)
    assert "has expired" in str(info.value)
    assert sleeps == []


def test_expired_cookies_are_renewed_from_the_saved_session(
    make_method: Factory, fake: FakeICloud
) -> None:
    enrollment, context = enroll(make_method)
    fake.expire_cookies(APPLE_ID)
    assert make_method().unlock(enrollment.args, context) == enrollment.secret
    assert fake.count("accountLogin") == 1


@pytest.mark.parametrize("status", [500, 503])
def test_session_check_apple_could_not_answer_is_retried(
    make_method: Factory, fake: FakeICloud, sleeps: list[float], status: int
) -> None:
    enrollment, context = enroll(make_method)
    fake.fail("validate", status)  # pyicloud falls back to renewing the cookies...
    fake.fail("accountLogin", status)  # ...which fails too: a "failed login" caused by a 5xx
    assert make_method().unlock(enrollment.args, context) == enrollment.secret
    assert_backoff(sleeps, [0.5])


def test_expired_session_is_found_when_opening(make_method: Factory, fake: FakeICloud) -> None:
    enrollment, context = enroll(make_method)
    fake.expire_session(APPLE_ID)
    with pytest.raises(MethodUnavailable, match=f"sign-in for {APPLE_ID} has expired.*{RELOGIN}"):
        make_method().unlock(enrollment.args, context)


def test_advanced_data_protection_without_web_access(
    make_method: Factory, fake: FakeICloud
) -> None:
    fake.accounts[APPLE_ID].web_access = False
    with pytest.raises(MethodUnavailable, match="Access iCloud Data on the Web"):
        make_method().enroll(new_context())


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_refusals_are_storage_errors(
    make_method: Factory, fake: FakeICloud, sleeps: list[float], status: int
) -> None:
    fake.fail("createFolders", status)
    with pytest.raises(StorageError, match=f"HTTP {status}"):
        make_method().enroll(new_context())
    assert sleeps == []


# --- a caller's own PyiCloudService --------------------------------------------------------------


@pytest.fixture
def service(fake: FakeICloud, signed_in: accounts.SavedAccount) -> Any:
    api = loopback_service(fake, APPLE_ID, str(signed_in.directory))
    api.authenticate()
    return api


def test_service_option_uses_the_given_service(service: Any, fake: FakeICloud) -> None:
    context = new_context()
    enrollment = ICloudMethod(service=service).enroll(context)
    assert ICloudMethod(service=service).unlock(enrollment.args, context) == enrollment.secret
    assert [
        f.content
        for f in fake.files(APPLE_ID, FOLDER_NAME)
        if f.full_name == enrollment.args["file"]
    ] == [enrollment.secret]


def test_service_option_no_longer_signed_in(service: Any, fake: FakeICloud) -> None:
    fake.expire_session(APPLE_ID)
    with pytest.raises(MethodUnavailable, match=r"service= is no longer signed in"):
        ICloudMethod(service=service).enroll(new_context())


def test_service_still_needing_two_factor_is_unavailable() -> None:
    class Half:
        requires_2fa = True

    availability = ICloudMethod(service=Half()).availability()
    assert not availability.available
    assert "trust_session" in availability.remedy


# --- availability and options --------------------------------------------------------------------


def test_no_saved_sign_in_is_unavailable_and_says_what_to_run() -> None:
    availability = ICloudMethod().availability()
    assert not availability.available
    assert RELOGIN in availability.remedy
    with pytest.raises(MethodUnavailable, match=RELOGIN):
        ICloudMethod().enroll(new_context())


def test_several_sign_ins_need_apple_id(fake: FakeICloud) -> None:
    sign_in(fake, APPLE_ID)
    sign_in(fake, OTHER_APPLE_ID)
    availability = ICloudMethod().availability()
    assert not availability.available
    assert APPLE_ID in availability.reason
    assert OTHER_APPLE_ID in availability.reason
    assert "apple_id=" in availability.remedy
    assert ICloudMethod(apple_id=OTHER_APPLE_ID).availability().available


def test_the_only_sign_in_is_used_by_default(
    signed_in: accounts.SavedAccount, fake: FakeICloud
) -> None:
    context = new_context()
    enrollment = ICloudMethod(sleep=lambda _: None).enroll(context)
    assert ICloudMethod().unlock(enrollment.args, context) == enrollment.secret


def test_unknown_apple_id_is_unavailable(signed_in: accounts.SavedAccount) -> None:
    availability = ICloudMethod(apple_id="nobody@example.com").availability()
    assert not availability.available
    assert "nobody@example.com" in availability.reason


def test_without_pyicloud_the_method_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyicloud", None)  # how Python marks a module as absent
    availability = ICloudMethod().availability()
    assert not availability.available
    assert "pip install walletbackup-icloud" in availability.remedy


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"attempts": 0}, ValueError),
        ({"attempts": 11}, ValueError),
        ({"attempts": True}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"sleep": "soon"}, TypeError),
        ({"apple_id": 7}, TypeError),
        ({"apple_id": "  "}, ValueError),
        ({"password": "x"}, TypeError),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ICloudMethod(**options)


# --- stanza arguments ----------------------------------------------------------------------------

GOOD = {
    "v": 1,
    "folder": FOLDER_NAME,
    "folder_id": "FOLDER::com.apple.CloudDocs::1C7F1760-D940-480F-8C4F-005824A4E05B",
    "file": "walletbackup-key-0123456789ab-00112233445566778899aabbccddeeff-DO-NOT-DELETE.bin",
    "file_id": "FILE::com.apple.CloudDocs::33A41112-4131-4938-9691-7F356CE3C51D",
}


def test_good_args_are_accepted() -> None:
    ICloudMethod.validate_args(GOOD)


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": True},
        {"v": "1"},
        {"folder": ""},
        {"folder": "a/b"},
        {"folder": "x" * 256},
        {"folder": "tab\there"},
        {"folder_id": "FILE::com.apple.CloudDocs::ABC"},
        {"folder_id": "FOLDER::com.apple.Keynote::documents"},
        {"file": "../../etc/passwd"},
        {"file": GOOD["file"].replace(".bin", ".txt")},
        {"file_id": "FILE::com.apple.CloudDocs::"},
        {"file_id": "FILE::com.apple.CloudDocs::a/b"},
        {"file_id": 7},
        {"extra": "x"},
    ],
)
def test_bad_args_are_malformed(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedBackup):
        ICloudMethod.validate_args({**GOOD, **change})


@pytest.mark.parametrize("key", sorted(GOOD))
def test_each_arg_is_required(key: str) -> None:
    with pytest.raises(MalformedBackup, match=key if key != "v" else "'v'"):
        ICloudMethod.validate_args({k: v for k, v in GOOD.items() if k != key})


# --- nothing secret in logs ----------------------------------------------------------------------


def test_no_cookie_token_or_key_in_debug_logs(
    make_method: Factory, fake: FakeICloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    enrollment, context = enroll(make_method)
    make_method().unlock(enrollment.args, context)
    account = fake.accounts[APPLE_ID]
    logged = caplog.text
    assert "token=<redacted>" in logged  # the upload's token was there, and was hidden
    for secret in (
        account.web_token,
        account.validate_token,
        account.session_token,
        account.trust_token,
        enrollment.secret.hex(),
    ):
        assert secret
        assert secret not in logged
