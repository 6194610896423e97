"""The in-process store: ``memory:`` is fresh and private, ``memory:NAME`` is shared by name.

Every ``MemoryStore("memory:NAME")`` of one process sees the same wallets, audit log and locks,
which is what tests and demos need; nothing outlives the process. Locks exclude threads only.
The audit log is a list in ``seq`` order, with every record by its seq and each wallet's seqs,
so one wallet's history is found without a scan.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime

from walletbackup.errors import StorageError
from walletbackup.stores.base import AuditEntry, Store, check_paging, utc
from walletbackup.stores.locking import KeyedLocks, wallet_key
from walletbackup.stores.urls import split_url

_NAME = re.compile(r"[A-Za-z0-9._-]+")


class _Space:
    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.documents: dict[str, bytes] = {}
        self.audit: list[AuditEntry] = []
        #: every record by its seq, and per wallet the seqs of its records, ascending
        self.by_seq: dict[int, AuditEntry] = {}
        self.by_wallet: dict[str, list[int]] = {}
        self.next_seq = 1
        self.locks: KeyedLocks[str] = KeyedLocks()

    def position(self, seq: int) -> int:
        """Where the first record with a seq >= ``seq`` is (or would be) in :attr:`audit`."""
        return bisect.bisect_left(self.audit, seq, key=lambda entry: entry.seq)


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

    def append_audit(self, record: bytes, *, wallet_id: str | None, at: datetime) -> int:
        if wallet_id is not None:
            wallet_key(wallet_id)
        at = utc(at)
        space = self._space
        with space.mutex:
            seq = space.next_seq
            space.next_seq += 1
            entry = AuditEntry(seq, at, wallet_id, bytes(record))
            space.audit.append(entry)
            space.by_seq[seq] = entry
            if wallet_id is not None:
                space.by_wallet.setdefault(wallet_id, []).append(seq)
        return seq

    def audit_records(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        check_paging(after, limit)
        space = self._space
        with space.mutex:
            if wallet_id is None:
                found = space.audit[space.position(after + 1) :]
            else:
                seqs = space.by_wallet.get(wallet_id, [])
                wanted = seqs[bisect.bisect_right(seqs, after) :]
                found = [space.by_seq[seq] for seq in wanted[:limit]]
            return iter(found[:limit])

    def prune_audit(self, before: datetime, *, through: int | None = None) -> int:
        before = utc(before)
        space = self._space
        with space.mutex:
            kept = [
                e
                for e in space.audit
                if not (e.at < before and (through is None or e.seq <= through))
            ]
            removed = len(space.audit) - len(kept)
            space.audit = kept
            space.by_seq = {entry.seq: entry for entry in kept}
            space.by_wallet = {}
            for entry in kept:
                if entry.wallet_id is not None:
                    space.by_wallet.setdefault(entry.wallet_id, []).append(entry.seq)
        return removed


__all__ = ["MemoryStore"]
