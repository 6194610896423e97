"""What only the SQLite store does: schema versions, damaged files, secure delete."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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


def layout(db: Path) -> dict[str, object]:
    tables = {
        table: [
            (row[1], row[2], row[3], row[5]) for row in query(db, f"PRAGMA table_info({table})")
        ]
        for table in ("documents", "audit")
    }
    indexes = query(
        db, "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    return {"tables": tables, "indexes": sorted(indexes)}


NEW_LAYOUT = {
    "tables": {
        "documents": [
            ("wallet_id", "TEXT", 0, 1),
            ("document", "BLOB", 1, 0),
            ("updated_at", "TEXT", 1, 0),
        ],
        "audit": [
            ("seq", "INTEGER", 0, 1),
            ("wallet_id", "TEXT", 0, 0),
            ("at", "TEXT", 1, 0),
            ("record", "BLOB", 1, 0),
        ],
    },
    "indexes": [
        ("audit_by_time", "CREATE INDEX audit_by_time ON audit (at)"),
        ("audit_by_wallet", "CREATE INDEX audit_by_wallet ON audit (wallet_id, seq)"),
    ],
}


def test_new_database_layout(store: SqliteStore, db: Path) -> None:
    assert SqliteStore.schema_version == 2
    assert query(db, "PRAGMA user_version") == [(2,)]
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    assert layout(db) == NEW_LAYOUT


def test_audit_columns(store: SqliteStore, db: Path) -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    store.append_audit(b"record", wallet_id="w", at=at)
    assert query(db, "SELECT seq, wallet_id, at, record FROM audit") == [
        (1, "w", "2026-03-01T10:00:00.000005+00:00", b"record")
    ]
    store.prune_audit(datetime(2026, 3, 1, 10, 0, 0, 6, tzinfo=UTC))
    assert query(db, "SELECT count(*) FROM audit") == [(0,)]


# The schema-1 layout, as the release before this one created it (stores/sqlite.py at main).
SCHEMA_1 = (
    "CREATE TABLE documents (wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL)",
    "PRAGMA user_version = 1",
)


def test_schema_1_is_upgraded(db: Path) -> None:
    conn = sqlite3.connect(db)
    for statement in SCHEMA_1:
        conn.execute(statement)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("INSERT INTO documents VALUES ('w', x'00ff', '2026-01-01T00:00:00+00:00')")
    records = [
        b'{"at":"2026-01-01T00:00:00+00:00","outcome":"ok","type":"backup","wallet_id":"w"}',
        b'{"at":"2026-01-02T00:00:00+00:00","outcome":"ok","type":"backup","wallet_id":"v"}',
        b"not json",
        b'{"outcome":"ok","type":"verify","wallet_id":"w"}',
    ]
    conn.executemany("INSERT INTO audit (record) VALUES (?)", [(r,) for r in records])
    conn.commit()
    conn.execute("DELETE FROM audit WHERE seq = 3")  # seqs with a gap, as pruning would leave
    conn.commit()
    conn.close()
    store = SqliteStore(f"sqlite://{db}")
    try:
        assert query(db, "PRAGMA user_version") == [(2,)]
        assert layout(db) == NEW_LAYOUT
        assert store.load("w") == b"\x00\xff"
        entries = list(store.audit_records())
        assert [(e.seq, e.wallet_id, e.record) for e in entries] == [
            (1, "w", records[0]),
            (2, "v", records[1]),
            (4, "w", records[3]),
        ]
        assert entries[1].at == datetime(2026, 1, 2, tzinfo=UTC)
        assert entries[2].at == datetime.min.replace(tzinfo=UTC)  # no time: any prune takes it
        assert [e.seq for e in store.audit_records("w")] == [1, 4]
        assert store.append_audit(b"new", wallet_id="w", at=datetime.now(UTC)) == 5
    finally:
        store.close()


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


class TestOneScrubPerOperation:
    """Inside an operation the scrub waits for the sync; then no old byte is left."""

    @pytest.fixture
    def checkpoints(self, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
        made: list[bool] = []
        real = SqliteStore._checkpoint

        def counted(self: SqliteStore, conn: sqlite3.Connection) -> bool:
            made.append(real(self, conn))
            return made[-1]

        monkeypatch.setattr(SqliteStore, "_checkpoint", counted)
        return made

    def test_once_at_the_end(self, store: SqliteStore, db: Path, checkpoints: list[bool]) -> None:
        marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
        store.save("w", TestSecureDelete.document(marker, 3000))
        checkpoints.clear()
        with store.lock("w"), store.operation():
            store.save("w", b"pending " * 400)
            store.save("w", b"current " * 400)
            store.append_audit(b"record", wallet_id="w", at=datetime.now(UTC))
            assert checkpoints == []
            assert marker in TestSecureDelete.on_disk(db)
        assert checkpoints == [True]
        assert marker not in TestSecureDelete.on_disk(db)
        assert db.with_name(db.name + "-wal").stat().st_size == 0

    def test_sync_inside_an_operation(
        self, store: SqliteStore, db: Path, checkpoints: list[bool]
    ) -> None:
        marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
        store.save("w", TestSecureDelete.document(marker, 3000))
        with store.operation():
            store.save("w", b"new")
            store.sync()
            assert marker not in TestSecureDelete.on_disk(db)
            store.append_audit(b"record", wallet_id="w", at=datetime.now(UTC))
        assert checkpoints == [True]  # the sync's: the first save was new, nothing to scrub

    def test_only_new_rows_need_no_scrub(
        self, store: SqliteStore, db: Path, checkpoints: list[bool], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        synced: list[str] = []
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        with store.operation():
            store.save("w", b"first document")
            store.append_audit(b"record", wallet_id="w", at=datetime.now(UTC))
            assert synced == []
        assert checkpoints == []
        assert synced == [str(db) + "-wal"]  # what synchronous=FULL would have synced

    def test_a_reader_delays_the_scrub_not_the_durability(
        self, store: SqliteStore, db: Path, checkpoints: list[bool]
    ) -> None:
        marker = b"OLD-ENVELOPE-" + secrets.token_hex(16).encode()
        store.save("w", TestSecureDelete.document(marker, 3000))
        reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM documents").fetchall()  # holds a snapshot
            store.save("w", b"new")
            assert checkpoints[-1] is False  # gave up after a second; the WAL was fsynced
            reader.execute("COMMIT")
        finally:
            reader.close()
        assert marker in TestSecureDelete.on_disk(db)
        store.append_audit(b"record", wallet_id="w", at=datetime.now(UTC))  # the next sync
        assert checkpoints[-1] is True
        assert marker not in TestSecureDelete.on_disk(db)


def test_threads_share_one_connection(store: SqliteStore) -> None:
    def work(n: int) -> None:
        for i in range(20):
            with store.lock(f"w{n}"), store.operation():
                store.save(f"w{n}", b"%d" % i)
                store.append_audit(b"%d" % i, wallet_id=f"w{n}", at=datetime.now(UTC))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [store.load(f"w{n}") for n in range(4)] == [b"19"] * 4
    assert len(list(store.audit_records())) == 80


def test_one_users_wallets_are_listed_from_the_index(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wallets_with_prefix searches the wallet id's index for the range: no scan of them all."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    store = SqliteStore(f"sqlite://{db}")
    try:
        for number in range(60):
            store.save(f"acme/user-{number % 6}/wallet-{number}", b"{}")
        statements.clear()
        listed = list(store.wallets_with_prefix("acme/user-3/"))
    finally:
        store.close()
    assert listed == sorted(f"acme/user-3/wallet-{n}" for n in range(3, 60, 6))
    (query,) = [s for s in statements if s.startswith("SELECT wallet_id FROM documents")]
    with connect(db) as raw:
        plan = " ".join(str(row[3]) for row in raw.execute("EXPLAIN QUERY PLAN " + query))
    assert plan.startswith("SEARCH documents USING"), plan
    assert "wallet_id>? AND wallet_id<?" in plan, plan
