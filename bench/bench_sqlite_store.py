"""The SQLite store against raw ``sqlite3`` doing the same writes with the same durability.

One API operation that changes a wallet (a method change, a re-backup) makes these store writes:
under the wallet's lock, the pending revision is saved, then the promoted record (and the
custodian syncs: the change must be on disk before the device hears it is current), then the
audit event is appended. The contenders, on wallets that already have a record (real documents
from bench/loader.py, 2 distinct ones per wallet so every write changes the bytes):

- ``SqliteStore``: ``lock`` + ``operation()`` + ``save`` + ``save`` + ``sync()``, then
  ``append_audit``, as the custodian does it;
- raw ``sqlite3``, each write durable when it returns (what the store did before: WAL,
  ``synchronous=FULL``, a transaction per write), same tables and indexes: **the baseline**;
- raw, the three writes in one durable transaction (the floor: less durable on the way, since
  the pending revision is not on disk before the promote);
- raw, each write durable, plus the scrub policy (``secure_delete``, one TRUNCATE checkpoint per
  operation): what keeping the policy costs on its own.

Wallets are written in chunks; each chunk runs every contender, in a rotating order, each in its
own database in one temporary directory. Ratios are medians of per-chunk ratios. Target: the
store <= 2 x the baseline, for writes and for reads (``load`` against a raw ``SELECT``).

    python bench/bench_sqlite_store.py [--wallets 2000] [--chunk 100] [--dir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import bench_methods
import benchlib
import loader

bench_methods.install()

from walletbackup.kms.local import LocalKms  # noqa: E402 - after the bench methods are installed
from walletbackup.stores.sqlite import SqliteStore  # noqa: E402

TARGET_RATIO = 2.0
SCHEMA = (
    "CREATE TABLE documents (wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, wallet_id TEXT,"
    " at TEXT NOT NULL, record BLOB NOT NULL)",
    "CREATE INDEX audit_by_wallet ON audit (wallet_id, seq)",
    "CREATE INDEX audit_by_time ON audit (at)",
)
UPSERT = (
    "INSERT INTO documents (wallet_id, document, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (wallet_id) DO UPDATE"
    " SET document = excluded.document, updated_at = excluded.updated_at"
)
AUDIT = "INSERT INTO audit (wallet_id, at, record) VALUES (?, ?, ?)"
SELECT = "SELECT document FROM documents WHERE wallet_id = ?"
RECORD = b'{"method":"benchpass","mode":"managed","outcome":"ok","type":"add_method"}'


def stamp() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


class Raw:
    """Bare sqlite3 with the store's tables, WAL and ``synchronous=FULL``."""

    def __init__(self, path: Path, *, scrub: bool = False, one_transaction: bool = False) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)  # autocommit: a commit per write
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.scrub, self.one_transaction = scrub, one_transaction
        if scrub:
            self.conn.execute("PRAGMA secure_delete = ON")
        for statement in SCHEMA:
            self.conn.execute(statement)

    def fill(self, documents: dict[str, bytes]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany(UPSERT, [(w, d, stamp()) for w, d in documents.items()])
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def operation(self, wallet: str, pending: bytes, current: bytes) -> None:
        if self.one_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(UPSERT, (wallet, pending, stamp()))
        self.conn.execute(UPSERT, (wallet, current, stamp()))
        if self.scrub:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.conn.execute(AUDIT, (wallet, stamp(), RECORD))
        if self.one_transaction:
            self.conn.execute("COMMIT")

    def read(self, wallet: str) -> bytes | None:
        row = self.conn.execute(SELECT, (wallet,)).fetchone()
        return None if row is None else bytes(row[0])


def store_operation(store: SqliteStore) -> Callable[[str, bytes, bytes], None]:
    def operation(wallet: str, pending: bytes, current: bytes) -> None:
        with store.lock(wallet), store.operation():
            store.save(wallet, pending)
            store.save(wallet, current)
            store.sync()
        store.append_audit(RECORD, wallet_id=wallet, at=datetime.datetime.now(datetime.UTC))

    return operation


def chunked(
    contenders: dict[str, Callable[[str], object]], wallets: Sequence[str], chunk: int
) -> dict[str, list[float]]:
    """Seconds per chunk per contender; every contender does each chunk before the next one."""
    names = list(contenders)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for number, first in enumerate(range(0, len(wallets), chunk)):
        part = wallets[first : first + chunk]
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            action = contenders[name]
            start = time.perf_counter()
            for wallet in part:
                action(wallet)
            timings[name].append(time.perf_counter() - start)
    return timings


def report(
    phase: str, timings: dict[str, list[float]], baseline: str, count: int, target: str
) -> None:
    rows = []
    for name, chunks in timings.items():
        ratios = [mine / base for mine, base in zip(chunks, timings[baseline], strict=True)]
        rows.append(
            [
                name,
                f"{sum(chunks):.2f}",
                f"{sum(chunks) / count * 1e6:.0f}",
                f"{benchlib.median(ratios):.2f}",
            ]
        )
    print(f"   {phase}:")
    benchlib.table(["contender", "total s", "us each", "ratio (median of chunks)"], rows)
    ratio = benchlib.median(
        [mine / base for mine, base in zip(timings[target], timings[baseline], strict=True)]
    )
    met = benchlib.verdict(ratio <= TARGET_RATIO)
    print(f"   {phase}: {target} / {baseline} = {ratio:.2f} (target <= {TARGET_RATIO:g}: {met})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--dir", help="where the databases go (default: the temp directory)")
    options = parser.parse_args()

    benchlib.header(f"SQLite store: {options.wallets} operations' writes, then reads")
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-", dir=options.dir) as tmp:
        where = Path(tmp)
        print(f"   databases in {tmp} ({benchlib.filesystem(os.path.realpath(tmp))})")
        kms = f"local://{where / 'custodian.key'}"
        LocalKms(kms).create_key()
        records = loader.make_records(options.wallets, kms)
        wallets = [wallet for wallet, _ in records]
        first = dict(records)
        # A second real document per wallet: another wallet's, so every write changes bytes.
        second = {w: records[(n + 1) % len(records)][1] for n, w in enumerate(wallets)}
        sizes = sorted(len(document) for document in first.values())
        print(f"   documents from the loader: {sizes[0]} to {sizes[-1]} bytes")
        store = SqliteStore(f"sqlite://{where / 'store.db'}")
        with store.operation():
            for wallet, document in records:
                store.save(wallet, document)
        contenders = {
            "SqliteStore (one operation)": store_operation(store),
            "raw sqlite3, each write durable": Raw(where / "raw.db").operation,
            "raw, one durable transaction": Raw(where / "one.db", one_transaction=True).operation,
            "raw, each durable + scrub": Raw(where / "scrub.db", scrub=True).operation,
        }
        for name, operation in contenders.items():
            owner = getattr(operation, "__self__", None)
            if isinstance(owner, Raw):
                owner.fill(first)
            del name
        writes = chunked(
            {
                name: (lambda w, op=op: op(w, second[w], first[w]))
                for name, op in contenders.items()
            },
            wallets,
            options.chunk,
        )
        raw = contenders["raw sqlite3, each write durable"].__self__  # type: ignore[attr-defined]
        reads = chunked({"SqliteStore load": store.load, "raw sqlite3": raw.read}, wallets, 100)
        for wallet in wallets[:: max(1, len(wallets) // 50)]:
            if store.load(wallet) != first[wallet] or raw.read(wallet) != first[wallet]:
                raise AssertionError(f"{wallet} did not read back identical")
        store.close()
    print(f"   {len(wallets) // options.chunk} interleaved chunks of {options.chunk} operations")
    report(
        "writes",
        writes,
        "raw sqlite3, each write durable",
        len(wallets),
        "SqliteStore (one operation)",
    )
    report("reads", reads, "raw sqlite3", len(wallets), "SqliteStore load")


if __name__ == "__main__":
    main()
