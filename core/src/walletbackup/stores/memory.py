"""The in-process store: ``memory:`` is fresh and private, ``memory:NAME`` is shared by name.

Every ``MemoryStore("memory:NAME")`` of one process sees the same wallets, audit log and locks,
which is what tests and demos need; nothing outlives the process. Locks exclude threads only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

from walletbackup.errors import StorageError
from walletbackup.stores.base import Store
from walletbackup.stores.locking import KeyedLocks, wallet_key
from walletbackup.stores.urls import split_url

_NAME = re.compile(r"[A-Za-z0-9._-]+")


class _Space:
    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.documents: dict[str, bytes] = {}
        self.audit: list[bytes] = []
        self.locks: KeyedLocks[str] = KeyedLocks()


_NAMED: dict[str, _Space] = {}
_NAMED_MUTEX = threading.Lock()


class MemoryStore(Store):
    """``memory:`` or ``memory:NAME`` (letters, digits, ``.``, ``_``, ``-``)."""

    scheme = "memory"

    def __init__(self, url: str = "memory:", *, timeout: float = 30.0) -> None:
        super().__init__(url)
        self._timeout = timeout
        name = split_url(url)[1]
        if not name:
            self._space = _Space()
        elif _NAME.fullmatch(name):
            with _NAMED_MUTEX:
                self._space = _NAMED.setdefault(name, _Space())
        else:
            raise StorageError(
                f"malformed store URL {url!r}: use memory: or memory:NAME, where NAME is made "
                "of letters, digits, '.', '_' and '-'"
            )

    @property
    def location(self) -> str | None:
        return None

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        wallet_key(wallet_id)
        return self._space.locks.hold(wallet_id, self._timeout, f"wallet {wallet_id!r}", self)

    def load(self, wallet_id: str) -> bytes | None:
        wallet_key(wallet_id)
        with self._space.mutex:
            return self._space.documents.get(wallet_id)

    def save(self, wallet_id: str, document: bytes) -> None:
        wallet_key(wallet_id)
        with self._space.mutex:
            self._space.documents[wallet_id] = bytes(document)

    def delete(self, wallet_id: str) -> None:
        wallet_key(wallet_id)
        with self._space.mutex:
            self._space.documents.pop(wallet_id, None)

    def wallets(self) -> Iterator[str]:
        with self._space.mutex:
            return iter(sorted(self._space.documents))

    def append_audit(self, record: bytes) -> None:
        with self._space.mutex:
            self._space.audit.append(bytes(record))

    def audit_records(self) -> Iterator[bytes]:
        with self._space.mutex:
            return iter(list(self._space.audit))


__all__ = ["MemoryStore"]
