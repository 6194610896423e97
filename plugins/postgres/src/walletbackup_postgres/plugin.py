"""Entry point module (group ``walletbackup``): the ``postgresql:`` (and ``postgres:``) store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from walletbackup.hookspecs import hookimpl

from .store import PostgresAliasStore, PostgresStore


@hookimpl
def register_stores(register: Callable[[type[Any]], None]) -> None:
    register(PostgresStore)
    register(PostgresAliasStore)
