"""The ``walletbackup`` command with the password method (only the core and this plugin loaded)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import CLIENT_SHARE, CUSTODIAN_SHARE, cli_argv, share_args, store_args
from click.testing import CliRunner, Result

from walletbackup import plugins
from walletbackup.cli import cli
from walletbackup.cli.exits import EXIT_POLICY, EXIT_UNLOCK_FAILED, EXIT_USAGE

PASSWORD = "correct horse battery staple 42"
NEW_PASSWORD = "a brand new horse battery staple 43"
FAST = ["--option", "low_memory=true", "--option", "target_seconds=0.001"]


class Run:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def __call__(self, *args: str, input: str | None = None) -> Result:
        argv = cli_argv(self.tmp, *args)
        return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)

    def shares(self) -> list[str]:
        return share_args(self.tmp)

    def backup(self, *extra: str, password: str = PASSWORD) -> Result:
        return self(
            "backup",
            "w1",
            "--method",
            "password",
            *self.shares(),
            *extra,
            input=f"{password}\n{password}\n",
        )


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Run]:
    monkeypatch.setenv(plugins.ENV_VAR, "password")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("WALLETBACKUP_CONFIG", raising=False)
    plugins.reset_plugins()
    yield Run(tmp_path)
    plugins.reset_plugins()


def test_backup_verify_recover_with_a_prompted_password(run: Run) -> None:
    backup = run.backup(*FAST, "--json")
    assert backup.exit_code == 0, backup.output
    assert json.loads(backup.stdout)["methods"] == ["password"]
    assert "password: " in backup.stderr
    assert "password (again): " in backup.stderr
    verify = run("verify", "w1", input=f"{PASSWORD}\n")
    assert verify.exit_code == 0, verify.output
    recover = run("recover", "w1", "--stdout", "--json", input=f"{PASSWORD}\n")
    document = json.loads(recover.stdout)
    assert document["client_share"] == CLIENT_SHARE.hex()
    assert document["custodian_share"] == CUSTODIAN_SHARE.hex()
    for result in (backup, verify, recover):
        assert PASSWORD not in result.output


def test_python_style_booleans_are_accepted(run: Run) -> None:
    result = run.backup("--option", "low_memory=True", "--option", "target_seconds=0.001")
    assert result.exit_code == 0, result.output


def test_a_wrong_password_exits_3(run: Run) -> None:
    run.backup(*FAST)
    assert run("verify", "w1", input="not the right password 1\n").exit_code == EXIT_UNLOCK_FAILED


def test_a_weak_password_exits_7(run: Run) -> None:
    result = run.backup(*FAST, password="abc")
    assert result.exit_code == EXIT_POLICY
    assert "abc" not in result.stderr


def test_the_password_is_never_taken_from_the_command_line(run: Run) -> None:
    result = run(
        "backup",
        "w1",
        "--method",
        "password",
        *run.shares(),
        *FAST,
        "--option",
        f"password={PASSWORD}",
    )
    assert result.exit_code == EXIT_USAGE
    assert "'password' is secret" in result.stderr


def test_an_option_value_the_method_rejects_is_a_usage_error(run: Run) -> None:
    result = run.backup("--option", "low_memory=maybe")
    assert result.exit_code == EXIT_USAGE
    assert "low_memory must be True or False" in result.stderr


def test_changing_the_password(run: Run) -> None:
    run.backup(*FAST)
    result = run(
        "add-method", "w1", "password", *FAST, input=f"{PASSWORD}\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "password (to unlock): " in result.stderr
    assert "password (new) (again): " in result.stderr
    assert run("verify", "w1", input=f"{NEW_PASSWORD}\n").exit_code == 0
    assert run("verify", "w1", input=f"{PASSWORD}\n").exit_code == EXIT_UNLOCK_FAILED


def test_rewrap_and_status(run: Run) -> None:
    run.backup(*FAST)
    result = run("rewrap", "w1", *FAST, input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    status = json.loads(run("status", "w1", "--json").stdout)
    assert status["recovery_methods"] == ["password"]
    assert [row["status"] for row in status["methods"]] == ["stored"]


def test_the_last_method_cannot_be_removed(run: Run) -> None:
    run.backup(*FAST)
    result = run(
        "remove-method", "w1", "password", "--unlock-with", "password", input=f"{PASSWORD}\n"
    )
    assert result.exit_code == EXIT_POLICY


def test_methods_lists_the_password_method(run: Run) -> None:
    document = json.loads(run("methods", "--json").stdout)
    (method,) = document["methods"]
    assert method["name"] == "password"
    assert method["distribution"] == "walletbackup-password"
    assert method["available"] is True
    assert [o["name"] for o in method["options"] if o["secret"]] == ["password"]


def test_the_options_file_in_a_real_process(tmp_path: Path, run: Run) -> None:
    options = tmp_path / "options.json"
    options.write_text(
        json.dumps({"password": PASSWORD, "low_memory": True, "target_seconds": 0.001})
    )
    options.chmod(0o600)
    env = {
        "WALLETBACKUP_PLUGINS": "password",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "walletbackup", *store_args(tmp_path)]
    backup = subprocess.run(
        [
            *command,
            "backup",
            "w1",
            "--method",
            "password",
            *run.shares(),
            "--options-file",
            str(options),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    verify = subprocess.run(
        [*command, "verify", "w1", "--options-stdin"],
        input=json.dumps({"password": PASSWORD}),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("ok: wallet w1's backup opens with password")


def test_demo_runs_in_a_real_process(tmp_path: Path) -> None:
    env = {
        "WALLETBACKUP_PLUGINS": "password",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "walletbackup", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: the recovered secret is identical to the original." in result.stdout
