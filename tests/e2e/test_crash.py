"""A process killed at any point of a backup leaves the previous backup recoverable.

The durable points of a backup at the custodian are the store saves (pending proposed, then
promoted once verified), so the child is killed just before and just after each one, and also at
random moments of a loop of backups. After every kill the wallet must open with exactly one of
the two passwords, to the shares that go with it, and the next backup must succeed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import FAST, OTHER_PASSWORD, PASSWORD

from walletbackup import UnlockFailed, WalletBackup

HERE = Path(__file__).parent
OLD = (b"old-client", b"old-custodian")
NEW = (b"new-client", b"new-custodian")
CHILD_TIMEOUT = 60


def start_child(urls: dict[str, str], kill_at: list[object] | None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py")],
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None
    child.stdin.write(
        json.dumps(
            {
                "store": urls["store"],
                "kms": urls["kms"],
                "wallet": "w",
                "password": OTHER_PASSWORD,
                "client": NEW[0].hex(),
                "custodian": NEW[1].hex(),
                "kill_at": kill_at,
            }
        )
        + "\n"
    )
    child.stdin.close()
    child.stdin = None  # handed over: communicate() must not flush it again
    return child


def recover_either(urls: dict[str, str]) -> tuple[str, tuple[bytes, bytes]]:
    """Recover with whichever password opens the wallet; exactly one must."""
    opened = []
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        for password in (PASSWORD, OTHER_PASSWORD):
            try:
                got = wb.recover_wallet("w", method="password", password=password)
            except UnlockFailed:
                continue
            opened.append((password, (got.client_share, got.custodian_share)))
    assert len(opened) == 1, "exactly one password must open the wallet"
    return opened[0]


def initial_backup(urls: dict[str, str]) -> None:
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        wb.backup_wallet(
            "w", OLD[0], method="password", password=PASSWORD, custodian_share=OLD[1], **FAST
        )


def check_next_backup_works(urls: dict[str, str]) -> None:
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        wb.backup_wallet(
            "w",
            b"third",
            method="password",
            password=PASSWORD,
            custodian_share=b"third-custodian",
            **FAST,
        )
        assert {s.status for s in wb.backup_status("w")} <= {"stored", "failed"}
        assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == b"third"


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("save_number", [1, 2])
def test_killed_around_each_save(urls: dict[str, str], phase: str, save_number: int) -> None:
    initial_backup(urls)
    child = start_child(urls, [phase, save_number])
    out, _ = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == -9, f"the child was meant to die at save {save_number}: {out}"
    password, shares = recover_either(urls)
    assert shares == (OLD if password == PASSWORD else NEW)
    # Killed before the promoting save: the old backup must still be the one.
    if save_number == 1 or (save_number == 2 and phase == "before"):
        assert password == PASSWORD
    check_next_backup_works(urls)


@pytest.mark.slow
def test_a_backup_has_exactly_two_durable_points(urls: dict[str, str]) -> None:
    """Guards the test above: if the lifecycle gains a save, the kill points must follow."""
    initial_backup(urls)
    child = start_child(urls, ["after", 3])
    out, _ = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == 0 and "done" in out
    assert recover_either(urls)[0] == OTHER_PASSWORD


@pytest.mark.slow
def test_killed_at_random_moments(urls: dict[str, str]) -> None:
    initial_backup(urls)
    delays = [0.05 * i for i in range(1, 21)]
    for delay in delays:
        child = start_child(urls, None)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        child.kill()
        child.communicate(timeout=CHILD_TIMEOUT)
        password, (client, custodian) = recover_either(urls)
        # Whatever round was current, its two shares belong together.
        assert client.removeprefix(b"old-client").removeprefix(
            b"new-client"
        ) == custodian.removeprefix(b"old-custodian").removeprefix(b"new-custodian")
        if password == OTHER_PASSWORD:  # the next round must start from the old password again
            initial_backup(urls)
    check_next_backup_works(urls)
