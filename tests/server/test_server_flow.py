"""A real device (WalletBackup) backs up, verifies and recovers through the service over HTTP."""

from __future__ import annotations

import os

import pytest
from quick_methods import PASS
from service_http import bearer

from walletbackup import WalletBackup, protocol
from walletbackup.protocol import Released


@pytest.fixture
def device(world):
    """Makes a device of a user (alice by default); closes them all at the end."""
    opened: list[WalletBackup] = []

    def make(user: str = "alice") -> WalletBackup:
        url = str(world.client.base_url)
        opened.append(WalletBackup(custodian=url, token=world.creds[user], device_state=None))
        return opened[-1]

    yield make
    for wb in opened:
        wb.close()


def test_backup_verify_recover_through_the_service(world, device):
    client_share, custodian_share = os.urandom(32), os.urandom(32)
    wb = device()
    result = wb.backup_wallet(
        "wallet/1", client_share, method=PASS, passphrase="pw", custodian_share=custodian_share
    )
    assert result.cipher_text
    wb.verify_backup("wallet/1", method=PASS, passphrase="pw")
    recovered = wb.recover_wallet("wallet/1", method=PASS, passphrase="pw")
    assert recovered.client_share == client_share
    assert recovered.custodian_share is None  # a device never gets it: the node, or eject

    # The service keeps it under tenant and user; the device sees its own id.
    assert world.custodian.wallets() == ["acme/alice/wallet/1"]
    answer = world.client.get("/v1/wallets", headers=bearer(world.creds["alice"]))
    assert answer.json() == {"wallets": ["wallet/1"]}
    view = world.client.get("/v1/wallets/wallet%2F1", headers=bearer(world.creds["alice"]))
    assert view.status_code == 200
    assert view.json()["wallet_id"] == "wallet/1"
    assert view.json()["current"]["revision"] == 1

    # The device asks the service to open its custodian envelope: nothing secret comes back.
    checked = world.client.post(
        "/v1/wallets/wallet%2F1/revisions/1/check", json={}, headers=bearer(world.creds["alice"])
    )
    assert checked.status_code == 200
    assert set(checked.json()) == {"revision", "backup_set_id", "key_epoch"}
    assert checked.json()["revision"] == 1

    # The tenant's node gets the share itself.
    share = world.client.get(
        "/v1/users/alice/wallets/wallet%2F1/revisions/1/custodian-share",
        headers=bearer(world.creds["custodian"]),
    )
    released = protocol.from_json(Released, share.json())
    assert (released.wallet_id, released.share) == ("wallet/1", custodian_share)

    # Audit events from the device carry the service's stamp of tenant and user.
    events = world.custodian.audit_log("acme/alice/wallet/1")
    assert {e["type"] for e in events} >= {"backup", "verify", "recover"}
    assert all((e["tenant"], e["user"]) == ("acme", "alice") for e in events)


def test_a_method_change_and_a_second_device_of_the_same_user(world, device):
    wb = device()
    wb.backup_wallet("w", b"c" * 32, method=PASS, passphrase="one", custodian_share=b"s" * 32)
    wb.add_backup_method(
        "w", PASS, unlock_with={"method": PASS, "passphrase": "one"}, passphrase="two"
    )
    again = device().recover_wallet("w", method=PASS, passphrase="two")
    assert (again.client_share, again.custodian_share) == (b"c" * 32, None)
    status = wb.backup_status("w")
    assert status


def test_users_do_not_see_each_other(world, device):
    device("alice").backup_wallet(
        "w", b"a" * 32, method=PASS, passphrase="pw", custodian_share=b"x" * 32
    )
    device("bob").backup_wallet(
        "w", b"b" * 32, method=PASS, passphrase="pw", custodian_share=b"y" * 32
    )
    assert world.custodian.wallets() == ["acme/alice/w", "acme/bob/w"]
    bob = device("bob").recover_wallet("w", method=PASS, passphrase="pw")
    assert bob.client_share == b"b" * 32
