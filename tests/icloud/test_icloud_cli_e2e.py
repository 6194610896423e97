"""Sign in once, then back up and recover with icloud, all from the `walletbackup` command.

CliRunner on the real root command, in this process, so that pyicloud (through the plugin's
``accounts.service_factory``) talks to the loopback fake over TLS. The saved sign-in, the store
and the KMS key all live in the test's own directory.
"""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path

import click
import pytest
from cli_support import cli_argv, write_shares
from click.testing import CliRunner, Result
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID, CODE, OTHER_APPLE_ID, PASSWORD

from walletbackup import plugins
from walletbackup.cli import cli
from walletbackup.cli.exits import EXIT_UNAVAILABLE
from walletbackup_icloud import FOLDER_NAME, accounts

CLIENT = b"client-share:" + bytes(range(32))
CUSTODIAN = b"custodian-share:" + bytes(range(32, 64))
WALLET = "wallet-1"
WALLET_PASSWORD = "correct horse battery staple 42"
FAST_PASSWORD = ("--option", "low_memory=true", "--option", "target_seconds=0.001")


@pytest.fixture(scope="module")
def root() -> click.Group:
    """The real `walletbackup` group with the plugins' commands, on a copy: the module's group
    stays as it is for every other test."""
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    plugins.register_commands(group)
    assert "icloud" in group.commands, f"no icloud commands; broken: {plugins.broken_plugins()}"
    return group


@pytest.fixture
def shares(tmp_path: Path) -> tuple[Path, Path]:
    return write_shares(tmp_path, client=CLIENT, custodian=CUSTODIAN)


class Operator:
    """Runs `walletbackup ...` on one store and KMS, and remembers everything it printed."""

    def __init__(self, root: click.Group, tmp_path: Path) -> None:
        self.root = root
        self.tmp = tmp_path
        self.printed: list[str] = []

    def run(self, *args: str, lines: tuple[str, ...] = (), code: int = 0) -> Result:
        text = "".join(f"{line}\n" for line in lines)
        result = CliRunner().invoke(
            self.root, cli_argv(self.tmp, *args), input=text, catch_exceptions=False
        )
        self.printed.append(result.output)
        assert result.exit_code == code, result.output
        return result

    def login(self, apple_id: str = APPLE_ID) -> Result:
        result = self.run("icloud", "login", lines=(apple_id, PASSWORD, CODE))
        assert "the icloud backup method is ready" in result.stdout
        return result

    def backup(
        self,
        method: str,
        shares: tuple[Path, Path],
        *extra: str,
        lines: tuple[str, ...] = (),
        code: int = 0,
    ) -> Result:
        client, custodian = shares
        return self.run(
            "backup",
            WALLET,
            "--method",
            method,
            "--client-share-file",
            str(client),
            "--custodian-share-file",
            str(custodian),
            *extra,
            lines=lines,
            code=code,
        )

    def status(self) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.run("status", WALLET, "--json").stdout)
        return document

    def recover(self, out: Path, *extra: str, lines: tuple[str, ...] = (), code: int = 0) -> Result:
        return self.run(
            "recover",
            WALLET,
            "--client-out",
            str(out / "client.out"),
            "--custodian-out",
            str(out / "custodian.out"),
            *extra,
            lines=lines,
            code=code,
        )


@pytest.fixture
def operator(root: click.Group, tmp_path: Path) -> Operator:
    return Operator(root, tmp_path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_recovered(out: Path) -> None:
    client, custodian = out / "client.out", out / "custodian.out"
    assert client.read_bytes() == CLIENT
    assert custodian.read_bytes() == CUSTODIAN
    assert mode(client) == 0o600
    assert mode(custodian) == 0o600


def icloud_listed(operator: Operator) -> dict[str, object]:
    """The icloud row of `walletbackup methods --json`."""
    listed = json.loads(operator.run("methods", "--json").stdout)["methods"]
    [row] = [row for row in listed if row["name"] == "icloud"]
    assert isinstance(row, dict)
    return row


def key_files(fake: FakeICloud, apple_id: str = APPLE_ID) -> list[str]:
    return [f.full_name for f in fake.files(apple_id, FOLDER_NAME) if f.full_name.endswith(".bin")]


def stanzas(document: dict[str, object]) -> list[tuple[object, object]]:
    rows = document["methods"]
    assert isinstance(rows, list)
    return sorted((row["method"], row["status"]) for row in rows)


def assert_nothing_secret_printed(operator: Operator) -> None:
    printed = "\n".join(operator.printed)
    for secret in (PASSWORD, CODE, WALLET_PASSWORD, CLIENT.hex(), CUSTODIAN.hex()):
        assert secret not in printed


def new_directory(tmp_path: Path, name: str) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    return directory


# --- icloud only ---------------------------------------------------------------------------------


def test_sign_in_once_then_back_up_and_recover_with_icloud(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path
) -> None:
    assert icloud_listed(operator)["remedy"] == (
        "run `walletbackup icloud login` (from Python, service=<a signed-in PyiCloudService> "
        "also works)"
    )
    operator.login()
    assert icloud_listed(operator)["available"] is True
    backed_up = operator.backup("icloud", shares)
    assert f"backed up wallet {WALLET} with icloud: stored" in backed_up.stdout
    assert "methods protecting the client share: icloud" in backed_up.stdout
    assert len(key_files(fake)) == 1

    status = operator.status()
    assert stanzas(status) == [("icloud", "stored")]
    assert status["recovery_methods"] == ["icloud"]
    table = operator.run("status", WALLET).stdout
    assert "recovery methods: icloud" in table

    verified = operator.run("verify", WALLET, "--method", "icloud")
    assert f"ok: wallet {WALLET}'s backup opens with icloud and the KMS" in verified.stdout

    out = new_directory(tmp_path, "recovered")
    recovered = operator.recover(out, "--method", "icloud")
    assert f"recovered wallet {WALLET} with icloud" in recovered.stdout
    assert_recovered(out)
    assert [a.apple_id for a in accounts.saved_accounts()] == [APPLE_ID]
    assert_nothing_secret_printed(operator)


def test_recover_defaults_to_the_only_method_and_takes_the_apple_id_option(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path
) -> None:
    operator.login()
    operator.backup("icloud", shares, "--option", f"apple_id={APPLE_ID}")
    out = new_directory(tmp_path, "recovered")
    operator.recover(out, "--option", f"apple_id={APPLE_ID}", "--option", "timeout=5")
    assert_recovered(out)


def test_with_several_sign_ins_the_apple_id_option_chooses(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path
) -> None:
    operator.login(APPLE_ID)
    operator.login(OTHER_APPLE_ID)
    refused = operator.backup("icloud", shares, code=EXIT_UNAVAILABLE)
    assert "several iCloud sign-ins are saved" in refused.stderr
    assert "--option apple_id=EMAIL" in refused.stderr
    assert key_files(fake) == []
    operator.backup("icloud", shares, "--option", f"apple_id={OTHER_APPLE_ID}")
    assert key_files(fake) == []  # the key file went to the other Apple ID's drive
    assert len(key_files(fake, OTHER_APPLE_ID)) == 1
    out = new_directory(tmp_path, "recovered")
    operator.recover(out, "--option", f"apple_id={OTHER_APPLE_ID}")
    assert_recovered(out)
    ambiguous = operator.run("icloud", "logout", code=EXIT_UNAVAILABLE)
    assert "choose one with --apple-id EMAIL" in ambiguous.stderr


@pytest.mark.parametrize("command", ["recover", "verify"])
def test_after_logout_icloud_is_unavailable_and_says_to_sign_in(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    operator.login()
    operator.backup("icloud", shares)
    operator.run("icloud", "logout")
    requests_before = len(fake.log)
    out = new_directory(tmp_path, "recovered")
    if command == "recover":
        failed = operator.recover(out, "--method", "icloud", code=EXIT_UNAVAILABLE)
    else:
        failed = operator.run("verify", WALLET, "--method", "icloud", code=EXIT_UNAVAILABLE)
    assert failed.stderr.startswith("error: ")
    assert "no iCloud sign-in is saved" in failed.stderr
    assert "run `walletbackup icloud login`" in failed.stderr
    assert "Traceback" not in failed.output
    assert list(out.iterdir()) == []  # no share file, not even an empty one
    assert len(fake.log) == requests_before  # refused here, before asking iCloud anything
    # Nothing stored is lost: the backup and its key file wait for the next sign-in.
    assert len(key_files(fake)) == 1
    assert stanzas(operator.status()) == [("icloud", "stored")]


def test_signing_in_again_after_logout_recovers(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path
) -> None:
    operator.login()
    operator.backup("icloud", shares)
    operator.run("icloud", "logout")
    operator.recover(new_directory(tmp_path, "refused"), code=EXIT_UNAVAILABLE)
    operator.login()
    out = new_directory(tmp_path, "recovered")
    operator.recover(out, "--method", "icloud")
    assert_recovered(out)
    assert_nothing_secret_printed(operator)


def test_an_expired_session_says_to_sign_in_again(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path
) -> None:
    operator.login()
    operator.backup("icloud", shares)
    fake.expire_session(APPLE_ID)
    out = new_directory(tmp_path, "recovered")
    failed = operator.recover(out, "--method", "icloud", code=EXIT_UNAVAILABLE)
    assert f"the saved iCloud sign-in for {APPLE_ID} has expired" in failed.stderr
    assert "run `walletbackup icloud login`" in failed.stderr
    assert list(out.iterdir()) == []


# --- password first, icloud added ----------------------------------------------------------------


@pytest.mark.cross_plugin
def test_add_icloud_to_a_password_backup_then_recover_with_it(
    operator: Operator, fake: FakeICloud, shares: tuple[Path, Path], tmp_path: Path
) -> None:
    operator.backup("password", shares, *FAST_PASSWORD, lines=(WALLET_PASSWORD, WALLET_PASSWORD))
    operator.login()
    added = operator.run(
        "add-method", WALLET, "icloud", "--unlock-with", "password", lines=(WALLET_PASSWORD,)
    )
    assert f"added icloud to wallet {WALLET}: stored" in added.stdout
    assert "methods protecting the client share: icloud, password" in added.stdout
    assert len(key_files(fake)) == 1

    status = operator.status()
    assert ("icloud", "stored") in stanzas(status)
    assert ("password", "stored") in stanzas(status)
    assert status["recovery_methods"] == ["icloud", "password"]

    by_icloud = new_directory(tmp_path, "by-icloud")
    operator.recover(by_icloud, "--method", "icloud")
    assert_recovered(by_icloud)
    by_password = new_directory(tmp_path, "by-password")
    operator.recover(by_password, "--method", "password", lines=(WALLET_PASSWORD,))
    assert_recovered(by_password)
    assert_nothing_secret_printed(operator)
