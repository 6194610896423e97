"""A custodian whose envelope keeper holds the custodian envelopes (the record: their SHA-256).

The keeper gets opaque KMS-sealed bytes; whatever it hands back is refused unless it hashes to
what the record holds, and a keeper that fails to store refuses the backup while the previous
one stays the recovery path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
from quick_methods import PASS

from walletbackup import Custodian, WalletBackup
from walletbackup.errors import MalformedBackup, PolicyViolation, StorageError
from walletbackup.state import WalletRecord


class MemoryKeeper:
    """Keeps the envelopes of self-managed wallets in a dict; faults set by the test."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, int], bytes] = {}
        self.fail_put = False
        self.swap: bytes | None = None  # what get answers instead of the kept envelope

    def keeps(self, wallet_id: str, mode: str) -> bool:
        return mode == "self-managed"

    def put(self, wallet_id: str, revision: int, blob: bytes) -> None:
        if self.fail_put:
            raise StorageError("the keeper is down")
        self.blobs[wallet_id, revision] = blob

    def get(self, wallet_id: str, revision: int) -> bytes:
        if self.swap is not None:
            return self.swap
        try:
            return self.blobs[wallet_id, revision]
        except KeyError:
            raise StorageError("the keeper has no such envelope") from None


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture
def keeper() -> MemoryKeeper:
    return MemoryKeeper()


@pytest.fixture
def custodian(tmp_path: Path, keeper: MemoryKeeper) -> Iterator[Custodian]:
    custodian = Custodian(
        store=f"sqlite://{tmp_path / 'backups.db'}",
        kms=f"local://{tmp_path / 'custodian.key'}",
        keeper=keeper,
    )
    yield custodian
    custodian.close()


def _device(custodian: Custodian, mode: str = "self-managed") -> WalletBackup:
    return WalletBackup(custodian=custodian, device_state=None, mode=mode)


def _back_up(wb: WalletBackup, wallet: str, share: bytes, passphrase: str) -> bytes:
    result = wb.backup_wallet(
        wallet, b"client " + share, method=PASS, passphrase=passphrase, custodian_share=share
    )
    if wb.mode == "self-managed":
        wb.stored_client_backup_share(wallet, PASS, success=True)
    return result.cipher_text


def _record(custodian: Custodian, wallet: str) -> dict:
    data = custodian.store.load(wallet)
    assert data is not None
    return json.loads(data)


def test_the_keeper_holds_the_envelope_and_the_record_its_hash(custodian, keeper):
    wb = _device(custodian)
    cipher_text = _back_up(wb, "w", b"s" * 32, "pw")
    current = _record(custodian, "w")["current"]
    assert current["custodian_envelope"] is None
    assert len(current["custodian_sha256"]) == 64
    assert list(keeper.blobs) == [("w", 1)]
    assert b"s" * 32 not in keeper.blobs["w", 1]  # sealed under the KMS: opaque to the keeper
    recovered = wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)
    assert recovered.custodian_share == b"s" * 32
    assert custodian.check("w").problems == ()
    assert custodian.kms_versions("w") == (1,)


def test_managed_wallets_keep_their_envelope_inline(custodian, keeper):
    _back_up(_device(custodian, "managed"), "m", b"m" * 32, "pw")
    current = _record(custodian, "m")["current"]
    assert current["custodian_envelope"]
    assert "custodian_sha256" not in current  # the record reads as before keepers existed
    assert keeper.blobs == {}


@pytest.mark.parametrize("swap", ["another revision", "another wallet", "garbage"])
def test_an_envelope_that_is_not_the_one_sealed_is_refused(custodian, keeper, swap):
    wb = _device(custodian)
    _back_up(wb, "w", b"1" * 32, "pw")
    _back_up(_device(custodian), "v", b"v" * 32, "pw")
    cipher_text = wb.backup_wallet(
        "w", b"client " + b"2" * 32, method=PASS, passphrase="pw", custodian_share=b"2" * 32
    ).cipher_text
    wb.stored_client_backup_share("w", PASS, success=True)
    keeper.swap = {
        "another revision": keeper.blobs["w", 1],
        "another wallet": keeper.blobs["v", 1],
        "garbage": b"x" * 100,
    }[swap]
    with pytest.raises(StorageError, match="not the one sealed for it"):
        custodian.release("w", 2)
    with pytest.raises(StorageError):
        wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)
    assert any("cannot be had" in p.message for p in custodian.check("w").problems)


def test_a_keeper_that_fails_refuses_the_backup_and_keeps_the_previous(custodian, keeper):
    wb = _device(custodian)
    cipher_text = _back_up(wb, "w", b"1" * 32, "pw")
    before = custodian.store.load("w")
    keeper.fail_put = True
    with pytest.raises(StorageError, match="keeper is down"):
        wb.backup_wallet(
            "w", b"client " + b"2" * 32, method=PASS, passphrase="new", custodian_share=b"2" * 32
        )
    assert custodian.store.load("w") == before  # no pending revision, nothing changed
    view = custodian.view("w")
    assert view is not None and view.pending is None and view.current.revision == 1
    assert [s.status for s in wb.backup_status("w")] == ["stored"]
    keeper.fail_put = False
    recovered = wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)
    assert recovered.custodian_share == b"1" * 32


def test_without_its_keeper_a_kept_envelope_cannot_be_opened(custodian, tmp_path):
    _back_up(_device(custodian), "w", b"s" * 32, "pw")
    bare = Custodian(store=custodian.store, kms=custodian.kms)
    with pytest.raises(StorageError, match="held by an envelope keeper"):
        bare.release("w", 1)


def test_rewrap_refuses_an_envelope_the_keeper_holds(custodian):
    _back_up(_device(custodian), "w", b"s" * 32, "pw")
    before = custodian.store.load("w")
    with pytest.raises(PolicyViolation, match="held by its envelope keeper"):
        custodian.rewrap("w")
    assert custodian.store.load("w") == before


def test_a_record_with_both_or_neither_form_is_corrupt(custodian):
    _back_up(_device(custodian), "w", b"s" * 32, "pw")
    body = _record(custodian, "w")
    body["current"]["custodian_envelope"] = "AAAA"
    with pytest.raises(MalformedBackup, match="corrupt"):
        WalletRecord.from_bytes(json.dumps(body).encode(), "w")
    body["current"]["custodian_envelope"] = None
    del body["current"]["custodian_sha256"]
    with pytest.raises(MalformedBackup, match="corrupt"):
        WalletRecord.from_bytes(json.dumps(body).encode(), "w")
