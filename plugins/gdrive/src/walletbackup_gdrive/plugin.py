"""Entry point module (group ``walletbackup``): the ``gdrive`` method and its CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from walletbackup.hookspecs import hookimpl

from .method import GDriveMethod


@hookimpl
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    register(GDriveMethod)


@hookimpl
def register_commands(cli: Any) -> None:
    from .cli import gdrive  # noqa: PLC0415 - click commands only when the CLI starts

    cli.add_command(gdrive)
