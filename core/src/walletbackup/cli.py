"""The ``walletbackup`` command.

Only click and the error classes are imported at start-up; the API (and with it cryptography)
is imported inside the commands that need it, so ``walletbackup --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .errors import (
    BackupNotFound,
    MalformedBackup,
    MethodUnavailable,
    PluginError,
    PolicyViolation,
    StorageError,
    UnlockFailed,
    WalletBackupError,
)

#: Exit codes (documented in docs/cli.md). Click itself exits 2 on usage errors.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNLOCK_FAILED = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
EXIT_MALFORMED = 6
EXIT_POLICY = 7
EXIT_STORAGE = 8
EXIT_PLUGIN = 9

_EXIT_FOR: tuple[tuple[type[WalletBackupError], int], ...] = (
    (UnlockFailed, EXIT_UNLOCK_FAILED),
    (BackupNotFound, EXIT_NOT_FOUND),
    (MethodUnavailable, EXIT_UNAVAILABLE),
    (MalformedBackup, EXIT_MALFORMED),
    (PolicyViolation, EXIT_POLICY),
    (StorageError, EXIT_STORAGE),
    (PluginError, EXIT_PLUGIN),
)


def exit_code_for(error: WalletBackupError) -> int:
    """The documented exit code for an error."""
    return next((code for kind, code in _EXIT_FOR if isinstance(error, kind)), EXIT_ERROR)


class _Group(click.Group):
    """Turns walletbackup errors into one line on stderr and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WalletBackupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exit_code_for(exc))


@click.group(cls=_Group)
@click.version_option(package_name="walletbackup")
def cli() -> None:
    """Back up and recover the two backup shares of an MPC wallet."""


@cli.command()
@click.option("--store", "store_url", metavar="URL",
              help="Store to use (default: sqlite in a fresh temporary directory).")
@click.option("--kms", "kms_url", metavar="URL",
              help="KMS for the custodian share (default: a key file in that directory).")
def demo(store_url: str | None, kms_url: str | None) -> None:
    """Run the whole job on a demo wallet, non-interactively, and say what happened.

    Makes a random wallet secret, splits it into a client and a custodian share, backs both up
    with the password method (managed mode), recovers them, and checks the secret is identical.
    Exits 0 only if every step held.
    """
    from .demo import run_demo  # noqa: PLC0415 - keeps --help free of cryptography

    ok = run_demo(store_url, kms_url, click.echo)
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


def main() -> None:
    cli(prog_name="walletbackup")
