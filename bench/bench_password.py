"""The framework's backup + recover with the password method against the bare primitives.

Both sides run Argon2id at the same costs (RFC 9106's second profile, the policy floor: t=3,
64 MiB, p=4; passed as ``params=``, so no calibration runs). The framework side is
``WalletBackup.backup_wallet`` then ``recover_wallet`` on a fresh wallet, with a ``memory:`` store
and a ``local`` KMS key file in a temporary directory. Two baselines:

- *matched*: as many Argon2id runs as the framework makes (counted below, not assumed) plus one
  AES-256-GCM operation per envelope (client and custodian) in each direction;
- *minimal*: one Argon2id run to back up and one to recover, AES-256-GCM of the client share.

Rounds are interleaved; figures are medians. Target: framework / matched <= 1.05 (wall time).

    python bench/bench_password.py [--rounds 21] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count

import benchlib
from argon2.low_level import ARGON2_VERSION, Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import walletbackup.kdf
from walletbackup import WalletBackup, split_secret
from walletbackup.kdf import Argon2Params

PARAMS = Argon2Params(time_cost=3, memory_kib=64 * 1024, parallelism=4)
PASSWORD = "correct horse battery staple 42"
TARGET_RATIO = 1.05


def argon2(password: bytes, salt: bytes) -> bytes:
    return hash_secret_raw(
        password,
        salt,
        time_cost=PARAMS.time_cost,
        memory_cost=PARAMS.memory_kib,
        parallelism=PARAMS.parallelism,
        hash_len=32,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def bare(kdf_backup: int, kdf_recover: int, envelopes: int) -> Callable[[], None]:
    """Back up and recover with bare primitives: so many KDF runs, one AES-GCM per envelope."""
    client_share, custodian_share = split_secret(secrets.token_bytes(32))
    custodian_key = AESGCM.generate_key(bit_length=256)
    password = PASSWORD.encode()

    def run() -> None:
        salt = os.urandom(16)
        for _ in range(kdf_backup):
            key = argon2(password, salt)
        nonce = os.urandom(12)
        sealed = [AESGCM(key).encrypt(nonce, client_share, None)]
        if envelopes == 2:
            sealed.append(AESGCM(custodian_key).encrypt(nonce, custodian_share, None))
        for _ in range(kdf_recover):
            key = argon2(password, salt)
        if AESGCM(key).decrypt(nonce, sealed[0], None) != client_share:
            raise AssertionError("bare round trip failed")
        if envelopes == 2 and AESGCM(custodian_key).decrypt(nonce, sealed[1], None) != (
            custodian_share
        ):
            raise AssertionError("bare round trip failed")

    return run


def framework(wb: WalletBackup) -> Callable[[], None]:
    client_share, custodian_share = split_secret(secrets.token_bytes(32))
    wallets = count()

    def run() -> None:
        wallet = f"bench-{next(wallets)}"
        wb.backup_wallet(
            wallet,
            client_share,
            method="password",
            password=PASSWORD,
            params=PARAMS,
            custodian_share=custodian_share,
        )
        recovered = wb.recover_wallet(wallet, method="password", password=PASSWORD)
        if recovered.client_share != client_share:
            raise AssertionError("framework round trip failed")

    return run


@contextmanager
def watched_kdf() -> Iterator[list[float]]:
    """The duration of every Argon2id run the core makes (all go through ``kdf.derive``)."""
    real = walletbackup.kdf.derive
    durations: list[float] = []

    def timed(secret: bytes, salt: bytes, params: Argon2Params) -> bytes:
        start = time.perf_counter()
        try:
            return real(secret, salt, params)
        finally:
            durations.append(time.perf_counter() - start)

    walletbackup.kdf.derive = timed
    try:
        yield durations
    finally:
        walletbackup.kdf.derive = real


def kdf_runs(action: Callable[[], object]) -> int:
    """How many Argon2id runs ``action`` makes."""
    with watched_kdf() as durations:
        action()
    return len(durations)


def outside_kdf(action: Callable[[], object], rounds: int) -> float:
    """Median seconds ``action`` spends outside Argon2id, in rounds of its own."""
    outside = []
    with watched_kdf() as durations:
        for _ in range(rounds):
            durations.clear()
            start = time.perf_counter()
            action()
            outside.append(time.perf_counter() - start - sum(durations))
    return benchlib.median(outside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--profile", action="store_true", help="cProfile one framework round")
    options = parser.parse_args()

    benchlib.header(f"password method, backup + recover, Argon2id {PARAMS}")
    with tempfile.TemporaryDirectory(prefix="bench-password-") as tmp:
        wb = WalletBackup(store="memory:", kms=f"local:///{tmp}/custodian.key")
        client_share, custodian_share = split_secret(secrets.token_bytes(32))
        # Plugins load and the key file is created here, outside the timed rounds.
        backup_runs = kdf_runs(
            lambda: wb.backup_wallet(
                "count",
                client_share,
                method="password",
                password=PASSWORD,
                params=PARAMS,
                custodian_share=custodian_share,
            )
        )
        recover_runs = kdf_runs(
            lambda: wb.recover_wallet("count", method="password", password=PASSWORD)
        )
        print(f"   Argon2id runs counted: backup {backup_runs}, recover {recover_runs}")
        if options.profile:
            profiler = cProfile.Profile()
            profiler.runcall(framework(wb))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        timings = benchlib.interleaved(
            {
                "framework": framework(wb),
                "bare, matched": bare(backup_runs, recover_runs, envelopes=2),
                "bare, minimal": bare(1, 1, envelopes=1),
            },
            options.rounds,
        )
        outside = outside_kdf(framework(wb), options.rounds)
        wb.close()

    print(
        f"   {options.rounds} interleaved rounds; medians; ratios are medians of the per-round "
        "ratios; CPU is this process's CPU time (all Argon2 lanes), less sensitive to other load"
    )
    rows = []
    for name in timings.wall:
        rows.append(
            [
                name,
                f"{benchlib.median(timings.wall[name]) * 1000:.1f}",
                f"{min(timings.wall[name]) * 1000:.1f}",
                f"{benchlib.median(timings.cpu[name]) * 1000:.1f}",
                *(
                    f"{timings.paired_ratio(kind, name, baseline):.3f}"
                    for baseline in ("bare, matched", "bare, minimal")
                    for kind in ("wall", "cpu")
                ),
            ]
        )
    benchlib.table(
        [
            "contender",
            "wall ms",
            "min wall ms",
            "CPU ms",
            "/matched wall",
            "/matched CPU",
            "/minimal wall",
            "/minimal CPU",
        ],
        rows,
    )
    for kind in ("wall", "cpu"):
        ratio = timings.paired_ratio(kind, "framework", "bare, matched")
        print(
            f"   framework / matched baseline, {kind}: {ratio:.3f} "
            f"(target <= {TARGET_RATIO}: {benchlib.verdict(ratio <= TARGET_RATIO)})"
        )
    total = benchlib.median(timings.wall["framework"])
    print(
        f"   time the framework spends outside Argon2id (separate rounds, timed around each KDF "
        f"call): {outside * 1000:.1f} ms, {outside / total:.1%} of its median wall time"
    )


if __name__ == "__main__":
    main()
