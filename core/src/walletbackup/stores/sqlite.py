"""The SQLite store (the default): every wallet's document in one database file.

Tables ``documents(wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL, updated_at TEXT NOT NULL)``
and ``audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL)``; the schema version is
``PRAGMA user_version``. A new database is published whole (0600; SQLite gives its ``-wal`` and
``-shm`` files the same mode): its schema is built in memory and the file appears with it, never
empty, so an empty file at the path is a damaged store (or another program's) and is refused.
WAL with ``synchronous=FULL`` makes each commit durable; ``secure_delete`` zeroes the space a
replaced or deleted document leaves, and a TRUNCATE checkpoint after each replace or delete
empties the WAL, so an envelope replaced after a password change is gone from both files (when
another connection is mid-read the checkpoint gives up after a second, and the next one, or the
last connection closing, finishes the job). A commit still in the WAL is part of the database:
a copy of the store without its ``-wal`` file can lose confirmed changes (docs/security.md).
Wallet locks live in ``<database>.lock``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from walletbackup import files
from walletbackup.errors import StorageError
from walletbackup.stores.base import Store
from walletbackup.stores.locking import LockFile, wallet_key
from walletbackup.stores.urls import local_path, make_private_dir, split_url

if TYPE_CHECKING:
    import sqlite3

# _MIGRATIONS[n] takes a database from schema version n to n + 1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE documents (wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL,"
        " updated_at TEXT NOT NULL)",
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL)",
    ),
)

_PAGE = 500
_CHECKPOINT_WAIT_MS = 1000

# What to do about an error, by the name of its SQLite primary result code (sqlite3 is imported
# when a store opens, not with the plugins that every command loads).
_ADVICE = {
    "SQLITE_CORRUPT": "the database is damaged: restore it from a backup or move it aside",
    "SQLITE_NOTADB": "this is not a SQLite database: point the store at another path",
    "SQLITE_BUSY": "another process kept the database busy: retry later",
    "SQLITE_LOCKED": "another process kept the database busy: retry later",
    "SQLITE_READONLY": "check that this user can write the file and its directory",
    "SQLITE_CANTOPEN": "check that this user can write the file and its directory",
    "SQLITE_PERM": "check that this user can write the file and its directory",
    "SQLITE_IOERR": "check the disk (space, errors) and the file's permissions",
    "SQLITE_FULL": "the disk is full: free some space and retry",
}


def _new_database() -> bytes:
    """The bytes of a database at the current schema version, built in memory."""
    import sqlite3  # noqa: PLC0415 - see _ADVICE

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statements in _MIGRATIONS:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(_MIGRATIONS):d}")
        return conn.serialize()
    finally:
        conn.close()


def default_database() -> Path:
    """``backups.db`` in the user data directory, which is created 0700 if missing."""
    import platformdirs  # noqa: PLC0415 - see _ADVICE

    directory = Path(platformdirs.user_data_dir("walletbackup", appauthor=False))
    make_private_dir(directory)
    return directory / "backups.db"


class SqliteStore(Store):
    """``sqlite:`` (the default database), ``sqlite:///abs/path.db``, ``sqlite:rel/path.db``."""

    scheme = "sqlite"
    schema_version = len(_MIGRATIONS)

    def __init__(self, url: str = "sqlite:", *, timeout: float = 30.0) -> None:
        super().__init__(url)
        self._timeout = timeout
        if split_url(url)[1] == "":
            self.path = default_database()
        else:
            self.path = local_path(url)
            make_private_dir(self.path.parent)
        self._create_if_missing()
        self._refuse_empty()
        self._mutex = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._locks = LockFile(self.path.with_name(self.path.name + ".lock"))
        try:
            self._conn = self._connect()
        except BaseException:
            self._locks.close()
            raise

    def _create_if_missing(self) -> None:
        """Publish a new database, schema and all, where there is no file yet."""
        if os.path.lexists(self.path):
            return
        try:
            files.write_private(self.path, _new_database(), replace=False)
        except FileExistsError:
            return  # another process published its own a moment ago: that one is used
        except OSError as exc:
            raise StorageError(
                f"cannot create the SQLite database {self.path}: {exc.strerror or exc}; "
                "choose a location this user can write to"
            ) from exc

    def _refuse_empty(self) -> None:
        """An empty file is no store walletbackup made: SQLite would take it for a new one."""
        try:
            empty = self.path.stat().st_size == 0
        except OSError as exc:
            raise StorageError(
                f"cannot read the SQLite database {self.path}: {exc.strerror or exc}"
            ) from exc
        if empty:
            raise StorageError(
                f"SQLite database {self.path} is an empty file (0 bytes), not a walletbackup "
                "store: it is damaged (restore it from a backup) or was made by another program "
                "(move it aside); walletbackup creates a new store only where no file exists"
            )

    def _connect(self) -> sqlite3.Connection:
        import sqlite3  # noqa: PLC0415 - see _ADVICE

        with self._translated():
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self._translated():
                self._refuse_newer(conn)  # before anything writes to the file
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    raise StorageError(
                        f"SQLite database {self.path} cannot use WAL mode (it reports {mode!r}); "
                        "keep it on a local file system"
                    )
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA secure_delete = ON")
                self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _refuse_newer(self, conn: sqlite3.Connection) -> int:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > self.schema_version:
            raise StorageError(
                f"SQLite database {self.path} has schema version {version}, newer than the "
                f"{self.schema_version} this walletbackup understands: upgrade walletbackup"
            )
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see it done
        try:
            version = self._refuse_newer(conn)
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise StorageError(
                    f"{self.path} is a SQLite database of some other program; "
                    "point the store at a new file"
                )
            for target in range(version + 1, self.schema_version + 1):
                for statement in _MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target:d}")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import sqlite3  # noqa: PLC0415 - see _ADVICE

        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            advice = next(
                (text for name, text in _ADVICE.items() if getattr(sqlite3, name) == code),
                "see the SQLite message",
            )
            raise StorageError(f"SQLite database {self.path}: {exc}; {advice}") from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, self._translated():
            if self._conn is None:
                raise StorageError(f"the store {self.url!r} is closed")
            yield self._conn

    def _scrub(self, conn: sqlite3.Connection) -> None:
        # Copies the WAL into the database and empties it, so no replaced page survives in it.
        conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS:d}")
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000):d}")

    @property
    def location(self) -> str | None:
        return f"sqlite://{self.path}"

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        return self._locks.hold(wallet_key(wallet_id), self._timeout, f"wallet {wallet_id!r}")

    def load(self, wallet_id: str) -> bytes | None:
        wallet_key(wallet_id)
        with self._db() as conn:
            row = conn.execute(
                "SELECT document FROM documents WHERE wallet_id = ?", (wallet_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def save(self, wallet_id: str, document: bytes) -> None:
        wallet_key(wallet_id)
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._db() as conn:
            conn.execute(
                "INSERT INTO documents (wallet_id, document, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (wallet_id) DO UPDATE"
                " SET document = excluded.document, updated_at = excluded.updated_at",
                (wallet_id, bytes(document), now),
            )
            self._scrub(conn)

    def delete(self, wallet_id: str) -> None:
        wallet_key(wallet_id)
        with self._db() as conn:
            if conn.execute("DELETE FROM documents WHERE wallet_id = ?", (wallet_id,)).rowcount:
                self._scrub(conn)

    def wallets(self) -> Iterator[str]:
        return self._paged(
            "SELECT wallet_id, wallet_id FROM documents WHERE wallet_id > ?"
            " ORDER BY wallet_id LIMIT ?",
            "",
        )

    def append_audit(self, record: bytes) -> None:
        with self._db() as conn:
            conn.execute("INSERT INTO audit (record) VALUES (?)", (bytes(record),))

    def audit_records(self) -> Iterator[bytes]:
        return (
            bytes(record)
            for record in self._paged(
                "SELECT seq, record FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", 0
            )
        )

    def _paged(self, query: str, after: object) -> Iterator[Any]:
        # Page by key so no lock or transaction is held while the caller consumes the rows.
        while True:
            with self._db() as conn:
                rows = conn.execute(query, (after, _PAGE)).fetchall()
            for _, value in rows:
                yield value
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._locks.close()


__all__ = ["SqliteStore", "default_database"]
