"""Why SQLite reads grow with the store: ``status`` and ``audit_log(w)`` at 100,000 wallets.

A profile, not a benchmark (``nox -s bench`` runs only ``bench_*.py``): docs/performance.md
cites its figures where it explains the two reads of the SQLite store that miss the 1.3 target.

It builds SQLite stores of ``--sizes`` wallets (3 audit events each) with bench/loader.py, as
bench_stores.py does, closes them (the last connection copies the WAL into the database), and
makes of each a *clustered* copy: the same file with the audit table rebuilt as a WITHOUT ROWID
table keyed ``(wallet_id, seq)``, so one wallet's records sit next to each other. Then,
interleaved (every contender on every size in each round, in a rotating order; each read on a
different wallet, picked as bench_stores.py picks them), it times:

- the API: ``backup_status(w)`` and ``audit_log(w)`` (what bench_stores.py times);
- the store: ``SqliteStore.load(w)`` and ``list(SqliteStore.audit_records(w))``;
- raw ``sqlite3``: the store's own SELECTs on the same file with the store's PRAGMAs (WAL,
  ``synchronous=NORMAL``, ``secure_delete``, a 256 MiB memory map, a 16 MiB page cache);
- the same raw SELECTs with a memory map that covers the whole file (1 GiB);
- the audit SELECT on the clustered copy, with the store's PRAGMAs.

Ratios are the median over rounds of (largest size / smallest size). Then, per read, what it
touches: SQLite VM steps (``set_progress_handler``), read system calls (``syscr`` of
/proc/self/io, which counts the ``pread`` of a page SQLite does not find in its memory map or
cache) and minor page faults (``getrusage``: first touches of the memory map), averaged over
``--count`` reads; and, from ``dbstat``, each B-tree's pages, depth and where in the file it
lies (a page past 256 MiB is outside the store's memory map).

    python bench/profile_sqlite_reads.py [--sizes 100,100000] [--rounds 11] [--reps 20]
                                         [--count 300] [--dir DIR] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bench_methods
import benchlib
import loader

bench_methods.install()

from walletbackup import WalletBackup  # noqa: E402 - after the bench methods are installed
from walletbackup.kms.local import LocalKms  # noqa: E402
from walletbackup.stores import SqliteStore  # noqa: E402

PAGE = 4096
STORE_MMAP = 256 << 20
WHOLE_MMAP = 1 << 30
LOAD = "SELECT document FROM documents WHERE wallet_id = ?"
# The store's query for one wallet's records (stores/sqlite.py, one page of 500).
AUDIT = (
    "SELECT seq, wallet_id, at, record FROM audit WHERE wallet_id = ? AND seq > ?"
    " ORDER BY seq LIMIT ?"
)
CLUSTER = (
    "CREATE TABLE audit_clustered (wallet_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " at TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (wallet_id, seq)) WITHOUT ROWID",
    "INSERT INTO audit_clustered SELECT wallet_id, seq, at, record FROM audit",
    "DROP TABLE audit",
    "ALTER TABLE audit_clustered RENAME TO audit",
)


def raw(path: Path, mmap: int) -> sqlite3.Connection:
    """A connection set up as the store sets up its own (stores/sqlite.py)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute(f"PRAGMA mmap_size = {mmap:d}")
    conn.execute("PRAGMA cache_size = -16384")
    return conn


def clustered_copy(path: Path) -> Path:
    copy = path.with_name(path.stem + "-clustered.db")
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("BEGIN")
    for statement in CLUSTER:
        conn.execute(statement)
    conn.execute("CREATE INDEX audit_by_time ON audit (at)")
    conn.execute("COMMIT")
    conn.close()
    return copy


class Subject:
    """One size: the store (and a device on it), raw connections, the clustered copy."""

    def __init__(self, size: int, path: Path, kms: str) -> None:
        self.size, self.path = size, path
        self.store = SqliteStore(f"sqlite://{path}")
        self.wb = WalletBackup(store=self.store, kms=kms, device_state=None)
        self.raw = raw(path, STORE_MMAP)
        self.whole = raw(path, WHOLE_MMAP)
        self.copy = clustered_copy(path)
        self.clustered = raw(self.copy, STORE_MMAP)
        self.picks = itertools.count(7)

    def pick(self) -> str:
        """A loaded wallet, a different one each time (as bench_stores.py picks them)."""
        return loader.wallet_id(next(self.picks) * 7919 % self.size)

    def reads(self) -> dict[str, Callable[[str], object]]:
        def audit(conn: sqlite3.Connection) -> Callable[[str], object]:
            return lambda w: conn.execute(AUDIT, (w, 0, 500)).fetchall()

        def load(conn: sqlite3.Connection) -> Callable[[str], object]:
            return lambda w: conn.execute(LOAD, (w,)).fetchone()

        return {
            "API backup_status": self.wb.backup_status,
            "store load": self.store.load,
            "raw load": load(self.raw),
            "raw load, 1 GiB mmap": load(self.whole),
            "API audit_log(w)": self.wb.audit_log,
            "store audit_records": lambda w: list(self.store.audit_records(w)),
            "raw audit": audit(self.raw),
            "raw audit, 1 GiB mmap": audit(self.whole),
            "clustered audit": audit(self.clustered),
        }

    def close(self) -> None:
        self.wb.close()
        for conn in (self.raw, self.whole, self.clustered):
            conn.close()


def build(sizes: list[int], where: Path, kms: str) -> list[Subject]:
    start = time.perf_counter()
    records = loader.make_records(max(sizes), kms)
    print(f"   sealed {max(sizes)} wallet records in {time.perf_counter() - start:.0f} s")
    subjects = []
    for size in sizes:
        path = where / f"sqlite-{size}.db"
        start = time.perf_counter()
        store = SqliteStore(f"sqlite://{path}")
        loader.load(store, records[:size])
        store.close()  # the last connection copies the WAL into the database
        subjects.append(Subject(size, path, kms))
        print(
            f"   loaded {size:>7} wallets and made the clustered copy: "
            f"{time.perf_counter() - start:5.1f} s ({path.stat().st_size / 1e6:.0f} MB)"
        )
    return subjects


def measure(subjects: list[Subject], rounds: int, reps: int) -> dict[tuple[str, int], list[float]]:
    """Per (read, size): one figure per round, the median of ``reps`` reads."""
    found: dict[tuple[str, int], list[float]] = {}
    for number in range(rounds):
        order = subjects[number % len(subjects) :] + subjects[: number % len(subjects)]
        for subject in order:
            reads = list(subject.reads().items())
            shift = number % len(reads)
            for name, read in reads[shift:] + reads[:shift]:
                times = []
                for _ in range(reps):
                    wallet = subject.pick()
                    start = time.perf_counter()
                    read(wallet)
                    times.append(time.perf_counter() - start)
                found.setdefault((name, subject.size), []).append(benchlib.median(times))
    return found


def syscalls_read() -> int:
    with open("/proc/self/io", encoding="ascii") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("syscr"))


def touched(subject: Subject, count: int) -> dict[str, tuple[float, float, float | None]]:
    """Per read: read syscalls, minor faults and (raw connections) VM steps, per read."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    raw_conns = {
        "raw load": subject.raw,
        "raw load, 1 GiB mmap": subject.whole,
        "raw audit": subject.raw,
        "raw audit, 1 GiB mmap": subject.whole,
        "clustered audit": subject.clustered,
    }
    result = {}
    for name, read in subject.reads().items():
        wallets = [subject.pick() for _ in range(count)]
        conn = raw_conns.get(name)
        if conn is not None:
            conn.set_progress_handler(step, 1)
        steps[0] = 0
        calls, faults = syscalls_read(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for wallet in wallets:
            read(wallet)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        calls = syscalls_read() - calls - 1  # less the read of /proc/self/io itself
        if conn is not None:
            conn.set_progress_handler(None, 1)
        vm = steps[0] / count if conn is not None else None
        result[name] = (calls / count, faults / count, vm)
    return result


def btrees(path: Path) -> list[tuple[str, int, int, float, float]]:
    """Per B-tree: pages, depth, and the first and last of its pages' offsets in MiB."""
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT name, count(*), max(length(path) - length(replace(path, '/', ''))),"
        " min(pageno), max(pageno) FROM dbstat WHERE pagetype != 'overflow'"
        " GROUP BY name ORDER BY name"
    ).fetchall()
    conn.close()
    return [
        (name, pages, depth, (first - 1) * PAGE / 2**20, last * PAGE / 2**20)
        for name, pages, depth, first, last in rows
        if not name.startswith("sqlite_s")
    ]


def profile(subjects: list[Subject], count: int) -> None:
    """Where the store's ``audit_records(w)`` goes, at each size."""
    for subject in subjects:
        profiler = cProfile.Profile()
        wallets = [subject.pick() for _ in range(count)]
        profiler.enable()
        for wallet in wallets:
            list(subject.store.audit_records(wallet))
        profiler.disable()
        print(f"   profile: {count} audit_records(w), {subject.size} wallets")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(8)


def report(found: dict[tuple[str, int], list[float]], sizes: list[int], names: list[str]) -> None:
    small, big = sizes[0], sizes[-1]
    rows = []
    for name in names:
        base, top = found[(name, small)], found[(name, big)]
        ratio = benchlib.median([t / b for t, b in zip(top, base, strict=True)])
        grew = (benchlib.median(top) - benchlib.median(base)) * 1e6
        rows.append(
            [
                name,
                f"{benchlib.median(base) * 1e6:.1f}",
                f"{benchlib.median(top) * 1e6:.1f}",
                f"{grew:+.1f}",
                f"{ratio:.2f}",
            ]
        )
    benchlib.table(["read", f"us @{small}", f"us @{big}", "us added", f"x{small}"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,100000")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--count", type=int, default=300, help="reads per count of pages")
    parser.add_argument("--dir", help="where the stores go (default: the temp directory)")
    parser.add_argument("--profile", action="store_true", help="cProfile audit_records(w)")
    options = parser.parse_args()
    sizes = sorted(int(size) for size in options.sizes.split(","))

    benchlib.header("SQLite reads: where the growth with the store's size comes from")
    print(f"   SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(prefix="profile-sqlite-", dir=options.dir) as tmp:
        where = Path(tmp)
        print(f"   stores in {tmp} ({benchlib.filesystem(os.path.realpath(tmp))})")
        kms = f"local://{where / 'custodian.key'}"
        LocalKms(kms).create_key()
        subjects = build(sizes, where, kms)
        names = list(subjects[0].reads())
        found = measure(subjects, options.rounds, options.reps)
        print(
            f"   {options.rounds} interleaved rounds, {options.reps} reads (different wallets) "
            "per read, size and round; medians; x: median of the per-round ratios"
        )
        report(found, sizes, names)
        for subject in subjects:
            print(f"   what one read touches, {subject.size} wallets ({options.count} reads):")
            rows = [
                [name, f"{calls:.2f}", f"{faults:.2f}", "-" if vm is None else f"{vm:.0f}"]
                for name, (calls, faults, vm) in touched(subject, options.count).items()
            ]
            benchlib.table(["read", "read syscalls", "minor faults", "VM steps"], rows)
        for subject in subjects:
            for label, path in (("store", subject.path), ("clustered copy", subject.copy)):
                print(f"   B-trees, {label}, {subject.size} wallets (the map covers 256 MiB):")
                benchlib.table(
                    ["b-tree", "pages", "depth", "from MiB", "to MiB"],
                    [
                        [name, pages, depth, f"{first:.0f}", f"{last:.0f}"]
                        for name, pages, depth, first, last in btrees(path)
                    ],
                )
        if options.profile:
            profile(subjects, options.count)
        for subject in subjects:
            subject.close()


if __name__ == "__main__":
    main()
