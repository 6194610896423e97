"""What only the SQLite store does: schema versions, damaged files, secure delete."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from walletbackup.errors import StorageError
from walletbackup.stores import SqliteStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "backups.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(f"sqlite://{db}")
    yield store
    store.close()


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_new_database_layout(store: SqliteStore, db: Path) -> None:
    assert SqliteStore.schema_version == 1
    assert query(db, "PRAGMA user_version") == [(1,)]
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    columns = {
        table: [
            (row[1], row[2], row[3], row[5]) for row in query(db, f"PRAGMA table_info({table})")
        ]
        for table in ("documents", "audit")
    }
    assert columns == {
        "documents": [
            ("wallet_id", "TEXT", 0, 1),
            ("document", "BLOB", 1, 0),
            ("updated_at", "TEXT", 1, 0),
        ],
        "audit": [("seq", "INTEGER", 0, 1), ("record", "BLOB", 1, 0)],
    }


def test_save_records_when(store: SqliteStore, db: Path) -> None:
    store.save("w", b"doc")
    [(updated_at,)] = query(db, "SELECT updated_at FROM documents")
    assert isinstance(updated_at, str)
    assert updated_at.endswith("+00:00")


def test_newer_schema_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StorageError, match=rf"{db}.*schema version 99.*upgrade walletbackup"):
        SqliteStore(f"sqlite://{db}")
    assert db.read_bytes() == before


def test_garbage_file_refused(db: Path) -> None:
    garbage = os.urandom(8192)
    db.write_bytes(garbage)
    with pytest.raises(StorageError, match=rf"{db}.*not a database"):
        SqliteStore(f"sqlite://{db}")
    assert db.read_bytes() == garbage


def test_database_of_another_program_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.close()
    with pytest.raises(StorageError, match=rf"{db} is a SQLite database of some other program"):
        SqliteStore(f"sqlite://{db}")
    assert query(db, "SELECT name FROM sqlite_master") == [("contacts",)]
    assert query(db, "PRAGMA user_version") == [(0,)]


def test_an_empty_file_is_refused_as_damaged_and_left_alone(db: Path) -> None:
    db.write_bytes(b"")
    with pytest.raises(StorageError, match=rf"SQLite database {db} is an empty file") as caught:
        SqliteStore(f"sqlite://{db}")
    assert "restore it from a backup" in str(caught.value)
    assert "move it aside" in str(caught.value)
    assert db.read_bytes() == b""
    assert not db.with_name(db.name + "-wal").exists()


def test_a_new_database_appears_whole(db: Path) -> None:
    SqliteStore(f"sqlite://{db}").close()
    assert db.stat().st_size > 0
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert query(db, "PRAGMA user_version") == [(SqliteStore.schema_version,)]
    # Nothing left beside it but its lock file (the WAL is gone with the last connection).
    assert sorted(p.name for p in db.parent.iterdir()) == [db.name, db.name + ".lock"]


_OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from walletbackup.stores import SqliteStore
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
store = SqliteStore("sqlite://" + sys.argv[1])
store.save(sys.argv[3], b"document")
store.close()
"""


def test_processes_opening_a_new_store_at_once_all_succeed(db: Path, tmp_path: Path) -> None:
    # None of them may see another's database half made (or empty, which is refused).
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_WHEN_TOLD, str(db), str(go), f"w{i}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    go.touch()
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    assert query(db, "SELECT count(*) FROM documents") == [(6,)]


def test_closed_store_refuses_work(store: SqliteStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.load("w")
    with pytest.raises(StorageError, match="closed"), store.lock("w"):
        pass


class TestSecureDelete:
    """A replaced or deleted document leaves no byte in the database or its WAL."""

    @staticmethod
    def on_disk(db: Path) -> bytes:
        return b"".join(
            path.read_bytes() for path in (db, db.with_name(db.name + "-wal")) if path.exists()
        )

    @staticmethod
    def document(marker: bytes, size: int) -> bytes:
        # The marker at both ends: a large document spans several overflow pages.
        return marker + secrets.token_hex(size).encode()[: size - 2 * len(marker)] + marker

    @pytest.mark.parametrize("size", [3000, 64 * 1024])
    def test_replaced(self, store: SqliteStore, db: Path, size: int) -> None:
        marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
        store.save("other", b"x" * 5000)
        store.save("w", self.document(marker, size))
        assert marker in self.on_disk(db)
        # Shorter, so the old bytes are not simply overwritten in place.
        store.save("w", b"n" * (size // 3))
        store.save("other", b"y" * 5000)
        assert marker not in self.on_disk(db)
        assert store.load("w") == b"n" * (size // 3)

    @pytest.mark.parametrize("size", [3000, 64 * 1024])
    def test_deleted(self, store: SqliteStore, db: Path, size: int) -> None:
        marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
        store.save("w", self.document(marker, size))
        assert marker in self.on_disk(db)
        store.delete("w")
        assert marker not in self.on_disk(db)
