"""The tables of one namespace, and every statement the store runs on them.

Schema 1, for namespace ``NAME`` (default ``walletbackup``)::

    NAME_meta(key text PRIMARY KEY, value text NOT NULL)          -- schema_version = 1
    NAME_documents(wallet_id text COLLATE "C" PRIMARY KEY, document bytea NOT NULL,
                   updated_at timestamptz NOT NULL)
    NAME_audit(seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, wallet_id text COLLATE "C",
               at timestamptz NOT NULL, record bytea NOT NULL)
    INDEX NAME_audit_by_wallet ON NAME_audit (wallet_id, seq)
    INDEX NAME_audit_by_time ON NAME_audit (at)

Wallet ids use the ``C`` collation: byte order of UTF-8, which is code point order, so
``wallets()`` lists them as Python sorts them, whatever the database's locale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql

SCHEMA_VERSION = 1

_CREATE = (
    'CREATE TABLE IF NOT EXISTS {meta} (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)',
    'CREATE TABLE IF NOT EXISTS {documents} (wallet_id text COLLATE "C" PRIMARY KEY,'
    " document bytea NOT NULL, updated_at timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {audit} (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    ' wallet_id text COLLATE "C", at timestamptz NOT NULL, record bytea NOT NULL)',
    "CREATE INDEX IF NOT EXISTS {audit_by_wallet} ON {audit} (wallet_id, seq)",
    "CREATE INDEX IF NOT EXISTS {audit_by_time} ON {audit} (at)",
    "INSERT INTO {meta} (key, value) VALUES ('schema_version', {version}) ON CONFLICT DO NOTHING",
)


def advisory_key(*parts: str) -> int:
    """A signed 64-bit key for ``pg_advisory_*`` from text parts (SHA-256, first 8 bytes).

    Parts are joined with NUL, which no part holds (PostgreSQL text cannot), so two different
    part lists never give the same input.
    """
    digest = hashlib.sha256("\x00".join(("walletbackup", *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class Statements:
    """Every statement of the store, with the namespace's table names filled in."""

    namespace: str

    def _compose(self, text: str) -> sql.Composed:
        from psycopg import sql  # noqa: PLC0415 - imported when a store opens (see store.py)

        parts: dict[str, sql.Composable] = {
            name: sql.Identifier(f"{self.namespace}_{name}")
            for name in ("meta", "documents", "audit", "audit_by_wallet", "audit_by_time")
        }
        parts["version"] = sql.Literal(str(SCHEMA_VERSION))
        return sql.SQL(text).format(**{k: v for k, v in parts.items() if f"{{{k}}}" in text})

    @cached_property
    def create(self) -> tuple[sql.Composed, ...]:
        return tuple(self._compose(text) for text in _CREATE)

    @property
    def meta_table(self) -> str:
        """The meta table's name, for ``to_regclass`` (quoted: the namespace is lower case)."""
        return f'"{self.namespace}_meta"'

    @cached_property
    def schema_version(self) -> sql.Composed:
        return self._compose("SELECT value FROM {meta} WHERE key = 'schema_version'")

    @cached_property
    def load(self) -> sql.Composed:
        return self._compose("SELECT document FROM {documents} WHERE wallet_id = %s")

    @cached_property
    def save(self) -> sql.Composed:
        # One statement: the row is inserted or updated in place, atomically.
        return self._compose(
            "INSERT INTO {documents} (wallet_id, document, updated_at) VALUES (%s, %s, now())"
            " ON CONFLICT (wallet_id) DO UPDATE"
            " SET document = EXCLUDED.document, updated_at = EXCLUDED.updated_at"
        )

    @cached_property
    def delete(self) -> sql.Composed:
        return self._compose("DELETE FROM {documents} WHERE wallet_id = %s")

    @cached_property
    def wallets_after(self) -> sql.Composed:
        return self._compose(
            "SELECT wallet_id FROM {documents} WHERE wallet_id > %s ORDER BY wallet_id LIMIT %s"
        )

    @cached_property
    def wallets_in_range_after(self) -> sql.Composed:
        """The ids in ``[low, high)`` after a cursor: the primary key's index (COLLATE "C")."""
        return self._compose(
            "SELECT wallet_id FROM {documents} WHERE wallet_id >= %s AND wallet_id < %s"
            " AND wallet_id > %s ORDER BY wallet_id LIMIT %s"
        )

    @cached_property
    def append_audit(self) -> sql.Composed:
        return self._compose(
            "INSERT INTO {audit} (wallet_id, at, record) VALUES (%s, %s, %s) RETURNING seq"
        )

    @cached_property
    def audit_after(self) -> sql.Composed:
        """Every wallet's records after a seq: the primary key's index."""
        return self._compose(
            "SELECT seq, wallet_id, at, record FROM {audit} WHERE seq > %s ORDER BY seq LIMIT %s"
        )

    @cached_property
    def audit_of_wallet_after(self) -> sql.Composed:
        """One wallet's records after a seq: the (wallet_id, seq) index."""
        return self._compose(
            "SELECT seq, wallet_id, at, record FROM {audit} WHERE wallet_id = %s AND seq > %s"
            " ORDER BY seq LIMIT %s"
        )

    @cached_property
    def prune_audit(self) -> sql.Composed:
        return self._compose("DELETE FROM {audit} WHERE at < %s AND seq <= %s")


__all__ = ["SCHEMA_VERSION", "Statements", "advisory_key"]
