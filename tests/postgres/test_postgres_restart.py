"""A PostgreSQL restart under use: the requests in flight fail with StorageError, then the pool
reconnects and later calls work."""

from __future__ import annotations

import threading

import pytest
from postgres_cluster import PostgresCluster

from walletbackup.errors import StorageError
from walletbackup_postgres import PostgresStore


@pytest.mark.slow
def test_restart_fails_requests_in_flight_then_recovers(
    postgres_cluster: PostgresCluster, database_url: str
) -> None:
    store = PostgresStore(f"{database_url}?pool_size=4", timeout=10)
    try:
        store.save("wallet-1", b"before")
        # The lock's connection is in flight (its transaction open) when the server goes.
        with pytest.raises(StorageError, match="PostgreSQL store") as caught, store.lock("w"):
            postgres_cluster.restart()
        assert postgres_cluster.password not in str(caught.value)
        # Every idle connection of the pool died too: the pool checks and replaces them.
        for number in range(6):
            store.save("wallet-1", b"after %d" % number)
        assert store.load("wallet-1") == b"after 5"
        with store.lock("wallet-1"):
            store.save("wallet-1", b"locked again")
        assert store.load("wallet-1") == b"locked again"
    finally:
        store.close()


@pytest.mark.slow
def test_restart_under_a_stream_of_writes(
    postgres_cluster: PostgresCluster, database_url: str
) -> None:
    store = PostgresStore(database_url, timeout=10)
    failures: list[StorageError] = []
    others: list[BaseException] = []
    saved = 0
    stop = threading.Event()

    def write() -> None:
        nonlocal saved
        while not stop.is_set():
            try:
                with store.lock("wallet-1"):
                    store.save("wallet-1", b"%d" % saved)
                saved += 1
            except StorageError as exc:
                failures.append(exc)
            except BaseException as exc:
                others.append(exc)
                return

    writer = threading.Thread(target=write)
    writer.start()
    try:
        postgres_cluster.restart()
        before = saved
        while saved < before + 20 and writer.is_alive():
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
        store.close()
    assert others == []
    assert saved >= before + 20, "writes did not resume after the restart"
