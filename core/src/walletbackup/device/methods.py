"""The method instances a device uses: made from the registry, checked, and kept for discards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from walletbackup import plugins
from walletbackup.errors import MethodUnavailable
from walletbackup.methods import BackupMethod


class Methods:
    """Makes method instances; remembers the latest one given options, per method.

    Discarding obsolete remote material may happen in a later call than the one that gave the
    method its options (credentials), so the instance that has them is kept. Credentials stay in
    memory as long as this object lives.
    """

    def __init__(self) -> None:
        self._discarders: dict[str, BackupMethod] = {}

    def kind(self, name: str) -> type[BackupMethod]:
        return plugins.get_method(name)

    def make(self, name: str, options: Mapping[str, Any], check: bool = True) -> BackupMethod:
        """An instance of method ``name``; ``check``: refuse one that cannot run here."""
        method = self.kind(name)(**options)
        if options and type(method).discard is not BackupMethod.discard:
            self._discarders[name] = method
        if check:
            availability = method.availability()
            if not availability.available:
                raise MethodUnavailable(
                    f"backup method {name!r} cannot be used here: {availability.reason}"
                    + (f"; {availability.remedy}" if availability.remedy else "")
                )
        return method

    def discarder(self, name: str) -> BackupMethod:
        return self._discarders.get(name) or self.make(name, {}, check=False)
