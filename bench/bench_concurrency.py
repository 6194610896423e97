"""Throughput of 1, 2 and 4 processes backing up distinct wallets in one store.

Each process opens the store (``sqlite:`` or ``file:``, preloaded with ``--wallets`` wallets by
bench/loader.py) with its own device (``device_state=None``) and backs up new wallets of its own
with ``benchpass`` (no KDF) for ``--seconds``; the processes start together. Throughput is the
total of backups over the window; the figure for N processes is the median over ``--rounds``
(the counts 1, 2, 4 interleaved in a rotating order) and its ratio to one process the median of
per-round ratios. "CPU busy" is the processes' CPU time over the window times the cores: what
the machine did, against what it could. Target: 2 processes >= 1.5 x one.

    python bench/bench_concurrency.py [--wallets 10000] [--seconds 4] [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_methods
import benchlib
import loader

bench_methods.install()

from walletbackup import WalletBackup  # noqa: E402 - after the bench methods are installed
from walletbackup.kms.local import LocalKms  # noqa: E402
from walletbackup.stores import open_store  # noqa: E402

TARGET = 1.5
COUNTS = (1, 2, 4)
SHARE = bytes(range(32))


def child(store: str, kms: str, seconds: float, prefix: str) -> None:
    """One process: wait for "go", back up new wallets until the time is up, print the count."""
    wb = WalletBackup(store=store, kms=kms, device_state=None)
    wb.backup_wallet(
        f"{prefix}-warm", SHARE, method="benchpass", passphrase="p", custodian_share=SHARE
    )
    print("ready", flush=True)
    sys.stdin.readline()
    cpu, start, done = time.process_time(), time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        wb.backup_wallet(
            f"{prefix}-{done}", SHARE, method="benchpass", passphrase="p", custodian_share=SHARE
        )
        done += 1
    print(done, time.process_time() - cpu, time.perf_counter() - start, flush=True)
    wb.close()


def run(store: str, kms: str, count: int, seconds: float, tag: str) -> tuple[float, float]:
    """Backups per second of ``count`` processes together, and the CPU they kept busy."""
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", store, kms, str(seconds), f"{tag}-{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    for process in children:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a bench process failed to start")
    for process in children:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    done = cpu = wall = 0.0
    for process in children:
        out, _ = process.communicate(timeout=seconds * 10 + 60)
        made, used, elapsed = out.split()
        done, cpu, wall = done + int(made), cpu + float(used), max(wall, float(elapsed))
    return done / wall, cpu / (wall * (os.cpu_count() or 1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="where the stores go (default: the temp directory)")
    options = parser.parse_args()

    benchlib.header(f"Processes backing up distinct wallets in one store of {options.wallets}")
    with tempfile.TemporaryDirectory(prefix="bench-procs-", dir=options.dir) as tmp:
        where = Path(tmp)
        print(f"   stores in {tmp} ({benchlib.filesystem(os.path.realpath(tmp))})")
        kms = f"local://{where / 'custodian.key'}"
        LocalKms(kms).create_key()
        records = loader.make_records(options.wallets, kms)
        for url in (f"sqlite://{where / 'backups.db'}", f"file://{where / 'store'}"):
            store = open_store(url)
            loader.load(store, records)
            store.close()
            rates: dict[int, list[float]] = {n: [] for n in COUNTS}
            busy: dict[int, list[float]] = {n: [] for n in COUNTS}
            for number in range(options.rounds):
                shift = number % len(COUNTS)
                for count in COUNTS[shift:] + COUNTS[:shift]:
                    rate, cpu = run(url, kms, count, options.seconds, f"r{number}-p{count}")
                    rates[count].append(rate)
                    busy[count].append(cpu)
            rows = []
            for count in COUNTS:
                ratio = benchlib.median(
                    [mine / one for mine, one in zip(rates[count], rates[1], strict=True)]
                )
                rows.append(
                    [
                        str(count),
                        f"{benchlib.median(rates[count]):.1f}",
                        f"{ratio:.2f}",
                        f"{benchlib.median(busy[count]) * 100:.0f} %",
                    ]
                )
            print(f"   {url.partition(':')[0]}:")
            benchlib.table(["processes", "backups/s", "x one", "CPU busy"], rows)
            two = float(rows[1][2])
            print(
                f"   {url.partition(':')[0]}: 2 processes = {two:.2f} x one "
                f"(target >= {TARGET:g}: {benchlib.verdict(two >= TARGET)})"
            )


if __name__ == "__main__":
    main()
