"""Drive failures, injected at the loopback fake, through the method and the real google-auth code.

Backoff sleeps are recorded, not slept (the ``retry`` fixture); no test asserts on time.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable
from typing import Any

import pytest
from gdrive_fake import FakeGoogle, Fault
from gdrive_support import CLIENT_SECRET, user_credentials
from google.oauth2.credentials import Credentials
from retry_support import assert_backoff

from walletbackup.errors import BackupNotFound, MalformedBackup, MethodUnavailable, StorageError
from walletbackup.retry import RetriesExhausted
from walletbackup.testing import new_context
from walletbackup_gdrive import GDriveMethod, RetryPolicy

Make = Callable[..., GDriveMethod]
UPLOAD, FILES, FILE = "POST /upload/drive/v3/files", "GET /drive/v3/files", "GET /drive/v3/files/"
DELETE = "DELETE /drive/v3/files/"


def enroll_and_unlock(method: GDriveMethod) -> None:
    context = new_context()
    enrollment = method.enroll(context)
    assert method.unlock(enrollment.args, context) == enrollment.secret


# --- passing failures are retried ----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(
    google: FakeGoogle, make_method: Make, sleeps: list[float], status: int
) -> None:
    google.inject(Fault(UPLOAD, status, count=2))
    enroll_and_unlock(make_method())
    assert len(sleeps) == 2
    assert len(google.files_of()) == 1


def test_backoff_grows_within_its_bounds(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=3.0, sleep=sleeps.append)
    google.inject(Fault(UPLOAD, 503, count=3))
    enroll_and_unlock(make_method(retry=policy))
    assert_backoff(sleeps, [1.0, 2.0, 3.0])  # base * 2**n, capped at max_delay


def test_429_waits_what_retry_after_says(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    google.inject(Fault(UPLOAD, 429, "rateLimitExceeded", headers={"Retry-After": "7"}))
    enroll_and_unlock(make_method())
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=40)
    google.inject(
        Fault(FILE, 503, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)})
    )
    enroll_and_unlock(make_method())
    (slept,) = sleeps
    assert 20 < slept <= 40


def test_a_retry_after_beyond_the_cap_gives_up_at_once(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    google.inject(Fault(UPLOAD, 429, "rateLimitExceeded", headers={"Retry-After": "3600"}))
    with pytest.raises(RetriesExhausted, match="asks to wait 3600 s"):
        make_method().enroll(new_context())
    assert sleeps == []
    assert google.files_of() == []


def test_drive_403_rate_limit_is_retried(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    google.inject(Fault(UPLOAD, 403, "userRateLimitExceeded"))
    enroll_and_unlock(make_method())
    assert len(sleeps) == 1


def test_an_outage_ends_after_the_attempts(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    google.inject(Fault(UPLOAD, 503, count=100))
    with pytest.raises(RetriesExhausted, match=r"HTTP 503.*\(5 attempts\); try again later"):
        make_method().enroll(new_context())
    assert len(sleeps) == 4
    assert google.count(UPLOAD) == 5
    assert google.files_of() == []


@pytest.mark.parametrize("where", [FILE, UPLOAD], ids=["download", "upload"])
def test_a_dropped_connection_is_retried(
    google: FakeGoogle, make_method: Make, sleeps: list[float], where: str
) -> None:
    google.inject(Fault(where, action="drop"))
    enroll_and_unlock(make_method())
    assert len(sleeps) == 1


def test_a_hung_request_times_out_and_is_retried(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    google.inject(Fault(FILE, action="hang"))
    enroll_and_unlock(make_method(timeout=0.5))
    assert len(sleeps) == 1


@pytest.mark.parametrize("action", ["drop", "hang"])
def test_an_upload_that_succeeded_unseen_is_adopted_not_doubled(
    google: FakeGoogle, make_method: Make, action: str
) -> None:
    # Drive stored the file, then the answer was lost: the retry must find it by its name.
    google.inject(Fault(UPLOAD, action=action, after=True))
    enroll_and_unlock(make_method(timeout=0.5))
    assert len(google.files_of()) == 1
    assert google.count(UPLOAD) == 1


def test_a_delete_whose_answer_was_lost_counts_as_done(
    google: FakeGoogle, make_method: Make
) -> None:
    method, context = make_method(), new_context()
    enrollment = method.enroll(context)
    google.inject(Fault(DELETE, action="drop", after=True))
    method.discard(enrollment.args, context)
    assert google.files_of() == []


# --- tokens --------------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_before_the_request(
    google: FakeGoogle, make_method: Make, credentials: Credentials
) -> None:
    stale = Credentials(
        "ya29.stale-token",
        refresh_token=credentials.refresh_token,
        token_uri=google.token_uri,
        client_id=credentials.client_id,
        client_secret=CLIENT_SECRET,
        scopes=credentials.scopes,
        expiry=dt.datetime(2020, 1, 1),
    )
    enroll_and_unlock(make_method(credentials=stale))
    assert google.refreshes == 1
    assert "ya29.stale-token" not in google.bearers


def test_a_401_refreshes_once_then_succeeds(google: FakeGoogle, make_method: Make) -> None:
    method, context = make_method(), new_context()
    enrollment = method.enroll(context)
    google.expire_access_tokens()  # Google revoked the access token server-side
    assert method.unlock(enrollment.args, context) == enrollment.secret
    assert google.refreshes == 2


def test_a_401_after_the_refresh_is_not_refreshed_again(
    google: FakeGoogle, make_method: Make
) -> None:
    google.inject(Fault(UPLOAD, 401, "authError", count=5))
    with pytest.raises(MethodUnavailable, match=r"HTTP 401.*gdrive login"):
        make_method().enroll(new_context())
    assert google.refreshes == 2  # the first token, then one refresh on the 401
    assert google.count(UPLOAD) == 2


def test_a_revoked_sign_in_says_to_sign_in_again(google: FakeGoogle, make_method: Make) -> None:
    google.remove_app("alice", "123-desktop.apps.googleusercontent.com")
    with pytest.raises(MethodUnavailable, match=r"invalid_grant.*gdrive login"):
        make_method().enroll(new_context())


# --- errors that are not retried -----------------------------------------------------------


def test_missing_scope_says_which(
    google: FakeGoogle, make_method: Make, sleeps: list[float]
) -> None:
    narrow = user_credentials(google, scopes=("openid",))
    with pytest.raises(MethodUnavailable, match=r"drive\.appdata"):
        make_method(credentials=narrow).enroll(new_context())
    assert sleeps == []


def test_full_storage_says_so(google: FakeGoogle, make_method: Make, sleeps: list[float]) -> None:
    google.inject(Fault(UPLOAD, 403, "storageQuotaExceeded"))
    with pytest.raises(StorageError, match="storage is full"):
        make_method().enroll(new_context())
    assert sleeps == []


def test_project_quota_says_so(google: FakeGoogle, make_method: Make) -> None:
    google.inject(Fault(UPLOAD, 403, "dailyLimitExceeded"))
    with pytest.raises(StorageError, match="Cloud project has used up its Drive API quota"):
        make_method().enroll(new_context())


def test_a_disabled_drive_api_says_to_enable_it(google: FakeGoogle, make_method: Make) -> None:
    google.inject(Fault(UPLOAD, 403, "accessNotConfigured"))
    with pytest.raises(MethodUnavailable, match="not enabled"):
        make_method().enroll(new_context())


def test_other_refusals_name_the_reason(google: FakeGoogle, make_method: Make) -> None:
    google.inject(Fault(UPLOAD, 400, "badRequest"))
    with pytest.raises(StorageError, match=r"refused to upload the key file \(HTTP 400 badRequest"):
        make_method().enroll(new_context())


def test_a_deleted_key_file_says_why(google: FakeGoogle, make_method: Make) -> None:
    method, context = make_method(), new_context()
    enrollment = method.enroll(context)
    google.remove_app("alice", "123-desktop.apps.googleusercontent.com")
    fresh = user_credentials(google)  # signed in again: an empty folder
    with pytest.raises(BackupNotFound, match=r"is gone: the user removed this app's access"):
        make_method(credentials=fresh).unlock(enrollment.args, context)


def test_another_oauth_client_says_so(google: FakeGoogle, make_method: Make) -> None:
    method, context = make_method(), new_context()
    enrollment = method.enroll(context)
    other = user_credentials(google, client_id="456-other.apps.googleusercontent.com")
    with pytest.raises(BackupNotFound, match=r"another OAuth client \(fingerprint [0-9a-f]{32}"):
        make_method(credentials=other).unlock(enrollment.args, context)


def test_an_upload_that_reads_back_altered_fails_and_is_removed(
    google: FakeGoogle, make_method: Make
) -> None:
    google.inject(Fault(FILE, action="garble"))
    with pytest.raises(StorageError, match="did not read back from Google Drive intact"):
        make_method().enroll(new_context())
    assert google.files_of() == []


def test_a_key_file_of_the_wrong_size_is_refused(google: FakeGoogle, make_method: Make) -> None:
    method, context = make_method(), new_context()
    enrollment = method.enroll(context)
    google.files[enrollment.args["file_id"]].data += b"more"
    with pytest.raises(MalformedBackup, match="holds more than 32 bytes, not 32"):
        method.unlock(enrollment.args, context)


def test_discard_during_an_outage_fails_loudly(google: FakeGoogle, make_method: Make) -> None:
    method, context = make_method(), new_context()
    enrollment = method.enroll(context)
    google.inject(Fault(DELETE, 503, count=100))
    with pytest.raises(StorageError):
        method.discard(enrollment.args, context)
    assert len(google.files_of()) == 1  # still there: the core keeps it queued


# --- nothing secret leaks ------------------------------------------------------------------


def test_no_token_or_key_in_logs_or_errors(
    google: FakeGoogle, make_method: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    method, context = make_method(), new_context()
    google.inject(Fault(UPLOAD, 503), Fault(FILE, action="drop"))
    enrollment = method.enroll(context)
    google.expire_access_tokens()
    google.inject(Fault(FILE, 401, count=5))
    with pytest.raises(MethodUnavailable) as raised:
        method.unlock(enrollment.args, context)
    secrets_: list[Any] = [
        *filter(None, google.bearers),
        *google.grants,
        CLIENT_SECRET,
        enrollment.secret.hex(),
    ]
    shown = caplog.text + str(raised.value) + repr(method)
    assert caplog.records  # the retries were logged
    for value in secrets_:
        assert value not in shown
