"""``vault``: the example key-file method, allowing several stanzas per wallet (like passkeys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from example_method import FileKeyMethod

from walletbackup.hookspecs import hookimpl


class VaultMethod(FileKeyMethod):
    name = "vault"
    multiple = True


@hookimpl
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    register(VaultMethod)
