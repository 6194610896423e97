"""What goes over the wire: multipart uploads, file names and metadata, listing pages."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from gdrive_fake import FakeGoogle, StoredFile
from gdrive_support import TIMEOUT
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

from walletbackup.methods import MethodContext
from walletbackup.testing import new_context
from walletbackup_gdrive import GDriveMethod, RetryPolicy
from walletbackup_gdrive.drive import DriveClient, app_property_query
from walletbackup_gdrive.keyfile import KeyFileSpec
from walletbackup_gdrive.multipart import encode_related

Make = Callable[..., GDriveMethod]


def client(google: FakeGoogle, credentials: Credentials, retry: RetryPolicy) -> DriveClient:
    return DriveClient(credentials, api_root=google.url, timeout=TIMEOUT, retry=retry)


def test_binary_content_survives_the_upload(
    google: FakeGoogle, credentials: Credentials, retry: RetryPolicy
) -> None:
    # Every byte value, line breaks, and things that look like multipart delimiters.
    data = bytes(range(256)) + b"\r\n--walletbackup-\r\n\r\n--\r\n" + bytes(range(256))[::-1]
    with client(google, credentials, retry) as drive:
        file_id = drive.create(KeyFileSpec.for_context(new_context()), data)
        assert drive.download(file_id, len(data) + 1) == data
    assert google.files[file_id].data == data


def test_a_boundary_found_in_the_data_is_not_used(
    google: FakeGoogle, credentials: Credentials
) -> None:
    taken, free = "walletbackup-aaaa", "walletbackup-bbbb"
    data = (
        b"key\r\n--"
        + taken.encode()
        + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--"
        + taken.encode()
        + b"--\r\n"
    )
    candidates = iter([taken, free])
    body, content_type = encode_related(
        {"name": "n", "parents": ["appDataFolder"]}, data, new_boundary=lambda: next(candidates)
    )
    assert content_type == f"multipart/related; boundary={free}"
    with AuthorizedSession(credentials) as session:
        response = session.post(
            f"{google.url}/upload/drive/v3/files",
            params={"uploadType": "multipart"},
            data=body,
            headers={"Content-Type": content_type},
            timeout=TIMEOUT,
        )
    assert response.status_code == 200
    assert google.files[response.json()["id"]].data == data


def test_each_upload_gets_a_fresh_random_boundary(google: FakeGoogle, make_method: Make) -> None:
    method = make_method()
    method.enroll(new_context())
    method.enroll(new_context())
    first, second = (upload.boundary for upload in google.uploads)
    assert first != second


def test_the_key_file_says_what_it_is_without_naming_the_wallet(
    google: FakeGoogle, make_method: Make
) -> None:
    context = MethodContext("alice@example.com/main-wallet", "ab" * 16, "cd" * 32, "ef" * 16)
    enrollment = make_method().enroll(context)
    (stored,) = google.files_of()
    tag = hashlib.sha256(
        b"walletbackup-gdrive/wallet\x00alice@example.com/main-wallet"
    ).hexdigest()[:32]
    assert stored.name == f"walletbackup-key-{tag}-{'ef' * 16}"
    assert stored.app_properties == {
        "walletbackup": "method-secret",
        "format": "1",
        "wallet": tag,
        "stanza": "ef" * 16,
        "backupSet": "ab" * 16,
    }
    assert "alice" not in json.dumps([stored.name, stored.app_properties, stored.description])
    assert stored.mime_type == "application/octet-stream"
    assert "Deleting it disables recovering that wallet" in stored.description
    assert dict(enrollment.args) == {
        "file_id": stored.id,
        "file_name": stored.name,
        "client": enrollment.args["client"],
    }


def test_the_stanza_records_the_oauth_client_fingerprint(make_method: Make) -> None:
    args = make_method().enroll(new_context()).args
    expected = hashlib.sha256(
        b"walletbackup-gdrive/oauth-client\x00123-desktop.apps.googleusercontent.com"
    ).hexdigest()[:32]
    assert args["client"] == expected


def test_enroll_never_overwrites_an_existing_file(google: FakeGoogle, make_method: Make) -> None:
    method, context = make_method(), new_context()
    first = method.enroll(context)
    second = method.enroll(context)  # the same stanza enrolled twice: a second, new file
    assert first.args["file_id"] != second.args["file_id"]
    assert method.unlock(first.args, context) == first.secret
    assert len(google.files_of()) == 2


def test_listing_follows_pages(
    google: FakeGoogle, credentials: Credentials, retry: RetryPolicy
) -> None:
    with client(google, credentials, retry) as drive:
        drive.create(KeyFileSpec.for_context(new_context()), b"k" * 32)  # also makes the folder
        (mine,) = google.files_of()
        for number in range(230):
            google.files[f"seeded{number:04d}"] = StoredFile(
                f"seeded{number:04d}",
                f"other-{number}",
                mine.owner,
                {"walletbackup": "method-secret"},
                "",
                "application/octet-stream",
                b"",
                f"2020-01-01T00:00:{number:02d}.{number:06d}Z",
            )
        found = drive.list_files(app_property_query("walletbackup", "method-secret"))
    assert len(found) == 231
    assert google.requests.count("GET /drive/v3/files") == 3  # 100 + 100 + 31


def test_uploads_and_lists_stay_in_the_appdata_space(google: FakeGoogle, make_method: Make) -> None:
    make_method().enroll(new_context())
    (upload,) = google.uploads
    assert b'"parents":["appDataFolder"]' in upload.body
