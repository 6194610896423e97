"""The audit log and the wallet listing are read through their indexes: PostgreSQL's plans, on
tables of many rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from postgres_cluster import PostgresCluster
from psycopg import sql

from walletbackup.stores.base import prefix_range
from walletbackup_postgres import PostgresStore
from walletbackup_postgres.schema import Statements

RECORDS = 100_000
WALLETS = 1_000


@pytest.fixture(scope="module")
def big_log(postgres_cluster: PostgresCluster) -> str:
    url = postgres_cluster.create_database("big_audit_log")
    PostgresStore(url).close()
    postgres_cluster.admin(
        "INSERT INTO walletbackup_audit (wallet_id, at, record)"
        f" SELECT 'wallet-' || (i % {WALLETS}), now() - (i || ' seconds')::interval,"
        f" '\\x7b7d'::bytea FROM generate_series(1, {RECORDS}) AS i",
        "big_audit_log",
    )
    postgres_cluster.admin("ANALYZE walletbackup_audit", "big_audit_log")
    return url


def _plan(url: str, statement: sql.Composed, args: tuple[Any, ...]) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statement, args).fetchone()
    assert row is not None
    plan: dict[str, Any] = row[0][0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """(node type, index, rows it returned) of every scan of the plan."""
    return [
        (node["Node Type"], node.get("Index Name"), node["Actual Rows"])
        for node in _nodes(plan)
        if "Scan" in node["Node Type"]
    ]


def _assert_reads_only(plan: dict[str, Any], index: str, rows: int) -> None:
    """The plan reads through ``index`` (an index scan, or a bitmap of it) and no scan of it
    touches more rows than the page returns: the cost is that of the records returned."""
    scans = _scans(plan)
    shown = json.dumps(plan)
    assert [used for _, used, _ in scans if used] == [index], shown
    assert all(node_type != "Seq Scan" for node_type, _, _ in scans), shown
    assert all(touched <= rows for _, _, touched in scans), shown


def test_one_wallets_page_reads_only_its_records(big_log: str) -> None:
    statements = Statements("walletbackup")
    plan = _plan(big_log, statements.audit_of_wallet_after, ("wallet-7", 0, 50))
    _assert_reads_only(plan, "walletbackup_audit_by_wallet", 50)
    # The next page starts at the cursor: the index again, not a scan from the start.
    store = PostgresStore(big_log)
    try:
        first = list(store.audit_records("wallet-7", limit=50))
        assert len(first) == 50
        assert {e.wallet_id for e in first} == {"wallet-7"}
    finally:
        store.close()
    plan = _plan(big_log, statements.audit_of_wallet_after, ("wallet-7", first[-1].seq, 50))
    _assert_reads_only(plan, "walletbackup_audit_by_wallet", 50)


def test_every_wallets_page_starts_at_the_cursor(big_log: str) -> None:
    plan = _plan(big_log, Statements("walletbackup").audit_after, (RECORDS - 500, 100))
    _assert_reads_only(plan, "walletbackup_audit_pkey", 100)


def test_pruning_a_little_reads_a_little(big_log: str) -> None:
    oldest = datetime.now(UTC).replace(year=2000)
    plan = _plan(big_log, Statements("walletbackup").prune_audit, (oldest, 2**63 - 1))
    _assert_reads_only(plan, "walletbackup_audit_by_time", 0)


@pytest.fixture(scope="module")
def many_wallets(postgres_cluster: PostgresCluster) -> str:
    url = postgres_cluster.create_database("many_wallets")
    PostgresStore(url).close()
    postgres_cluster.admin(
        "INSERT INTO walletbackup_documents (wallet_id, document, updated_at)"
        f" SELECT 'acme/user-' || (i % {WALLETS}) || '/wallet-' || i, '\\x7b7d'::bytea, now()"
        f" FROM generate_series(1, {RECORDS}) AS i",
        "many_wallets",
    )
    postgres_cluster.admin("ANALYZE walletbackup_documents", "many_wallets")
    return url


def test_one_users_wallets_are_listed_through_the_index(many_wallets: str) -> None:
    bounds = prefix_range("acme/user-7/")
    assert bounds is not None
    listing = Statements("walletbackup").wallets_in_range_after
    plan = _plan(many_wallets, listing, (*bounds, "", 500))
    _assert_reads_only(plan, "walletbackup_documents_pkey", RECORDS // WALLETS)
    store = PostgresStore(many_wallets)
    try:
        listed = list(store.wallets_with_prefix("acme/user-7/"))
    finally:
        store.close()
    assert len(listed) == RECORDS // WALLETS
    assert listed == sorted(listed)
    assert all(w.startswith("acme/user-7/") for w in listed)
