"""The device commands through a custodian service (``--custodian``; token from the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import service_fake
from cli_support import CLIENT_SHARE, PASSPHRASE, Cli, isolate, restore, write_shares
from click.testing import CliRunner, Result

from walletbackup.cli import cli, exits


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[service_fake.FakeService]:
    isolate(monkeypatch, tmp_path / "home")
    with service_fake.running(tmp_path / "service") as fake:
        yield fake
    restore()


def walletbackup(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_backup_and_recover_through_the_service(
    service: service_fake.FakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = service.token_for("alice")
    monkeypatch.setenv("WALLETBACKUP_TOKEN", token)
    client, custodian = write_shares(tmp_path)
    backed_up = walletbackup(
        "--custodian", service.url, "backup", "w1", "--method", "examplepassphrase",
        "--client-share-file", str(client), "--custodian-share-file", str(custodian),
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
    )  # fmt: skip
    assert backed_up.exit_code == 0, backed_up.output
    assert "stored" in backed_up.stdout

    out = tmp_path / "client.out"
    recovered = walletbackup(
        "--custodian", service.url, "recover", "w1", "--client-out", str(out),
        input=f"{PASSPHRASE}\n",
    )  # fmt: skip
    assert recovered.exit_code == 0, recovered.output
    assert out.read_bytes() == CLIENT_SHARE
    assert "kept by" in recovered.stdout  # the custodian share stays with the service
    assert token not in recovered.output + backed_up.output
    # The embedded store of this machine was never touched.
    assert not list((tmp_path / "home" / "data").rglob("*.db"))


def test_the_token_comes_only_from_the_environment(
    service: service_fake.FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WALLETBACKUP_TOKEN", raising=False)
    result = walletbackup("--custodian", service.url, "status", "w1")
    assert result.exit_code == exits.EXIT_USAGE
    assert "WALLETBACKUP_TOKEN" in result.output


def test_a_bad_token_is_access_denied(
    service: service_fake.FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLETBACKUP_TOKEN", "wbu_not-a-token")
    result = walletbackup("--custodian", service.url, "status", "w1")
    assert result.exit_code == exits.EXIT_ACCESS_DENIED
    assert "wbu_not-a-token" not in result.output


OPERATOR_COMMANDS = [
    ["check"],
    ["rotate-kms"],
    ["prune-audit", "--before", "2020-01-01"],
    ["forget", "w1", "--yes"],
]


@pytest.mark.parametrize("command", OPERATOR_COMMANDS)
def test_operator_commands_are_not_sent_to_a_service(
    service: service_fake.FakeService, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("WALLETBACKUP_TOKEN", service.token_for("alice"))
    result = walletbackup("--custodian", service.url, *command, input="y\n")
    assert result.exit_code == exits.EXIT_USAGE
    assert "where the service runs" in result.output


def test_store_and_kms_are_refused_beside_a_service(
    service: service_fake.FakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLETBACKUP_TOKEN", service.token_for("alice"))
    args = Cli(tmp_path).store
    result = walletbackup("--store", args, "--custodian", service.url, "status", "w1")
    assert result.exit_code == exits.EXIT_USAGE
