"""The saved sign-in: the installed-app flow against the fake, the 0600 file, refresh, revoke."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from gdrive_browser import ScriptedBrowser
from gdrive_fake import FakeGoogle
from gdrive_support import CLIENT_ID, CLIENT_SECRET, TIMEOUT

from walletbackup.errors import MethodUnavailable, StorageError
from walletbackup.testing import new_context
from walletbackup_gdrive import GDriveMethod, RetryPolicy, signin


def sign_in(client_secrets: Path, path: Path, **options: object) -> signin.SignIn:
    return signin.login(client_secrets, path, wait_seconds=10, http_timeout=TIMEOUT, **options)  # type: ignore[arg-type]


def test_login_runs_the_installed_app_flow(
    google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "config" / "gdrive" / "signin.json"
    saved = sign_in(client_secrets, path)
    browser.join()
    # The browser went to the sign-in page, which sent it back to the loopback redirect.
    (opened,) = browser.opened
    assert opened.startswith(f"{google.url}/o/oauth2/auth?")
    for part in (
        "code_challenge_method=S256",
        "access_type=offline",
        "prompt=consent",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
        "drive.appdata",
    ):
        assert part in opened
    (landed,) = browser.landed
    assert landed.startswith("http://127.0.0.1:")
    assert "signed in to Google Drive" in browser.pages[0]
    assert google.client_auth == ["basic"]
    # What was saved: the refresh token Google issued, for this client, readable by the user only.
    assert saved.refresh_token in google.grants
    assert (saved.client_id, saved.token_uri) == (CLIENT_ID, google.token_uri)
    assert saved.revoke_uri == f"{google.url}/revoke"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert signin.load(path) == saved


def test_the_saved_sign_in_drives_the_method(
    google: FakeGoogle,
    browser: ScriptedBrowser,
    client_secrets: Path,
    tmp_path: Path,
    retry: RetryPolicy,
) -> None:
    path = tmp_path / "signin.json"
    sign_in(client_secrets, path)
    method = GDriveMethod(signin_file=path, api_root=google.url, retry=retry)
    context = new_context()
    enrollment = method.enroll(context)
    # Another process: a new method instance, a new access token refreshed from the file.
    again = GDriveMethod(signin_file=path, api_root=google.url, retry=retry)
    assert again.unlock(enrollment.args, context) == enrollment.secret
    assert google.refreshes == 2


def test_a_rotated_refresh_token_is_saved(
    google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    first = sign_in(client_secrets, path).refresh_token
    google.rotate_refresh_tokens = True
    context = new_context()
    enrollment = GDriveMethod(signin_file=path, api_root=google.url).enroll(context)
    saved = signin.load(path)
    assert saved is not None
    assert saved.refresh_token != first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The old token is dead; only the saved one works.
    assert (
        GDriveMethod(signin_file=path, api_root=google.url).unlock(enrollment.args, context)
        == enrollment.secret
    )


@pytest.mark.parametrize(
    ("consent", "message"),
    [
        ("deny", "access_denied"),
        ("tamper-state", "mismatching_state"),
        ("narrow-scope", "drive.appdata"),
    ],
)
def test_a_failed_sign_in_saves_nothing(
    google: FakeGoogle,
    browser: ScriptedBrowser,
    client_secrets: Path,
    tmp_path: Path,
    consent: str,
    message: str,
) -> None:
    google.consent = consent
    path = tmp_path / "signin.json"
    with pytest.raises(MethodUnavailable, match=message):
        sign_in(client_secrets, path)
    assert not path.exists()


def test_no_answer_from_the_browser_times_out(
    google: FakeGoogle,
    client_secrets: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain http
    path = tmp_path / "signin.json"
    with pytest.raises(MethodUnavailable, match="no sign-in came back from the browser within 1 s"):
        signin.login(client_secrets, path, wait_seconds=1, open_browser=False)
    assert f"{google.url}/o/oauth2/auth?" in capsys.readouterr().out  # the address to visit
    assert not path.exists()


def test_a_web_client_is_refused(tmp_path: Path) -> None:
    secrets_file = tmp_path / "web.json"
    secrets_file.write_text(json.dumps({"web": {"client_id": "x", "client_secret": "y"}}))
    with pytest.raises(MethodUnavailable, match=r"Web application.*Desktop app"):
        signin.login(secrets_file, tmp_path / "signin.json")


def test_a_missing_client_secrets_file_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(MethodUnavailable, match="Download JSON"):
        signin.login(tmp_path / "nope.json", tmp_path / "signin.json")


def test_client_secrets_over_plain_http_are_refused(tmp_path: Path) -> None:
    secrets_file = tmp_path / "c.json"
    secrets_file.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "x",
                    "client_secret": "y",
                    "auth_uri": "https://accounts.google.com/a",
                    "token_uri": "http://tokens.example.com/token",
                }
            }
        )
    )
    with pytest.raises(MethodUnavailable, match="token_uri must be an https://"):
        signin.login(secrets_file, tmp_path / "signin.json")


# --- the file ------------------------------------------------------------------------------


def saved_at(path: Path) -> signin.SignIn:
    return signin.SignIn(
        path, CLIENT_ID, CLIENT_SECRET, "1//refresh-abc", "https://oauth2.googleapis.com/token"
    )


def test_save_writes_0600_and_loads_back(tmp_path: Path) -> None:
    saved = saved_at(tmp_path / "a" / "signin.json")
    signin.save(saved)
    assert signin.load(saved.path) == saved
    assert stat.S_IMODE(saved.path.stat().st_mode) == 0o600
    assert [p.name for p in saved.path.parent.iterdir()] == ["signin.json"]  # no leftovers


def test_repr_hides_the_tokens(tmp_path: Path) -> None:
    shown = repr(saved_at(tmp_path / "signin.json"))
    assert "1//refresh-abc" not in shown
    assert CLIENT_SECRET not in shown


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_sign_in_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    saved = saved_at(tmp_path / "signin.json")
    signin.save(saved)
    saved.path.chmod(mode)
    with pytest.raises(MethodUnavailable, match="can be read by other users"):
        signin.load(saved.path)


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b'{"walletbackup_gdrive": 1}', b'{"walletbackup_gdrive": 2}']
)
def test_a_damaged_sign_in_says_to_sign_in_again(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "signin.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(MethodUnavailable, match=r"damaged.*gdrive login"):
        signin.load(path)


def test_a_sign_in_pointing_tokens_at_plain_http_is_refused(tmp_path: Path) -> None:
    saved = saved_at(tmp_path / "signin.json")
    document = json.loads(saved.to_json()) | {"token_uri": "http://evil.example.com/token"}
    saved.path.write_text(json.dumps(document))
    saved.path.chmod(0o600)
    with pytest.raises(MethodUnavailable, match="damaged"):
        signin.load(saved.path)


def test_no_sign_in_is_none(tmp_path: Path) -> None:
    assert signin.load(tmp_path / "missing.json") is None


def test_the_default_location_is_the_user_config_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert signin.default_path() == tmp_path / "walletbackup" / "gdrive" / "signin.json"


def test_concurrent_saves_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "signin.json"
    writers = [
        threading.Thread(
            target=signin.save,
            args=(
                signin.SignIn(
                    path, CLIENT_ID, CLIENT_SECRET, f"1//refresh-{n}", "https://o.example/token"
                ),
            ),
        )
        for n in range(8)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(10)
    saved = signin.load(path)
    assert saved is not None
    assert saved.refresh_token.startswith("1//refresh-")
    assert sorted(os.listdir(tmp_path)) == ["signin.json"]


# --- revoke --------------------------------------------------------------------------------


def test_revoke_ends_the_grant(google: FakeGoogle, tmp_path: Path) -> None:
    token = google.grant(CLIENT_ID)
    saved = signin.SignIn(
        tmp_path / "s.json",
        CLIENT_ID,
        CLIENT_SECRET,
        token,
        google.token_uri,
        f"{google.url}/revoke",
    )
    assert signin.revoke(saved) is True
    assert google.revocations == [token]
    assert signin.revoke(saved) is False  # already revoked: not an error


def test_revoke_when_google_is_unreachable(google: FakeGoogle, tmp_path: Path) -> None:
    saved = signin.SignIn(
        tmp_path / "s.json",
        CLIENT_ID,
        CLIENT_SECRET,
        "1//x",
        google.token_uri,
        "http://127.0.0.1:9/revoke",
    )
    with pytest.raises(StorageError, match="could not reach Google to revoke"):
        signin.revoke(saved, timeout=TIMEOUT)
