"""A user backs up and recovers with gdrive from the command line, as the issue's "done means".

Every step is the real ``walletbackup`` console script in a child process on a "machine" of its
own (HOME and XDG directories: its own saved Google sign-in); the store and the KMS key are
shared, as an operator's would be. ``walletbackup gdrive login`` opens the child's browser
through ``BROWSER``: ``browser_handoff`` gives the sign-in address to the test, whose scripted
browser signs the user in at the fake Google and lands on the child's loopback redirect.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_handoff import Handoff
from cli_support import cli_argv, home_env
from gdrive_browser import ScriptedBrowser
from gdrive_fake import FakeGoogle
from gdrive_support import CLIENT_ID, TIMEOUT

SCRIPT = Path(sys.executable).parent / "walletbackup"
#: Seconds one command may take (a sign-in included): generous for a loaded CI machine.
STEP_SECONDS = 60
EXIT_NOT_FOUND, EXIT_UNAVAILABLE = 4, 5
PASSWORD = "correct horse battery staple 42"
CLIENT_SHARE = bytes(range(7, 71))
CUSTODIAN_SHARE = bytes(range(200, 232))


@dataclass
class Machine:
    """One computer of the user's: its own home (and saved sign-in), the shared store and KMS."""

    home: Path
    shared: Path
    google: FakeGoogle
    handoff: Handoff
    plugins: str

    def env(self) -> dict[str, str]:
        return home_env(
            self.home,
            WALLETBACKUP_PLUGINS=self.plugins,
            BROWSER=self.handoff.browser,
            OAUTHLIB_INSECURE_TRANSPORT="1",  # the fake Google speaks plain http
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )

    def command(self, *args: str) -> list[str]:
        return cli_argv(self.shared, *args, program=str(SCRIPT))

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=STEP_SECONDS,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    @property
    def signin(self) -> Path:
        return self.home / "config" / "walletbackup" / "gdrive" / "signin.json"

    def login(self, client_secrets: Path) -> None:
        """``walletbackup gdrive login``; the person signs in in the browser it opens."""
        with subprocess.Popen(
            self.command("gdrive", "login", "--client-secrets", str(client_secrets)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        ) as child:
            try:
                url = self.handoff.next_url(STEP_SECONDS, child)
                browser = ScriptedBrowser()
                browser.open(url)
                out, err = child.communicate(timeout=STEP_SECONDS)
                browser.join()
            finally:
                if child.poll() is None:
                    child.kill()
                    child.communicate(timeout=STEP_SECONDS)
        assert child.returncode == 0, out + err
        assert url.startswith(f"{self.google.url}/o/oauth2/auth?")
        assert browser.errors == []
        assert "signed in to Google Drive" in browser.pages[0]
        assert stat.S_IMODE(self.signin.stat().st_mode) == 0o600
        assert json.loads(self.signin.read_text())["refresh_token"] not in out + err


@pytest.fixture
def handoff() -> Iterator[Handoff]:
    with Handoff() as opened:
        yield opened


@pytest.fixture
def machine(tmp_path: Path, google: FakeGoogle, handoff: Handoff) -> Callable[[str, str], Machine]:
    """A computer of the user's, with the plugins it has installed (``password,gdrive``)."""
    shared = tmp_path / "server"
    shared.mkdir()

    def make(name: str, plugins: str) -> Machine:
        return Machine(tmp_path / name, shared, google, handoff, plugins)

    return make


@pytest.fixture
def shares(tmp_path: Path) -> tuple[str, str]:
    client, custodian = tmp_path / "client.share", tmp_path / "custodian.share"
    for path, data in ((client, CLIENT_SHARE), (custodian, CUSTODIAN_SHARE)):
        path.write_bytes(data)
        path.chmod(0o600)
    return str(client), str(custodian)


def drive_options(google: FakeGoogle) -> list[str]:
    return ["--option", f"api_root={google.url}", "--option", f"timeout={TIMEOUT}"]


def recover_to(machine: Machine, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return machine.run(
        "recover",
        "w",
        "--method",
        "gdrive",
        *extra,
        "--client-out",
        str(out / "client.out"),
        "--custodian-out",
        str(out / "custodian.out"),
        "--json",
    )


def assert_recovered(result: subprocess.CompletedProcess[str], out: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["wallet_id"], report["method"]) == ("w", "gdrive")
    client, custodian = out / "client.out", out / "custodian.out"
    assert (client.read_bytes(), custodian.read_bytes()) == (CLIENT_SHARE, CUSTODIAN_SHARE)
    assert stat.S_IMODE(client.stat().st_mode) == stat.S_IMODE(custodian.stat().st_mode) == 0o600
    assert CLIENT_SHARE.hex() not in result.stdout + result.stderr


@pytest.mark.cross_plugin  # the password plugin beside gdrive: runs in the nox session "all"
def test_password_backup_then_add_gdrive_then_recover_on_a_fresh_machine(
    machine: Callable[[str, str], Machine],
    google: FakeGoogle,
    client_secrets: Path,
    shares: tuple[str, str],
    tmp_path: Path,
) -> None:
    phone = machine("phone", "password,gdrive")
    phone.login(client_secrets)
    phone.ok(
        "backup",
        "w",
        "--method",
        "password",
        "--client-share-file",
        shares[0],
        "--custodian-share-file",
        shares[1],
        "--option",
        "low_memory=true",
        "--option",
        "target_seconds=0.001",
        "--options-stdin",
        stdin=json.dumps({"password": PASSWORD}),
    )
    added = phone.ok(
        "add-method",
        "w",
        "gdrive",
        "--unlock-with",
        "password",
        *drive_options(google),
        "--options-stdin",
        "--json",
        stdin=json.dumps({"unlock_with": {"password": PASSWORD}}),
    )
    report = json.loads(added.stdout)
    assert (report["status"], report["methods"]) == ("stored", ["gdrive", "password"])
    (key_file,) = google.files_of()
    # The phone is lost. On a new laptop the user signs in to Google again and recovers.
    laptop = machine("laptop", "password,gdrive")
    assert not laptop.signin.exists()
    laptop.login(client_secrets)
    out = tmp_path / "recovered"
    out.mkdir()
    assert_recovered(recover_to(laptop, out, *drive_options(google)), out)
    assert [f.id for f in google.files_of()] == [key_file.id]


@pytest.fixture
def gdrive_backup(
    machine: Callable[[str, str], Machine],
    google: FakeGoogle,
    client_secrets: Path,
    shares: tuple[str, str],
) -> Machine:
    """The phone, with only the gdrive plugin, signed in and backed the wallet up with gdrive."""
    phone = machine("phone", "gdrive")
    phone.login(client_secrets)
    backed_up = phone.ok(
        "backup",
        "w",
        "--method",
        "gdrive",
        "--client-share-file",
        shares[0],
        "--custodian-share-file",
        shares[1],
        *drive_options(google),
        "--json",
    )
    assert json.loads(backed_up.stdout)["methods"] == ["gdrive"]
    assert len(google.files_of()) == 1
    return phone


def test_gdrive_backup_recovers_after_signing_in_again(
    gdrive_backup: Machine, google: FakeGoogle, client_secrets: Path, tmp_path: Path
) -> None:
    phone = gdrive_backup
    signed_out = phone.ok("gdrive", "logout", "--local-only")
    assert "access at Google was kept" in signed_out.stdout
    phone.login(client_secrets)
    phone.ok("verify", "w", "--method", "gdrive", *drive_options(google))
    out = tmp_path / "recovered"
    out.mkdir()
    assert_recovered(recover_to(phone, out, *drive_options(google)), out)


def test_gdrive_backup_recovers_on_a_fresh_machine(
    gdrive_backup: Machine,
    machine: Callable[[str, str], Machine],
    google: FakeGoogle,
    client_secrets: Path,
    tmp_path: Path,
) -> None:
    laptop = machine("laptop", "gdrive")
    laptop.login(client_secrets)
    out = tmp_path / "recovered"
    out.mkdir()
    assert_recovered(recover_to(laptop, out, *drive_options(google)), out)


def test_recover_on_a_machine_not_signed_in_says_to_log_in(
    gdrive_backup: Machine,
    machine: Callable[[str, str], Machine],
    google: FakeGoogle,
    tmp_path: Path,
) -> None:
    out = tmp_path / "recovered"
    out.mkdir()
    result = recover_to(machine("laptop", "gdrive"), out, *drive_options(google))
    assert result.returncode == EXIT_UNAVAILABLE, result.stdout + result.stderr
    assert "not signed in to Google Drive" in result.stderr
    assert "walletbackup gdrive login" in result.stderr
    assert list(out.iterdir()) == []


def test_recover_after_the_app_was_removed_from_the_account_says_the_key_is_gone(
    gdrive_backup: Machine, google: FakeGoogle, client_secrets: Path, tmp_path: Path
) -> None:
    phone = gdrive_backup
    google.remove_app("alice", CLIENT_ID)
    phone.login(client_secrets)  # a new grant: the folder the old one reached was deleted
    out = tmp_path / "recovered"
    out.mkdir()
    result = recover_to(phone, out, *drive_options(google))
    assert result.returncode == EXIT_NOT_FOUND, result.stdout + result.stderr
    assert "is gone" in result.stderr
    assert list(out.iterdir()) == []
