"""End to end through WalletBackup: back up with a passkey and recover with it.

Real SQLite store and local KMS key file; the passkeys are software security keys driven by the
real fido2 client, and a virtual authenticator in real Chromium for the browser path.
"""

from __future__ import annotations

from typing import Any

import pytest
from chromium_devtools import Person, Tab
from passkey_support import Recorder, new_key
from soft_authenticator import SoftAuthenticator

from walletbackup import WalletBackup
from walletbackup.errors import MethodUnavailable, UnlockFailed
from walletbackup_passkey import devices as devices_module
from walletbackup_passkey import security_key as security_key_module

CLIENT, CUSTODIAN = b"client share of wallet w", b"custodian share of wallet w"


def on(key: SoftAuthenticator, **options: Any) -> dict[str, Any]:
    """Passkey options for one software key (the method gets a fresh prompt recorder)."""
    return {"transport": "security-key", "device": key, "user_interaction": Recorder(), **options}


def unlock_with(key: SoftAuthenticator, **options: Any) -> dict[str, Any]:
    return {"method": "passkey", **on(key, **options)}


def browser(**options: Any) -> dict[str, Any]:
    return {"timeout": 30, "user_interaction": Recorder(), **options}


def snapshot(wb: WalletBackup) -> list[tuple[str, str, str | None]]:
    return [(s.method, s.status, s.stanza_id) for s in wb.backup_status("w")]


def test_back_up_and_recover_with_a_security_key(wb: WalletBackup) -> None:
    key = new_key()
    result = wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(key))
    assert result.status == "stored"
    recovered = wb.recover_wallet("w", method="passkey", **on(key))
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)
    wb.verify_backup("w", method="passkey", **on(key))
    assert wb.available_recovery_methods("w") == ["passkey"]


def test_a_phone_and_a_security_key_on_one_wallet(wb: WalletBackup) -> None:
    first, second = new_key(), new_key(protocols=(1,))
    wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(first))
    wb.add_backup_method("w", "passkey", unlock_with=unlock_with(first), **on(second))
    passkeys = [s for s in wb.backup_status("w") if s.method == "passkey"]
    assert len(passkeys) == 2
    # Either key alone recovers: the core skips the stanza whose passkey is not on the key.
    assert wb.recover_wallet("w", method="passkey", **on(second)).client_share == CLIENT
    assert wb.recover_wallet("w", method="passkey", **on(first)).client_share == CLIENT


def test_removing_one_passkey_leaves_the_other(wb: WalletBackup) -> None:
    first, second = new_key(), new_key()
    wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(first))
    (first_stanza,) = [s.stanza_id for s in wb.backup_status("w") if s.method == "passkey"]
    wb.add_backup_method("w", "passkey", unlock_with=unlock_with(first), **on(second))
    wb.remove_backup_method("w", "passkey", unlock_with=unlock_with(second), stanza_id=first_stanza)
    assert [s.stanza_id for s in wb.backup_status("w")].count(first_stanza) == 0
    assert wb.recover_wallet("w", method="passkey", **on(second)).client_share == CLIENT
    with pytest.raises(UnlockFailed):
        wb.recover_wallet("w", method="passkey", **on(first))


def test_a_wrong_pin_changes_nothing(wb: WalletBackup) -> None:
    key = new_key()
    wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(key))
    before = snapshot(wb)
    wrong = {"user_interaction": Recorder(pin="pin-Wr0ng-0000")}
    with pytest.raises(UnlockFailed):
        wb.recover_wallet("w", method="passkey", **on(key, **wrong))
    with pytest.raises(UnlockFailed):
        wb.add_backup_method("w", "passkey", unlock_with=unlock_with(key, **wrong), **on(new_key()))
    assert snapshot(wb) == before
    assert wb.recover_wallet("w", method="passkey", **on(key)).client_share == CLIENT


def test_a_deleted_credential_cannot_recover(wb: WalletBackup) -> None:
    key = new_key()
    result = wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(key))
    assert result.status == "stored"
    key.credentials.clear()
    with pytest.raises(UnlockFailed):
        wb.recover_wallet("w", method="passkey", **on(key))


def test_a_key_without_prf_adds_nothing(wb: WalletBackup) -> None:
    key = new_key()
    wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(key))
    before = snapshot(wb)
    with pytest.raises(MethodUnavailable, match="PRF"):
        wb.add_backup_method(
            "w", "passkey", unlock_with=unlock_with(key), **on(new_key(hmac_secret=False))
        )
    assert snapshot(wb) == before
    assert wb.recover_wallet("w", method="passkey", **on(key)).client_share == CLIENT


def test_no_authenticator_backs_up_nothing(
    wb: WalletBackup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security_key_module, "connected_keys", list)
    monkeypatch.setattr(devices_module, "key_connected", lambda: False)
    with pytest.raises(MethodUnavailable, match="no FIDO2 security key is connected"):
        wb.backup_wallet(
            "w",
            CLIENT,
            method="passkey",
            custodian_share=CUSTODIAN,
            transport="security-key",
            user_interaction=Recorder(),
        )
    assert wb.wallets() == []


def test_back_up_and_recover_in_the_browser(wb: WalletBackup, tab: Tab) -> None:
    tab.add_authenticator()
    options = browser(transport="browser")
    wb.backup_wallet(
        "w",
        CLIENT,
        method="passkey",
        custodian_share=CUSTODIAN,
        open_browser=Person(tab),
        **options,
    )
    recovered = wb.recover_wallet("w", method="passkey", open_browser=Person(tab), **options)
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)


@pytest.fixture
def mixed(wb: WalletBackup, tab: Tab) -> SoftAuthenticator:
    """A wallet protected by a security-key passkey and a browser passkey."""
    key = new_key()
    tab.add_authenticator()
    wb.backup_wallet("w", CLIENT, method="passkey", custodian_share=CUSTODIAN, **on(key))
    wb.add_backup_method(
        "w",
        "passkey",
        unlock_with=unlock_with(key),
        open_browser=Person(tab),
        **browser(transport="browser"),
    )
    return key


def test_a_security_key_and_a_browser_passkey_on_one_wallet(
    wb: WalletBackup, tab: Tab, mixed: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert wb.recover_wallet("w", method="passkey", **on(mixed)).client_share == CLIENT
    # Without the key, each stanza takes its own path: the security-key one finds no key and is
    # skipped, the browser one opens one page.
    monkeypatch.setattr(security_key_module, "connected_keys", list)
    person = Person(tab)
    assert (
        wb.recover_wallet("w", method="passkey", open_browser=person, **browser()).client_share
        == CLIENT
    )
    assert len(person.urls) == 1


def test_transport_browser_also_asks_the_browser_for_a_localhost_security_key(
    wb: WalletBackup, tab: Tab, mixed: SoftAuthenticator
) -> None:
    # A security-key passkey for rp id localhost is reachable through the browser too; this
    # browser's authenticator does not hold it, so that page fails and the next stanza's works.
    person = Person(tab)
    recovered = wb.recover_wallet(
        "w", method="passkey", transport="browser", open_browser=person, **browser()
    )
    assert recovered.client_share == CLIENT
    assert len(person.urls) == 2
