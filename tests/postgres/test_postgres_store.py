"""What the store kit does not check: namespaces, URL options, secrets, timeouts, the schema."""

from __future__ import annotations

import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from postgres_cluster import PostgresCluster, free_port

from walletbackup.errors import StorageError
from walletbackup.stores import open_store
from walletbackup_postgres import PostgresAliasStore, PostgresStore

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _tables(cluster: PostgresCluster, database_url: str) -> set[str]:
    dbname = database_url.rsplit("/", 1)[1]
    rows = cluster.admin(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", dbname
    )
    return {str(row[0]) for row in rows}


def test_namespaces_never_see_each_other(
    postgres_cluster: PostgresCluster, database_url: str
) -> None:
    first = PostgresStore(f"{database_url}?namespace=first")
    second = PostgresStore(f"{database_url}?namespace=second_one")
    default = PostgresStore(database_url)
    try:
        first.save("wallet-1", b"first's document")
        first.append_audit(b"first's record", wallet_id="wallet-1", at=AT)
        for other in (second, default):
            assert other.load("wallet-1") is None
            assert list(other.wallets()) == []
            assert list(other.audit_records()) == []
            assert list(other.audit_records("wallet-1")) == []
        second.save("wallet-1", b"second's document")
        second.append_audit(b"second's record", wallet_id="wallet-1", at=AT)
        assert second.prune_audit(datetime.now(UTC)) == 1
        assert first.load("wallet-1") == b"first's document"
        assert [e.record for e in first.audit_records()] == [b"first's record"]
        second.delete("wallet-1")
        assert first.load("wallet-1") == b"first's document"
        # Locks too: one wallet id in two namespaces is two wallets.
        with first.lock("wallet-1"), second.lock("wallet-1"):
            pass
        assert _tables(postgres_cluster, database_url) == {
            f"{namespace}_{table}"
            for namespace in ("first", "second_one", "walletbackup")
            for table in ("documents", "audit", "meta")
        }
    finally:
        for store in (first, second, default):
            store.close()


def test_postgres_scheme_is_the_same_store(database_url: str) -> None:
    alias = open_store(database_url.replace("postgresql://", "postgres://", 1))
    canonical = open_store(database_url)
    try:
        assert type(alias) is PostgresAliasStore
        assert type(canonical) is PostgresStore
        alias.save("wallet-1", b"document")
        assert canonical.load("wallet-1") == b"document"
        assert alias.location == canonical.location
        assert str(alias.location).startswith("postgresql://")
    finally:
        alias.close()
        canonical.close()


def test_location_names_the_data_not_the_password_or_pool(
    postgres_cluster: PostgresCluster, database_url: str
) -> None:
    store = PostgresStore(f"{database_url}?pool_size=3&namespace=placed&connect_timeout=10")
    try:
        assert store.location == (
            database_url.replace(f":{postgres_cluster.password}@", "@")
            + "?connect_timeout=10&namespace=placed"
        )
        assert postgres_cluster.password not in repr(store)
        assert store.location in repr(store)
    finally:
        store.close()


def test_password_as_a_parameter_is_hidden_too(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.url().replace(f":{postgres_cluster.password}@", "@")
    store = PostgresStore(f"{url}?password={postgres_cluster.password}")
    try:
        store.save("wallet-1", b"document")
        assert postgres_cluster.password not in f"{store!r} {store.location}"
    finally:
        store.close()


def _everything_shown(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def test_errors_never_show_the_password(postgres_cluster: PostgresCluster) -> None:
    url, password = postgres_cluster.url(), postgres_cluster.password
    port = f":{postgres_cluster.port}/"
    for bad, advice in [
        (url.replace(password, password + "wrong"), "check the user and password"),
        (url.replace(password, password[:-1]), "check the user and password"),
        (url.replace("/postgres", "/no_such_db"), "does not exist"),
        (url.replace(port, f":{free_port()}/"), "cannot connect"),
    ]:
        with pytest.raises(StorageError, match=advice) as caught:
            PostgresStore(bad, timeout=2)
        assert password not in _everything_shown(caught.value)
        assert password[:-1] not in _everything_shown(caught.value)


def test_malformed_urls_are_refused_without_echoing_them(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.url()
    for bad, reason in [
        (f"{url}?namespace=Upper", "namespace"),
        (f"{url}?namespace=1st", "namespace"),
        (f"{url}?namespace={'n' * 42}", "namespace"),
        (f"{url}?pool_size=0", "pool_size"),
        (f"{url}?pool_size=x", "pool_size"),
        (f"{url}?timeout=0", "timeout"),
        (f"{url}?timeout=301", "timeout"),
        (f"{url}#fragment", "fragment"),
        (url.replace("postgresql", "mysql"), "scheme"),
    ]:
        with pytest.raises(StorageError, match=reason) as caught:
            PostgresStore(bad)
        assert postgres_cluster.password not in _everything_shown(caught.value)


def test_pool_size_bounds_the_connections(database_url: str) -> None:
    # One connection: the lock holds it. The holder's own reads and writes run on it (a lock
    # holder never waits for a second connection: many holders would starve the pool), and
    # commit with the block; another thread finds the pool empty.
    store = PostgresStore(f"{database_url}?pool_size=1", timeout=0.5)
    other = PostgresStore(database_url)
    try:
        with store.lock("wallet-1"):
            store.save("wallet-1", b"document")
            assert store.load("wallet-1") == b"document"
            assert other.load("wallet-1") is None  # not committed before the block ends
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(store.load, "wallet-1")
                with pytest.raises(StorageError, match="pool_size"):
                    waiting.result()
        assert other.load("wallet-1") == b"document"
    finally:
        store.close()
        other.close()


def test_the_url_sets_the_timeout(database_url: str) -> None:
    holder = PostgresStore(database_url)
    waiter = PostgresStore(f"{database_url}?timeout=1")
    try:
        assert "timeout" not in waiter.location  # the store's own parameter, not libpq's
        gave_up = pytest.raises(StorageError, match=r"gave up after 1(\.0)? s")
        with holder.lock("wallet-1"), gave_up, waiter.lock("wallet-1"):
            pytest.fail("two holders of one lock")
    finally:
        holder.close()
        waiter.close()


def test_lock_gives_up_after_its_timeout(database_url: str) -> None:
    holder = PostgresStore(database_url)
    waiter = PostgresStore(database_url, timeout=0.3)
    try:
        with holder.lock("wallet-1"):
            gave_up = r"gave up after 0\.3 s .*wallet 'wallet-1'"
            with pytest.raises(StorageError, match=gave_up), waiter.lock("wallet-1"):
                pytest.fail("two holders of one lock")
            with waiter.lock("wallet-2"):
                pass
        with waiter.lock("wallet-1"):
            pass
    finally:
        holder.close()
        waiter.close()


def test_first_open_by_many_at_once(database_url: str) -> None:
    """Two processes creating one namespace's tables at once: the DDL is serialised."""
    start = threading.Barrier(6)
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(f"{database_url}?namespace=raced"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []
    assert len(stores) == 6


def test_newer_schema_is_refused(postgres_cluster: PostgresCluster, database_url: str) -> None:
    PostgresStore(database_url).close()
    dbname = database_url.rsplit("/", 1)[1]
    postgres_cluster.admin(
        "UPDATE walletbackup_meta SET value = '2' WHERE key = 'schema_version'", dbname
    )
    with pytest.raises(StorageError, match="schema version 2, newer than the 1"):
        PostgresStore(database_url)


def test_replaced_document_is_gone_for_sql_readers(
    postgres_cluster: PostgresCluster, database_url: str
) -> None:
    store = PostgresStore(database_url)
    try:
        store.save("wallet-1", b"old secret envelope")
        store.save("wallet-1", b"new envelope")
        store.save("wallet-2", b"deleted envelope")
        store.delete("wallet-2")
    finally:
        store.close()
    rows = postgres_cluster.admin(
        "SELECT wallet_id, document FROM walletbackup_documents", database_url.rsplit("/", 1)[1]
    )
    assert [(wallet, bytes(document)) for wallet, document in rows] == [  # type: ignore[arg-type]
        ("wallet-1", b"new envelope")
    ]


def test_wallet_ids_postgresql_cannot_hold_are_storage_errors(database_url: str) -> None:
    store = PostgresStore(database_url)
    try:
        for bad in ("", "nul\x00inside"):
            with pytest.raises(StorageError):
                store.save(bad, b"document")
        with pytest.raises(StorageError):
            store.load("lone \udc80 surrogate")
    finally:
        store.close()


def test_closed_store_refuses_work(database_url: str) -> None:
    store = PostgresStore(database_url)
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.load("wallet-1")
    with pytest.raises(StorageError, match="closed"), store.lock("wallet-1"):
        pass
