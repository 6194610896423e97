"""The pkcs11 KMS (SoftHSM2) against the in-process baselines of the same run.

(a) One wrap and one unwrap of a 32-byte share: ``Pkcs11Kms`` (AES-256-GCM computed by the
    token, the object looked up per call) and raw python-pkcs11 (the same key object, no
    lookup), as ratios to ``cryptography``'s ``AESGCM`` in this process; ``LocalKms`` for
    reference. Interleaved rounds of ``--ops`` calls each; medians of per-round ratios.
(b) Bulk re-wrap after a rotation: ``walletbackup rewrap-custodian`` (the operator command,
    a child process) over ``--wallets`` custodian envelopes in a SQLite store, once with the
    local KMS and once with the pkcs11 KMS per round, interleaved: wallets per second.

    python bench/bench_pkcs11.py [--ops 2000] [--rounds 7] [--wallets 10000] [--bulk-rounds 2]

Needs SoftHSM2 (Debian package softhsm2) and walletbackup-pkcs11 installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_methods
import benchlib
import loader
import pkcs11
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pkcs11 import Attribute, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

bench_methods.install()

from walletbackup.custodian import Custodian  # noqa: E402 - after the bench methods are installed
from walletbackup.kms import LocalKms  # noqa: E402
from walletbackup.stores import SqliteStore  # noqa: E402
from walletbackup_pkcs11 import Pkcs11Kms  # noqa: E402

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "12345678"
SO_PIN = "87654321"
UTIL = "softhsm2-util"
AAD = b"bench: custodian stanza header"
SHARE = bytes(range(32))


def make_token(where: Path) -> str:
    """A SoftHSM2 token in ``where``; returns the pkcs11 URL of key ``custodian`` in it."""
    if shutil.which(UTIL) is None or not Path(MODULE).exists():
        sys.exit("SoftHSM2 is not installed: apt-get install -y softhsm2")
    (where / "tokens").mkdir()
    conf = where / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {where / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    # Before python-pkcs11 loads the module: it reads the configuration when initialized.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [UTIL, "--init-token", "--free", "--label", "bench", "--so-pin", SO_PIN, "--pin", PIN],
        check=True,
        capture_output=True,
    )
    pin_file = where / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    return f"pkcs11:token=bench;object=custodian?module-path={MODULE}&pin-source=file:{pin_file}"


def single_operations(pkcs11_url: str, local_url: str, ops: int, rounds: int) -> None:
    hsm, local = Pkcs11Kms(pkcs11_url), LocalKms(local_url)
    hsm_args, local_args = hsm.stanza_args(), local.stanza_args()
    hsm_blob, local_blob = hsm.wrap(SHARE, AAD, hsm_args), local.wrap(SHARE, AAD, local_args)
    aesgcm, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    sealed = aesgcm.encrypt(nonce, SHARE, AAD)
    session = pkcs11.lib(MODULE).get_token(token_label="bench").open()
    raw = next(
        session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: "custodian.v1"}
        )
    )
    raw_sealed = raw.encrypt(
        SHARE, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, AAD, 128)
    )

    def times(call):  # type: ignore[no-untyped-def]
        return lambda: [call() for _ in range(ops)]

    contenders = {
        "AESGCM encrypt (cryptography)": times(lambda: aesgcm.encrypt(os.urandom(12), SHARE, AAD)),
        "AESGCM decrypt (cryptography)": times(lambda: aesgcm.decrypt(nonce, sealed, AAD)),
        "LocalKms wrap": times(lambda: local.wrap(SHARE, AAD, local_args)),
        "LocalKms unwrap": times(lambda: local.unwrap(local_blob, AAD, local_args)),
        "python-pkcs11 GCM encrypt": times(
            lambda: raw.encrypt(
                SHARE,
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(os.urandom(12), AAD, 128),
            )
        ),
        "python-pkcs11 GCM decrypt": times(
            lambda: raw.decrypt(
                raw_sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, AAD, 128)
            )
        ),
        "Pkcs11Kms wrap": times(lambda: hsm.wrap(SHARE, AAD, hsm_args)),
        "Pkcs11Kms unwrap": times(lambda: hsm.unwrap(hsm_blob, AAD, hsm_args)),
    }
    found = benchlib.interleaved(contenders, rounds)
    session.close()
    print(f"   (a) one 32-byte wrap / unwrap; {rounds} rounds x {ops} calls, interleaved")
    rows = []
    for name in contenders:
        base = (
            "AESGCM decrypt (cryptography)"
            if "decrypt" in name or "unwrap" in name
            else ("AESGCM encrypt (cryptography)")
        )
        per_call = benchlib.median(found.wall[name]) / ops * 1e6
        rows.append([name, f"{per_call:.1f}", f"{found.paired_ratio('wall', name, base):.1f}x"])
    benchlib.table(["operation", "us/call", "vs AESGCM"], rows)


def bulk_rewrap(where: Path, pkcs11_url: str, wallets: int, rounds: int) -> None:
    subjects = {
        "local": (f"local://{where / 'bulk.key'}", LocalKms, where / "local.db"),
        "pkcs11": (pkcs11_url, Pkcs11Kms, where / "pkcs11.db"),
    }
    for url, provider, db in subjects.values():
        if provider is LocalKms:
            provider(url).create_key()
        store = SqliteStore(f"sqlite://{db}")
        loader.load(store, loader.make_records(wallets, url, provider))
        store.close()
    # The child loads only the KMS plugin it needs: rewrap-custodian opens no backup method.
    env = {**os.environ, "WALLETBACKUP_PLUGINS": "pkcs11"}
    speeds: dict[str, list[float]] = {name: [] for name in subjects}
    names = list(subjects)
    for round_number in range(rounds):
        for name in names[round_number % 2 :] + names[: round_number % 2]:
            url, provider, db = subjects[name]
            # The KMS as an instance: bench_methods.install() loads no KMS plugin here.
            custodian = Custodian(store=f"sqlite://{db}", kms=provider(url))
            custodian.rotate_kms_key()
            custodian.close()
            start = time.perf_counter()
            command = ["--store", f"sqlite://{db}", "--kms", url, "rewrap-custodian", "--json"]
            result = subprocess.run(
                [str(Path(sys.executable).parent / "walletbackup"), *command],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.perf_counter() - start
            assert json.loads(result.stdout)["rewrapped"] == wallets, result.stdout
            speeds[name].append(wallets / elapsed)
    print(
        f"   (b) rewrap-custodian after a rotation, {wallets:,} wallets in SQLite "
        f"({benchlib.filesystem(os.path.realpath(where))}), {rounds} rounds, interleaved"
    )
    local = benchlib.median(speeds["local"])
    benchlib.table(
        ["KMS", "wallets/s", "vs local"],
        [
            [name, f"{benchlib.median(runs):,.0f}", f"{benchlib.median(runs) / local:.2f}x"]
            for name, runs in speeds.items()
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--bulk-rounds", type=int, default=2)
    parser.add_argument("--dir", default=None)
    options = parser.parse_args()
    benchlib.header("PKCS#11 KMS (SoftHSM2) against in-process AES-GCM")
    with tempfile.TemporaryDirectory(prefix="bench-pkcs11-", dir=options.dir) as tmp:
        where = Path(tmp)
        url = make_token(where)
        Pkcs11Kms(url).create_key()
        local_url = f"local://{where / 'single.key'}"
        LocalKms(local_url).create_key()
        single_operations(url, local_url, options.ops, options.rounds)
        bulk_rewrap(where, url, options.wallets, options.bulk_rounds)


if __name__ == "__main__":
    main()
