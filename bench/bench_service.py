"""The custodian service under load: backups and recoveries per second, p50/p99, 1/16/64 devices.

Everything runs on this machine, started here: a throwaway PostgreSQL cluster
(tests/fixtures/postgres_cluster.py, with pg_stat_statements loaded), one or two
``walletbackup serve`` replicas on it (uvicorn, subprocesses), and a load generator of several
processes, each running device threads. Each device is the real device side
(``WalletBackup(custodian=URL, token=...)``, the KDF-free ``benchpass`` method of
bench_methods.py), its own user and wallet, spread over the replicas (device *i* on replica
*i* mod *n*: what a round-robin load balancer does).

Side by side, in the same run, interleaved (each round runs every contender once, the order
rotating; figures are medians over rounds):

- **raw psycopg**: the SQL statements one backup or recovery causes in the store, counted with
  pg_stat_statements and replayed with plain psycopg (one connection per device, the same
  document size, the same advisory locks): the database's own cost of the operation;
- **trivial ASGI**: as many HTTP requests as the device makes for the operation, to a Starlette
  app answering ``{}`` on the same uvicorn: the HTTP stack's own cost.

CPU seconds per operation in the replicas, in PostgreSQL and in the load generator come from
/proc (utime + stime of each process, and of the postmaster's children), so the table says where
the time goes, and what more cores would give. ``--quick`` is a smoke run (seconds).

Run: ``python bench/bench_service.py [--quick]`` (needs walletbackup-server and
walletbackup-postgres installed, and Debian's PostgreSQL server).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import bench_methods
from benchlib import header, median, table, verdict

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(FIXTURES))

from postgres_cluster import PostgresCluster, free_port  # noqa: E402 - the fixture, by path
from service_processes import (  # noqa: E402
    Replica,
    add_tenant,
    create_kms_key,
    mint_token,
    password_to_env,
    serve,
    without_rate_limits,
)

PASSPHRASE = "bench passphrase"
SHARE, CUSTODIAN = bytes(range(32)), bytes(range(32, 64))
OPERATIONS = ("backup", "recover")
#: Target: the service's p50 within this many times the raw PostgreSQL work of the operation.
TARGET_RATIO = 3.0
#: Load generator processes (each runs a share of the device threads).
GENERATORS = 4
TRIVIAL_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def empty(request):
    return JSONResponse({})

app = Starlette(routes=[Route("/", empty)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
"""


# --- CPU from /proc ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds spent by the replicas and by PostgreSQL (the postmaster and its children;
    a backend that exits between readings loses its share: connections are pooled, so few)."""

    def __init__(self, cluster: PostgresCluster) -> None:
        self.postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        self.replicas: list[int] = []

    def read(self) -> tuple[float, float]:
        postgres = [self.postmaster, *children(self.postmaster)]
        return sum(map(cpu_seconds, self.replicas)), sum(map(cpu_seconds, postgres))


# --- the load generator ----------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """One device: its user token, and where it talks (URL, or a libpq conninfo for raw)."""

    token: str
    index: int


def device_work(
    kind: str, operation: str, target: dict[str, Any], device: Device, state: Path
) -> Callable[[], None]:
    """One operation of one device, as a callable (its setup done here, once)."""
    if kind == "service":
        from walletbackup import WalletBackup  # noqa: PLC0415

        urls = target["urls"]
        wb = WalletBackup(
            custodian=urls[device.index % len(urls)],
            token=device.token,
            device_state=state / f"device-{device.index}-{len(urls)}.json",
        )
        if operation == "backup":
            return lambda: wb.backup_wallet(
                "w",
                SHARE,
                method=bench_methods.PASS,
                custodian_share=CUSTODIAN,
                replace=True,
                passphrase=PASSPHRASE,
            )
        return lambda: wb.recover_wallet("w", method=bench_methods.PASS, passphrase=PASSPHRASE)
    if kind == "trivial":
        host, port = target["address"]
        connection = http.client.HTTPConnection(host, port, timeout=30)
        count = target["requests"][operation]

        def requests() -> None:
            for _ in range(count):
                try:
                    connection.request("GET", "/")
                    connection.getresponse().read()
                except (http.client.RemoteDisconnected, ConnectionError):
                    # uvicorn closes a keep-alive connection idle for 5 s (between rounds);
                    # the device's client reconnects the same way.
                    connection.close()
                    connection.request("GET", "/")
                    connection.getresponse().read()

        return requests
    return raw_work(operation, target, device)


def raw_work(operation: str, target: dict[str, Any], device: Device) -> Callable[[], None]:
    """The statements one operation causes in the store, on a psycopg connection of its own."""
    import psycopg  # noqa: PLC0415

    mix = target["mix"][operation]
    conn = psycopg.connect(target["conninfo"], autocommit=True)
    key = f"raw/{device.index}"
    document = b"x" * target["document_bytes"]
    conn.execute(
        "INSERT INTO raw_documents VALUES (%s, %s, now()) ON CONFLICT DO NOTHING", (key, document)
    )
    lock_id = 10_000 + device.index

    def work() -> None:
        with conn.transaction():
            # The store's lock statement: the timeout and the lock in one round trip.
            conn.execute(
                "SELECT set_config('lock_timeout', '30000ms', true), pg_advisory_xact_lock(%s)",
                (lock_id,),
            )
            for _ in range(mix["load"]):
                conn.execute("SELECT document FROM raw_documents WHERE wallet_id = %s", (key,))
        for _ in range(mix["save"]):
            conn.execute(
                "INSERT INTO raw_documents VALUES (%s, %s, now()) ON CONFLICT (wallet_id) "
                "DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
                (key, document),
            )
        for _ in range(mix["audit"]):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (1,))
                conn.execute(
                    "INSERT INTO raw_audit (wallet_id, at, record) VALUES (%s, now(), %s)",
                    (key, b"a" * 300),
                )
        for _ in range(max(0, mix["locks"] - 1)):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id,))

    return work


def generator(pipe: Connection, state: str) -> None:
    """A load generator process: runs the device threads it is told to, reports latencies."""
    bench_methods.install()
    works: dict[tuple[str, str, int], Callable[[], None]] = {}
    while True:
        command = pipe.recv()
        if command is None:
            return
        kind, operation, target, devices, seconds = command
        # Each device is set up once per contender (a service device keeps its connection).
        where = kind + json.dumps(target, sort_keys=True)
        for device in devices:
            if (where, operation, device.index) not in works:
                works[(where, operation, device.index)] = device_work(
                    kind, operation, target, device, Path(state)
                )
        chosen = [works[(where, operation, d.index)] for d in devices]
        cpu = time.process_time()
        latencies, errors = drive(chosen, seconds)
        pipe.send((latencies, errors[:3], len(errors), time.process_time() - cpu))


def drive(works: list[Callable[[], None]], seconds: float) -> tuple[list[float], list[str]]:
    """Each work in a thread of its own, back to back for ``seconds``: latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    guard = threading.Lock()
    start = time.perf_counter() + 0.05
    stop = start + seconds

    def loop(work: Callable[[], None]) -> None:
        while time.perf_counter() < start:
            time.sleep(0.001)
        mine: list[float] = []
        while time.perf_counter() < stop:
            began = time.perf_counter()
            try:
                work()
            except Exception as exc:  # every failure is counted and shown
                with guard:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            mine.append(time.perf_counter() - began)
        with guard:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


class Load:
    """The generator processes; :meth:`run` spreads devices over them and collects results."""

    def __init__(self, state: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(GENERATORS):
            mine, theirs = context.Pipe()
            process = context.Process(target=generator, args=(theirs, str(state)), daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    def run(
        self,
        kind: str,
        operation: str,
        target: dict[str, Any],
        devices: list[Device],
        seconds: float,
    ) -> tuple[list[float], list[str], int, float]:
        share = [devices[n :: len(self.pipes)] for n in range(len(self.pipes))]
        busy = [(pipe, mine) for pipe, mine in zip(self.pipes, share, strict=True) if mine]
        for pipe, mine in busy:
            pipe.send((kind, operation, target, mine, seconds))
        latencies: list[float] = []
        shown: list[str] = []
        errors = 0
        cpu = 0.0
        for pipe, _ in busy:
            theirs, sample, count, used = pipe.recv()
            latencies += theirs
            shown += sample
            errors += count
            cpu += used
        return latencies, shown, errors, cpu

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(10)


# --- set-up -----------------------------------------------------------------------------------


@contextlib.contextmanager
def cluster_with_statements() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        conf = cluster.data / "postgresql.conf"
        with conf.open("a") as appended:
            appended.write("shared_preload_libraries = 'pg_stat_statements'\n")
            appended.write("pg_stat_statements.track_utility = off\n")
        cluster.restart()
        yield cluster


def statements_per_operation(
    cluster: PostgresCluster, database: str, run: Callable[[], None], times: int
) -> tuple[dict[str, int], list[tuple[str, float]]]:
    """What ``run`` (one operation) executes in PostgreSQL, per operation, over ``times`` runs."""
    cluster.admin("SELECT pg_stat_statements_reset()", database)
    for _ in range(times):
        run()
    rows = cluster.admin(
        "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        f"WHERE d.datname = '{database}' AND query NOT LIKE '%pg_stat_statements%'",
        database,
    )
    per_op = sorted(((str(q), int(str(c)) / times) for q, c in rows), key=lambda r: -r[1])
    mix = {"load": 0.0, "save": 0.0, "audit": 0.0, "locks": 0.0}
    for query, calls in per_op:
        if "SELECT document FROM" in query:
            mix["load"] += calls
        elif "INSERT INTO" in query and "_documents" in query:
            mix["save"] += calls
        elif "INSERT INTO" in query and "_audit" in query:
            mix["audit"] += calls
        elif "set_config('lock_timeout'" in query:
            mix["locks"] += calls
    return {k: round(v) for k, v in mix.items()}, per_op


def trivial_server() -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", TRIVIAL_APP, str(port)])
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/")
            connection.getresponse().read()
            return process, ("127.0.0.1", port)
        if time.monotonic() > deadline:
            raise RuntimeError("the trivial app did not start")
        time.sleep(0.05)


def requests_per_operation(replica: Replica, run: Callable[[], None], times: int) -> int:
    """HTTP requests a device makes for one operation (the service's own request counter)."""

    def total() -> float:
        text = http_get(f"{replica.url}/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("walletbackup_http_requests_total{") and "/v1/" in line
        )

    before = total()
    for _ in range(times):
        run()
    return round((total() - before) / times)


def http_get(url: str) -> str:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(url, timeout=30) as answer:
        return str(answer.read().decode())


# --- the run ----------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few seconds")
    quick = parser.parse_args().quick
    levels = (1, 16) if quick else (1, 16, 64)
    rounds, seconds = (1, 0.5) if quick else (3, 1.5)
    header("custodian service: requests per second and latency, 1 and 2 replicas")
    bench_methods.install()
    directory = Path(tempfile.mkdtemp(prefix="wb-bench-service-"))
    with cluster_with_statements() as cluster:
        database = "bench"
        store = password_to_env(cluster.create_database(database), os.environ)
        cluster.admin("CREATE EXTENSION pg_stat_statements", database)
        stores = ("--store", store)
        keys = add_tenant("bench", *stores)
        kms = ("--kms", create_kms_key(directory / "custodian.key"))
        options = (*stores, *kms, *without_rate_limits(directory))  # load, not one person
        replicas = [serve(*options) for _ in range(2)]
        trivial, address = trivial_server()
        load = Load(directory)
        try:
            run_all(
                cluster,
                database,
                replicas,
                keys["backend_key"],
                address,
                load,
                levels,
                rounds,
                seconds,
            )
        finally:
            load.close()
            trivial.terminate()
            trivial.wait(30)
            for replica in replicas:
                replica.stop()


def run_all(
    cluster: PostgresCluster,
    database: str,
    replicas: list[Replica],
    backend_key: str,
    address: tuple[str, int],
    load: Load,
    levels: tuple[int, ...],
    rounds: int,
    seconds: float,
) -> None:
    from walletbackup import WalletBackup  # noqa: PLC0415

    most = max(levels)
    tokens = [mint_token(replicas[0].url, backend_key, f"user-{n}", 86400) for n in range(most)]
    devices = [Device(token, n) for n, token in enumerate(tokens)]
    # Every device's wallet exists (recovery needs one), backed up once.
    for device in devices:
        with WalletBackup(custodian=replicas[0].url, token=device.token, device_state=None) as wb:
            wb.backup_wallet(
                "w",
                SHARE,
                method=bench_methods.PASS,
                custodian_share=CUSTODIAN,
                passphrase=PASSPHRASE,
            )

    probe = WalletBackup(custodian=replicas[0].url, token=tokens[0], device_state=None)
    ops = {
        "backup": lambda: probe.backup_wallet(
            "w",
            SHARE,
            method=bench_methods.PASS,
            custodian_share=CUSTODIAN,
            replace=True,
            passphrase=PASSPHRASE,
        ),
        "recover": lambda: probe.recover_wallet(
            "w", method=bench_methods.PASS, passphrase=PASSPHRASE
        ),
    }
    mixes, requests = {}, {}
    print("   statements per operation in PostgreSQL (pg_stat_statements, calls per operation):")
    for operation, run in ops.items():
        requests[operation] = requests_per_operation(replicas[0], run, 10)
        mixes[operation], per_op = statements_per_operation(cluster, database, run, 20)
        for query, calls in per_op:
            print(f"     {operation:<8} {calls:5.2f}  {' '.join(query.split())[:100]}")
        print(
            f"     {operation:<8} → replayed as {mixes[operation]}; "
            f"{requests[operation]} HTTP requests"
        )
    probe.close()
    size = cluster.admin("SELECT max(length(document)) FROM walletbackup_documents", database)
    cluster.admin(
        "CREATE TABLE raw_documents (LIKE walletbackup_documents INCLUDING ALL)", database
    )
    cluster.admin(
        "CREATE TABLE raw_audit (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "wallet_id text, at timestamptz NOT NULL, record bytea NOT NULL)",
        database,
    )
    conninfo = cluster.url(database)
    targets: dict[str, tuple[str, dict[str, Any]]] = {
        "service, 1 replica": ("service", {"urls": [replicas[0].url]}),
        "service, 2 replicas": ("service", {"urls": [r.url for r in replicas]}),
        "raw psycopg": (
            "raw",
            {"conninfo": conninfo, "mix": mixes, "document_bytes": int(str(size[0][0]))},
        ),
        "trivial ASGI": ("trivial", {"address": list(address), "requests": requests}),
    }
    meter = CpuMeter(cluster)
    meter.replicas = [r.pid for r in replicas]
    results: dict[tuple[str, str, int], dict[str, list[float]]] = {}
    names = list(targets)
    for operation in OPERATIONS:
        for level in levels:
            for number in range(rounds):
                shift = number % len(names)
                for name in names[shift:] + names[:shift]:
                    kind, target = targets[name]
                    replica_cpu, pg_cpu = meter.read()
                    began = time.perf_counter()
                    latencies, sample, errors, gen_cpu = load.run(
                        kind, operation, target, devices[:level], seconds
                    )
                    wall = time.perf_counter() - began
                    replica_after, pg_after = meter.read()
                    cell = results.setdefault((operation, str(level), name), {})
                    done = max(1, len(latencies))
                    for label, value in (
                        ("rate", len(latencies) / seconds),
                        ("p50", percentile(latencies, 0.5)),
                        ("p99", percentile(latencies, 0.99)),
                        ("errors", float(errors)),
                        ("replica_cpu", (replica_after - replica_cpu) / done),
                        ("pg_cpu", (pg_after - pg_cpu) / done),
                        ("gen_cpu", gen_cpu / wall),
                    ):
                        cell.setdefault(label, []).append(value)
                    if sample:
                        print(f"   {name}, {operation}, {level} devices: {errors} errors: {sample}")
    report(results, levels, names)


def report(
    results: dict[tuple[str, str, int], dict[str, list[float]]],
    levels: tuple[int, ...],
    names: list[str],
) -> None:
    rows = []
    for (operation, level, name), cell in results.items():
        rate = median(cell["rate"])
        rows.append(
            [
                operation,
                level,
                name,
                f"{rate:,.0f}",
                f"{median(cell['p50']) * 1000:.1f}",
                f"{median(cell['p99']) * 1000:.1f}",
                f"{sum(cell['errors']):.0f}",
                f"{median(cell['replica_cpu']) * 1000:.2f}" if name.startswith("service") else "-",
                f"{median(cell['pg_cpu']) * 1000:.2f}" if name != "trivial ASGI" else "-",
                f"{median(cell['gen_cpu']):.2f}",
            ]
        )
    print()
    table(
        [
            "op",
            "devices",
            "contender",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "replica CPU ms/op",
            "PG CPU ms/op",
            "generator cores",
        ],
        rows,
    )
    print()
    for operation in OPERATIONS:
        for level in map(str, levels):
            one = results[(operation, level, "service, 1 replica")]
            two = results[(operation, level, "service, 2 replicas")]
            raw = results[(operation, level, "raw psycopg")]
            ratio = median(one["p50"]) / median(raw["p50"])
            gain = median(two["rate"]) / median(one["rate"])
            print(
                f"   {operation}, {level} devices: service p50 / raw psycopg p50 = {ratio:.2f} "
                f"(target ≤ {TARGET_RATIO:g}: {verdict(ratio <= TARGET_RATIO)}); "
                f"2 replicas / 1 = {gain:.2f}x ops/s"
            )
    top = str(max(levels))
    errors = sum(
        sum(results[(op, top, name)]["errors"])
        for op in OPERATIONS
        for name in names
        if name.startswith("service")
    )
    print(f"   errors at {top} devices: {errors:.0f} (target 0: {verdict(errors == 0)})")
    for operation in OPERATIONS:
        cell = results[(operation, top, "service, 2 replicas")]
        replica, pg = median(cell["replica_cpu"]), median(cell["pg_cpu"])
        print(
            f"   {operation}: CPU per operation at {top} devices: "
            f"replicas {replica * 1000:.2f} ms, PostgreSQL {pg * 1000:.2f} ms -> at most "
            f"{1 / (replica + pg):,.0f} ops/s per core for replicas and database together; "
            f"replicas alone {1 / replica:,.0f} ops/s per core (PostgreSQL's share is "
            f"{pg / (replica + pg):.0%})"
        )


if __name__ == "__main__":
    main()
