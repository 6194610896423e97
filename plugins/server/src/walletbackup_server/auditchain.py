"""The tamper-evident audit log: every record the service's custodian writes is HMAC-chained.

Each record gets ``"chain": {"n": index, "prev": hex, "mac": hex}``: its place in its chain,
the previous record's MAC (64 zeros for the first) and an HMAC-SHA256, under the *chain key*,
of the chain's id and the record's canonical bytes (with ``n`` and ``prev``, without ``mac``).
There is one chain per wallet (the wallet's internal key) and one, :data:`SERVICE_CHAIN`, for
events about no wallet, so appends to different wallets, on any replica, never wait for each
other. A *head* document per chain in the server's state store (``audit/head/<sha256 of the
chain id>``: the last ``n``, its ``mac`` and ``seq``) lets the verifier see a cut-off tail.

The chain key is 32 random bytes made once and kept in the state store wrapped by the
custodian's KMS (``audit/chain-key``), so whoever can write the databases but not use the KMS
cannot make a record the verifier accepts. What this does not catch (docs/security.md): the
wallet store rolled back together with the head documents, and anyone who can use the KMS.

:class:`ChainedStore` puts this between the core :class:`~walletbackup.Custodian` and its
store: it delegates every method and chains :meth:`ChainedStore.append_audit`, so the core is
unchanged. ``create_app`` wraps the custodian's store with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from walletbackup import canonical
from walletbackup.errors import MalformedBackup, StorageError, WalletBackupError
from walletbackup.kms import KmsProvider
from walletbackup.stores import Store
from walletbackup.stores.base import AuditEntry

from .state import ServerState

#: The associated data the chain key is wrapped with: that blob opens for nothing else.
KEY_AAD = b"walletbackup-server audit chain key"
KEY_DOC = "audit/chain-key"
HEAD_PREFIX = "audit/head/"
#: The chain of the events that are about no wallet (KMS rotation, retirement).
SERVICE_CHAIN = ""
#: ``prev`` of a chain's first record.
GENESIS = "0" * 64
KEY_BYTES = 32
_LABEL = "walletbackup-server audit chain v1"


def chain_of(wallet_id: str | None) -> str:
    """The chain a record about ``wallet_id`` belongs to."""
    return SERVICE_CHAIN if wallet_id is None else wallet_id


def head_key(chain: str) -> str:
    """The state document (and lock) of a chain's head."""
    return HEAD_PREFIX + hashlib.sha256(chain.encode("utf-8")).hexdigest()


def record_mac(key: bytes, chain: str, event: dict[str, Any]) -> str:
    """The MAC of ``event`` (its ``chain`` holding ``n`` and ``prev`` only) in ``chain``."""
    message = canonical.dumps([_LABEL, chain, event])
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class ChainKey:
    """The chain key, wrapped by ``kms`` in ``state``; unwrapped once, kept in memory."""

    def __init__(self, state: ServerState, kms: KmsProvider) -> None:
        self.state = state
        self.kms = kms
        self._key: bytes | None = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"<ChainKey in {self.state!r}>"

    def get(self) -> bytes:
        """The key, made and wrapped on first use; re-wrapped under the KMS key's current
        version when an older one wrapped it (so retiring old versions never loses it)."""
        with self._mutex:
            if self._key is None:
                with self.state.lock(KEY_DOC):
                    self._key = self._unwrap(rewrap=True) or self._create()
            return self._key

    def existing(self) -> bytes | None:
        """The key if one was ever made (the verifier never makes one)."""
        with self._mutex:
            if self._key is None:
                self._key = self._unwrap(rewrap=False)
            return self._key

    def _unwrap(self, *, rewrap: bool) -> bytes | None:
        document = self.state.load(KEY_DOC)
        if document is None:
            return None
        try:
            blob = canonical.b64decode(document.get("blob"))
            args = document["args"]
            key = self.kms.unwrap(blob, KEY_AAD, args)
        except (KeyError, MalformedBackup):
            raise StorageError(f"the audit chain key document {KEY_DOC!r} is damaged") from None
        current = self.kms.stanza_args()
        if rewrap and args != current:
            self._save(key, current)
        return key

    def _create(self) -> bytes:
        key = os.urandom(KEY_BYTES)
        self._save(key, self.kms.stanza_args())
        return key

    def _save(self, key: bytes, args: dict[str, Any]) -> None:
        blob = self.kms.wrap(key, KEY_AAD, args)
        self.state.save(KEY_DOC, {"blob": canonical.b64encode(blob), "args": args})


class ChainedStore(Store):
    """``inner`` with every audit record chained (heads and key in ``state``)."""

    scheme = "chained"

    def __init__(self, inner: Store, state: ServerState, key: ChainKey) -> None:
        super().__init__(inner.url)
        self.inner = inner
        self.state = state
        self.key = key
        #: Called for each record that could not be written. The core only logs such a failure
        #: (its audit is best effort: the operation has happened); the app counts it in its
        #: metrics, so an operator can alert on a gap in the evidence.
        self.lost: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"<ChainedStore {self.inner!r}>"

    @property
    def location(self) -> str | None:
        return self.inner.location

    @property
    def read_only(self) -> bool:
        return self.inner.read_only

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        return self.inner.lock(wallet_id)

    def load(self, wallet_id: str) -> bytes | None:
        return self.inner.load(wallet_id)

    def save(self, wallet_id: str, document: bytes) -> None:
        self.inner.save(wallet_id, document)

    def delete(self, wallet_id: str) -> None:
        self.inner.delete(wallet_id)

    def wallets(self) -> Iterator[str]:
        return self.inner.wallets()

    def wallets_with_prefix(self, prefix: str) -> Iterator[str]:
        return self.inner.wallets_with_prefix(prefix)

    @contextmanager
    def operation(self) -> Iterator[None]:
        with self.inner.operation():
            yield

    def in_operation(self) -> bool:
        return self.inner.in_operation()

    def sync(self) -> None:
        self.inner.sync()

    def audit_records(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        return self.inner.audit_records(wallet_id, after=after, limit=limit)

    def prune_audit(self, before: datetime, *, through: int | None = None) -> int:
        # The chains' starts move: `verify-audit --pruned` (or --archive) accepts that.
        return self.inner.prune_audit(before, through=through)

    def close(self) -> None:
        self.inner.close()

    def append_audit(self, record: bytes, *, wallet_id: str | None, at: datetime) -> int:
        """Chain ``record`` to the last record about ``wallet_id``, then append it.

        The store's time of the record is when the service wrote it, not the ``at`` the event
        claims (a device says its own): pruning by time then removes each chain's oldest
        records first. Under the chain's lock, the head first names the record being written
        (``pending``), then the record is appended, then the head moves to it; a crash in
        between leaves a pending head the next append settles by looking for the record. Where
        the state store commits the head with its lock (PostgreSQL) the pending mark may not
        outlive a crash, so the next append of a wallet's chain also follows any record its
        key chained after the head.
        """
        try:
            return self._append(record, wallet_id)
        except WalletBackupError:
            self.lost()
            raise

    def _append(self, record: bytes, wallet_id: str | None) -> int:
        """:meth:`append_audit`; a failure is the caller's to count."""
        event = _event(record)
        chain = chain_of(wallet_id)
        key = self.key.get()
        where = head_key(chain)
        with self.state.lock(where):
            head = self._settled(self.state.load(where), wallet_id, key)
            n = head["n"] + 1 if "n" in head else 0
            event["chain"] = {"n": n, "prev": head.get("mac", GENESIS)}
            mac = record_mac(key, chain, event)
            event["chain"]["mac"] = mac
            self.state.save(where, head | {"pending": {"n": n, "mac": mac}})
            try:
                seq = self.inner.append_audit(
                    canonical.dumps(event), wallet_id=wallet_id, at=datetime.now(UTC)
                )
                if self.inner.in_operation():
                    self.inner.sync()  # the head never names a record that could still be lost
            except WalletBackupError:
                self.state.save(where, head)
                raise
            self.state.save(where, head | {"n": n, "mac": mac, "seq": seq})
        return seq

    def _settled(
        self, head: dict[str, Any] | None, wallet_id: str | None, key: bytes
    ) -> dict[str, Any]:
        """``head`` moved to the last record written after it: the pending one, or (a wallet's
        chain: an indexed read) any record chained to it under ``key``; else unchanged."""
        head = head or {"chain": chain_of(wallet_id)}
        pending = head.pop("pending", None)
        if pending is None and wallet_id is None:
            return head  # the service chain: only a pending mark says a record may follow
        for entry in self.inner.audit_records(wallet_id, after=head.get("seq", 0)):
            found = chain_fields(entry.record)
            if found is None:
                continue
            n, prev, mac = found
            if pending is not None and mac == pending["mac"]:
                return head | {"n": n, "mac": mac, "seq": entry.seq}
            if (
                pending is None
                and n == head.get("n", -1) + 1
                and prev == head.get("mac", GENESIS)
                and _chained(key, chain_of(wallet_id), entry.record, mac)
            ):
                head = head | {"n": n, "mac": mac, "seq": entry.seq}
        return head


def _chained(key: bytes, chain: str, record: bytes, mac: str) -> bool:
    """Whether ``record`` carries its own MAC under ``key`` (only the key's holder made it)."""
    event = canonical.loads(record)
    event["chain"] = {k: v for k, v in event["chain"].items() if k != "mac"}
    return hmac.compare_digest(record_mac(key, chain, event), mac)


def chain_fields(record: bytes) -> tuple[int, str, str] | None:
    """A chained record's ``(n, prev, mac)``, or ``None`` when it has no well-formed chain."""
    try:
        event = canonical.loads(record)
    except MalformedBackup:
        return None
    chain = event.get("chain") if isinstance(event, dict) else None
    if not isinstance(chain, dict) or set(chain) != {"n", "prev", "mac"}:
        return None
    n, prev, mac = chain["n"], chain["prev"], chain["mac"]
    if type(n) is not int or n < 0 or not _is_mac(prev) or not _is_mac(mac):
        return None
    return n, prev, mac


def _is_mac(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def _event(record: bytes) -> dict[str, Any]:
    try:
        event = canonical.loads(record)
    except MalformedBackup:
        event = None
    if not isinstance(event, dict):
        raise StorageError("an audit record to chain must be a canonical JSON object")
    # "chain" is the service's field: whatever a device put there is replaced.
    event.pop("chain", None)
    return event


__all__ = [
    "GENESIS",
    "HEAD_PREFIX",
    "KEY_AAD",
    "KEY_DOC",
    "SERVICE_CHAIN",
    "ChainKey",
    "ChainedStore",
    "chain_fields",
    "chain_of",
    "head_key",
    "record_mac",
]
