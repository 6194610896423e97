"""Locks across OS processes: no lost update, and a killed holder's lock is freed by PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from walletbackup.errors import StorageError
from walletbackup_postgres import PostgresStore

# Read-modify-write under the lock, ROUNDS times, once the parent says go (a line on stdin),
# so both processes run their loops at the same time.
COUNTER = """
import sys
from walletbackup_postgres import PostgresStore

store = PostgresStore(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[2])):
    with store.lock("counter"):
        value = int(store.load("counter") or b"0")
        store.save("counter", b"%d" % (value + 1))
store.close()
"""
# Takes the lock, says so, and waits to be killed.
HOLDER = """
import sys, time
from walletbackup_postgres import PostgresStore

store = PostgresStore(sys.argv[1])
with store.lock("wallet-1"):
    print("locked", flush=True)
    time.sleep(600)
"""
ROUNDS = 200


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def store(database_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(database_url, timeout=0.5)
    yield store
    store.close()


@pytest.mark.slow
def test_two_processes_lose_no_update(database_url: str, store: PostgresStore) -> None:
    workers = [_start(COUNTER, database_url, str(ROUNDS)) for _ in range(2)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            assert worker.wait(timeout=120) == 0
    finally:
        for worker in workers:
            worker.kill()
            worker.communicate()
    assert store.load("counter") == b"%d" % (2 * ROUNDS)


@pytest.mark.slow
def test_lock_of_a_killed_holder_is_released(database_url: str, store: PostgresStore) -> None:
    holder = _start(HOLDER, database_url)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(StorageError, match="gave up"), store.lock("wallet-1"):
            pytest.fail("the lock was taken while another process held it")
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=30) == -signal.SIGKILL
    finally:
        holder.kill()
        holder.communicate()
    waiter = PostgresStore(database_url, timeout=30)
    try:
        with waiter.lock("wallet-1"):
            waiter.save("wallet-1", b"taken after the kill")
    finally:
        waiter.close()
    assert store.load("wallet-1") == b"taken after the kill"
