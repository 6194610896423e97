"""``walletbackup check`` over 10,000 wallets against reading the same records raw.

The wallets are made through the API (``backup_wallet``, managed mode) with the fast HKDF method
``quickpass`` of tests/fixtures/quick_methods.py, installed the way the tests install it (its
fake distribution ``walletbackup-quick`` put on ``sys.path``). The loader makes them in a
``memory:`` store sharing the SQLite run's KMS key file, then writes the documents the API made
into a SQLite store the store itself created, with raw ``sqlite3`` in one transaction, as
restoring a copy of the database would: saving 10,000 documents one by one through the store
(a durable commit and a WAL checkpoint each) would take minutes on this machine and is what
bench_sqlite_store.py measures.

Contenders, interleaved (each round runs every one, in a rotating order), on that database:

- ``check_backups()``: the API's check of every wallet (record, envelopes, pairing, custodian
  share opened under the KMS, presence and due), in this process;
- ``walletbackup check --quiet``: the same from the command line, process start included;
- *raw read* (the baseline): every document read with raw ``sqlite3``;
- *floor*: the raw read plus what no check of this depth can skip per wallet: decoding the
  record's JSON and base64 and two AES-256-GCM decryptions (the KMS unwrap of the envelope's key
  and the payload), with ``cryptography`` on blobs of the same sizes.

    python bench/bench_check.py [--wallets 10000] [--rounds 5] [--dir DIR] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import pstats
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import benchlib
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
QUICK_DIST = FIXTURES / "plugins" / "quick"
PASSPHRASE = "bench passphrase"


def install_quick_methods() -> dict[str, str]:
    """Install the fake distribution walletbackup-quick here; the environment for a child."""
    sys.path[:0] = [str(FIXTURES), str(QUICK_DIST)]
    os.environ["WALLETBACKUP_PLUGINS"] = "quick"
    from walletbackup import plugins  # noqa: PLC0415 - after the path is set

    plugins.reset_plugins()
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(QUICK_DIST)]),
        "WALLETBACKUP_PLUGINS": "quick",
    }


def load(count: int, database: Path, kms: str) -> float:
    """Make ``count`` wallets through the API and put them in the SQLite store; seconds taken."""
    from walletbackup import WalletBackup, split_secret  # noqa: PLC0415 - after install
    from walletbackup.stores.memory import MemoryStore  # noqa: PLC0415
    from walletbackup.stores.sqlite import SqliteStore  # noqa: PLC0415

    start = time.perf_counter()
    memory = MemoryStore("memory:")
    with WalletBackup(store=memory, kms=kms, device_state=None) as wb:
        for index in range(count):
            client, custodian = split_secret(secrets.token_bytes(32))
            wb.backup_wallet(
                f"wallet-{index:05d}",
                client,
                method="quickpass",
                passphrase=PASSPHRASE,
                custodian_share=custodian,
            )
    SqliteStore(f"sqlite://{database}").close()  # the store makes its own schema
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    rows = [(w, memory.load(w), now) for w in memory.wallets()]
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.executemany(
            "INSERT INTO documents (wallet_id, document, updated_at) VALUES (?, ?, ?)", rows
        )
    return time.perf_counter() - start


def raw_read(database: Path) -> Callable[[], object]:
    def read() -> int:
        with closing(sqlite3.connect(database)) as conn:
            rows = conn.execute("SELECT wallet_id, document FROM documents ORDER BY wallet_id")
            return sum(len(document) for _, document in rows)

    return read


def floor(database: Path) -> Callable[[], object]:
    """The raw read, the record decoded, and the two AES-GCM decryptions per wallet."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    wrapped = AESGCM(key).encrypt(nonce, os.urandom(32), b"stanza")
    payload = AESGCM(key).encrypt(nonce, os.urandom(64), b"header")

    def read_and_open() -> int:
        opened = 0
        with closing(sqlite3.connect(database)) as conn:
            rows = conn.execute("SELECT wallet_id, document FROM documents ORDER BY wallet_id")
            for _, document in rows:
                record = json.loads(document)
                current = record["current"]
                for name in ("client_envelope", "custodian_envelope"):
                    text = current[name]
                    base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                aead = AESGCM(key)
                opened += len(aead.decrypt(nonce, wrapped, b"stanza"))
                opened += len(aead.decrypt(nonce, payload, b"header"))
        return opened

    return read_and_open


def api_check(store: str, kms: str, count: int) -> Callable[[], object]:
    from walletbackup import WalletBackup  # noqa: PLC0415 - after install

    def check() -> None:
        with WalletBackup(store=store, kms=kms, device_state=None) as wb:
            results = wb.check_backups()
        if len(results) != count or not all(result.ok for result in results):
            raise AssertionError("the check found a problem in the bench's own wallets")

    return check


def cli_check(store: str, kms: str, env: dict[str, str], home: Path) -> Callable[[], object]:
    command = [sys.executable, "-m", "walletbackup", "--store", store, "--kms", kms]

    def check() -> None:
        result = subprocess.run(
            [*command, "check", "--quiet"],
            capture_output=True,
            text=True,
            env={**env, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")},
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"walletbackup check exited {result.returncode}: {result.stdout}")

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", help="where the database goes (default: the temp directory)")
    parser.add_argument("--profile", action="store_true", help="cProfile one API check")
    options = parser.parse_args()

    benchlib.header(f"walletbackup check: {options.wallets} wallets (SQLite store, local KMS)")
    env = install_quick_methods()
    with tempfile.TemporaryDirectory(prefix="bench-check-", dir=options.dir) as tmp:
        base = Path(tmp)
        database = base / "store.db"
        store, kms = f"sqlite://{database}", f"local://{base / 'custodian.key'}"
        print(f"   database in {tmp} ({benchlib.filesystem(os.path.realpath(tmp))})")
        seconds = load(options.wallets, database, kms)
        size = database.stat().st_size / 1e6
        print(f"   loaded {options.wallets} wallets in {seconds:.1f} s ({size:.1f} MB)")
        if options.profile:
            profiler = cProfile.Profile()
            profiler.runcall(api_check(store, kms, options.wallets))
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        contenders = {
            "check_backups()": api_check(store, kms, options.wallets),
            "walletbackup check --quiet": cli_check(store, kms, env, base),
            "raw read": raw_read(database),
            "floor": floor(database),
        }
        timings = benchlib.interleaved(contenders, options.rounds)

    print(f"   {options.rounds} interleaved rounds; medians")
    rows = []
    for name in contenders:
        wall = benchlib.median(timings.wall[name])
        rows.append(
            [
                name,
                f"{wall:.3f}",
                f"{wall / options.wallets * 1e6:.0f}",
                f"{timings.paired_ratio('wall', name, 'raw read'):.1f}",
                f"{timings.paired_ratio('wall', name, 'floor'):.2f}",
            ]
        )
    benchlib.table(["contender", "wall s", "us/wallet", "/ raw read", "/ floor"], rows)


if __name__ == "__main__":
    main()
