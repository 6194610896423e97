"""The store contract: a small, atomic, per-wallet document store plus an indexed audit log.

The core keeps each wallet's whole state (envelopes, pending changes, statuses) in one document,
so every state change is a single atomic replace and a killed process leaves either the old
document or the new one, never a mix. A store therefore needs: an inter-process lock per wallet,
an atomic load, an atomic replace, and an append-only audit log it can list by wallet, page
through and prune.

Every operation costs the same whatever the number of wallets and audit records in the store
(listings cost the same *per item*): no write lists a directory or re-reads a log.

**Operations.** The custodian wraps each API operation in :meth:`Store.operation`. Inside it, a
store may defer what it owes each write (making it durable; removing every copy of what it
replaced) to :meth:`Store.sync` or the end of the outermost operation, whichever comes first, so
an operation pays for that once. Outside any operation, every write is durable, and leaves no
copy of what it replaced, when it returns. An operation is not a transaction: what was written
inside it stays written when the block raises.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from walletbackup.errors import StorageError


@dataclass(frozen=True)
class AuditEntry:
    """One audit record as a store keeps it."""

    #: Its place in the log: increasing in the order of appends, never reused (pruning keeps the
    #: numbers of the records that stay), so it is the cursor for paging (``after=``).
    seq: int
    #: When it was recorded (timezone-aware, UTC).
    at: datetime
    #: The wallet it is about; ``None`` for an event about the store as a whole.
    wallet_id: str | None
    #: The record as appended (canonical JSON bytes; no secret, but not the store's business).
    record: bytes = field(repr=False)


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

    @property
    def read_only(self) -> bool:
        """Whether this instance can only read: its files are not writable here (a copy on
        read-only media, another user's files). Writes then raise :class:`StorageError`."""
        return False

    # --- documents ------------------------------------------------------------------------

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
        """Replace the wallet's document atomically.

        After a crash at any point, :meth:`load` returns either the previous document or this
        one. Durable on return outside an operation, else by the operation's next sync.
        Callers hold :meth:`lock`.
        """

    @abstractmethod
    def delete(self, wallet_id: str) -> None:
        """Remove the wallet's document (no error when there is none)."""

    @abstractmethod
    def wallets(self) -> Iterator[str]:
        """The wallet ids that have a document, in sorted order."""

    def wallets_with_prefix(self, prefix: str) -> Iterator[str]:
        """The wallet ids that have a document and start with ``prefix``, in sorted order.

        This default filters :meth:`wallets`, reading every id; a store that keeps its ids in a
        sorted index overrides it to read only the matching ones (:func:`prefix_range` gives
        the bounds), so listing one user's wallets costs what they are.
        """
        return (wallet_id for wallet_id in self.wallets() if wallet_id.startswith(prefix))

    # --- operations -----------------------------------------------------------------------

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Group the writes of one API operation (see the module docstring); re-entrant.

        When the outermost block of this thread ends, however it ends, :meth:`sync` runs.
        """
        depth = self._depth()
        depth.value += 1
        try:
            yield
        finally:
            depth.value -= 1
            if depth.value == 0:
                self.sync()

    def in_operation(self) -> bool:
        """Whether this thread is inside :meth:`operation` (a store's writes may then defer)."""
        return self._depth().value > 0

    def sync(self) -> None:  # noqa: B027 - a store whose writes never defer has nothing to do
        """Make every write so far durable, and remove every copy of what they replaced or
        deleted. The custodian calls it before it tells the device a revision is current."""

    def _depth(self) -> _Depth:
        # Made on first use, so a subclass that does not call __init__ still works.
        local = self.__dict__.get("_operations")
        if local is None:
            local = self.__dict__.setdefault("_operations", _Depths())
        depth: _Depth = local.depth
        return depth

    # --- audit ----------------------------------------------------------------------------

    @abstractmethod
    def append_audit(self, record: bytes, *, wallet_id: str | None, at: datetime) -> int:
        """Append one audit record about ``wallet_id`` made at ``at``; return its ``seq``.

        Durable on return outside an operation, else by the operation's next sync.
        """

    @abstractmethod
    def audit_records(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        """The audit records (one wallet's, or all), oldest first, from ``seq > after``.

        At most ``limit`` of them. The cost is that of the records returned: one wallet's
        history does not cost more in a store with more wallets or more records.
        """

    @abstractmethod
    def prune_audit(self, before: datetime, *, through: int | None = None) -> int:
        """Remove the records made before ``before`` (and, with ``through``, only those with
        ``seq <= through``); return how many. The others keep their ``seq``, so a reader that
        pages with ``after=`` carries on where it was."""

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing open
        """Release connections and file handles."""


class _Depth:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class _Depths(threading.local):
    def __init__(self) -> None:
        self.depth = _Depth()


def read_only_error(store: Store, what: str) -> StorageError:
    """The error for a write to a read-only store."""
    return StorageError(
        f"cannot {what}: the store {store.url!r} is read-only here (its files are not writable "
        "by this user, or it is on read-only media); reading works, changes need a writable copy"
    )


def utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive datetime (no timezone) is refused, not guessed."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise StorageError(f"an audit time must be a timezone-aware datetime, not {at!r}")
    return at.astimezone(UTC)


def check_paging(after: int, limit: int | None) -> None:
    """Refuse a cursor or limit no store could honour."""
    if type(after) is not int or after < 0:
        raise StorageError(f"after must be a seq (an int >= 0), not {after!r}")
    if limit is not None and (type(limit) is not int or limit < 0):
        raise StorageError(f"limit must be an int >= 0 or None, not {limit!r}")


def prefix_range(prefix: str) -> tuple[str, str] | None:
    """``(low, high)``: the strings that start with ``prefix`` are exactly those ``>= low`` and
    ``< high`` in code point order (Python's, SQLite's ``BINARY``, PostgreSQL's ``COLLATE "C"``).

    None for the empty prefix (every string) and for one that ends in U+10FFFF (no code point
    follows it), where a store lists :meth:`Store.wallets` instead.
    """
    if not prefix or prefix[-1] == chr(0x10FFFF):
        return None
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters of a valid string
        following = 0xE000
    return prefix, prefix[:-1] + chr(following)


def paged(
    fetch: Callable[[Any, int], Sequence[Sequence[Any]]],
    after: Any,
    limit: int | None,
    page: int = 500,
) -> Iterator[Sequence[Any]]:
    """The rows ``fetch(after, size)`` returns, a page at a time, up to ``limit`` rows.

    ``fetch`` returns at most ``size`` rows ordered by their first column, all after ``after``;
    the last row's first column is the next page's cursor. Each call is a query of its own, so a
    database store holds no lock, transaction or connection while the caller consumes the rows.
    """
    remaining = limit
    while remaining is None or remaining > 0:
        size = page if remaining is None else min(page, remaining)
        rows = fetch(after, size)
        yield from rows
        if len(rows) < size:
            return
        after = rows[-1][0]
        if remaining is not None:
            remaining -= len(rows)


__all__ = [
    "AuditEntry",
    "Store",
    "check_paging",
    "paged",
    "prefix_range",
    "read_only_error",
    "utc",
]
