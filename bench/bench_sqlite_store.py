"""The SQLite store against raw ``sqlite3`` writing and reading the same bytes.

Wallet documents are real ones: made by ``WalletBackup.backup_wallet`` (managed mode, password
method at the RFC 9106 floor, 32-byte shares), then written for 10,000 wallet ids through the
Store API (per wallet: ``lock`` + ``save``; then ``load`` each) and through raw ``sqlite3``
with the store's table, journal mode (WAL) and ``synchronous=FULL``, one transaction per write
(the store commits per save). A third contender is raw ``sqlite3`` plus what the store adds on
purpose after each save: ``secure_delete`` and a TRUNCATE checkpoint (so a replaced envelope
leaves no copy in the database or its WAL); it shows what that policy costs.

The wallets are written in chunks; each chunk runs every contender, in a rotating order, each
into its own database in one temporary directory. Ratios are medians of the per-chunk ratios.
Target: store / raw <= 2, for writes and for reads.

    python bench/bench_sqlite_store.py [--wallets 10000] [--chunk 500] [--dir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import benchlib

from walletbackup import WalletBackup, split_secret
from walletbackup.kdf import RFC9106_FLOOR
from walletbackup.stores.memory import MemoryStore
from walletbackup.stores.sqlite import SqliteStore

TARGET_RATIO = 2.0
SCHEMA = (
    "CREATE TABLE documents (wallet_id TEXT PRIMARY KEY, document BLOB NOT NULL,"
    " updated_at TEXT NOT NULL)"
)
UPSERT = (
    "INSERT INTO documents (wallet_id, document, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (wallet_id) DO UPDATE"
    " SET document = excluded.document, updated_at = excluded.updated_at"
)
SELECT = "SELECT document FROM documents WHERE wallet_id = ?"


class CountingStore(MemoryStore):
    """A memory store that counts saves: how many store writes one API call makes."""

    saves = 0

    def save(self, wallet_id: str, document: bytes) -> None:
        self.saves += 1
        super().save(wallet_id, document)


def real_documents(count: int) -> tuple[list[bytes], float]:
    """Wallet documents exactly as the API stores them, and saves per ``backup_wallet``."""
    documents = []
    store = CountingStore("memory:")
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
        wb = WalletBackup(store=store, kms=f"local:///{tmp}/custodian.key")
        for index in range(count):
            client, custodian = split_secret(secrets.token_bytes(32))
            wallet = f"wallet-{index:05d}"
            wb.backup_wallet(
                wallet,
                client,
                method="password",
                password="correct horse battery staple 42",
                params=RFC9106_FLOOR,
                custodian_share=custodian,
            )
            document = wb.store.load(wallet)
            assert document is not None
            documents.append(document)
        wb.close()
    return documents, store.saves / count


class Raw:
    """Bare sqlite3 with the store's table and settings; ``scrub`` adds its delete policy."""

    def __init__(self, path: Path, scrub: bool) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)  # autocommit: a commit per write
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.scrub = scrub
        if scrub:
            self.conn.execute("PRAGMA secure_delete = ON")
        self.conn.execute(SCHEMA)

    def write(self, wallet: str, document: bytes) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
        self.conn.execute(UPSERT, (wallet, document, now))
        if self.scrub:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def read(self, wallet: str) -> bytes | None:
        row = self.conn.execute(SELECT, (wallet,)).fetchone()
        return None if row is None else bytes(row[0])


def store_writer(store: SqliteStore) -> Callable[[str, bytes], None]:
    def write(wallet: str, document: bytes) -> None:
        with store.lock(wallet):
            store.save(wallet, document)

    return write


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
    phase: str, timings: dict[str, list[float]], baseline: str, wallets: int, target: str
) -> None:
    rows = []
    for name, chunks in timings.items():
        ratios = [mine / base for mine, base in zip(chunks, timings[baseline], strict=True)]
        rows.append(
            [
                name,
                f"{sum(chunks):.2f}",
                f"{sum(chunks) / wallets * 1e6:.0f}",
                f"{benchlib.median(ratios):.2f}",
                f"{sum(chunks) / sum(timings[baseline]):.2f}",
            ]
        )
    print(f"   {phase}:")
    benchlib.table(
        ["contender", "total s", "us/wallet", "median chunk ratio", "ratio of totals"], rows
    )
    ratio = benchlib.median(
        [mine / base for mine, base in zip(timings[target], timings[baseline], strict=True)]
    )
    met = benchlib.verdict(ratio <= TARGET_RATIO)
    print(f"   {phase}: {target} / {baseline} = {ratio:.2f} (target <= {TARGET_RATIO:g}: {met})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--dir", help="where the databases go (default: the temp directory)")
    options = parser.parse_args()

    benchlib.header(f"SQLite store: {options.wallets} wallets written, then read back")
    documents, saves = real_documents(8)
    sizes = sorted(len(document) for document in documents)
    print(
        f"   documents from the API: {sizes[0]} to {sizes[-1]} bytes; "
        f"a first backup_wallet saves its document {saves:g} times"
    )
    wallets = [f"wallet-{index:05d}" for index in range(options.wallets)]
    document_of = {wallet: documents[i % len(documents)] for i, wallet in enumerate(wallets)}

    with tempfile.TemporaryDirectory(prefix="bench-sqlite-", dir=options.dir) as tmp:
        print(f"   databases in {tmp} ({benchlib.filesystem(os.path.realpath(tmp))})")
        store = SqliteStore(f"sqlite:///{tmp}/store.db")
        raw = Raw(Path(tmp) / "raw.db", scrub=False)
        scrubbed = Raw(Path(tmp) / "raw-scrubbed.db", scrub=True)
        write = store_writer(store)
        writes = chunked(
            {
                "SqliteStore lock+save": lambda w: write(w, document_of[w]),
                "raw sqlite3": lambda w: raw.write(w, document_of[w]),
                "raw + secure_delete + checkpoint": lambda w: scrubbed.write(w, document_of[w]),
            },
            wallets,
            options.chunk,
        )
        reads = chunked(
            {"SqliteStore load": store.load, "raw sqlite3": raw.read},
            wallets,
            options.chunk,
        )
        for wallet in wallets[:: max(1, len(wallets) // 100)]:
            if store.load(wallet) != document_of[wallet] or raw.read(wallet) != document_of[wallet]:
                raise AssertionError(f"{wallet} did not read back identical")
        store.close()
        raw.conn.close()
        scrubbed.conn.close()

    print(f"   {len(wallets) // options.chunk} interleaved chunks of {options.chunk} wallets")
    report("writes", writes, "raw sqlite3", len(wallets), "SqliteStore lock+save")
    policy = benchlib.median(
        [
            mine / base
            for mine, base in zip(
                writes["SqliteStore lock+save"],
                writes["raw + secure_delete + checkpoint"],
                strict=True,
            )
        ]
    )
    print(f"   writes: SqliteStore lock+save / raw with the store's scrub policy = {policy:.2f}")
    report("reads", reads, "raw sqlite3", len(wallets), "SqliteStore load")


if __name__ == "__main__":
    main()
