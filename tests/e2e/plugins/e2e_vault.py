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


#: Every audit event this plugin received (the audit_event hook, as a SIEM sink would).
RECEIVED: list[dict[str, Any]] = []


@hookimpl
def audit_event(event: dict[str, Any]) -> None:
    RECEIVED.append(event)
