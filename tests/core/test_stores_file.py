"""What only the file store does: its layout, damaged files, leftovers, the framed audit log."""

from __future__ import annotations

import hashlib
import secrets
import struct
import zlib
from collections.abc import Iterator
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


def frame(record: bytes) -> bytes:
    return struct.pack(">II", len(record), zlib.crc32(record)) + record


def test_wallet_file_layout(store: FileStore, directory: Path) -> None:
    store.save("wallet-é", b"doc\nument")
    assert wallet_file(directory, "wallet-é").read_bytes() == (
        b'{"length":9,"wallet_id":"wallet-\\u00e9"}\ndoc\nument'
    )


def test_audit_log_layout(store: FileStore, directory: Path) -> None:
    store.append_audit(b"one")
    store.append_audit(b'{"two":2}')
    assert (directory / "audit.log").read_bytes() == frame(b"one") + frame(b'{"two":2}')


@pytest.mark.parametrize("content", [b"99\n", b"2\n"])
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
    assert (directory / "FORMAT").read_bytes() == b"1\n"
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
    """What a process killed mid-save leaves behind."""

    @pytest.fixture
    def leftovers(self, store: FileStore, directory: Path) -> list[Path]:
        store.save("w", b"saved")
        store.save("v", b"other")
        made = []
        for wallet_id in ("w", "v"):
            name = hashlib.sha256(wallet_id.encode()).hexdigest()
            path = directory / f"{name}.{secrets.token_hex(8)}.tmp"
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


def test_replaced_document_leaves_no_trace(store: FileStore, directory: Path) -> None:
    marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
    store.save("w", marker * 100)

    def on_disk() -> bytes:
        return b"".join(path.read_bytes() for path in sorted(directory.iterdir()))

    assert marker in on_disk()
    store.save("w", b"new")
    assert marker not in on_disk()


def test_closed_store_refuses_locks(store: FileStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"), store.lock("w"):
        pass


class TestTornAuditTail:
    """A record cut short by a killed writer is ignored, and cut off before the next append."""

    @pytest.fixture
    def log(self, store: FileStore, directory: Path) -> Path:
        for record in (b"one", b"two", b"three"):
            store.append_audit(record)
        return directory / "audit.log"

    @pytest.mark.parametrize(
        "torn",
        [
            pytest.param(frame(b"four")[:3], id="part-of-header"),
            pytest.param(frame(b"four")[:8], id="header-only"),
            pytest.param(frame(b"four")[:10], id="part-of-record"),
            pytest.param(frame(b"four")[:-1] + b"X", id="bad-checksum"),
        ],
    )
    def test_tolerated(self, store: FileStore, log: Path, torn: bytes) -> None:
        whole = log.read_bytes()
        log.write_bytes(whole + torn)
        assert list(store.audit_records()) == [b"one", b"two", b"three"]
        store.append_audit(b"five")
        assert list(store.audit_records()) == [b"one", b"two", b"three", b"five"]
        assert log.read_bytes() == whole + frame(b"five")

    def test_tolerated_by_another_handle(self, directory: Path, log: Path) -> None:
        whole = log.read_bytes()
        log.write_bytes(whole + frame(b"four")[:10])
        other = FileStore(f"file://{directory}")
        try:
            other.append_audit(b"five")
        finally:
            other.close()
        assert log.read_bytes() == whole + frame(b"five")

    @pytest.mark.parametrize(
        "damage",
        [
            pytest.param(lambda data: data[:9] + b"X" + data[10:], id="bad-checksum"),
            pytest.param(lambda data: b"\xff" + data[1:], id="bad-length"),
            pytest.param(lambda data: struct.pack(">II", 0, 0) + data, id="empty-frame"),
        ],
    )
    def test_damage_before_the_tail_refused(
        self, directory: Path, log: Path, damage: object
    ) -> None:
        assert callable(damage)
        damaged = damage(log.read_bytes())
        log.write_bytes(damaged)
        store = FileStore(f"file://{directory}")  # a handle that has not seen the log yet
        try:
            with pytest.raises(StorageError, match=rf"{log} is damaged.*at byte 0"):
                list(store.audit_records())
            with pytest.raises(StorageError, match=rf"{log} is damaged.*at byte 0"):
                store.append_audit(b"four")
        finally:
            store.close()
        assert log.read_bytes() == damaged


@pytest.mark.parametrize("size", [0, (1 << 20) + 1])
def test_audit_record_size_limits(store: FileStore, size: int) -> None:
    with pytest.raises(StorageError, match="audit record"):
        store.append_audit(b"x" * size)


def test_audit_log_read_while_appending(store: FileStore) -> None:
    store.append_audit(b"one")
    records = store.audit_records()
    assert next(records) == b"one"
    store.append_audit(b"two")
    assert list(store.audit_records()) == [b"one", b"two"]
    assert list(records) == []  # a listing ends where the log ended when it began
