"""Another device replaces the backup while this one recovers: the recovery reads again.

Between this device's read of the wallet and the custodian's answer for that revision, a change
of another device (the user's laptop while her phone recovers) may make a newer revision current.
The custodian then refuses the older one (``StaleBackup``), rightly; the device reads the wallet
once more and opens the newest backup, the one it should return. A second refusal in a row is
raised: a custodian or store that keeps answering so is not racing, it is rolling back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import quick_methods
from quick_methods import PASS

from walletbackup import Custodian, StaleBackup, WalletBackup
from walletbackup.protocol import Released

PASSPHRASE = "correct horse battery"


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


class RacingCustodian(Custodian):
    """Runs the queued races, one per release, just before it answers."""

    races: list[Callable[[], None]]

    def release(self, wallet_id: str, revision: int) -> Released:
        if self.races:
            self.races.pop(0)()
        return super().release(wallet_id, revision)


@pytest.fixture
def urls(tmp_path: Path) -> dict[str, str]:
    return {"store": f"sqlite://{tmp_path / 'backups.db'}", "kms": f"local://{tmp_path / 'k'}"}


def back_up(urls: dict[str, str], number: int) -> None:
    """A backup of shares ``number`` by another device (a WalletBackup of its own)."""
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as other:
        other.backup_wallet(
            "w",
            b"client %d" % number,
            method=PASS,
            custodian_share=b"custodian %d" % number,
            passphrase=PASSPHRASE,
        )


def racing_device(urls: dict[str, str], *numbers: int) -> WalletBackup:
    custodian = RacingCustodian(store=urls["store"], kms=urls["kms"])
    custodian.races = [lambda n=n: back_up(urls, n) for n in numbers]
    return WalletBackup(custodian=custodian)


def test_a_recovery_overtaken_by_a_change_returns_the_newest_shares(urls: dict[str, str]) -> None:
    back_up(urls, 1)
    with racing_device(urls, 2) as wb:
        got = wb.recover_wallet("w", method=PASS, passphrase=PASSPHRASE)
        assert (got.client_share, got.custodian_share) == (b"client 2", b"custodian 2")
        outcomes = [e["outcome"] for e in wb.audit_log("w") if e["type"] == "recover"]
        assert outcomes == ["failed", "ok"]  # the overtaken attempt is on record too


def test_a_verification_overtaken_by_a_change_verifies_the_newest(urls: dict[str, str]) -> None:
    back_up(urls, 1)
    with racing_device(urls, 2) as wb:
        report = wb.verify_backup("w", method=PASS, passphrase=PASSPHRASE)
        assert report.revision == 2


def test_a_custodian_that_keeps_refusing_is_not_retried_for_ever(urls: dict[str, str]) -> None:
    back_up(urls, 1)
    with racing_device(urls, 2, 3) as wb, pytest.raises(StaleBackup):
        wb.recover_wallet("w", method=PASS, passphrase=PASSPHRASE)


def test_the_applications_own_cipher_text_is_not_read_again(urls: dict[str, str]) -> None:
    """Self-managed: the cipher text the application passed is as old on a second try."""
    with WalletBackup(store=urls["store"], kms=urls["kms"], mode="self-managed") as first:
        made = first.backup_wallet(
            "w", b"client 1", method=PASS, custodian_share=b"custodian 1", passphrase=PASSPHRASE
        )
        first.stored_client_backup_share("w", PASS, success=True)
    custodian = RacingCustodian(store=urls["store"], kms=urls["kms"])

    def replaced() -> None:
        with WalletBackup(store=urls["store"], kms=urls["kms"], mode="self-managed") as other:
            other.backup_wallet(
                "w",
                b"client 2",
                method=PASS,
                custodian_share=b"custodian 2",
                passphrase=PASSPHRASE,
                replace=True,
            )
            other.stored_client_backup_share("w", PASS, success=True)

    custodian.races = [replaced]
    with WalletBackup(custodian=custodian, mode="self-managed") as wb, pytest.raises(StaleBackup):
        wb.recover_wallet("w", method=PASS, cipher_text=made.cipher_text, passphrase=PASSPHRASE)
    assert custodian.races == []  # one release: no second attempt
