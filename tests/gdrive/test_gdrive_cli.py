"""``walletbackup gdrive login | logout | status``: CliRunner on the real root command, plus the
installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from gdrive_browser import ScriptedBrowser
from gdrive_fake import FakeGoogle
from gdrive_support import CLIENT_SECRET

from walletbackup import cli as cli_module
from walletbackup import plugins
from walletbackup.testing import new_context
from walletbackup_gdrive import GDriveMethod

EXIT_UNAVAILABLE, EXIT_STORAGE = 5, 8


@pytest.fixture(scope="module")
def root() -> object:
    plugins.register_commands(cli_module.cli)
    return cli_module.cli


def run(root: object, *args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(root, list(args), input=answer)  # type: ignore[arg-type]


def login(root: object, client_secrets: Path, path: Path) -> Result:
    return run(
        root,
        "gdrive",
        "login",
        "--client-secrets",
        str(client_secrets),
        "--signin-file",
        str(path),
        "--wait",
        "10",
    )


def test_login_saves_the_sign_in_and_shows_no_token(
    root: object, google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    result = login(root, client_secrets, path)
    assert result.exit_code == 0, result.output
    assert f"saved in {path}" in result.output
    saved = json.loads(path.read_text())
    assert saved["refresh_token"] in google.grants
    assert saved["refresh_token"] not in result.output
    assert CLIENT_SECRET not in result.output


def test_login_reads_the_client_secrets_from_the_environment(
    root: object,
    google: FakeGoogle,
    browser: ScriptedBrowser,
    client_secrets: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WALLETBACKUP_GDRIVE_CLIENT_SECRETS", str(client_secrets))
    result = run(root, "gdrive", "login", "--signin-file", str(tmp_path / "s.json"))
    assert result.exit_code == 0, result.output


def test_login_with_a_web_client_exits_unavailable(root: object, tmp_path: Path) -> None:
    web = tmp_path / "web.json"
    web.write_text(json.dumps({"web": {"client_id": "x", "client_secret": "y"}}))
    result = login(root, web, tmp_path / "signin.json")
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "Desktop app" in result.output


def test_status_lists_the_key_files(
    root: object, google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    assert login(root, client_secrets, path).exit_code == 0
    GDriveMethod(signin_file=path, api_root=google.url).enroll(new_context())
    result = run(
        root, "gdrive", "status", "--signin-file", str(path), "--api-root", google.url, "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["signed_in"] is True
    (key_file,) = report["key_files"]
    assert key_file["name"] == google.files_of()[0].name
    human = run(root, "gdrive", "status", "--signin-file", str(path), "--api-root", google.url)
    assert "1 walletbackup key file(s)" in human.output


def test_status_when_not_signed_in(root: object, tmp_path: Path) -> None:
    result = run(root, "gdrive", "status", "--signin-file", str(tmp_path / "none.json"), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["signed_in"] is False


def test_logout_revokes_and_deletes(
    root: object, google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    assert login(root, client_secrets, path).exit_code == 0
    token = json.loads(path.read_text())["refresh_token"]
    result = run(root, "gdrive", "logout", "--signin-file", str(path), "--yes")
    assert result.exit_code == 0, result.output
    assert "revoked at Google" in result.output
    assert google.revocations == [token]
    assert not path.exists()
    assert not GDriveMethod(signin_file=path).availability().available


def test_logout_asks_first_and_a_no_keeps_everything(
    root: object, google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    assert login(root, client_secrets, path).exit_code == 0
    result = run(root, "gdrive", "logout", "--signin-file", str(path), answer="n\n")
    assert result.exit_code == 1  # click's Abort
    assert "hidden folder" in result.output
    assert path.exists()
    assert google.revocations == []


def test_logout_local_only_keeps_the_grant(
    root: object, google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    assert login(root, client_secrets, path).exit_code == 0
    result = run(root, "gdrive", "logout", "--signin-file", str(path), "--local-only")
    assert result.exit_code == 0, result.output
    assert not path.exists()
    assert google.revocations == []


def test_logout_when_google_is_unreachable_still_deletes(
    root: object, google: FakeGoogle, browser: ScriptedBrowser, client_secrets: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signin.json"
    assert login(root, client_secrets, path).exit_code == 0
    document = json.loads(path.read_text()) | {"revoke_uri": "http://127.0.0.1:9/revoke"}
    path.write_text(json.dumps(document))
    result = run(root, "gdrive", "logout", "--signin-file", str(path), "--yes")
    assert result.exit_code == EXIT_STORAGE
    assert "could not reach Google to revoke" in result.output
    assert "myaccount.google.com/permissions" in result.output
    assert not path.exists()


def test_logout_when_not_signed_in(root: object, tmp_path: Path) -> None:
    result = run(root, "gdrive", "logout", "--signin-file", str(tmp_path / "none.json"), "--yes")
    assert result.exit_code == 0
    assert "Not signed in" in result.output


# --- the installed console script ----------------------------------------------------------


def script(*args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "walletbackup"
    return subprocess.run(
        [str(command), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"WALLETBACKUP_PLUGINS": "gdrive"},
        check=False,
    )


def test_the_console_script_has_the_gdrive_commands() -> None:
    result = script("gdrive", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("login", "logout", "status"):
        assert command in result.stdout


def test_the_console_script_reports_a_missing_secrets_file(tmp_path: Path) -> None:
    result = script(
        "gdrive",
        "login",
        "--client-secrets",
        str(tmp_path / "nope.json"),
        "--signin-file",
        str(tmp_path / "s.json"),
    )
    assert result.returncode == EXIT_UNAVAILABLE
    assert result.stderr.startswith("error: there is no client secrets file")


def test_loading_the_plugin_and_its_commands_imports_no_google_code() -> None:
    probe = (
        "import sys; from walletbackup import cli, plugins; "
        "plugins.register_commands(cli.cli); plugins.get_method('gdrive'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('google', 'requests', 'oauthlib', 'google_auth_oauthlib', 'urllib3')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_availability_without_a_sign_in_imports_no_google_code(tmp_path: Path) -> None:
    # `walletbackup methods` asks every method: nobody signed in is found without google-auth.
    probe = (
        "import sys; from walletbackup_gdrive import GDriveMethod; "
        f"print(GDriveMethod(signin_file={str(tmp_path / 'none.json')!r}).availability().reason, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('google', 'requests')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    # Only the empty ``google`` namespace package is imported, to find google.auth in it.
    assert result.stdout.strip() == "not signed in to Google Drive ['google']"
