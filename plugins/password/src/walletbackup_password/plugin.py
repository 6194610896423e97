"""Entry point module (group ``walletbackup``): registers the ``password`` method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from walletbackup.hookspecs import hookimpl

from .method import PasswordMethod


@hookimpl
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    register(PasswordMethod)
