"""``rewrap-custodian`` killed midway (SIGKILL) and run again: it finishes, no wallet is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
from cli_support import child_env, store_args
from quick_methods import PASS

from walletbackup import WalletBackup
from walletbackup.custodian import Custodian

SCRIPT = Path(sys.executable).parent / "walletbackup"
WALLETS = 150
#: Killed once this many wallets are re-sealed, well before the run could end.
KILL_AFTER = 10
TIMEOUT = 120
PASSPHRASE = "resume me"


@pytest.fixture(autouse=True)
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


def on_version(custodian: Custodian, version: int) -> int:
    return sum(custodian.kms_versions(w) == (version,) for w in custodian.wallets())


@pytest.mark.slow
def test_a_killed_rewrap_resumes_where_it_stopped(tmp_path: Path) -> None:
    args = store_args(tmp_path)
    store, kms = args[1], args[3]
    with WalletBackup(store=store, kms=kms, device_state=tmp_path / "device.json") as wb:
        for number in range(WALLETS):
            wb.backup_wallet(
                f"w{number:04d}",
                b"client %d" % number,
                method=PASS,
                custodian_share=b"custodian %d" % number,
                passphrase=PASSPHRASE,
            )
        assert wb.rotate_kms_key() == 2
    custodian = Custodian(store=store, kms=kms)
    try:
        child = subprocess.Popen(
            [str(SCRIPT), *args, "rewrap-custodian"],
            env=child_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + TIMEOUT
        while (done := on_version(custodian, 2)) < KILL_AFTER and child.poll() is None:
            assert time.monotonic() < deadline, "rewrap-custodian made no progress"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=TIMEOUT) == -signal.SIGKILL
        done = on_version(custodian, 2)
        assert KILL_AFTER <= done < WALLETS, "killed midway"

        again = subprocess.run(
            [str(SCRIPT), *args, "rewrap-custodian", "--json"],
            env=child_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert f'"skipped": {done}' in again.stdout, "wallets re-sealed before are skipped"
        assert f'"rewrapped": {WALLETS - done}' in again.stdout
        assert len(custodian.wallets()) == WALLETS
        assert on_version(custodian, 2) == WALLETS
        assert custodian.retire_kms_versions(2) == (1,)
    finally:
        custodian.close()
    with WalletBackup(store=store, kms=kms, device_state=tmp_path / "device.json") as wb:
        for number in (0, done - 1, done, WALLETS - 1):
            recovered = wb.recover_wallet(f"w{number:04d}", method=PASS, passphrase=PASSPHRASE)
            assert recovered.custodian_share == b"custodian %d" % number
