"""Entry point module (group ``walletbackup``): the ``icloud`` method and its CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from walletbackup.hookspecs import hookimpl

from .method import ICloudMethod


@hookimpl
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    register(ICloudMethod)


@hookimpl
def register_commands(cli: Any) -> None:
    from .cli import icloud  # noqa: PLC0415 - only the walletbackup command needs click code

    cli.add_command(icloud)
