"""The method's options, stanza args, availability, and behaviour without google-auth."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gdrive_fake import FakeGoogle, Fault
from gdrive_support import user_credentials
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials

from walletbackup.errors import MalformedBackup, MethodUnavailable, StorageError
from walletbackup.testing import new_context
from walletbackup_gdrive import GDriveMethod, RetryPolicy

Make = Callable[..., GDriveMethod]
GOOD_ARGS = {
    "file_id": "1AbC_d-9",
    "file_name": f"walletbackup-key-{'a' * 32}-{'b' * 32}",
    "client": "c" * 32,
}


@pytest.fixture
def without_google_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make google-auth unimportable, as on a machine without it (``None`` blocks an import)."""
    for name in list(sys.modules):
        if name.split(".")[:2] in (["google", "auth"], ["google", "oauth2"]):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "walletbackup_gdrive.drive", raising=False)


# --- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "api_root", ["http://drive.example.com", "ftp://127.0.0.1", "https://", "http://10.0.0.1:8080"]
)
def test_api_root_must_be_https_or_loopback(api_root: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        GDriveMethod(api_root=api_root)


@pytest.mark.parametrize(
    "api_root",
    [
        "https://proxy.example.com/google",
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
    ],
)
def test_api_root_accepts_https_and_loopback(api_root: str) -> None:
    GDriveMethod(api_root=api_root)


@pytest.mark.parametrize("timeout", [0, -1, 601, float("nan"), True, "30"])
def test_timeout_must_be_a_sane_number(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        GDriveMethod(timeout=timeout)


@pytest.mark.parametrize("retry", [3, "fast", {"attempts": 3, "sleep": print}, {"tries": 3}])
def test_retry_must_be_a_policy_or_its_fields(retry: Any) -> None:
    with pytest.raises(TypeError, match="RetryPolicy"):
        GDriveMethod(retry=retry)


def test_retry_fields_as_a_mapping(google: FakeGoogle, make_method: Make) -> None:
    google.inject(Fault("POST /upload", 503, count=100))
    method = make_method(retry={"attempts": 2, "base_delay": 0, "max_delay": 0})
    with pytest.raises(StorageError, match="2 attempts"):
        method.enroll(new_context())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("attempts", 0),
        ("attempts", 21),
        ("base_delay", -1.0),
        ("max_delay", float("inf")),
        ("max_retry_after", float("nan")),
    ],
)
def test_retry_policy_bounds(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})


def test_unknown_options_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown option"):
        GDriveMethod(folder="x")


# --- stanza args ---------------------------------------------------------------------------


def test_good_args_pass() -> None:
    GDriveMethod.validate_args(GOOD_ARGS)
    GDriveMethod.validate_args(GOOD_ARGS | {"client": ""})  # credentials without a client id


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("file_id", "../../about"),
        ("file_id", "a/b"),
        ("file_id", ""),
        ("file_id", "x" * 257),
        ("file_id", 42),
        ("file_name", "passwords.txt"),
        ("file_name", "walletbackup-key-A-b"),
        ("client", "C" * 32),
        ("client", "c" * 31),
        ("client", ["c" * 32]),
    ],
)
def test_malformed_args_are_refused(key: str, value: Any) -> None:
    with pytest.raises(MalformedBackup, match=key):
        GDriveMethod.validate_args(GOOD_ARGS | {key: value})


@pytest.mark.parametrize("key", sorted(GOOD_ARGS))
def test_missing_args_are_refused(key: str) -> None:
    with pytest.raises(MalformedBackup, match=key):
        GDriveMethod.validate_args({k: v for k, v in GOOD_ARGS.items() if k != key})


def test_unlock_checks_args_before_any_request(google: FakeGoogle, make_method: Make) -> None:
    with pytest.raises(MalformedBackup):
        make_method().unlock(GOOD_ARGS | {"file_id": "../x"}, new_context())
    assert google.requests == []


# --- availability --------------------------------------------------------------------------


def test_available_with_user_credentials(make_method: Make) -> None:
    assert make_method().availability().available


def test_unavailable_when_not_signed_in(tmp_path: Path) -> None:
    availability = GDriveMethod(signin_file=tmp_path / "none.json").availability()
    assert not availability.available
    assert "not signed in" in availability.reason
    assert "walletbackup gdrive login" in availability.remedy


def test_enroll_when_not_signed_in_says_how(tmp_path: Path) -> None:
    with pytest.raises(MethodUnavailable, match="walletbackup gdrive login"):
        GDriveMethod(signin_file=tmp_path / "none.json").enroll(new_context())


def test_unavailable_for_an_object_that_is_not_credentials() -> None:
    availability = GDriveMethod(credentials={"token": "x"}).availability()
    assert not availability.available
    assert "not a google.auth credentials object" in availability.reason


def test_unavailable_for_a_service_account() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": "backup@project.iam.gserviceaccount.com",
            "private_key": pem,
            "token_uri": "https://oauth2.googleapis.com/token",
            "client_id": "1",
            "private_key_id": "k",
        }
    )
    availability = GDriveMethod(credentials=account).availability()
    assert not availability.available
    assert "service account" in availability.reason


def test_unavailable_for_an_expired_token_without_refresh() -> None:
    expired = Credentials("ya29.old", expiry=dt.datetime(2020, 1, 1))
    availability = GDriveMethod(credentials=expired).availability()
    assert not availability.available
    assert "cannot refresh" in availability.reason


def test_unavailable_without_the_appdata_scope(google: FakeGoogle) -> None:
    narrow = user_credentials(google, scopes=("openid", "email"))
    availability = GDriveMethod(credentials=narrow).availability()
    assert not availability.available
    assert "drive.appdata" in availability.reason


def test_full_drive_scope_is_accepted(google: FakeGoogle) -> None:
    broad = user_credentials(google, scopes=("https://www.googleapis.com/auth/drive",))
    assert GDriveMethod(credentials=broad).availability().available


def test_a_valid_access_token_alone_is_enough() -> None:
    token_only = Credentials(
        "ya29.fresh", expiry=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    )
    assert GDriveMethod(credentials=token_only).availability().available


@pytest.mark.usefixtures("without_google_auth")
def test_unavailable_without_google_auth_names_the_install() -> None:
    availability = GDriveMethod().availability()
    assert not availability.available
    assert availability.reason == "google-auth is not installed"
    assert availability.remedy == "pip install walletbackup-gdrive"


@pytest.mark.usefixtures("without_google_auth")
def test_enroll_without_google_auth_names_the_install() -> None:
    with pytest.raises(MethodUnavailable, match="pip install walletbackup-gdrive"):
        GDriveMethod(credentials=object()).enroll(new_context())


def test_a_world_readable_sign_in_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signin.json"
    path.write_text(json.dumps({"walletbackup_gdrive": 1}))
    path.chmod(0o644)
    availability = GDriveMethod(signin_file=path).availability()
    assert not availability.available
    assert "chmod 600" in availability.reason
