"""The custodian end to end with its key in a SoftHSM2 token: backup, recovery, rotation."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
from quick_methods import PASS
from softhsm_token import USER_PIN, SoftHsmToken

from walletbackup import UnlockFailed, WalletBackup, plugins
from walletbackup.custodian import Custodian
from walletbackup_pkcs11 import Pkcs11Kms

WALLETS = ("w1", "w2", "w3")
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _plugins() -> Iterator[None]:
    """The quick test methods and this distribution's KMS, found through their entry points."""
    # Undone before installed() undoes its own setting: nothing is left behind.
    with quick_methods.installed(), pytest.MonkeyPatch.context() as patch:
        patch.setenv(plugins.ENV_VAR, "quick,pkcs11")
        plugins.reset_plugins()
        yield


def shares(wallet: str) -> tuple[bytes, bytes]:
    return f"client share of {wallet}".encode(), f"custodian share of {wallet}".encode()


def open_backup(tmp_path: Path, kms: str, store: str = "c.db") -> WalletBackup:
    return WalletBackup(
        store=f"sqlite://{tmp_path / store}", kms=kms, device_state=tmp_path / "device.json"
    )


def test_backup_rotate_rewrap_retire_recover(
    tmp_path: Path, softhsm_token: SoftHsmToken, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = softhsm_token.url("custodian")
    with open_backup(tmp_path, url) as wb:
        assert isinstance(wb.custodian, Custodian)
        assert isinstance(wb.custodian.kms, Pkcs11Kms), "the URL found the plugin's provider"
        for wallet in WALLETS:
            client, custodian = shares(wallet)
            wb.backup_wallet(
                wallet, client, method=PASS, custodian_share=custodian, passphrase=PASSPHRASE
            )
        recovered = wb.recover_wallet("w1", method=PASS, passphrase=PASSPHRASE)
        assert (recovered.client_share, recovered.custodian_share) == shares("w1")
        shutil.copy(tmp_path / "c.db", tmp_path / "before-rotation.db")

        custodian = wb.custodian
        assert custodian.rotate_kms_key() == 2
        for wallet in custodian.wallets():
            assert custodian.kms_versions(wallet) == (1,)
            custodian.rewrap(wallet)
            assert custodian.kms_versions(wallet) == (2,)
        assert custodian.retire_kms_versions(2) == (1,)
        for wallet in WALLETS:
            recovered = wb.recover_wallet(wallet, method=PASS, passphrase=PASSPHRASE)
            assert (recovered.client_share, recovered.custodian_share) == shares(wallet)
        text = "\n".join([repr(wb), repr(custodian), repr(custodian.kms), caplog.text])
    # A copy of the store from before the rotation: its custodian envelopes are under the
    # retired version, so the copy recovers nothing.
    with open_backup(tmp_path, url, "before-rotation.db") as old:
        with pytest.raises(UnlockFailed, match=r"version 1 .* retired") as raised:
            old.recover_wallet("w2", method=PASS, passphrase=PASSPHRASE)
        text += f"\n{raised.value!r} {raised.value}"
    assert USER_PIN not in text


def test_the_first_backup_creates_the_key_in_the_token(
    tmp_path: Path, softhsm_token: SoftHsmToken
) -> None:
    url = softhsm_token.url("fresh")
    with open_backup(tmp_path, url) as wb:
        client, custodian = shares("w1")
        wb.backup_wallet("w1", client, method=PASS, custodian_share=custodian, passphrase="p")
    info = Pkcs11Kms(url).key_info()
    assert (info.provider, info.versions) == ("pkcs11", (1,))
