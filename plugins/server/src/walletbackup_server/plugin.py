"""Entry point module (group ``walletbackup``): the ``serve`` and ``server`` commands."""

from __future__ import annotations

from typing import Any

from walletbackup.hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from .cli import serve, server  # noqa: PLC0415 - click commands only when the CLI starts

    cli.add_command(serve)
    cli.add_command(server)
