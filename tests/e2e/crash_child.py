"""Child process for the crash tests: backs up a wallet and is killed at a chosen point.

Reads one JSON line from stdin (never argv: it carries passwords): store, kms, wallet, password,
client and custodian shares (hex), and ``kill_at``: ``["before", k]`` / ``["after", k]`` to SIGKILL
itself around the k-th store save, or ``null`` to loop backups until killed from outside.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from e2e_support import FAST

from walletbackup import WalletBackup
from walletbackup.stores import Store


def main() -> None:
    job = json.loads(sys.stdin.readline())
    kill_at = job["kill_at"]
    if kill_at is not None:
        phase, target = kill_at
        calls = 0

        def save(self: Store, wallet_id: str, document: bytes) -> None:
            nonlocal calls
            calls += 1
            if calls == target and phase == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            original(self, wallet_id, document)
            if calls == target and phase == "after":
                os.kill(os.getpid(), signal.SIGKILL)

        with WalletBackup(store=job["store"], kms=job["kms"]) as probe:
            cls = type(probe.custodian.store)
        original = cls.save
        cls.save = save  # type: ignore[method-assign]
    with WalletBackup(store=job["store"], kms=job["kms"]) as wb:
        print("ready", flush=True)
        for round_ in range(10**6 if kill_at is None else 1):
            suffix = b"" if kill_at is not None else str(round_ % 2).encode()
            wb.backup_wallet(
                job["wallet"],
                bytes.fromhex(job["client"]) + suffix,
                method="password",
                password=job["password"],
                custodian_share=bytes.fromhex(job["custodian"]) + suffix,
                **FAST,
            )
            print("stored", round_, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
