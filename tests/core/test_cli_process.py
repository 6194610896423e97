"""The real ``walletbackup`` console script and ``python -m walletbackup``, in child processes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import CLIENT_SHARE, CUSTODIAN_SHARE, PASSPHRASE, child_env, share_args, store_args

TIMEOUT = 60
SCRIPT = Path(sys.executable).parent / "walletbackup"
COMMANDS = [
    "add-method",
    "backup",
    "check",
    "confirm",
    "demo",
    "forget",
    "kms-info",
    "methods",
    "new-plugin",
    "prune-audit",
    "recover",
    "remove-method",
    "retire-kms",
    "rewrap",
    "rewrap-custodian",
    "rotate-kms",
    "status",
    "verify",
    "wallets",
]


def walletbackup(
    home: Path, *args: str, input: str | None = None, fakes: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(home, *fakes),
        cwd=home,
        check=False,
    )


def test_the_console_script_lists_every_command(tmp_path: Path) -> None:
    result = walletbackup(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    listed = [
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    ]
    assert listed == COMMANDS
    assert result.stderr == ""


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "walletbackup", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("walletbackup, version ")


def test_a_whole_round_in_real_processes(tmp_path: Path) -> None:
    secret = json.dumps({"passphrase": PASSPHRASE})
    backup = walletbackup(
        tmp_path,
        *store_args(tmp_path),
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        *share_args(tmp_path),
        "--options-stdin",
        "--json",
        input=secret,
    )
    assert backup.returncode == 0, backup.stderr
    assert json.loads(backup.stdout)["status"] == "stored"
    options = tmp_path / "options.json"
    options.write_text(secret)
    options.chmod(0o600)
    client, custodian = tmp_path / "c.out", tmp_path / "k.out"
    recover = walletbackup(
        tmp_path,
        *store_args(tmp_path),
        "recover",
        "w1",
        "--options-file",
        str(options),
        "--client-out",
        str(client),
        "--custodian-out",
        str(custodian),
    )
    assert recover.returncode == 0, recover.stderr
    assert (client.read_bytes(), custodian.read_bytes()) == (CLIENT_SHARE, CUSTODIAN_SHARE)
    for output in (backup, recover):
        assert PASSPHRASE not in output.stdout + output.stderr


def test_a_wrong_secret_exits_3_in_a_real_process(tmp_path: Path) -> None:
    walletbackup(
        tmp_path,
        *store_args(tmp_path),
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        *share_args(tmp_path),
        "--options-stdin",
        input=json.dumps({"passphrase": PASSPHRASE}),
    )
    result = walletbackup(
        tmp_path,
        *store_args(tmp_path),
        "verify",
        "w1",
        "--options-stdin",
        input=json.dumps({"passphrase": "not-the-passphrase"}),
    )
    assert result.returncode == 3
    assert result.stderr == (
        "error: the backup could not be opened: wrong secret, or the backup was altered\n"
    )


@pytest.mark.parametrize("fake", ["importerror", "hookraises"])
def test_a_broken_plugin_is_one_warning_line_on_other_commands(tmp_path: Path, fake: str) -> None:
    result = walletbackup(tmp_path, *store_args(tmp_path), "status", "nobody", fakes=(fake,))
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    warning, error = result.stderr.splitlines()
    assert warning.startswith("walletbackup: warning: plugin 'fake")
    assert "is broken and was not loaded" in warning
    assert error == "error: there is no backup for wallet 'nobody'"


def test_methods_lists_a_broken_plugin_in_a_real_process(tmp_path: Path) -> None:
    result = walletbackup(tmp_path, "methods", "--json", fakes=("importerror",))
    assert result.returncode == 0
    (broken,) = json.loads(result.stdout)["broken_plugins"]
    assert broken["name"] == "fakeimporterr"
    assert "No module named 'wbfake_no_such_dependency'" in broken["error"]
    assert "Traceback" not in result.stderr


def test_plugin_commands_are_added_to_the_command(tmp_path: Path) -> None:
    result = walletbackup(tmp_path, "fakegood", "--help", fakes=("good",))
    assert result.returncode == 0, result.stderr
    assert "A command added by walletbackup-fakegood." in result.stdout


def test_secrets_are_not_echoed_on_a_real_terminal(tmp_path: Path) -> None:
    """Prompts on a pseudo-terminal: the typed passphrase never shows."""
    controller, terminal = os.openpty()
    try:
        child = subprocess.Popen(
            [
                str(SCRIPT),
                *store_args(tmp_path),
                "backup",
                "w1",
                "--method",
                "examplepassphrase",
                *share_args(tmp_path),
            ],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=child_env(tmp_path),
            cwd=tmp_path,
            start_new_session=True,
        )
        try:
            seen = read_until(controller, b"passphrase: ")
            os.write(controller, f"{PASSPHRASE}\n".encode())
            seen += read_until(controller, b"passphrase (again): ")
            os.write(controller, f"{PASSPHRASE}\n".encode())
            seen += read_until(controller, b"methods protecting the client share")
            assert child.wait(timeout=TIMEOUT) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=TIMEOUT)
    finally:
        os.close(controller)
        os.close(terminal)
    assert PASSPHRASE.encode() not in seen
    assert b"backed up wallet w1 with examplepassphrase: stored" in seen


def read_until(fd: int, wanted: bytes) -> bytes:
    seen = b""
    end = time.monotonic() + TIMEOUT
    while wanted not in seen:
        remaining = end - time.monotonic()
        assert remaining > 0, f"{wanted!r} never came; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            seen += os.read(fd, 4096)
    return seen
