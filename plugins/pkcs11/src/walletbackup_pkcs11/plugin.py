"""Entry point module (group ``walletbackup``): the ``pkcs11`` KMS provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from walletbackup.hookspecs import hookimpl

from .kms import Pkcs11Kms


@hookimpl
def register_kms_providers(register: Callable[[type[Any]], None]) -> None:
    register(Pkcs11Kms)
