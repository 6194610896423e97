"""``walletbackup demo``: the whole job on a demo wallet, step by step, with timings."""

from __future__ import annotations

import hmac
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from walletbackup.api import WalletBackup
from walletbackup.errors import UnlockFailed, WalletBackupError
from walletbackup.split import combine_shares, split_secret

DEMO_WALLET = "demo-wallet"


def run_demo(store_url: str | None, kms_url: str | None, say: Callable[[str], None]) -> bool:
    """Run the demo; return True only if every step held."""
    with tempfile.TemporaryDirectory(prefix="walletbackup-demo-") as scratch:
        store_url = store_url or f"sqlite://{Path(scratch, 'backups.db')}"
        kms_url = kms_url or f"local://{Path(scratch, 'custodian.key')}"
        try:
            return _steps(store_url, kms_url, say)
        except WalletBackupError as exc:
            say(f"FAILED: {type(exc).__name__}: {exc}")
            return False


@contextmanager
def _step(say: Callable[[str], None], number: int, text: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    say(f"  {number}. {text} ({(time.perf_counter() - start) * 1000:.0f} ms)")


def _steps(store_url: str, kms_url: str, say: Callable[[str], None]) -> bool:
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
    with WalletBackup(store=store_url, kms=kms_url) as wb:
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
