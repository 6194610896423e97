"""A user backs up and recovers with a passkey from the command line (the browser path).

The real ``walletbackup`` console script runs in a child process whose ``BROWSER`` is
``browser_handoff``: when the method opens its page with ``webbrowser.open``, the address comes
back to the test, which plays the person at the browser: headless Chromium, driven over DevTools,
with a WebAuthn virtual authenticator (PRF, user verification) navigates there and presses the
page's buttons. So this checks what a user of the CLI gets: the method finds the browser the
user named, opens its page, and the shares come back.

The security-key path is not run here: a child process cannot be handed a Python fido2 device
object, and this machine has no USB key. It is covered through the Python API
(test_passkey_security_key.py, test_passkey_e2e.py).
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_handoff import Handoff
from chromium_devtools import Person, Tab
from cli_support import cli_argv, home_env

SCRIPT = Path(sys.executable).parent / "walletbackup"
#: Seconds one command may take, the person at the browser included.
STEP_SECONDS = 90
#: What the method waits for the page (its ``timeout`` option): below STEP_SECONDS.
PAGE_SECONDS = 60
EXIT_UNLOCK_FAILED, EXIT_UNAVAILABLE = 3, 5
CLIENT_SHARE = bytes(range(3, 67))
CUSTODIAN_SHARE = bytes(range(150, 182))


@dataclass
class User:
    """The person at this computer: a home of their own, a browser, a shared store and KMS."""

    home: Path
    handoff: Handoff
    browser: str

    def env(self) -> dict[str, str]:
        return home_env(self.home, WALLETBACKUP_PLUGINS="passkey", BROWSER=self.browser)

    def command(self, *args: str) -> list[str]:
        return cli_argv(self.home, *args, program=str(SCRIPT))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command that opens no browser."""
        return subprocess.run(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=STEP_SECONDS,
            check=False,
        )

    def run_with_page(self, person: Person, *args: str) -> subprocess.CompletedProcess[str]:
        """A command that opens the passkey page; ``person`` answers it in Chromium."""
        with subprocess.Popen(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        ) as child:
            try:
                person(self.handoff.next_url(STEP_SECONDS, child))
                out, err = child.communicate(timeout=STEP_SECONDS)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.communicate(timeout=STEP_SECONDS)
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.fixture
def user(tmp_path: Path) -> Iterator[User]:
    with Handoff() as handoff:
        yield User(tmp_path / "home", handoff, handoff.browser)


@pytest.fixture
def shares(tmp_path: Path) -> tuple[str, str]:
    client, custodian = tmp_path / "client.share", tmp_path / "custodian.share"
    for path, data in ((client, CLIENT_SHARE), (custodian, CUSTODIAN_SHARE)):
        path.write_bytes(data)
        path.chmod(0o600)
    return str(client), str(custodian)


def backup_args(shares: tuple[str, str]) -> list[str]:
    return [
        "backup",
        "w",
        "--method",
        "passkey",
        "--client-share-file",
        shares[0],
        "--custodian-share-file",
        shares[1],
        "--option",
        "transport=browser",
        "--option",
        f"timeout={PAGE_SECONDS}",
        "--json",
    ]


def recover_args(out: Path) -> list[str]:
    return [
        "recover",
        "w",
        "--method",
        "passkey",
        "--option",
        f"timeout={PAGE_SECONDS}",
        "--client-out",
        str(out / "client.out"),
        "--custodian-out",
        str(out / "custodian.out"),
        "--json",
    ]


@pytest.fixture
def backed_up(user: User, tab: Tab, shares: tuple[str, str]) -> str:
    """The wallet backed up with a passkey made in the browser; the authenticator's id."""
    authenticator = tab.add_authenticator()
    result = user.run_with_page(Person(tab), *backup_args(shares))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["status"], report["methods"]) == ("stored", ["passkey"])
    # The page's address was shown too, for a person whose browser did not open.
    assert "http://localhost:" in result.stderr
    (credential,) = tab.credentials(authenticator)
    assert credential["rpId"] == "localhost"
    return authenticator


def test_backup_then_recover_through_the_browser(
    user: User, tab: Tab, backed_up: str, tmp_path: Path
) -> None:
    status = user.run("status", "w", "--json")
    assert status.returncode == 0, status.stderr
    assert [m["status"] for m in json.loads(status.stdout)["methods"]] == ["stored"]
    out = tmp_path / "recovered"
    out.mkdir()
    result = user.run_with_page(Person(tab), *recover_args(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["method"] == "passkey"
    client, custodian = out / "client.out", out / "custodian.out"
    assert (client.read_bytes(), custodian.read_bytes()) == (CLIENT_SHARE, CUSTODIAN_SHARE)
    assert stat.S_IMODE(client.stat().st_mode) == stat.S_IMODE(custodian.stat().st_mode) == 0o600
    assert CLIENT_SHARE.hex() not in result.stdout + result.stderr


def test_verify_through_the_browser(user: User, tab: Tab, backed_up: str) -> None:
    result = user.run_with_page(
        Person(tab), "verify", "w", "--option", f"timeout={PAGE_SECONDS}", "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_a_cancelled_recovery_exits_unlock_failed_and_writes_nothing(
    user: User, tab: Tab, backed_up: str, tmp_path: Path
) -> None:
    tab.call(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": backed_up, "enabled": False},
    )  # the passkey prompt stays open until the person cancels it
    out = tmp_path / "recovered"
    out.mkdir()
    result = user.run_with_page(Person(tab, "cancel"), *recover_args(out))
    assert result.returncode == EXIT_UNLOCK_FAILED, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: the passkey request was cancelled")
    assert list(out.iterdir()) == []


def test_a_text_mode_browser_makes_the_method_unavailable(
    user: User, shares: tuple[str, str]
) -> None:
    user.browser = "w3m %s"
    result = user.run(*backup_args(shares))
    assert result.returncode == EXIT_UNAVAILABLE, result.stdout + result.stderr
    assert "no web browser that can use passkeys" in result.stderr
    assert "$BROWSER" in result.stderr
