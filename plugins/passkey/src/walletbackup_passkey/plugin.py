"""Entry point module (group ``walletbackup``): the ``passkey`` method and its CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from walletbackup.hookspecs import hookimpl

from .method import PasskeyMethod


@hookimpl
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    register(PasskeyMethod)


@hookimpl
def register_commands(cli: Any) -> None:
    from .commands import passkey  # noqa: PLC0415 - click commands only when the CLI runs

    cli.add_command(passkey)
