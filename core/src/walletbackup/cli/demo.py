"""``walletbackup demo``: the whole job on a demo wallet, step by step, with timings."""

from __future__ import annotations

import hmac
import secrets
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from walletbackup.api import WalletBackup
from walletbackup.errors import UnlockFailed, WalletBackupError
from walletbackup.split import combine_shares, split_secret
from walletbackup.stores.urls import local_path, split_url

DEMO_WALLET = "demo-wallet"
#: Stores whose URL is a path on the local disk; a kept demo puts its KMS key beside them.
LOCAL_SCHEMES = ("sqlite", "file")
KMS_FILE = "custodian.key"


def run_demo(store_url: str | None, kms_url: str | None, say: Callable[[str], None]) -> bool:
    """Run the demo; return True only if every step held.

    What is not given lives in a temporary directory, deleted at the end. A store that outlives
    the demo keeps the demo wallet, so what the wallet needs is kept too: its custodian share's
    KMS key (given, else ``custodian.key`` beside a store on the local disk, else refused) and
    the device memory (the user's own). The end of the output says what was kept, and where.
    """
    store_kept = store_url is not None and split_url(store_url)[0] != "memory"
    if store_url is not None and store_kept and kms_url is None:
        kms_url = kms_beside(store_url)
        if kms_url is None:
            raise click.UsageError(
                f"the demo wallet stays in {store_url}, and its custodian share needs a KMS key "
                "that outlives the demo: give one with --kms"
            )
    deleted = [
        what for what, url in (("the store", store_url), ("the KMS key", kms_url)) if url is None
    ]
    with tempfile.TemporaryDirectory(prefix="walletbackup-demo-") as scratch:
        store_url = store_url or f"sqlite://{Path(scratch, 'backups.db')}"
        kms_url = kms_url or f"local://{Path(scratch, KMS_FILE)}"
        # The device memory of a wallet that disappears with the demo goes with it.
        device_state = None if store_kept else Path(scratch, "device.json")
        try:
            ok = _steps(store_url, kms_url, device_state, say)
        except WalletBackupError as exc:
            say(f"FAILED: {type(exc).__name__}: {exc}")
            ok = False
    if deleted:
        say(f"  deleted with the demo's temporary directory: {' and '.join(deleted)}")
    if store_kept:
        say(
            f"  kept: wallet {DEMO_WALLET} in {store_url}, its custodian share under {kms_url} "
            "(its password was never shown)"
        )
        say(
            f"  look at it with: walletbackup --store {shlex.quote(store_url)} "
            f"--kms {shlex.quote(kms_url)} status {DEMO_WALLET}"
        )
    return ok


def kms_beside(store_url: str) -> str | None:
    """``custodian.key`` in the directory of a store on the local disk (as the default store and
    KMS lie side by side in the user data directory); ``None`` for any other store."""
    scheme, location = split_url(store_url)
    if scheme not in LOCAL_SCHEMES:
        return None
    if not location:
        return "local:"  # the default store: the default KMS key is beside it
    return f"local://{local_path(store_url).parent / KMS_FILE}"


@contextmanager
def _step(say: Callable[[str], None], number: int, text: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    say(f"  {number}. {text} ({(time.perf_counter() - start) * 1000:.0f} ms)")


def _steps(
    store_url: str, kms_url: str, device_state: Path | None, say: Callable[[str], None]
) -> bool:
    say("walletbackup demo: back up and recover a demo wallet (managed mode, password method)")
    say(f"  store: {store_url}")
    say(f"  kms:   {kms_url}")
    # A generated password: the demo prints no secret, not even its own.
    password = "-".join(secrets.token_urlsafe(6) for _ in range(4))
    with _step(
        say,
        1,
        "made a random 32-byte wallet secret and split it into a client and a custodian share",
    ):
        secret = secrets.token_bytes(32)
        client_share, custodian_share = split_secret(secret)
    memory: dict[str, Any] = {} if device_state is None else {"device_state": device_state}
    with WalletBackup(store=store_url, kms=kms_url, **memory) as wb:
        with _step(
            say,
            2,
            "backed up both shares: Argon2id calibrated, client share sealed "
            "under the password, custodian share under the KMS key, written, "
            "read back and verified",
        ):
            result = wb.backup_wallet(
                DEMO_WALLET,
                client_share,
                method="password",
                password=password,
                custodian_share=custodian_share,
                # A demo run again on a kept store starts afresh.
                replace=True,
            )
        say(
            f"     status: {result.status}; backup set {result.backup_set_id[:16]}..., "
            f"epoch {result.key_epoch}, cipher text {len(result.cipher_text)} bytes"
        )
        with _step(say, 3, 'verified the backup opens ("test your backup")'):
            wb.verify_backup(DEMO_WALLET, method="password", password=password)
        with _step(say, 4, "recovered both shares with the password and the KMS"):
            recovered = wb.recover_wallet(DEMO_WALLET, method="password", password=password)
        with _step(say, 5, "combined the shares and compared with the original secret"):
            assert recovered.custodian_share is not None  # the embedded custodian releases it
            same = hmac.compare_digest(
                combine_shares(recovered.client_share, recovered.custodian_share), secret
            )
        with _step(say, 6, "checked that a wrong password is refused"):
            refused = _refuses_wrong_password(wb)
        statuses = ", ".join(f"{s.method}={s.status}" for s in wb.backup_status(DEMO_WALLET))
        say(f"     method status: {statuses}; audit events: {len(wb.audit_log(DEMO_WALLET))}")
    if same and refused:
        say("OK: the recovered secret is identical to the original.")
        return True
    say(
        "FAILED: "
        + ("the recovered secret differs" if not same else "a wrong password was not refused")
    )
    return False


def _refuses_wrong_password(wb: WalletBackup) -> bool:
    try:
        wrong = "not-the-password-at-all"
        wb.recover_wallet(DEMO_WALLET, method="password", password=wrong)
    except UnlockFailed:
        return True
    return False
