"""Two replicas of the service against one PostgreSQL, as real processes, under concurrent devices.

A throwaway cluster (tests/fixtures/postgres_cluster.py), one local KMS key file the replicas
share (made once, before either starts), two ``walletbackup serve`` processes on the same
``--store`` and ``--state`` URLs, a tenant made by ``walletbackup server add-tenant``, user
tokens from ``POST /v1/tokens``. Devices are threads of this process, each a ``WalletBackup``
on one replica, running the real device protocol with the fast test methods.

What is proved: no lost update between replicas (every successful change is a revision the
wallet went through, in order, and the wallet recovers to the last one); a replica killed with
SIGKILL mid-write loses nothing that was answered as done and leaves no half change; a
PostgreSQL restart gives clear errors (``StorageError`` on the device, 503 ``unavailable`` on
the wire, ``/readyz`` 503), never a 500, and the same replicas serve again afterwards.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
import quick_methods
from postgres_cluster import PostgresCluster, cluster_for
from quick_methods import PASS, TOKEN
from service_processes import (
    Replica,
    add_tenant,
    create_kms_key,
    mint_token,
    password_to_env,
    serve,
    without_rate_limits,
)

from walletbackup import StorageError, WalletBackup, WalletBackupError
from walletbackup.remote import DEFAULT_RETRY, RemoteCustodian
from walletbackup.retry import RetryPolicy

pytestmark = [pytest.mark.cross_plugin, pytest.mark.slow]

SECRET = {"passphrase": "correct horse battery"}
UNLOCK = {"method": PASS, **SECRET}
CUSTODIAN = b"custodian share"
_DATABASES = itertools.count()
#: How long a test waits for its devices, at most (they normally take a few seconds).
DEADLINE = 120.0
#: Tries of one change before a device gives up (conflicts included).
ATTEMPTS = 300
#: The devices' own retries of a request kept short: the test's failover follows quickly.
QUICK_RETRY = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1, max_retry_after=1.0)


@pytest.fixture(autouse=True, scope="module")
def quick_methods_installed() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with cluster_for("the replica tests") as found:
        yield found


@dataclass
class Deployment:
    """Two replicas on one database, a tenant, and its backend key."""

    cluster: PostgresCluster
    options: tuple[str, ...]
    backend_key: str
    directory: Path
    replicas: list[Replica] = field(default_factory=list)
    devices: Iterator[int] = field(default_factory=itertools.count)

    def token(self, user: str) -> str:
        return mint_token(self.replicas[0].url, self.backend_key, user)

    def device(
        self,
        user: str,
        replica: int,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
    ) -> WalletBackup:
        """A new device of ``user`` (a memory of its own) on replica ``replica``."""
        url = self.replicas[replica].url
        custodian = RemoteCustodian(url, self.token(user), retry=retry, timeout=timeout)
        state = self.directory / f"device-{next(self.devices)}.json"
        return WalletBackup(custodian=custodian, device_state=state)


@pytest.fixture
def deployment(
    cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    database = cluster.create_database(f"replicas_{next(_DATABASES)}")
    libpq: dict[str, str] = {}
    store = password_to_env(database, libpq)
    monkeypatch.setenv("PGPASSWORD", libpq["PGPASSWORD"])  # the replicas inherit it
    stores = ("--store", store, "--state", f"{store}?namespace=walletbackup_server")
    keys = add_tenant("acme", *stores)
    kms = ("--kms", create_kms_key(tmp_path / "custodian.key"))
    options = (*stores, *kms, *without_rate_limits(tmp_path))
    found = Deployment(cluster, options, keys["backend_key"], tmp_path)
    try:
        found.replicas.extend(serve(*options) for _ in range(2))
        yield found
    finally:
        for replica in found.replicas:
            replica.stop()


# --- the devices ------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the devices were told: per wallet, each successful change's revision and the client
    share it wrote (``None``: a method change, which keeps the share); and every failure that
    was not a clean conflict."""

    done: dict[str, dict[int, bytes | None]] = field(default_factory=dict)
    conflicts: int = 0
    failures: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, wallet: str, revision: int, share: bytes | None) -> None:
        with self.lock:
            assert revision not in self.done.setdefault(wallet, {}), "a revision given twice"
            self.done[wallet][revision] = share


def is_conflict(exc: StorageError) -> bool:
    text = str(exc)
    return "(conflict)" in text or "changed while" in text


def change(wb: WalletBackup, wallet: str, step: int, tag: str) -> tuple[int, bytes | None]:
    """One change of ``wallet``: a new client share (a re-backup with the passphrase only), or
    one more token method on the current share (``None``: the share it was built on). Its
    revision and the client share it leaves."""
    if step % 2 == 0:
        share = f"share {tag} {step}".encode()
        done = wb.backup_wallet(
            wallet, share, method=PASS, custodian_share=CUSTODIAN, replace=True, **SECRET
        )
        return done.revision, share
    added = wb.add_backup_method(wallet, TOKEN, unlock_with=UNLOCK, token=f"{tag}-{step}")
    return added.revision, None


def run_devices(jobs: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
        assert not thread.is_alive(), "a device did not finish in time"


def changes(
    ledger: Ledger,
    make: Callable[[int], WalletBackup],
    wallet: str,
    steps: int,
    tag: str,
    *,
    replica: int,
    expected: Callable[[WalletBackupError], bool] = lambda exc: False,
    failover: bool = False,
    enough: threading.Event | None = None,
) -> Callable[[], None]:
    """A device (``make(replica)``) making ``steps`` successful changes of ``wallet``.

    A clean conflict is retried. Another failure that ``expected`` accepts is retried too,
    after ``failover`` on the other replica (the test's stand-in for a load balancer); it is
    counted in ``ledger.failures``. Anything else is recorded as unexpected and ends the device;
    so does ``enough``, once set.
    """

    def job() -> None:
        nonlocal replica
        wb = make(replica)
        try:
            for step in range(steps):
                if enough is not None and enough.is_set():
                    return
                for _ in range(ATTEMPTS):
                    try:
                        revision, share = change(wb, wallet, step, tag)
                    except WalletBackupError as exc:
                        if isinstance(exc, StorageError) and is_conflict(exc):
                            with ledger.lock:
                                ledger.conflicts += 1
                            continue
                        if not expected(exc):
                            ledger.unexpected.append(f"{tag}: {type(exc).__name__}: {exc}")
                            return
                        with ledger.lock:
                            ledger.failures.append(f"{type(exc).__name__}: {exc}")
                        if failover:
                            wb.close()
                            replica = 1 - replica
                            wb = make(replica)
                        time.sleep(0.05)
                        continue
                    ledger.record(wallet, revision, share)
                    break
                else:
                    ledger.unexpected.append(f"{tag}: no success in {ATTEMPTS} attempts")
                    return
        finally:
            wb.close()

    return job


def first_backup(deployment: Deployment, user: str, wallet: str, ledger: Ledger) -> None:
    with deployment.device(user, 0) as wb:
        share = f"share {wallet} first".encode()
        done = wb.backup_wallet(wallet, share, method=PASS, custodian_share=CUSTODIAN, **SECRET)
    ledger.record(wallet, done.revision, share)


def check_ledger(deployment: Deployment, user: str, ledger: Ledger) -> None:
    """Every wallet is at its last successful revision and recovers to that change's share,
    through either replica; every success got a revision of its own."""
    assert ledger.unexpected == []
    for index, _replica in enumerate(deployment.replicas):
        with deployment.device(user, index) as wb:
            for wallet, done in ledger.done.items():
                view = wb.custodian.view(wallet)
                assert view is not None and view.current is not None
                last = max(done)
                assert view.current.revision == last
                assert view.pending is None
                recovered = wb.recover_wallet(wallet, method=PASS, **SECRET)
                # Each change built on the one before (they are in one line), so the share is
                # the last re-backup's: a method change keeps the share it was built on.
                share = done[max(r for r, written in done.items() if written is not None)]
                assert (recovered.revision, recovered.client_share) == (last, share)


# --- a: concurrent devices on both replicas ---------------------------------------------------


def test_concurrent_devices_on_two_replicas_lose_no_update(deployment: Deployment) -> None:
    ledger = Ledger()
    shared = ["shared-0", "shared-1"]
    alone = [f"alone-{n}" for n in range(4)]
    for wallet in shared + alone:
        first_backup(deployment, "alice", wallet, ledger)
    steps = 6
    alice = partial(deployment.device, "alice")
    jobs = [
        # Three devices on each shared wallet, on alternating replicas.
        changes(ledger, alice, wallet, steps, f"{wallet}.{n}", replica=n % 2)
        for wallet in shared
        for n in range(3)
    ] + [
        changes(ledger, alice, wallet, steps, wallet, replica=n % 2)
        for n, wallet in enumerate(alone)
    ]
    run_devices(jobs)

    assert ledger.unexpected == [], "\n".join(ledger.unexpected)
    for wallet in shared:
        assert len(ledger.done[wallet]) == 1 + 3 * steps
    for wallet in alone:
        assert sorted(ledger.done[wallet]) == list(range(1, steps + 2))
    check_ledger(deployment, "alice", ledger)
    assert ledger.conflicts > 0  # the shared wallets did race


# --- b: a replica killed mid-write --------------------------------------------------------------


def test_a_replica_killed_during_writes_loses_nothing(deployment: Deployment) -> None:
    ledger = Ledger()
    wallets = [f"w-{n}" for n in range(6)]
    for wallet in wallets:
        first_backup(deployment, "bob", wallet, ledger)
    device = partial(deployment.device, "bob", retry=QUICK_RETRY)
    steps = 12
    jobs = [
        changes(ledger, device, wallet, steps, wallet, replica=n % 2,
                expected=lambda exc: isinstance(exc, StorageError), failover=True)
        for n, wallet in enumerate(wallets)
    ]  # fmt: skip
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    # Kill replica 1 once the devices are well into their writes.
    wait_for(lambda: sum(len(done) for done in ledger.done.values()) >= 3 * len(wallets))
    deployment.replicas[1].kill()
    for thread in threads:
        thread.join(DEADLINE)
        assert not thread.is_alive(), "a device did not finish in time"

    assert ledger.unexpected == [], "\n".join(ledger.unexpected)
    assert ledger.failures, "no device was talking to the killed replica"
    # Each device made all its changes, every one a revision of its own; the wallets are at
    # the last one, with no pending half-change, and recover its share (replica 0 alone now).
    del deployment.replicas[1]
    for wallet in wallets:
        assert len(ledger.done[wallet]) == 1 + steps
    check_ledger(deployment, "bob", ledger)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- c: PostgreSQL restarted under load ---------------------------------------------------------


def test_postgres_restarted_under_load(deployment: Deployment) -> None:
    ledger = Ledger()
    wallets = [f"w-{n}" for n in range(4)]
    for wallet in wallets:
        first_backup(deployment, "carol", wallet, ledger)
    # A device waits less than the service waits for a database connection (30 s): it sees
    # the outage as errors, not as one slow answer.
    device = partial(deployment.device, "carol", retry=QUICK_RETRY, timeout=5.0)
    token = deployment.token("carol")
    enough = threading.Event()
    jobs = [
        changes(ledger, device, wallet, 10_000, wallet, replica=n % 2,
                expected=lambda exc: isinstance(exc, StorageError), enough=enough)
        for n, wallet in enumerate(wallets)
    ]  # fmt: skip
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()

    def successes() -> int:
        return sum(len(done) for done in ledger.done.values())

    wait_for(lambda: successes() >= 2 * len(wallets))
    deployment.cluster.stop()
    try:
        # A request waits for a connection (the pool's 30 s) before its 503: both at once.
        with ThreadPoolExecutor(2) as pool:
            reads = [
                pool.submit(httpx.get, f"{r.url}/v1/wallets/w-0", headers=bearer(token), timeout=60)
                for r in deployment.replicas
            ]
            for replica in deployment.replicas:
                started = time.monotonic()
                ready = httpx.get(f"{replica.url}/readyz", timeout=60)
                assert time.monotonic() - started < 10  # a load balancer's probe gets its answer
                assert ready.status_code == 503
                assert ready.json()["ready"] is False
                assert ready.json()["checks"]["store"] in {"StorageError", "timeout"}
            for read in (future.result() for future in reads):
                assert (read.status_code, read.json()["error"]) == (503, "unavailable")
                assert deployment.cluster.password not in read.text
    finally:
        deployment.cluster.start()

    # The same replicas serve the devices again: each wallet changes a few more times.
    after = {wallet: len(ledger.done[wallet]) for wallet in wallets}
    wait_for(lambda: all(len(ledger.done[w]) >= after[w] + 3 for w in wallets))
    enough.set()
    for thread in threads:
        thread.join(DEADLINE)
        assert not thread.is_alive(), "a device did not finish in time"
    assert ledger.unexpected == [], "\n".join(ledger.unexpected)
    assert ledger.failures, "no device met the outage"
    for replica in deployment.replicas:
        assert httpx.get(f"{replica.url}/readyz", timeout=60).status_code == 200
        metrics = httpx.get(f"{replica.url}/metrics", timeout=60).text
        assert 'status="500"' not in metrics, replica.log()
    check_ledger(deployment, "carol", ledger)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}
