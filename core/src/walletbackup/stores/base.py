"""The store contract: a small, atomic, per-wallet document store plus an append-only audit log.

The core keeps each wallet's whole state (envelopes, pending changes, statuses, discard queue) in
one document, so every state change is a single atomic replace and a killed process leaves either
the old document or the new one, never a mix. A store therefore only needs four things done right:
an inter-process lock per wallet, an atomic load, an atomic replace, and an append-only audit log.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import ClassVar


class Store(ABC):
    """Base class of every store. Subclasses set :attr:`scheme` and take the URL in ``__init__``."""

    #: URL scheme this store answers to (``sqlite``, ``file``, ``memory``).
    scheme: ClassVar[str]
    #: Version of the store's on-disk schema; a store refuses data written by a newer version.
    schema_version: ClassVar[int] = 1

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r}>"

    @property
    def location(self) -> str | None:
        """Where the data lives, the same from any process or working directory.

        Devices key the revisions they have seen by it. ``None`` for a store that does not
        outlive its process (nothing to remember across processes).
        """
        return self.url

    @abstractmethod
    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        """Hold an exclusive lock on one wallet, across threads and processes.

        Released when the block ends or the process dies (a killed process never leaves a
        stale lock). Waits for another holder; raises :class:`StorageError` after a timeout.
        """

    @abstractmethod
    def load(self, wallet_id: str) -> bytes | None:
        """The wallet's document as last saved, or ``None`` when the wallet has none."""

    @abstractmethod
    def save(self, wallet_id: str, document: bytes) -> None:
        """Replace the wallet's document atomically and durably (fsync or transaction commit).

        After a crash at any point, :meth:`load` returns either the previous document or this
        one. Callers hold :meth:`lock`.
        """

    @abstractmethod
    def delete(self, wallet_id: str) -> None:
        """Remove the wallet's document (no error when there is none)."""

    @abstractmethod
    def wallets(self) -> Iterator[str]:
        """The wallet ids that have a document, in sorted order."""

    @abstractmethod
    def append_audit(self, record: bytes) -> None:
        """Append one audit record (canonical JSON bytes) durably."""

    @abstractmethod
    def audit_records(self) -> Iterator[bytes]:
        """Every audit record, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing open
        """Release connections and file handles."""


__all__ = ["Store"]
