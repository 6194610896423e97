"""What only the file store does: its layout, damaged files, leftovers, no listing on writes.

The audit log has its own tests (test_stores_filelog.py).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from walletbackup.errors import StorageError
from walletbackup.stores import FileStore


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(directory: Path) -> Iterator[FileStore]:
    store = FileStore(f"file://{directory}")
    yield store
    store.close()


def wallet_file(directory: Path, wallet_id: str) -> Path:
    return directory / (hashlib.sha256(wallet_id.encode()).hexdigest() + ".wbdoc")


AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_wallet_file_layout(store: FileStore, directory: Path) -> None:
    store.save("wallet-é", b"doc\nument")
    assert wallet_file(directory, "wallet-é").read_bytes() == (
        b'{"length":9,"wallet_id":"wallet-\\u00e9"}\ndoc\nument'
    )


@pytest.mark.parametrize("content", [b"99\n", b"3\n"])
def test_newer_format_refused(directory: Path, content: bytes) -> None:
    directory.mkdir()
    (directory / "FORMAT").write_bytes(content)
    version = content.decode().strip()
    with pytest.raises(StorageError, match=rf"{directory}.*format version {version}.*upgrade"):
        FileStore(f"file://{directory}")
    assert (directory / "FORMAT").read_bytes() == content


@pytest.mark.parametrize("content", [b"", b"one\n", b"1", b"0\n", b"1\n2\n"])
def test_damaged_format_refused(directory: Path, content: bytes) -> None:
    directory.mkdir()
    (directory / "FORMAT").write_bytes(content)
    with pytest.raises(StorageError, match=rf"{directory / 'FORMAT'} is damaged"):
        FileStore(f"file://{directory}")


def test_existing_directory_gets_a_format(directory: Path) -> None:
    directory.mkdir()
    (directory / "notes.txt").write_text("the operator's")
    FileStore(f"file://{directory}").close()
    assert (directory / "FORMAT").read_bytes() == b"2\n"
    assert (directory / "notes.txt").read_text() == "the operator's"


def test_foreign_files_ignored(store: FileStore, directory: Path) -> None:
    store.save("w", b"doc")
    (directory / "notes.txt").write_text("the operator's")
    (directory / "README.wbdoc").write_text("not named by a hash")
    assert list(store.wallets()) == ["w"]


class TestDamagedWalletFile:
    @pytest.fixture
    def path(self, store: FileStore, directory: Path) -> Path:
        store.save("w", b"the document")
        return wallet_file(directory, "w")

    @pytest.mark.parametrize(
        "damage",
        [
            pytest.param(lambda data: data[:-3], id="shortened"),
            pytest.param(lambda data: data + b"more", id="lengthened"),
            pytest.param(lambda data: data.replace(b"\n", b" ", 1), id="no-header-line"),
            pytest.param(lambda data: b"{not json}\n" + data, id="bad-json"),
            pytest.param(lambda data: b'{"wallet_id":"w"}\n' + data, id="no-length"),
            pytest.param(lambda data: b"[]\n" + data, id="not-an-object"),
            pytest.param(lambda data: b'{"length":1,"wallet_id":"\\ud800"}\nx', id="surrogate"),
        ],
    )
    def test_refused(self, store: FileStore, path: Path, damage: object) -> None:
        assert callable(damage)
        path.write_bytes(damage(path.read_bytes()))
        with pytest.raises(StorageError, match=rf"{path} is damaged"):
            store.load("w")
        with pytest.raises(StorageError, match=rf"{path} is damaged"):
            list(store.wallets())

    def test_file_of_another_wallet_refused(
        self, store: FileStore, directory: Path, path: Path
    ) -> None:
        store.save("x", b"the other document")
        wallet_file(directory, "x").replace(path)
        with pytest.raises(StorageError, match=rf"{path} is damaged.*does not belong"):
            store.load("w")


class TestLeftoverTempFiles:
    """What a process killed mid-save leaves behind: ``<sha256>.tmp``, one name per wallet."""

    @pytest.fixture
    def leftovers(self, store: FileStore, directory: Path) -> list[Path]:
        store.save("w", b"saved")
        store.save("v", b"other")
        made = []
        for wallet_id in ("w", "v"):
            path = directory / (hashlib.sha256(wallet_id.encode()).hexdigest() + ".tmp")
            path.write_bytes(b'{"length":4,"wallet_id":"' + wallet_id.encode() + b'"}\nhalf')
            made.append(path)
        return made

    def test_ignored_by_readers(self, store: FileStore, leftovers: list[Path]) -> None:
        assert list(store.wallets()) == ["v", "w"]
        assert store.load("w") == b"saved"
        assert all(path.exists() for path in leftovers)

    def test_removed_by_next_save(self, store: FileStore, leftovers: list[Path]) -> None:
        store.save("w", b"new")
        assert not leftovers[0].exists()
        assert leftovers[1].exists()  # another wallet's: its own next save removes it
        assert store.load("w") == b"new"

    def test_removed_by_delete(self, store: FileStore, leftovers: list[Path]) -> None:
        store.delete("w")
        assert not leftovers[0].exists()
        assert list(store.wallets()) == ["v"]

    def test_a_link_there_is_not_followed(
        self, store: FileStore, directory: Path, tmp_path: Path
    ) -> None:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_bytes(b"not the store's")
        (directory / (hashlib.sha256(b"w").hexdigest() + ".tmp")).symlink_to(elsewhere)
        store.save("w", b"new")
        assert elsewhere.read_bytes() == b"not the store's"
        assert store.load("w") == b"new"


def test_the_write_path_lists_no_directory(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves, deletes and appends cost the same in a directory of any size."""
    store.append_audit(b"first", wallet_id="w", at=AT)

    def listing(*args: object) -> object:
        raise AssertionError("a directory was listed")

    monkeypatch.setattr(os, "scandir", listing)
    monkeypatch.setattr(os, "listdir", listing)
    with store.lock("w"), store.operation():
        store.save("w", b"one")
        store.save("w", b"two")
        store.append_audit(b"record", wallet_id="w", at=AT)
    store.delete("w")
    store.append_audit(b"record", wallet_id=None, at=AT)


def test_replaced_document_leaves_no_trace(store: FileStore, directory: Path) -> None:
    marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
    store.save("w", marker * 100)

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())

    assert marker in on_disk()
    store.save("w", b"new")
    assert marker not in on_disk()


def test_closed_store_refuses_locks(store: FileStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"), store.lock("w"):
        pass


@pytest.mark.parametrize("size", [0, (1 << 20) + 1])
def test_audit_record_size_limits(store: FileStore, size: int) -> None:
    with pytest.raises(StorageError, match="audit record"):
        store.append_audit(b"x" * size, wallet_id="w", at=AT)


def test_audit_log_read_while_appending(store: FileStore) -> None:
    store.append_audit(b"one", wallet_id="w", at=AT)
    records = store.audit_records("w")
    assert next(records).record == b"one"
    store.append_audit(b"two", wallet_id="w", at=AT)
    assert [e.record for e in store.audit_records("w")] == [b"one", b"two"]
