"""The SQLite store (the default): every wallet's document and the audit log in one database file.

Schema 2 (``PRAGMA user_version``)::

    documents(wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL, updated_at TEXT NOT NULL)
    audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, wallet_id TEXT, at TEXT NOT NULL,
          record BLOB NOT NULL)
    INDEX audit_by_wallet ON audit (wallet_id, seq), INDEX audit_by_time ON audit (at)

``at`` is ISO 8601 UTC with microseconds (fixed width, so text order is time order). A schema-1
database (an audit table of ``seq`` and ``record`` only) is upgraded when a writable store opens
it; a read-only one is read as it is. A new database is published whole (0600; SQLite gives
its ``-wal`` and ``-shm`` files the same mode): its schema is built in memory and the file
appears with it, never empty, so an empty file at the path is a damaged store (or another
program's) and is refused. Wallet locks live in ``<database>.lock``.

Writes and the scrub: WAL mode with ``secure_delete`` (the space a replaced or deleted row
leaves is zeroed). Each write is a short transaction of its own, committed without an fsync
(``synchronous=NORMAL``); what makes writes durable, and rids the files of what they replaced,
is :meth:`SqliteStore.sync`: an fsync of the WAL (all ``synchronous=FULL`` would have done at
commit), then, when a document was replaced or deleted, a TRUNCATE checkpoint (the WAL copied
into the database, the database fsynced, the WAL emptied). Outside an operation every write
syncs before it returns; inside one, the custodian syncs once the revision is made current and
the operation ends (:mod:`walletbackup.stores.base`). When another connection is mid-read the
checkpoint gives up after a second, and the scrub is done by the next sync (or the last
connection closing). Write transactions and checkpoints of all processes take turns on a
writer lock in ``<database>.lock``, which hands over within a fraction of a millisecond where
SQLite's own busy handler would sleep 1, 2, 5, 10... ms between tries.

A database this user cannot write (the file or its directory is not writable: a copy on
read-only media) opens read-only: ``mode=ro``, or ``immutable=1`` when no other connection is
open (no ``-wal`` content and no ``-shm``), since a read-only directory cannot hold the
``-shm`` file SQLite would otherwise make.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from walletbackup import files
from walletbackup.errors import StorageError
from walletbackup.stores.base import (
    AuditEntry,
    Store,
    check_paging,
    paged,
    prefix_range,
    read_only_error,
    utc,
)
from walletbackup.stores.locking import LockFile, wallet_key
from walletbackup.stores.urls import local_path, make_private_dir, split_url

if TYPE_CHECKING:
    import sqlite3

_AUDIT_TABLE = (
    "CREATE TABLE {name} (seq INTEGER PRIMARY KEY AUTOINCREMENT, wallet_id TEXT,"
    " at TEXT NOT NULL, record BLOB NOT NULL)"
)
_AUDIT_INDEXES = (
    "CREATE INDEX audit_by_wallet ON audit (wallet_id, seq)",
    "CREATE INDEX audit_by_time ON audit (at)",
)
# A new database, made at the current schema version.
_SCHEMA = (
    "CREATE TABLE documents (wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL,"
    " updated_at TEXT NOT NULL)",
    _AUDIT_TABLE.format(name="audit"),
    *_AUDIT_INDEXES,
)
# _UPGRADES[n - 1] takes a database from schema version n to n + 1. 1 -> 2: the audit table
# gains the wallet and the time of each record (read from the record), and indexes on both.
_UPGRADES: tuple[tuple[str, ...], ...] = (
    (
        _AUDIT_TABLE.format(name="audit_2"),
        "INSERT INTO audit_2 (seq, wallet_id, at, record) SELECT seq,"
        " walletbackup_field(record, 'wallet_id'), walletbackup_at(record), record"
        " FROM audit ORDER BY seq",
        "DROP TABLE audit",
        "ALTER TABLE audit_2 RENAME TO audit",
        *_AUDIT_INDEXES,
    ),
)

_CHECKPOINT_WAIT_MS = 1000
_MMAP_BYTES = 256 << 20
_CACHE_KIB = 16 << 10
# The writer lock (see the module docstring): a key in the lock file no wallet id hashes from
# (0xFF never occurs in UTF-8).
_WRITER_KEY = hashlib.sha256(b"\xffsqlite writer").digest()
#: What a record's time becomes when it has none (an upgraded record without ``at``): the
#: earliest time there is, so any prune takes it.
_NO_TIME = datetime.min.replace(tzinfo=UTC)

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
_READ_ONLY_ADVICE = (
    "a read-only copy of the database needs its -wal and -shm files beside it, or neither "
    "(copy it while no walletbackup process has it open); or copy it to a writable place"
)


def _new_database() -> bytes:
    """The bytes of a database at the current schema version, built in memory."""
    import sqlite3  # noqa: PLC0415 - see _ADVICE

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {1 + len(_UPGRADES):d}")
        return conn.serialize()
    finally:
        conn.close()


def default_database() -> Path:
    """``backups.db`` in the user data directory, which is created 0700 if missing."""
    import platformdirs  # noqa: PLC0415 - see _ADVICE

    directory = Path(platformdirs.user_data_dir("walletbackup", appauthor=False))
    make_private_dir(directory)
    return directory / "backups.db"


def _at_text(at: datetime) -> str:
    return utc(at).isoformat(timespec="microseconds")


def _record_field(record: bytes, name: str) -> str | None:
    try:
        value = json.loads(record).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _record_at(record: bytes) -> str:
    """A schema-1 record's time, from its ``at`` field (:data:`_NO_TIME` without one)."""
    text = _record_field(record, "at")
    try:
        return _at_text(datetime.fromisoformat(text or ""))
    except (ValueError, StorageError):
        return _at_text(_NO_TIME)


class SqliteStore(Store):
    """``sqlite:`` (the default database), ``sqlite:///abs/path.db``, ``sqlite:rel/path.db``."""

    scheme = "sqlite"
    schema_version = 1 + len(_UPGRADES)

    def __init__(self, url: str = "sqlite:", *, timeout: float = 30.0) -> None:
        super().__init__(url)
        self._timeout = timeout
        if split_url(url)[1] == "":
            self.path = default_database()
        else:
            self.path = local_path(url)
            make_private_dir(self.path.parent)
        self._read_only = self.path.exists() and not (
            os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        )
        if not self._read_only:
            self._create_if_missing()
        self._refuse_empty()
        self._mutex = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._locks: LockFile | None = None
        #: writes not yet durable; a replaced or deleted row not yet scrubbed (both: _mutex)
        self._unsynced = self._unscrubbed = False
        #: the schema version of the file as opened (a read-only one is not upgraded)
        self._version = self.schema_version
        if self._read_only:
            self._conn = self._connect_read_only()
            return
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

    # --- connecting --------------------------------------------------------------------------

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
                # Durability comes from sync(): see the module docstring.
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA secure_delete = ON")
                self._tune(conn)
                self._wal = Path(conn.execute("PRAGMA database_list").fetchone()[2] + "-wal")
                self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        import sqlite3  # noqa: PLC0415 - see _ADVICE

        wal = Path(f"{self.path}-wal")
        shm = Path(f"{self.path}-shm")
        idle = not shm.exists() and (not wal.exists() or wal.stat().st_size == 0)
        query = "mode=ro&immutable=1" if idle else "mode=ro"
        uri = f"file:{urllib.parse.quote(str(self.path))}?{query}"
        try:
            with self._translated():
                conn = sqlite3.connect(
                    uri,
                    uri=True,
                    timeout=self._timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                try:
                    self._tune(conn)
                    self._version = self._refuse_newer(conn)
                    if self._version == 0:
                        raise StorageError(
                            f"{self.path} is read-only and holds no walletbackup store"
                        )
                except BaseException:
                    conn.close()
                    raise
        except StorageError as exc:
            if "unable to open" in str(exc):
                raise StorageError(f"{exc}; {_READ_ONLY_ADVICE}") from exc
            raise
        return conn

    @staticmethod
    def _tune(conn: sqlite3.Connection) -> None:
        # Reads through a memory map (no system call per page) and a larger page cache: a
        # lookup in a store of 100,000 wallets then costs little more than in one of 100.
        conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES:d}")
        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB:d}")

    def _refuse_newer(self, conn: sqlite3.Connection) -> int:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > self.schema_version:
            raise StorageError(
                f"SQLite database {self.path} has schema version {version}, newer than the "
                f"{self.schema_version} this walletbackup understands: upgrade walletbackup"
            )
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.create_function("walletbackup_field", 2, _record_field, deterministic=True)
        conn.create_function("walletbackup_at", 1, _record_at, deterministic=True)
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see it done
        try:
            version = self._refuse_newer(conn)
            if version == 0:
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise StorageError(
                        f"{self.path} is a SQLite database of some other program; "
                        "point the store at a new file"
                    )
                for statement in _SCHEMA:
                    conn.execute(statement)
            else:
                for upgrade in _UPGRADES[version - 1 :]:
                    for statement in upgrade:
                        conn.execute(statement)
            upgraded = version not in (0, self.schema_version)
            if version != self.schema_version:
                conn.execute(f"PRAGMA user_version = {self.schema_version:d}")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        if upgraded:
            self._unsynced = self._unscrubbed = True  # the old audit table's pages
            self._sync(conn)

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

    @contextmanager
    def _writing(self, what: str, *, scrub: bool = False) -> Iterator[sqlite3.Connection]:
        """One write: a short transaction, then a sync unless an operation is open."""
        if self._read_only:
            raise read_only_error(self, what)
        with self._db() as conn, self._writer():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            self._unsynced = True
        if not self.in_operation():
            self.sync()

    # --- durability and the scrub ------------------------------------------------------------

    def sync(self) -> None:
        if self._read_only:
            return
        with self._db() as conn:
            self._sync(conn)

    def _sync(self, conn: sqlite3.Connection) -> None:
        """See the module docstring; ``_mutex`` is held."""
        if self._unsynced:
            # Durable first, without the writer lock: the checkpoint, which holds it, then has
            # nothing left to flush from the WAL, and other processes wait less for it.
            self._fsync_wal()
            self._unsynced = False
        if self._unscrubbed and self._checkpoint(conn):
            self._unscrubbed = False

    def _fsync_wal(self) -> None:
        try:
            fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # the last connection closed: all is in the database
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            raise StorageError(
                f"cannot make the writes to {self.path} durable: {exc.strerror or exc}; "
                "check the disk"
            ) from exc
        finally:
            os.close(fd)

    def _checkpoint(self, conn: sqlite3.Connection) -> bool:
        """A TRUNCATE checkpoint; False when another connection kept it from completing."""
        with self._writer():
            conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS:d}")
            try:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000):d}")
        return not busy

    def _writer(self) -> AbstractContextManager[None]:
        assert self._locks is not None  # a writable store has its lock file
        return self._locks.hold(_WRITER_KEY, self._timeout, "the database's writer lock")

    # --- documents ---------------------------------------------------------------------------

    @property
    def location(self) -> str | None:
        return f"sqlite://{self.path}"

    @property
    def read_only(self) -> bool:
        return self._read_only

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        key = wallet_key(wallet_id)
        if self._locks is None:
            raise read_only_error(self, f"change wallet {wallet_id!r}")
        return self._locks.hold(key, self._timeout, f"wallet {wallet_id!r}")

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
        with self._writing("save a wallet document") as conn:
            values = (bytes(document), now, wallet_id)
            if conn.execute(
                "UPDATE documents SET document = ?, updated_at = ? WHERE wallet_id = ?", values
            ).rowcount:
                self._unscrubbed = True  # the previous document's bytes
            else:
                conn.execute(
                    "INSERT INTO documents (document, updated_at, wallet_id) VALUES (?, ?, ?)",
                    values,
                )

    def delete(self, wallet_id: str) -> None:
        wallet_key(wallet_id)
        with self._writing("delete a wallet document") as conn:
            if conn.execute("DELETE FROM documents WHERE wallet_id = ?", (wallet_id,)).rowcount:
                self._unscrubbed = True

    def wallets(self) -> Iterator[str]:
        rows = self._paged(
            "SELECT wallet_id, wallet_id FROM documents WHERE wallet_id > ?"
            " ORDER BY wallet_id LIMIT ?",
            (),
            "",
        )
        return (row[1] for row in rows)

    def wallets_with_prefix(self, prefix: str) -> Iterator[str]:
        bounds = prefix_range(prefix)
        if bounds is None:
            return super().wallets_with_prefix(prefix)
        rows = self._paged(
            "SELECT wallet_id FROM documents WHERE wallet_id >= ? AND wallet_id < ?"
            " AND wallet_id > ? ORDER BY wallet_id LIMIT ?",
            bounds,
            "",
        )
        return (row[0] for row in rows)

    # --- audit -------------------------------------------------------------------------------

    def append_audit(self, record: bytes, *, wallet_id: str | None, at: datetime) -> int:
        if wallet_id is not None:
            wallet_key(wallet_id)
        values = (wallet_id, _at_text(at), bytes(record))
        with self._writing("write an audit record") as conn:
            seq = conn.execute(
                "INSERT INTO audit (wallet_id, at, record) VALUES (?, ?, ?)", values
            ).lastrowid
        assert seq is not None  # an INSERT into a rowid table always gives one
        return seq

    def audit_records(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        check_paging(after, limit)
        if self._version < 2:
            return self._legacy_audit(wallet_id, after, limit)
        args: tuple[str, ...] = ()
        if wallet_id is None:
            query = "SELECT seq, wallet_id, at, record FROM audit WHERE seq > ?"
        else:
            query = "SELECT seq, wallet_id, at, record FROM audit WHERE wallet_id = ? AND seq > ?"
            args = (wallet_id,)
        rows = self._paged(query + " ORDER BY seq LIMIT ?", args, after, limit)
        return (
            AuditEntry(seq, datetime.fromisoformat(at), wallet, bytes(record))
            for seq, wallet, at, record in rows
        )

    def _legacy_audit(
        self, wallet_id: str | None, after: int, limit: int | None
    ) -> Iterator[AuditEntry]:
        """Schema 1 (read-only, not upgraded): the wallet and time are read from each record."""
        rows = self._paged(
            "SELECT seq, record FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (), after
        )
        found = 0
        for seq, record in rows:
            if limit is not None and found >= limit:
                return
            owner = _record_field(record, "wallet_id")
            if wallet_id is None or owner == wallet_id:
                found += 1
                at = datetime.fromisoformat(_record_at(record))
                yield AuditEntry(seq, at, owner, bytes(record))

    def prune_audit(self, before: datetime, *, through: int | None = None) -> int:
        query = "DELETE FROM audit WHERE at < ?"
        args: list[object] = [_at_text(before)]
        if through is not None:
            query, args = query + " AND seq <= ?", [*args, through]
        with self._writing("prune the audit log") as conn:
            removed: int = conn.execute(query, args).rowcount
            if removed:
                self._unscrubbed = True  # pruned records leave no copy either
        return removed

    def _paged(
        self, query: str, args: tuple[Any, ...], after: Any, limit: int | None = None
    ) -> Iterator[Sequence[Any]]:
        """Rows of ``query``, its last two parameters the key to start after and the page size."""

        def fetch(cursor: Any, size: int) -> list[Any]:
            with self._db() as conn:
                return conn.execute(query, (*args, cursor, size)).fetchall()

        return paged(fetch, after, limit)

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            try:
                if conn is not None and not self._read_only:
                    with self._translated():
                        self._sync(conn)
            finally:
                if conn is not None:
                    conn.close()
        if self._locks is not None:
            self._locks.close()


__all__ = ["SqliteStore", "default_database"]
