"""The core's own stores and ``local`` KMS, registered like any plugin (distribution walletbackup).

Registering them through the hooks gives them the same validation and attribution as third-party
items, and a plugin claiming one of these names is reported as a conflict naming both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .hookspecs import hookimpl
from .kms import LocalKms
from .stores import CORE_STORES


@hookimpl
def register_stores(register: Callable[[type[Any]], None]) -> None:
    for store in CORE_STORES.values():
        register(store)


@hookimpl
def register_kms_providers(register: Callable[[type[Any]], None]) -> None:
    register(LocalKms)
