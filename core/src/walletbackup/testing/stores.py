"""The conformance kit every store runs against itself (needs ``walletbackup[testing]``).

Subclass :class:`StoreConformance` in a test module (its name must start with ``Test``) and
provide a ``store_factory`` fixture: a callable that returns a *fresh, empty* store on each call
(a new database, directory or namespace)::

    from walletbackup.testing import StoreConformance

    class TestMyStore(StoreConformance):
        shared_by_url = True                   # a second MyStore(url) sees the same data

        @pytest.fixture
        def store_factory(self, tmp_path):
            names = itertools.count()
            return lambda: MyStore(f"mystore:///{tmp_path}/{next(names)}")

The kit closes every store it gets. It checks what the core relies on, the audit log's index
by wallet, paging and pruning included, but not cost: time one wallet's history in a store with
many records yourself (bench/ shows how the core's stores do it). Set ``shared_by_url = True``
when another instance made from the same URL (``type(store)(store.url)``) sees the same wallets,
audit log and locks, as for any store that outlives its instance; list in ``url_secrets`` the
parts of the URL that ``repr`` must hide (a database password). The kit waits for locks with
generous bounds and asserts on no timing beyond them, so it passes on a slow machine; it cannot
check a lock's own timeout, which the store's own tests should.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from walletbackup.errors import StorageError
from walletbackup.stores.base import AuditEntry, Store
from walletbackup.testing._kit import collect_opt_ins, secret_forms

StoreFactory = Callable[[], Store]

#: Wallet ids of every shape the core may use (at most 128 bytes of UTF-8, as the API allows).
WALLET_IDS = (
    "wallet-b",
    "wallet-a",
    "Z",
    "é",
    "日本",
    "🦊",
    "a b",
    "line\nbreak",
    'quote"',
    "x" * 128,
)
#: How long a thread that must stay blocked is given to (wrongly) get in.
BLOCKED_WAIT = 0.2
#: Generous bound on anything that must happen: a lock handed over, a thread finishing.
DONE_WAIT = 60.0

#: The time the kit's audit records are made at (microseconds on purpose: stores keep them).
AUDIT_TIME = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)

#: Tests that run only when the class attribute named here is set (not None, not False).
_OPT_IN = {"test_same_url_shares_wallets_audit_and_locks": "shared_by_url"}


class StoreConformance:
    """The checks every store passes; see the module docstring for how to use it."""

    #: Another instance made from the same URL sees the same wallets, audit log and locks.
    shared_by_url: ClassVar[bool] = False
    #: Parts of the store URLs (passwords, tokens) that ``repr`` and ``str`` must not show.
    url_secrets: ClassVar[tuple[str, ...]] = ()
    #: The size of the documents :meth:`test_large_documents` saves.
    large_document_size: ClassVar[int] = 4 << 20

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collect_opt_ins(cls, StoreConformance, _OPT_IN)

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        pytest.fail(
            f"{type(self).__name__} must define a store_factory fixture returning a callable "
            "() -> a fresh, empty Store"
        )

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> Iterator[Store]:
        store = store_factory()
        yield store
        store.close()

    # --- documents ----------------------------------------------------------------------

    def test_missing_wallet_loads_none(self, store: Store) -> None:
        assert store.load("wallet-1") is None
        assert list(store.wallets()) == []
        assert list(store.audit_records()) == []

    def test_save_then_load(self, store: Store) -> None:
        store.save("wallet-1", b"document one")
        assert store.load("wallet-1") == b"document one"
        assert store.load("wallet-2") is None
        assert list(store.wallets()) == ["wallet-1"]

    def test_save_replaces(self, store: Store) -> None:
        # Longer, then shorter, then longer again: a replace must not keep the old tail.
        for document in (b"first, and longer than the second", b"second", b"third, long again"):
            store.save("wallet-1", document)
            assert store.load("wallet-1") == document
        assert list(store.wallets()) == ["wallet-1"]

    def test_empty_document_is_not_a_missing_one(self, store: Store) -> None:
        store.save("wallet-1", b"")
        assert store.load("wallet-1") == b""
        assert list(store.wallets()) == ["wallet-1"]

    def test_delete(self, store: Store) -> None:
        store.save("wallet-1", b"one")
        store.save("wallet-2", b"two")
        store.delete("wallet-1")
        assert store.load("wallet-1") is None
        assert store.load("wallet-2") == b"two"
        assert list(store.wallets()) == ["wallet-2"]
        store.delete("wallet-1")  # deleting what is gone is no error
        store.delete("never-saved")
        store.save("wallet-1", b"again")
        assert store.load("wallet-1") == b"again"

    def test_wallets_are_sorted(self, store: Store) -> None:
        for number, wallet_id in enumerate(reversed(WALLET_IDS)):
            store.save(wallet_id, b"document %d" % number)
        assert list(store.wallets()) == sorted(WALLET_IDS)
        for number, wallet_id in enumerate(reversed(WALLET_IDS)):
            assert store.load(wallet_id) == b"document %d" % number

    def test_wallets_with_prefix(self, store: Store) -> None:
        nested = ("t/u/1", "t/u/2", "t/u2/1", "t/v/1", "t/", "t", "tu/1", "t/u/é", "t/u/🦊")
        edges = ("k\ud7ffz", "k\ue000", "k\U0010ffff", "k\U0010ffffz")  # around the surrogates
        ids = (*WALLET_IDS, *nested, *edges)
        for wallet_id in reversed(ids):
            store.save(wallet_id, b"document")
        prefixes = ("t/u/", "t/", "t", "", "wallet-", "é", "日", "🦊", "line\n", "x" * 127)
        for prefix in (*prefixes, "k\ud7ff", "k\U0010ffff", "nothing/"):
            expected = sorted(w for w in ids if w.startswith(prefix))
            assert list(store.wallets_with_prefix(prefix)) == expected, prefix
        store.delete("t/u/1")
        assert list(store.wallets_with_prefix("t/u/")) == ["t/u/2", "t/u/é", "t/u/🦊"]

    def test_every_byte_value(self, store: Store) -> None:
        document = bytes(range(256)) * 4
        record = bytes(range(255, -1, -1))
        store.save("wallet-1", document)
        store.append_audit(record, wallet_id="wallet-1", at=AUDIT_TIME)
        assert store.load("wallet-1") == document
        assert [e.record for e in store.audit_records()] == [record]
        assert [e.record for e in store.audit_records("wallet-1")] == [record]

    def test_large_documents(self, store: Store) -> None:
        first = os.urandom(self.large_document_size)
        second = os.urandom(self.large_document_size // 2)
        store.save("wallet-1", first)
        assert store.load("wallet-1") == first
        store.save("wallet-1", second)
        assert store.load("wallet-1") == second

    # --- operations ---------------------------------------------------------------------

    def test_operation_groups_writes_without_hiding_them(self, store: Store) -> None:
        with store.operation():
            store.save("wallet-1", b"one")
            assert store.load("wallet-1") == b"one"
            with store.operation():  # re-entrant
                store.save("wallet-1", b"two")
                store.append_audit(b"inside", wallet_id="wallet-1", at=AUDIT_TIME)
            assert store.load("wallet-1") == b"two"
            store.sync()
            store.save("wallet-2", b"three")
        assert store.load("wallet-1") == b"two"
        assert store.load("wallet-2") == b"three"
        assert [e.record for e in store.audit_records("wallet-1")] == [b"inside"]
        with pytest.raises(_Raised):
            _save_then_raise(store, "wallet-1", b"four")
        assert store.load("wallet-1") == b"four"  # not a transaction: what was written stays
        store.sync()  # outside an operation: nothing owed, harmless

    # --- audit --------------------------------------------------------------------------

    def test_audit_records_keep_their_order(self, store: Store) -> None:
        records = [b'{"n":%d}' % number for number in range(50)]
        seqs = []
        for number, record in enumerate(records):
            seqs.append(store.append_audit(record, wallet_id=None, at=AUDIT_TIME))
            store.save(f"wallet-{number % 3}", record)  # documents do not touch the audit log
        store.delete("wallet-0")
        entries = list(store.audit_records())
        assert [e.record for e in entries] == records
        assert [e.seq for e in entries] == seqs, "append_audit must return the record's seq"
        assert seqs == sorted(set(seqs)), "seqs must increase"
        store.append_audit(b"one more", wallet_id=None, at=AUDIT_TIME)
        assert [e.record for e in store.audit_records()] == [*records, b"one more"]

    def test_audit_records_by_wallet(self, store: Store) -> None:
        later = AUDIT_TIME + timedelta(days=1, microseconds=1)
        made = [
            AuditEntry(
                store.append_audit(b"r%d" % n, wallet_id=wallet_id, at=at),
                at,
                wallet_id,
                b"r%d" % n,
            )
            for n, (wallet_id, at) in enumerate(
                [
                    ("wallet-a", AUDIT_TIME),
                    ("wallet-b", later),
                    (None, AUDIT_TIME),
                    ("wallet-a", later),
                    ("é", AUDIT_TIME),
                    ("wallet-b", AUDIT_TIME),
                ]
            )
        ]
        assert list(store.audit_records()) == made
        for wallet_id in ("wallet-a", "wallet-b", "é"):
            assert list(store.audit_records(wallet_id)) == [
                e for e in made if e.wallet_id == wallet_id
            ]
        assert list(store.audit_records("wallet-c")) == []
        assert all(e.at.utcoffset() == timedelta(0) for e in store.audit_records())

    def test_audit_time_must_have_a_zone(self, store: Store) -> None:
        with pytest.raises(StorageError, match="timezone"):
            store.append_audit(b"r", wallet_id="wallet-1", at=datetime(2026, 3, 1, 12, 30))
        assert list(store.audit_records()) == []

    def test_audit_paging(self, store: Store) -> None:
        for n in range(10):
            store.append_audit(b"w%d" % n, wallet_id="wallet-1", at=AUDIT_TIME)
            store.append_audit(b"x%d" % n, wallet_id="wallet-2", at=AUDIT_TIME)
        for wallet_id, total in (("wallet-1", 10), (None, 20)):
            pages, after = [], 0
            while page := list(store.audit_records(wallet_id, after=after, limit=3)):
                assert len(page) <= 3
                pages.append(page)
                after = page[-1].seq
            assert [len(page) for page in pages] == [3] * (total // 3) + [total % 3]
            assert [e for page in pages for e in page] == list(store.audit_records(wallet_id))
        everything = list(store.audit_records())
        assert list(store.audit_records(after=everything[-1].seq)) == []
        assert list(store.audit_records("wallet-1", limit=0)) == []
        middle = everything[9].seq
        assert list(store.audit_records(after=middle)) == everything[10:]
        assert [e.record for e in store.audit_records("wallet-2", after=middle, limit=2)] == [
            e.record for e in everything[10:] if e.wallet_id == "wallet-2"
        ][:2]

    def test_prune_audit(self, store: Store) -> None:
        times = [AUDIT_TIME + timedelta(hours=n) for n in range(8)]
        made = [
            store.append_audit(b"r%d" % n, wallet_id=f"wallet-{n % 2}", at=at)
            for n, at in enumerate(times)
        ]
        reader = store.audit_records(limit=2)
        first_page = list(reader)
        assert store.prune_audit(times[3]) == 3
        assert [e.seq for e in store.audit_records()] == made[3:], "pruning renumbered records"
        assert [e.record for e in store.audit_records("wallet-1")] == [b"r3", b"r5", b"r7"]
        # A reader paging from before the prune carries on with what is left.
        assert [e.record for e in store.audit_records(after=first_page[-1].seq)] == [
            b"r%d" % n for n in range(3, 8)
        ]
        assert store.prune_audit(times[6], through=made[4]) == 2
        assert [e.record for e in store.audit_records()] == [b"r5", b"r6", b"r7"]
        assert store.prune_audit(times[0]) == 0
        later = store.append_audit(b"r8", wallet_id="wallet-0", at=times[0])
        assert later > made[-1], "a seq was reused after pruning"
        assert [e.record for e in store.audit_records("wallet-0")] == [b"r6", b"r8"]

    # --- locks --------------------------------------------------------------------------

    def test_lock_excludes_another_thread(self, store: Store) -> None:
        with store.lock("wallet-1"):
            contender = _Contender(store, "wallet-1")
            assert not contender.entered.wait(BLOCKED_WAIT), "two holders of one wallet's lock"
        contender.assert_entered()

    def test_lock_is_per_wallet(self, store: Store) -> None:
        with store.lock("wallet-1"):
            _Contender(store, "wallet-2").assert_entered()

    def test_lock_is_released_when_the_block_raises(self, store: Store) -> None:
        with pytest.raises(_Raised), store.lock("wallet-1"):
            raise _Raised
        _Contender(store, "wallet-1").assert_entered()

    def test_same_url_shares_wallets_audit_and_locks(self, store: Store) -> None:
        store.save("wallet-1", b"document one")
        store.append_audit(b"record one", wallet_id="wallet-1", at=AUDIT_TIME)
        other = type(store)(store.url)
        try:
            assert other.load("wallet-1") == b"document one"
            assert [e.record for e in other.audit_records("wallet-1")] == [b"record one"]
            other.append_audit(b"record two", wallet_id="wallet-1", at=AUDIT_TIME)
            assert [e.record for e in store.audit_records("wallet-1")] == [
                b"record one",
                b"record two",
            ]
            other.save("wallet-2", b"document two")
            assert store.load("wallet-2") == b"document two"
            assert list(store.wallets()) == ["wallet-1", "wallet-2"]
            with store.lock("wallet-1"):
                contender = _Contender(other, "wallet-1")
                assert not contender.entered.wait(BLOCKED_WAIT), "two holders of one lock"
            contender.assert_entered()
        finally:
            other.close()

    # --- life cycle and secrets ---------------------------------------------------------

    def test_close_is_idempotent(self, store_factory: StoreFactory) -> None:
        store = store_factory()
        store.save("wallet-1", b"document")
        store.close()
        store.close()

    def test_repr_holds_no_secret(self, store: Store) -> None:
        document = os.urandom(32)
        record = os.urandom(32)
        store.save("wallet-1", document)
        store.append_audit(record, wallet_id="wallet-1", at=AUDIT_TIME)
        shown = f"{store!r}\n{store}"
        secrets: list[bytes | str] = [document, record, *self.url_secrets]
        for secret in secrets:
            for form in secret_forms(secret):
                assert form not in shown, "a document, audit record or URL secret is in repr()"


class _Raised(Exception):
    """Raised inside a lock's or an operation's block by the kit."""


def _save_then_raise(store: Store, wallet_id: str, document: bytes) -> None:
    with store.operation():
        store.save(wallet_id, document)
        raise _Raised


class _Contender:
    """A thread that takes one wallet's lock, saves under it and leaves; started at once."""

    def __init__(self, store: Store, wallet_id: str) -> None:
        self.entered = threading.Event()
        self.error: BaseException | None = None
        self._store, self._wallet_id = store, wallet_id
        # Daemon: a store whose lock never comes back must fail the check, not hang the run.
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._store.lock(self._wallet_id):
                self.entered.set()
                self._store.save(self._wallet_id, b"saved by the contender")
        except BaseException as exc:  # reported by assert_entered, in the test's thread
            self.error = exc

    def assert_entered(self) -> None:
        self._thread.join(DONE_WAIT)
        assert self.error is None, f"taking the lock in another thread failed: {self.error!r}"
        assert not self._thread.is_alive(), f"the lock was not free within {DONE_WAIT:g} s"
        assert self.entered.is_set()


__all__ = ["AUDIT_TIME", "StoreConformance", "StoreFactory"]
