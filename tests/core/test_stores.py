"""The core stores beyond the conformance kit (test_store_conformance.py), and store URLs.

The kit checks the contract on one handle; these checks use several handles on one location,
lock time-outs, long listings and the URLs.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from walletbackup.errors import StorageError
from walletbackup.stores import (
    CORE_STORES,
    FileStore,
    MemoryStore,
    SqliteStore,
    Store,
    open_store,
)

Opener = Callable[..., Store]
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLASSES: dict[str, Callable[..., Store]] = {
    "sqlite": SqliteStore,
    "file": FileStore,
    "memory": MemoryStore,
}


@pytest.fixture(params=sorted(CLASSES))
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return {
        "sqlite": f"sqlite://{tmp_path / 'backups.db'}",
        "file": f"file://{tmp_path / 'store'}",
        "memory": f"memory:test-{secrets.token_hex(8)}",
    }[request.param]


@pytest.fixture
def opener(url: str) -> Iterator[Opener]:
    """Opens more stores on the same location (another handle, as another thread would)."""
    opened: list[Store] = []

    def open_(timeout: float = 30.0) -> Store:
        store = CLASSES[url.partition(":")[0]](url, timeout=timeout)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


class TestContract:
    def test_unicode_wallet_ids_sorted(self, store: Store) -> None:
        ids = ["b", "a", "Z", "é", "日本", "🦊", "a b", "line\nbreak", 'quote"', "x" * 2000]
        for number, wallet_id in enumerate(ids):
            store.save(wallet_id, b"doc %d" % number)
        assert list(store.wallets()) == sorted(ids)
        for number, wallet_id in enumerate(ids):
            assert store.load(wallet_id) == b"doc %d" % number

    def test_many_wallets_and_records_keep_order(self, store: Store) -> None:
        ids = [f"wallet-{n:05d}" for n in range(1100)]  # more than one page of a paged listing
        for wallet_id in reversed(ids):
            store.save(wallet_id, wallet_id.encode())
        records = [b'{"n":%d}' % n for n in range(1100)]
        for number, record in enumerate(records):
            store.append_audit(record, wallet_id=ids[number % 2], at=AT)
        assert list(store.wallets()) == ids
        assert [e.record for e in store.audit_records()] == records
        assert [e.record for e in store.audit_records(ids[1])] == records[1::2]

    def test_another_handle_sees_the_data(self, opener: Opener) -> None:
        first = opener()
        first.save("wallet-1", b"doc")
        first.append_audit(b"record", wallet_id="wallet-1", at=AT)
        second = opener()
        assert second.load("wallet-1") == b"doc"
        assert list(second.wallets()) == ["wallet-1"]
        assert [e.record for e in second.audit_records("wallet-1")] == [b"record"]
        second.append_audit(b"second", wallet_id="wallet-1", at=AT)
        first.append_audit(b"third", wallet_id="wallet-1", at=AT)
        entries = list(first.audit_records("wallet-1"))
        assert [e.record for e in entries] == [b"record", b"second", b"third"]
        assert [e.seq for e in entries] == sorted({e.seq for e in entries})

    @pytest.mark.parametrize("wallet_id", ["", "lone \ud800 surrogate"])
    def test_invalid_wallet_id(self, store: Store, wallet_id: str) -> None:
        with pytest.raises(StorageError, match="wallet id"):
            store.save(wallet_id, b"doc")

    def test_repr_shows_only_the_url(self, store: Store, url: str) -> None:
        store.save("secret-wallet", b"secret-document")
        assert repr(store) == f"<{type(store).__name__} {url!r}>"

    def test_lock_excludes_other_threads(self, opener: Opener) -> None:
        # Each thread has its own handle, as separate parts of an application would.
        opener().save("counter", b"0")
        rounds, threads = 100, 4

        def work() -> None:
            store = opener()
            for _ in range(rounds):
                with store.lock("counter"):
                    value = int(store.load("counter") or b"")
                    store.save("counter", b"%d" % (value + 1))

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not any(worker.is_alive() for worker in workers)
        assert opener().load("counter") == b"%d" % (rounds * threads)

    def test_lock_times_out_naming_the_wallet(self, opener: Opener) -> None:
        holder, waiter = opener(), opener(timeout=0.5)
        with (
            holder.lock("wallet-1"),
            pytest.raises(StorageError, match="wallet 'wallet-1'"),
            waiter.lock("wallet-1"),
        ):
            pass

    def test_lock_is_per_wallet(self, opener: Opener) -> None:
        holder, other = opener(), opener(timeout=0.5)
        with holder.lock("wallet-1"), other.lock("wallet-2"):
            other.save("wallet-2", b"doc")
        assert other.load("wallet-2") == b"doc"

    def test_lock_released_when_block_raises(self, opener: Opener) -> None:
        holder, waiter = opener(), opener(timeout=0.5)
        with pytest.raises(RuntimeError), holder.lock("wallet-1"):
            raise RuntimeError("boom")
        with waiter.lock("wallet-1"):
            pass


class TestUrls:
    def test_core_stores(self) -> None:
        assert dict(CORE_STORES) == {
            "sqlite": SqliteStore,
            "file": FileStore,
            "memory": MemoryStore,
        }

    def test_sqlite_absolute(self, tmp_path: Path) -> None:
        store = open_store(f"sqlite://{tmp_path / 'a.db'}")
        try:
            assert isinstance(store, SqliteStore)
            assert store.path == tmp_path / "a.db"
        finally:
            store.close()
        assert (tmp_path / "a.db").is_file()

    def test_sqlite_relative(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        store = open_store("sqlite:data/b.db")
        monkeypatch.chdir("/")
        try:
            assert isinstance(store, SqliteStore)
            assert store.path == tmp_path / "data" / "b.db"
            store.save("w", b"still in the directory of the URL after chdir")
        finally:
            store.close()
        assert (tmp_path / "data" / "b.db").is_file()

    def test_sqlite_default(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        store = open_store("sqlite:")
        try:
            assert isinstance(store, SqliteStore)
            assert store.path == tmp_path / "xdg" / "walletbackup" / "backups.db"
        finally:
            store.close()
        assert (tmp_path / "xdg" / "walletbackup").stat().st_mode & 0o777 == 0o700

    def test_scheme_is_case_insensitive(self, tmp_path: Path) -> None:
        store = open_store(f"SQLite://{tmp_path / 'a.db'}")
        store.close()
        assert isinstance(store, SqliteStore)

    def test_file_absolute(self, tmp_path: Path) -> None:
        store = open_store(f"file://{tmp_path / 'dir'}")
        store.close()
        assert isinstance(store, FileStore)
        assert store.path == tmp_path / "dir"
        assert (tmp_path / "dir" / "FORMAT").read_bytes() == b"2\n"

    def test_file_relative(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        store = open_store("file:some/dir")
        store.close()
        assert isinstance(store, FileStore)
        assert store.path == tmp_path / "some" / "dir"

    def test_memory_private(self) -> None:
        first, second = open_store("memory:"), open_store("memory:")
        first.save("w", b"doc")
        assert isinstance(second, MemoryStore)
        assert second.load("w") is None

    def test_memory_named_is_shared(self) -> None:
        name = f"memory:shared-{secrets.token_hex(8)}"
        open_store(name).save("w", b"doc")
        assert open_store(name).load("w") == b"doc"
        assert open_store(name + "-other").load("w") is None

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "backups.db",
            "/var/lib/backups.db",
            "1sqlite:x.db",
            "sqlite://",
            "sqlite://host/x.db",
            "sqlite:///",
            "sqlite:/",
            "sqlite:///x.db?mode=ro",
            "sqlite:x.db#frag",
            "file:",
            "file://",
            "file:///",
            "memory:a/b",
            "memory://x",
        ],
    )
    def test_malformed(self, bad: str) -> None:
        with pytest.raises(StorageError, match="malformed store URL"):
            open_store(bad)

    def test_unknown_scheme_lists_known_ones(self) -> None:
        # Not postgresql: walletbackup-postgres provides it (and adds to the list) when installed.
        with pytest.raises(StorageError, match=r"'mysql'.*known schemes: file, memory, .*sqlite"):
            open_store("mysql://db.example/walletbackup")


class TestUnusablePaths:
    @pytest.fixture(params=["sqlite", "file"])
    def scheme(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    def test_under_a_regular_file(self, scheme: str, tmp_path: Path) -> None:
        (tmp_path / "file.txt").write_text("not a directory")
        target = tmp_path / "file.txt" / "sub" / "store"
        with pytest.raises(StorageError, match=str(tmp_path / "file.txt")):
            open_store(f"{scheme}://{target}")

    def test_under_proc(self, scheme: str) -> None:
        with pytest.raises(StorageError, match="/proc/walletbackup-test"):
            open_store(f"{scheme}:///proc/walletbackup-test/store")

    def test_sqlite_path_is_a_directory(self, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match=str(tmp_path)):
            open_store(f"sqlite://{tmp_path}")

    def test_file_path_is_a_regular_file(self, tmp_path: Path) -> None:
        (tmp_path / "file.txt").write_text("not a directory")
        with pytest.raises(StorageError, match=str(tmp_path / "file.txt")):
            open_store(f"file://{tmp_path / 'file.txt'}")


class TestPermissions:
    @pytest.fixture(autouse=True)
    def open_umask(self) -> Iterator[None]:
        # With umask 0 a default mode would show: every mode below must be set explicitly.
        previous = os.umask(0)
        yield
        os.umask(previous)

    @staticmethod
    def mode(path: Path) -> int:
        return path.stat().st_mode & 0o777

    def test_sqlite(self, tmp_path: Path) -> None:
        store = SqliteStore(f"sqlite://{tmp_path / 'new' / 'b.db'}")
        try:
            store.save("w", b"doc")
            with store.lock("w"):
                pass
            assert self.mode(tmp_path / "new") == 0o700
            assert self.mode(tmp_path / "new" / "b.db") == 0o600
            assert self.mode(tmp_path / "new" / "b.db.lock") == 0o600
            for sidecar in ("b.db-wal", "b.db-shm"):
                assert self.mode(tmp_path / "new" / sidecar) == 0o600
        finally:
            store.close()

    def test_file(self, tmp_path: Path) -> None:
        store = FileStore(f"file://{tmp_path / 'new' / 'store'}")
        try:
            store.save("w", b"doc")
            store.append_audit(b"record", wallet_id="w", at=AT)
            with store.lock("w"):
                pass
        finally:
            store.close()
        directory = tmp_path / "new" / "store"
        made = sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*"))
        wallet = hashlib.sha256(b"w").hexdigest()
        assert made == sorted(
            [
                "FORMAT",
                "LOCK",
                "audit",
                "audit/0000000001.seg",
                "audit/CURRENT",
                "audit/wallets",
                f"audit/wallets/{wallet}.idx",
                f"{wallet}.wbdoc",
            ]
        )
        for path in [directory, *directory.rglob("*")]:
            assert self.mode(path) == (0o700 if path.is_dir() else 0o600), path
