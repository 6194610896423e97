"""`walletbackup icloud login | logout | status` through click's CliRunner on the real CLI.

Sign-in itself runs against ``FakeSignIn`` (pyicloud's sign-in hosts are fixed); what it leaves
behind is a session saved by pyicloud's own session code, which the rest of the CLI and the
method then use against the loopback fake over TLS.
"""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID, CODE, OTHER_APPLE_ID, PASSWORD, Script, sign_in

from walletbackup import plugins
from walletbackup.cli import cli
from walletbackup.cli.exits import EXIT_UNAVAILABLE
from walletbackup.testing import new_context
from walletbackup_icloud import FOLDER_NAME, ICloudMethod, accounts


@pytest.fixture(scope="module")
def root() -> click.Group:
    """The real `walletbackup` group with the plugins' commands, on a copy: the module's group
    stays as it is for every other test."""
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    plugins.register_commands(group)
    assert "icloud" in group.commands, f"no icloud commands; broken: {plugins.broken_plugins()}"
    return group


def run(root: click.Group, *args: str, lines: list[str] = ()) -> Result:
    text = "".join(f"{line}\n" for line in lines)
    return CliRunner().invoke(root, ["icloud", *args], input=text, catch_exceptions=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def login(root: click.Group, *answers: str) -> Result:
    return run(root, "login", lines=[APPLE_ID, PASSWORD, *answers])


# --- login ---------------------------------------------------------------------------------------


def test_login_with_a_code_saves_a_private_session(
    root: click.Group, fake: FakeICloud, script: Script
) -> None:
    result = login(root, CODE)
    assert result.exit_code == 0, result.output
    assert f"Signed in as {APPLE_ID}" in result.output
    assert "iCloud Drive is reachable" in result.output
    assert script.codes == [CODE]
    assert PASSWORD not in result.output
    assert CODE not in result.output
    [account] = accounts.saved_accounts()
    assert account.apple_id == APPLE_ID
    files = sorted(p.name for p in account.directory.iterdir())
    assert files == ["account.json", "adaexamplecom.cookiejar", "adaexamplecom.session"]
    assert mode(account.directory) == 0o700
    assert mode(account.directory.parent) == 0o700
    assert all(mode(p) == 0o600 for p in account.directory.iterdir())
    for path in account.directory.iterdir():  # Apple's session, never what the user typed
        assert PASSWORD not in path.read_text()
        assert CODE not in path.read_text()


def test_after_login_the_method_works(root: click.Group, fake: FakeICloud) -> None:
    assert login(root, CODE).exit_code == 0
    context = new_context()
    enrollment = ICloudMethod().enroll(context)
    assert ICloudMethod().unlock(enrollment.args, context) == enrollment.secret
    assert any(f.full_name == enrollment.args["file"] for f in fake.files(APPLE_ID, FOLDER_NAME))


def test_login_retries_a_wrong_code_and_ignores_spaces(
    root: click.Group, fake: FakeICloud, script: Script
) -> None:
    result = login(root, "000000", "314 159")
    assert result.exit_code == 0, result.output
    assert "did not accept that code" in result.output
    assert script.codes == ["000000", CODE]


def test_login_gives_up_after_three_wrong_codes(root: click.Group, fake: FakeICloud) -> None:
    result = login(root, "000000", "111111", "222222")
    assert result.exit_code == 1
    assert "accepted none of 3 codes" in result.output
    assert accounts.saved_accounts() == []


def test_login_with_the_apple_id_as_an_option(root: click.Group, fake: FakeICloud) -> None:
    result = run(root, "login", "--apple-id", APPLE_ID, lines=[PASSWORD, CODE])
    assert result.exit_code == 0, result.output
    assert "Apple ID:" not in result.output


def test_login_with_a_security_key(root: click.Group, fake: FakeICloud, script: Script) -> None:
    script.mode, script.keys_connected = "security-key", 2
    result = login(root, "2")
    assert result.exit_code == 0, result.output
    assert "Ada's YubiKey" in result.output
    assert "Touch the security key" in result.output
    assert script.touched == ["security key 2"]
    assert script.codes == []


def test_login_with_a_security_key_not_connected(
    root: click.Group, fake: FakeICloud, script: Script
) -> None:
    script.mode, script.keys_connected = "security-key", 0
    result = login(root)
    assert result.exit_code == 1
    assert "no FIDO2 security key is connected" in result.output


def test_login_with_two_step_verification(
    root: click.Group, fake: FakeICloud, script: Script
) -> None:
    script.mode = "two-step"
    result = login(root, "1", CODE)
    assert result.exit_code == 0, result.output
    assert "Ada's iPhone" in result.output
    assert "********42" in result.output
    assert script.codes == [CODE]


def test_login_without_two_factor(root: click.Group, fake: FakeICloud, script: Script) -> None:
    script.mode = "none"
    result = login(root)
    assert result.exit_code == 0, result.output
    assert "Verification code" not in result.output


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("password", "did not accept this Apple ID and password"),
        ("locked", "iforgot.apple.com"),
        ("outage", "Apple answered HTTP 503 to the sign-in: try again later"),
        ("untrusted", "did not trust this session"),
        ("no-code", "sent no verification code"),
    ],
)
def test_login_failures_say_why_and_save_nothing(
    root: click.Group, fake: FakeICloud, script: Script, setup: str, message: str
) -> None:
    password = "wrong password" if setup == "password" else PASSWORD
    script.mode = setup if setup in ("locked", "outage") else "code"
    script.trust = setup != "untrusted"
    script.sent_code = setup != "no-code"
    result = run(root, "login", lines=[APPLE_ID, password, CODE])
    assert result.exit_code == 1
    assert message in result.output
    assert password not in result.output
    assert accounts.saved_accounts() == []
    assert list(accounts.sessions_root().iterdir()) == []


def test_failed_login_keeps_an_earlier_sign_in(root: click.Group, fake: FakeICloud) -> None:
    sign_in(fake, APPLE_ID)
    result = run(root, "login", lines=[APPLE_ID, "wrong password"])
    assert result.exit_code == 1
    assert [a.apple_id for a in accounts.saved_accounts()] == [APPLE_ID]


def test_login_reports_a_drive_closed_to_the_web(root: click.Group, fake: FakeICloud) -> None:
    fake.accounts[APPLE_ID].web_access = False
    result = login(root, CODE)
    assert result.exit_code == EXIT_UNAVAILABLE
    assert f"Signed in as {APPLE_ID}" in result.output
    assert "Access iCloud Data on the Web" in result.output


def test_login_refuses_a_blank_apple_id(root: click.Group) -> None:
    result = run(root, "login", lines=["   ", PASSWORD])
    assert result.exit_code == 2
    assert "Apple ID" in result.output


# --- logout and status ---------------------------------------------------------------------------


def test_logout_ends_the_session_at_apple_and_deletes_it(
    root: click.Group, fake: FakeICloud
) -> None:
    account = sign_in(fake, APPLE_ID)
    result = run(root, "logout")
    assert result.exit_code == 0, result.output
    assert f"Deleted the saved iCloud sign-in for {APPLE_ID}" in result.output
    assert "could not be told" not in result.output
    assert fake.count("logout") == 1
    assert fake.accounts[APPLE_ID].session_token is None
    assert not account.directory.exists()
    assert not ICloudMethod().availability().available


def test_logout_deletes_the_session_even_when_apple_cannot_be_told(
    root: click.Group, fake: FakeICloud
) -> None:
    account = sign_in(fake, APPLE_ID)
    fake.expire_session(APPLE_ID)
    result = run(root, "logout")
    assert result.exit_code == 0
    assert "could not be told to end the session" in result.output
    assert not account.directory.exists()


def test_logout_picks_the_apple_id_when_several(root: click.Group, fake: FakeICloud) -> None:
    sign_in(fake, APPLE_ID)
    sign_in(fake, OTHER_APPLE_ID)
    ambiguous = run(root, "logout")
    assert ambiguous.exit_code == EXIT_UNAVAILABLE
    assert "several iCloud sign-ins" in ambiguous.output
    assert run(root, "logout", "--apple-id", OTHER_APPLE_ID).exit_code == 0
    assert [a.apple_id for a in accounts.saved_accounts()] == [APPLE_ID]


def test_logout_with_nothing_saved(root: click.Group) -> None:
    result = run(root, "logout")
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "no iCloud sign-in is saved" in result.output


def test_status_lists_saved_sign_ins(root: click.Group, fake: FakeICloud) -> None:
    assert "No saved iCloud sign-in" in run(root, "status").output
    account = sign_in(fake, APPLE_ID)
    assert APPLE_ID in run(root, "status").output
    rows = json.loads(run(root, "status", "--json").output)
    assert rows == [{"apple_id": APPLE_ID, "directory": str(account.directory)}]
