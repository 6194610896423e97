"""The PostgreSQL store: wallet documents and the audit log in one database, shared by machines.

``postgresql://USER:PASSWORD@HOST:PORT/DATABASE?namespace=NAME&pool_size=N`` (``postgres://``
too; see :mod:`walletbackup_postgres.urls`). The tables of a namespace (see
:mod:`walletbackup_postgres.schema`) are created the first time a store opens it, under an
advisory lock, so two processes opening a new namespace at once do not trip over each other.

Connections come from a ``psycopg_pool`` pool (``pool_size`` of them at most) that checks each
connection before handing it out: after a server restart, the requests in flight fail with
:class:`StorageError`, and the next ones get new connections. The check costs no round trip for
a live connection (see :func:`_check`).

**Locks.** :meth:`PostgresStore.lock` takes a transaction-level advisory lock
(``pg_advisory_xact_lock``) on a 64-bit hash of the namespace and the wallet id, on a pooled
connection held for the block, so it excludes threads, processes and machines alike. It waits at
most ``timeout`` seconds (``lock_timeout``). The lock ends with the transaction: at the end of
the block, or when the holder's session ends, which PostgreSQL notices when the holder's process
dies or its connection drops.

**Writes.** Each write is a transaction of its own, committed before it returns, and as durable
as the server's ``synchronous_commit`` makes commits (on by default); inside a
:meth:`~PostgresStore.lock` block, the reads and writes of the thread holding it run on the
lock's connection, in its transaction, and commit when the block ends (a failed commit raises
out of the block): the check of a wallet's revision and its write commit together, and a lock
holder never waits for a second connection of the pool. :meth:`~PostgresStore.save`
is one upsert. Audit records are appended under a namespace-wide advisory lock held until the
commit, so records commit in ``seq`` order and a reader paging with ``after=`` never passes a
record that commits later. :meth:`~PostgresStore.sync` has nothing left to do.

**The scrub: what PostgreSQL keeps.** A replaced document is updated in place and a deleted
one removed, so no SQL query (by any role, any ``SELECT``) sees an old document after the write
commits. PostgreSQL is a multi-version database, though: the old row version stays in the
table's (and its TOAST table's) data files as a *dead tuple* until ``VACUUM`` (or autovacuum)
reclaims its space, and even then its bytes may remain until the page is overwritten; the
write-ahead log (WAL), WAL archives, replicas and base backups hold it as long as they are
kept. ``sync()`` runs no ``VACUUM`` (it cannot run inside a transaction, takes time in
proportion to the table, and would still leave the WAL). Someone who can read the server's
files can find old documents; keep the data directory, WAL archives and backups as protected as
the database itself. The documents are envelopes: an old one opens only with its old method
secrets.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from walletbackup.errors import StorageError
from walletbackup.stores.base import AuditEntry, Store, check_paging, paged, prefix_range, utc
from walletbackup.stores.locking import timeout_error, wallet_key

from .errors import translated
from .schema import SCHEMA_VERSION, Statements, advisory_key
from .urls import parse

if TYPE_CHECKING:
    # psycopg is imported when a store opens, not with the plugins that every command loads.
    import psycopg
    from psycopg import sql
    from psycopg_pool import ConnectionPool

_MAX_SEQ = 2**63 - 1
# What every connection sets: writes commit one statement (or one explicit transaction) at a
# time, and text goes both ways as UTF-8 whatever the server's default.
_CONNECTION: dict[str, Any] = {"autocommit": True, "client_encoding": "UTF8"}


class PostgresStore(Store):
    """``postgresql://...`` (or ``postgres://...``): see the module docstring."""

    scheme = "postgresql"
    schema_version = SCHEMA_VERSION

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        super().__init__(url)
        self._url = parse(url)
        timeout = self._url.timeout or timeout  # the URL's word wins: operators set it there
        self._timeout = timeout
        self._sql = Statements(self._url.namespace)
        self._audit_key = advisory_key("audit", self._url.namespace)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        # The connection of the wallet lock this thread holds, if any (see _connection).
        self._held = threading.local()
        import psycopg  # noqa: PLC0415 - see TYPE_CHECKING above
        from psycopg_pool import ConnectionPool  # noqa: PLC0415 - see TYPE_CHECKING above

        # The schema on a connection of its own: a wrong password or host fails here, at once,
        # with the server's reason (a pool would retry in the background until its timeout).
        with translated(self._url, timeout):
            with psycopg.connect(
                self._url.conninfo, connect_timeout=max(1, round(timeout)), **_CONNECTION
            ) as conn:
                self._prepare(conn)
            self._pool = ConnectionPool(
                self._url.conninfo,
                kwargs=dict(_CONNECTION),
                min_size=1,
                max_size=self._url.pool_size,
                timeout=timeout,
                check=_check,
                name=f"walletbackup-{self._url.namespace}",
                open=False,
            )
            self._pool.open(wait=False)

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Create the namespace's tables when missing; refuse a newer schema."""
        if conn.execute("SELECT to_regclass(%s)", (self._sql.meta_table,)).fetchone() == (None,):
            with conn.transaction():
                # DDL of two processes at once: IF NOT EXISTS alone can still collide.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._ddl_key,))
                for statement in self._sql.create:
                    conn.execute(statement)
        row = conn.execute(self._sql.schema_version).fetchone()
        version = int(row[0]) if row is not None else 0
        if version > self.schema_version:
            raise StorageError(
                f"PostgreSQL store {self._url.shown} has schema version {version}, newer than "
                f"the {self.schema_version} this walletbackup-postgres understands: upgrade it"
            )
        if version < 1:
            raise StorageError(
                f"PostgreSQL store {self._url.shown}: the table {self._sql.meta_table} holds no "
                "schema version; it belongs to another program: choose another namespace"
            )

    @property
    def _ddl_key(self) -> int:
        return advisory_key("schema", self._url.namespace)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._url.shown!r}>"

    @property
    def location(self) -> str | None:
        return self._url.shown

    # --- connections ---------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        pool = self._pool
        if pool is None:
            raise StorageError(f"the PostgreSQL store {self._url.shown} is closed")
        held: psycopg.Connection[Any] | None = getattr(self._held, "conn", None)
        if held is not None:
            # Inside this thread's wallet lock: its connection and transaction. A second
            # connection per lock holder would starve the pool (every holder waiting for one),
            # and the check of a revision and the write then commit together.
            with translated(self._url, self._timeout):
                yield held
            return
        with translated(self._url, self._timeout), pool.connection() as conn:
            yield conn

    # --- documents -----------------------------------------------------------------------

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        wallet_key(wallet_id)
        return self._locked(wallet_id)

    @contextmanager
    def _locked(self, wallet_id: str) -> Iterator[None]:
        import psycopg.errors  # noqa: PLC0415 - see TYPE_CHECKING above

        key = advisory_key("wallet", self._url.namespace, wallet_id)
        outer = getattr(self._held, "conn", None) is None
        with self._connection() as conn, conn.transaction():
            try:
                # One round trip: the select list runs left to right, so the transaction's
                # lock_timeout is set before the lock waits.
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true), pg_advisory_xact_lock(%s)",
                    (f"{max(1, round(self._timeout * 1000))}ms", key),
                )
            except psycopg.errors.LockNotAvailable:
                raise timeout_error(f"wallet {wallet_id!r}", self._timeout, self) from None
            if outer:
                self._held.conn = conn
            try:
                yield
            finally:
                if outer:
                    self._held.conn = None

    def load(self, wallet_id: str) -> bytes | None:
        wallet_key(wallet_id)
        with self._connection() as conn:
            row = conn.execute(self._sql.load, (wallet_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def save(self, wallet_id: str, document: bytes) -> None:
        wallet_key(wallet_id)
        with self._connection() as conn:
            conn.execute(self._sql.save, (wallet_id, bytes(document)))

    def delete(self, wallet_id: str) -> None:
        wallet_key(wallet_id)
        with self._connection() as conn:
            conn.execute(self._sql.delete, (wallet_id,))

    def wallets(self) -> Iterator[str]:
        return (row[0] for row in self._paged(self._sql.wallets_after, (), "", None))

    def wallets_with_prefix(self, prefix: str) -> Iterator[str]:
        bounds = prefix_range(prefix)
        if bounds is None:
            return super().wallets_with_prefix(prefix)
        rows = self._paged(self._sql.wallets_in_range_after, bounds, "", None)
        return (row[0] for row in rows)

    # --- audit ---------------------------------------------------------------------------

    def append_audit(self, record: bytes, *, wallet_id: str | None, at: datetime) -> int:
        if wallet_id is not None:
            wallet_key(wallet_id)
        values = (wallet_id, utc(at), bytes(record))
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._audit_key,))
            row = conn.execute(self._sql.append_audit, values).fetchone()
        assert row is not None  # INSERT ... RETURNING gives the row it inserted
        seq: int = row[0]
        return seq

    def audit_records(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        check_paging(after, limit)
        if wallet_id is None:
            rows = self._paged(self._sql.audit_after, (), after, limit)
        else:
            wallet_key(wallet_id)
            rows = self._paged(self._sql.audit_of_wallet_after, (wallet_id,), after, limit)
        return (
            AuditEntry(seq, at.astimezone(UTC), wallet, bytes(record))
            for seq, wallet, at, record in rows
        )

    def prune_audit(self, before: datetime, *, through: int | None = None) -> int:
        last = _MAX_SEQ if through is None else through
        with self._connection() as conn:
            removed: int = conn.execute(self._sql.prune_audit, (utc(before), last)).rowcount
        return removed

    def _paged(
        self, query: sql.Composed, args: tuple[Any, ...], after: Any, limit: int | None
    ) -> Iterator[Sequence[Any]]:
        """Rows of ``query``, its last two parameters the key to start after and the page size;
        a connection per page, so none is held while the caller consumes them."""

        def fetch(cursor: Any, size: int) -> list[Any]:
            with self._connection() as conn:
                return conn.execute(query, (*args, cursor, size)).fetchall()

        return paged(fetch, after, limit)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _check(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection it is about to hand out, in no round trip when alive.

    An idle connection (autocommit, no LISTEN) has nothing to read: a readable socket means the
    server closed it or said something unasked (a restart or a terminated backend sends its
    error, then closes). Only then does the check ask the server (an empty query); failing, the
    pool replaces the connection. A round trip per checkout would cost as much as the
    statement it carries.
    """
    if conn.closed or _readable(conn.fileno()):
        from psycopg_pool import ConnectionPool  # noqa: PLC0415 - see TYPE_CHECKING above

        ConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows: no poll, no fd over 1024 there


class PostgresAliasStore(PostgresStore):
    """``postgres://...``: the same store under the other scheme libpq accepts."""

    scheme = "postgres"


__all__ = ["PostgresAliasStore", "PostgresStore"]
