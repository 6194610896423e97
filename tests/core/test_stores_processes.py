"""Stores shared by real processes: lost updates, locks of killed holders, saves cut by SIGKILL."""

from __future__ import annotations

import hashlib
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from walletbackup.errors import StorageError
from walletbackup.stores import FileStore, SqliteStore, Store

# Every child opens the store named by argv[1] with the lock timeout argv[2].
PRELUDE = """
import hashlib, sys, time
from datetime import UTC, datetime
from walletbackup.errors import StorageError
from walletbackup.stores import FileStore, SqliteStore
store = {"sqlite": SqliteStore, "file": FileStore}[sys.argv[1].partition(":")[0]](
    sys.argv[1], timeout=float(sys.argv[2]))
"""

INCREMENT = """
print("ready", flush=True)
sys.stdin.readline()  # "go": both children start together
for _ in range(int(sys.argv[3])):
    with store.lock("counter"):
        value = int(store.load("counter"))
        store.save("counter", b"%d" % (value + 1))
"""

HOLD = """
with store.lock(sys.argv[3]):
    print("locked", flush=True)
    time.sleep(120)  # until killed
"""

TRY_LOCK = """
try:
    with store.lock(sys.argv[3]):
        print("locked", flush=True)
except StorageError:
    print("timed out", flush=True)
"""

# Saves self-checking documents of varying size, generation after generation, each followed by
# an audit record, until killed.
SAVE_LOOP = """
generation = first = int(sys.argv[3])
while True:
    generation += 1
    head = b"gen:%d|" % generation
    body = hashlib.shake_256(head).digest(1 + generation * 7919 % 70000)
    store.save("w", head + body + hashlib.sha256(head + body).digest())
    store.append_audit(b"gen:%d" % generation, wallet_id="w", at=datetime.now(UTC))
    if generation == first + 1:
        print("saved", flush=True)
"""

Spawn = Callable[..., "subprocess.Popen[str]"]
CLASSES: dict[str, Callable[..., Store]] = {"sqlite": SqliteStore, "file": FileStore}


@pytest.fixture(params=sorted(CLASSES))
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return {
        "sqlite": f"sqlite://{tmp_path / 'backups.db'}",
        "file": f"file://{tmp_path / 'store'}",
    }[request.param]


@pytest.fixture
def open_store(url: str) -> Iterator[Callable[..., Store]]:
    opened: list[Store] = []

    def open_(timeout: float = 30.0) -> Store:
        store = CLASSES[url.partition(":")[0]](url, timeout=timeout)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def spawn(url: str) -> Iterator[Spawn]:
    children: list[subprocess.Popen[str]] = []

    def spawn_(script: str, *args: str, timeout: float = 30.0) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-c", PRELUDE + script, url, str(timeout), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    yield spawn_
    for child in children:
        child.kill()
        child.communicate(timeout=30)


def read_line(child: subprocess.Popen[str], timeout: float = 60.0) -> str:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    assert ready, "the child said nothing in time"
    return child.stdout.readline().strip()


def test_no_lost_updates(open_store: Callable[..., Store], spawn: Spawn) -> None:
    open_store().save("counter", b"0")
    rounds = 150
    children = [spawn(INCREMENT, str(rounds)) for _ in range(2)]
    for child in children:
        assert read_line(child) == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        assert child.wait(timeout=120) == 0
    assert open_store().load("counter") == b"%d" % (2 * rounds)


def test_lock_times_out_while_another_process_holds_it(
    open_store: Callable[..., Store], spawn: Spawn
) -> None:
    assert read_line(spawn(HOLD, "w")) == "locked"
    with pytest.raises(StorageError, match="wallet 'w'"), open_store(timeout=0.5).lock("w"):
        pass


def test_other_wallets_stay_free(open_store: Callable[..., Store], spawn: Spawn) -> None:
    assert read_line(spawn(HOLD, "w")) == "locked"
    store = open_store(timeout=0.5)
    with store.lock("v"):
        store.save("v", b"doc")


def test_lock_released_when_holder_is_killed(
    open_store: Callable[..., Store], spawn: Spawn
) -> None:
    holder = spawn(HOLD, "w")
    assert read_line(holder) == "locked"
    holder.kill()
    holder.wait(timeout=30)
    with open_store(timeout=30).lock("w"):
        pass


def test_closing_another_handle_keeps_the_lock(
    open_store: Callable[..., Store], spawn: Spawn
) -> None:
    # POSIX drops all of a process's record locks on a file when it closes any descriptor of it.
    holder = open_store()
    with holder.lock("w"):
        open_store().close()
        assert read_line(spawn(TRY_LOCK, "w", timeout=0.5)) == "timed out"
    assert read_line(spawn(TRY_LOCK, "w", timeout=0.5)) == "locked"


def generation_of(document: bytes) -> int:
    """The generation of a whole document written by SAVE_LOOP; fails on a torn one."""
    content, digest = document[:-32], document[-32:]
    assert hashlib.sha256(content).digest() == digest, "torn or mixed document"
    head, bar, _ = content.partition(b"|")
    assert bar
    assert head.startswith(b"gen:")
    return int(head[4:])


@pytest.mark.slow
def test_save_survives_sigkill_at_random_moments(
    open_store: Callable[..., Store], spawn: Spawn, tmp_path: Path
) -> None:
    generation, kills = 0, 40
    for _ in range(kills):
        child = spawn(SAVE_LOOP, str(generation))
        assert read_line(child) == "saved"
        time.sleep(secrets.randbelow(25) / 1000)
        child.kill()
        child.wait(timeout=30)
        store = open_store()  # as a restarted process would
        document = store.load("w")
        assert document is not None
        saved = generation_of(document)
        assert saved > generation  # at least the save the child reported
        # Temp files a killed file-store save left (about half the kills do) confuse nothing.
        assert list(store.wallets()) == ["w"]
        records = [e.record for e in store.audit_records("w")]
        assert records == [e.record for e in store.audit_records()]
        numbers = [int(record.removeprefix(b"gen:")) for record in records]
        assert numbers == sorted(set(numbers))
        assert numbers[-1] in (saved - 1, saved)  # killed before or after the audit append
        store.close()
        generation = saved
    assert generation >= kills
    store = open_store()
    store.save("w", b"final")
    assert list(tmp_path.glob("store/*.tmp")) == []
    assert store.load("w") == b"final"
