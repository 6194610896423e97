"""Cost per operation against the number of wallets in the store, for each store; draws the curves.

For each store (``sqlite:``, ``file:``, ``memory:``, and ``postgresql:`` when
walletbackup-postgres and Debian's PostgreSQL server are installed: a throwaway cluster of
tests/fixtures/postgres_cluster.py, one namespace per size) and each size (100, 1,000, 10,000 and
100,000 wallets, each with 3 audit events; loaded by bench/loader.py), the API operations of a
device on that store, with ``benchpass``/``benchtoken`` (no KDF, so the store shows):
``backup`` (a new wallet), ``recover``, ``add-method`` (``benchtoken`` added to a loaded wallet,
``benchpass`` unlocking), ``status`` (``backup_status``), ``audit_log(w)`` (one wallet's events)
and ``wallets()`` (per wallet listed: a listing costs what it lists). Every round runs every
store and size, in a rotating order, each operation ``--reps`` times on different wallets;
a round's figure is the median of its reps, the reported time the median over rounds, and the
ratio to 100 wallets the median of the per-round ratios (pairing cancels drift). Target: every
ratio <= 1.3 at 100,000 wallets. The curves go to ``--png`` (docs/images/store-curves.png).

    python bench/bench_stores.py [--sizes 100,1000,10000,100000] [--file-max N]
                                 [--postgres-max N] [--rounds 7] [--reps 3] [--dir DIR]
                                 [--png PATH] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bench_methods
import benchlib
import loader

bench_methods.install()

from walletbackup import WalletBackup  # noqa: E402 - after the bench methods are installed
from walletbackup.kms.local import LocalKms  # noqa: E402
from walletbackup.stores import FileStore, MemoryStore, SqliteStore, Store  # noqa: E402

TARGET = 1.3
OPERATIONS = ("backup", "recover", "add-method", "status", "audit_log(w)", "wallets()")
STORES = ("sqlite", "file", "memory", "postgres")
FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
UNLOCK = {"method": bench_methods.PASS, "passphrase": loader.PASSPHRASE}
SHARE = bytes(range(32))


@contextmanager
def postgres_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster, or None (and why) when the plugin or server is missing."""
    sys.path.insert(0, str(FIXTURES))
    from postgres_cluster import PostgresCluster, PostgresMissing  # noqa: PLC0415

    try:
        import walletbackup_postgres  # noqa: F401, PLC0415 - only to know it is installed

        cluster = PostgresCluster()
    except (ImportError, PostgresMissing) as exc:
        print(f"   no postgres curves: {exc}")
        yield None
        return
    with cluster:
        yield cluster


def open_store(kind: str, where: Path, size: int, cluster: Any) -> Store:
    if kind == "postgres":
        from walletbackup_postgres import PostgresStore  # noqa: PLC0415 - an optional plugin

        store: Store = PostgresStore(cluster.url(namespace=f"bench_{size}"))
        return store
    if kind == "sqlite":
        return SqliteStore(f"sqlite://{where / f'sqlite-{size}.db'}")
    if kind == "file":
        return FileStore(f"file://{where / f'file-{size}'}")
    return MemoryStore(f"memory:bench-{size}-{os.getpid()}")


class Subject:
    """One store of one size, and a device on it."""

    def __init__(self, kind: str, size: int, store: Store, kms: str) -> None:
        self.kind, self.size = kind, size
        self.wb = WalletBackup(store=store, kms=kms, device_state=None)
        self.picks = itertools.count(7)
        self.new = itertools.count()

    def pick(self) -> str:
        """A loaded wallet, a different one each time (spread over the whole store)."""
        return loader.wallet_id(next(self.picks) * 7919 % self.size)

    def run(self, operation: str) -> float:
        """Seconds for one ``operation`` (per wallet listed, for ``wallets()``)."""
        wb = self.wb
        action: Callable[[], object]
        if operation == "backup":
            wallet = f"new-{self.kind}-{self.size}-{next(self.new)}"
            action = lambda: wb.backup_wallet(  # noqa: E731 - one line per operation
                wallet, SHARE, method=bench_methods.PASS, passphrase="p", custodian_share=SHARE
            )
        elif operation == "recover":
            wallet = self.pick()
            action = lambda: wb.recover_wallet(  # noqa: E731
                wallet, method=bench_methods.PASS, passphrase=loader.PASSPHRASE
            )
        elif operation == "add-method":
            wallet = self.pick()
            action = lambda: wb.add_backup_method(  # noqa: E731
                wallet, bench_methods.TOKEN, token="t", unlock_with=UNLOCK
            )
        elif operation == "status":
            wallet = self.pick()
            action = lambda: wb.backup_status(wallet)  # noqa: E731
        elif operation == "audit_log(w)":
            wallet = self.pick()
            action = lambda: wb.audit_log(wallet)  # noqa: E731
        else:
            action = wb.wallets
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
        return elapsed / self.size if operation == "wallets()" else elapsed


def build(kinds: list[tuple[str, int]], where: Path, kms: str, cluster: Any) -> list[Subject]:
    biggest = max(size for _, size in kinds)
    start = time.perf_counter()
    records = loader.make_records(biggest, kms)
    print(f"   sealed {biggest} wallet records in {time.perf_counter() - start:.0f} s")
    subjects = []
    for kind, size in kinds:
        store = open_store(kind, where, size, cluster)
        start = time.perf_counter()
        loader.load(store, records[:size])
        print(
            f"   loaded {kind:6} {size:>7} wallets, {size * loader.EVENTS:>7} audit events: "
            f"{time.perf_counter() - start:5.1f} s"
        )
        subjects.append(Subject(kind, size, store, kms))
    return subjects


def measure(
    subjects: list[Subject], rounds: int, reps: int
) -> dict[tuple[str, int, str], list[float]]:
    """Per (store, size, operation): one figure per round (the median of its reps)."""
    found: dict[tuple[str, int, str], list[float]] = {}
    for number in range(rounds):
        shift = number % len(subjects)
        for subject in subjects[shift:] + subjects[:shift]:
            for operation in OPERATIONS:
                times = [
                    subject.run(operation) for _ in range(1 if operation == "wallets()" else reps)
                ]
                key = (subject.kind, subject.size, operation)
                found.setdefault(key, []).append(benchlib.median(times))
    return found


def report(
    found: dict[tuple[str, int, str], list[float]], sizes: dict[str, list[int]]
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """Print the tables; return the curves: per (store, operation), (size, ratio to smallest)."""
    curves: dict[tuple[str, str], list[tuple[int, float]]] = {}
    misses = []
    for kind in STORES:
        if kind not in sizes:
            continue
        base = sizes[kind][0]
        rows = []
        for operation in OPERATIONS:
            reference = found[(kind, base, operation)]
            row: list[object] = [operation]
            curve = []
            for size in sizes[kind]:
                runs = found[(kind, size, operation)]
                ratio = benchlib.median([m / b for m, b in zip(runs, reference, strict=True)])
                curve.append((size, ratio))
                row += [f"{benchlib.median(runs) * 1e6:.1f}", f"{ratio:.2f}"]
            curves[(kind, operation)] = curve
            last_size, last = curve[-1]
            met = last <= TARGET
            row.append(benchlib.verdict(met))
            if not met:
                misses.append(f"{kind} {operation} at {last_size}: {last:.2f}")
            rows.append(row)
        columns = ["operation"]
        for size in sizes[kind]:
            columns += [f"us @{size}", f"x{base}"]
        print(f"   {kind} (wallets() in us per wallet listed):")
        benchlib.table([*columns, f"<= {TARGET:g}"], rows)
    print(
        "   every ratio at the largest size <= "
        f"{TARGET:g}: {'met' if not misses else 'MISSED: ' + '; '.join(misses)}"
    )
    return curves


def draw(curves: dict[tuple[str, str], list[tuple[int, float]]], png: Path, title: str) -> None:
    import matplotlib  # noqa: PLC0415 - a bench-only dependency, only for the picture

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True, sharey=True)
    styles = {
        "sqlite": ("tab:blue", "o"),
        "file": ("tab:orange", "s"),
        "memory": ("tab:green", "^"),
        "postgres": ("tab:purple", "D"),
    }
    highest = max(ratio for curve in curves.values() for _, ratio in curve)
    for ax, operation in zip(axes.flat, OPERATIONS, strict=True):
        for kind, (color, marker) in styles.items():
            curve = curves.get((kind, operation))
            if curve:
                ax.plot(*zip(*curve, strict=True), color=color, marker=marker, label=kind)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.axhline(TARGET, color="red", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        ax.set_ylim(0, max(2.0, highest * 1.1))
        ax.set_title(operation if operation != "wallets()" else "wallets() per wallet listed")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("wallets in the store")
    for ax in axes[:, 0]:
        ax.set_ylabel("cost / cost at 100 wallets")
    axes.flat[0].legend(title="store", loc="upper left")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=80)
    print(f"   curves drawn in {png}")


def profile(subjects: list[Subject]) -> None:
    """Where one backup and one add-method go in the largest SQLite and file stores."""
    for kind in ("sqlite", "file"):
        subject = max((s for s in subjects if s.kind == kind), key=lambda s: s.size, default=None)
        if subject is None:
            continue
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            subject.run("backup")
            subject.run("add-method")
        profiler.disable()
        print(f"   profile: 20 backups and 20 add-methods, {kind}, {subject.size} wallets")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--file-max", type=int, default=100_000, help="largest file store")
    parser.add_argument("--postgres-max", type=int, default=100_000, help="largest postgres")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", help="where the stores go (default: the temp directory)")
    parser.add_argument(
        "--png", default=str(Path(__file__).parents[1] / "docs" / "images" / "store-curves.png")
    )
    parser.add_argument("--profile", action="store_true", help="cProfile backup and add-method")
    options = parser.parse_args()
    all_sizes = sorted(int(size) for size in options.sizes.split(","))
    largest = {"file": options.file_max, "postgres": options.postgres_max}

    benchlib.header("Stores: cost per operation against the number of wallets")
    with (
        tempfile.TemporaryDirectory(prefix="bench-stores-", dir=options.dir) as tmp,
        postgres_cluster() as cluster,
    ):
        sizes = {
            kind: [s for s in all_sizes if s <= largest.get(kind, s)]
            for kind in STORES
            if kind != "postgres" or cluster is not None
        }
        kinds = [(kind, size) for kind, kind_sizes in sizes.items() for size in kind_sizes]
        where = Path(tmp)
        print(f"   stores in {tmp} ({benchlib.filesystem(os.path.realpath(tmp))})")
        kms = f"local://{where / 'custodian.key'}"
        LocalKms(kms).create_key()
        subjects = build(kinds, where, kms, cluster)
        start = time.perf_counter()
        found = measure(subjects, options.rounds, options.reps)
        print(
            f"   {options.rounds} rounds x {len(subjects)} stores x {len(OPERATIONS)} operations "
            f"({options.reps} reps each): {time.perf_counter() - start:.0f} s"
        )
        curves = report(found, sizes)
        if options.profile:
            profile(subjects)
        for subject in subjects:
            subject.wb.close()
    draw(
        curves,
        Path(options.png),
        f"cost per operation relative to 100 wallets (target <= {TARGET:g} at 100,000: dashed); "
        f"{benchlib.machine()}",
    )


if __name__ == "__main__":
    main()
