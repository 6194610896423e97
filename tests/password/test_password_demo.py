"""``walletbackup demo`` keeps what a store it was given needs, and says where everything is."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import home_env

from walletbackup.cli.exits import EXIT_USAGE

TIMEOUT = 300
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """``walletbackup`` in a process of its own, in ``tmp_path`` (its home and working directory).

    Not in-process: the demo calibrates Argon2 with the default settings, which the password
    method remembers for the rest of a process.
    """

    def walletbackup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "walletbackup", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=home_env(tmp_path, WALLETBACKUP_PLUGINS="password"),
            timeout=TIMEOUT,
            check=False,
        )

    return walletbackup


def test_a_demo_of_its_own_leaves_nothing_behind(run: Run, tmp_path: Path) -> None:
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == (
        "  deleted with the demo's temporary directory: the store and the KMS key"
    )
    # Not even device memory about a store that is gone.
    assert not (tmp_path / "data").exists()


def test_a_given_store_keeps_the_wallet_and_its_kms_key_beside_it(run: Run, tmp_path: Path) -> None:
    result = run("demo", "--store", "sqlite:demo.db")
    assert result.returncode == 0, result.stdout + result.stderr
    key = tmp_path / "custodian.key"
    assert key.exists()
    lines = result.stdout.splitlines()
    assert f"  kms:   local://{key}" in lines
    assert lines[-2] == (
        f"  kept: wallet demo-wallet in sqlite:demo.db, its custodian share under local://{key} "
        "(its password was never shown)"
    )
    argv = shlex.split(lines[-1].removeprefix("  look at it with: "))
    assert argv[0] == "walletbackup"
    status = run(*argv[1:])
    assert status.returncode == 0, status.stderr
    assert "password  stored" in status.stdout
    # The custodian share still opens: the demo runs again on the same store.
    again = run("demo", "--store", "sqlite:demo.db")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "OK: the recovered secret is identical to the original." in again.stdout


def test_a_given_store_and_kms_are_both_kept(run: Run, tmp_path: Path) -> None:
    kms = f"local://{tmp_path / 'elsewhere.key'}"
    result = run("--kms", kms, "demo", "--store", "file:wallets")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "elsewhere.key").exists()
    assert not (tmp_path / "custodian.key").exists()
    assert "deleted with the demo's temporary directory" not in result.stdout
    assert f"its custodian share under {kms}" in result.stdout


def test_a_store_the_demo_cannot_put_a_key_beside_needs_kms(run: Run) -> None:
    result = run("demo", "--store", "postgresql://db.example/wallets")
    assert result.returncode == EXIT_USAGE
    assert "its custodian share needs a KMS key that outlives the demo: give one with --kms" in (
        " ".join(result.stderr.split())
    )
