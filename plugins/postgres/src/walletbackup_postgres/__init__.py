"""walletbackup-postgres: a store on PostgreSQL (``postgresql://`` URLs)."""

from __future__ import annotations

from .store import PostgresAliasStore, PostgresStore

__all__ = ["PostgresAliasStore", "PostgresStore"]
