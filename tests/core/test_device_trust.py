"""What the device does not take on trust: a custodian's share, a record's stanza list, a stanza
count that would multiply KDF runs, and material named by anyone but itself."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adversary as adv
import pytest
import quick_methods
import vector_support as vs
from quick_methods import PASS, TOKEN, QuickPassphrase

from walletbackup import Custodian, StaleBackup, WalletBackup, envelope
from walletbackup.errors import MalformedBackup, PolicyViolation, UnlockFailed
from walletbackup.methods import MethodContext
from walletbackup.protocol import Released

CLIENT, CUSTODIAN = b"client share", b"custodian share"
UNLOCK = {"method": PASS, "passphrase": "victim passphrase"}


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture
def urls(tmp_path: Path) -> dict[str, str]:
    return {
        "store": f"sqlite://{tmp_path / 'backups.db'}",
        "kms": f"local://{tmp_path / 'custodian.key'}",
    }


def back_up(wb: WalletBackup, **extra: Any) -> None:
    wb.backup_wallet(
        "w",
        CLIENT,
        method=PASS,
        custodian_share=CUSTODIAN,
        passphrase=UNLOCK["passphrase"],
        **extra,
    )


class LyingCustodian(Custodian):
    """A custodian whose operator hands the device another share than the one it sealed."""

    def release(self, wallet_id: str, revision: int) -> Released:
        real = super().release(wallet_id, revision)
        return Released(
            real.wallet_id,
            real.revision,
            real.backup_set_id,
            real.key_epoch,
            real.share_commitment,
            b"the operator's share",
        )


def test_a_custodian_handing_back_another_share_is_caught(urls: dict[str, str]) -> None:
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        back_up(wb)
    liar = LyingCustodian(store=urls["store"], kms=urls["kms"])
    with WalletBackup(custodian=liar) as wb:
        with pytest.raises(UnlockFailed):
            wb.recover_wallet("w", method=PASS, passphrase=UNLOCK["passphrase"])
        with pytest.raises(UnlockFailed):
            wb.verify_backup("w", method=PASS, passphrase=UNLOCK["passphrase"])


def test_two_stanzas_of_a_single_stanza_method_are_refused_before_any_kdf(
    urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One unlock runs at most one KDF: a hostile envelope cannot multiply its cost."""
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        back_up(wb)
        store = wb.custodian.store
        document = adv.load(store, "w")
        stored = adv.get_envelope(document)
        assert stored is not None
        doubled = adv.add_stanza(stored, adv.header(stored)["stanzas"][0] | {"id": "A" * 22})
        adv.set_envelope(document, doubled)
        adv.save(store, "w", document)

        def no_kdf(*args: object) -> bytes:
            raise AssertionError("a method ran before the stanza count was checked")

        monkeypatch.setattr(QuickPassphrase, "unlock", no_kdf)
        with pytest.raises(MalformedBackup, match="more than one stanza"):
            wb.recover_wallet("w", method=PASS, passphrase=UNLOCK["passphrase"])


def test_a_record_whose_stanza_list_was_edited_is_not_vouched_for(urls: dict[str, str]) -> None:
    """Keeping (or dropping) methods without an unlock needs the device's own memory to agree
    with the record; a store writer who hides the token stanza gets a refusal, not a silent drop."""
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        back_up(wb)
        wb.add_backup_method("w", TOKEN, unlock_with=UNLOCK, token="t")
        store = wb.custodian.store
        document = adv.load(store, "w")
        document[adv.CURRENT]["stanzas"] = [
            ref for ref in document[adv.CURRENT]["stanzas"] if ref["method"] == PASS
        ]
        adv.save(store, "w", document)
        with pytest.raises(PolicyViolation, match="cannot vouch"):
            back_up(wb)
        back_up(wb, unlock_with=UNLOCK)  # one unlock: the token is kept
        assert wb.available_recovery_methods("w") == [PASS, TOKEN]
        assert wb.recover_wallet("w", method=TOKEN, token="t").client_share == CLIENT


def test_a_fresh_device_cannot_vouch_without_an_unlock(urls: dict[str, str]) -> None:
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        back_up(wb)
    with WalletBackup(store=urls["store"], kms=urls["kms"], device_state=None) as fresh:
        with pytest.raises(PolicyViolation, match="cannot vouch"):
            back_up(fresh)
        back_up(fresh, unlock_with=UNLOCK)
        assert fresh.recover_wallet("w", method=PASS, passphrase=UNLOCK["passphrase"]).revision == 2


def test_the_device_remembers_revisions_in_its_own_file(
    urls: dict[str, str], tmp_path: Path
) -> None:
    """A second process of the same device (same device_state) refuses a rolled-back store."""
    memory = tmp_path / "device.json"
    with WalletBackup(store=urls["store"], kms=urls["kms"], device_state=memory) as wb:
        back_up(wb)
        old = adv.snapshot(wb.custodian.store, "w")
        wb.add_backup_method("w", TOKEN, unlock_with=UNLOCK, token="t")
        adv.replay(wb.custodian.store, "w", old)
    assert memory.stat().st_mode & 0o777 == 0o600
    assert b"victim passphrase" not in memory.read_bytes()
    with (
        WalletBackup(store=urls["store"], kms=urls["kms"], device_state=memory) as again,
        pytest.raises(StaleBackup, match="rolled back"),
    ):
        again.recover_wallet("w", method=PASS, passphrase=UNLOCK["passphrase"])


def _v1_wallet(urls: dict[str, str]) -> None:
    """A wallet as the code before the two parties wrote it: format v1 envelopes in a record of
    schema 1 (sealed from the spec, under the real local KMS key)."""
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        back_up(wb)  # creates the KMS key; the wallet is then overwritten with its v1 form
        kms_file = json.loads(Path(urls["kms"].removeprefix("local://")).read_text())
    method = QuickPassphrase(passphrase=UNLOCK["passphrase"])
    stanza_id = os.urandom(16)
    enrollment = method.enroll(MethodContext("w", "00" * 16, "00" * 32, stanza_id.hex()))
    backup_set = os.urandom(16)
    context = {
        "backup_set_id": vs.b64u(backup_set),
        "key_epoch": 1,
        "share_role": "client",
        "share_commitment": vs.b64u(envelope.share_commitment(CLIENT, CUSTODIAN)),
        "wallet_id": "w",
    }
    client, _ = vs.spec_seal(
        1,
        context,
        CLIENT,
        [
            {
                "type": PASS,
                "id": stanza_id.hex(),
                "args": dict(enrollment.args),
                "method_secret": enrollment.secret.hex(),
            }
        ],
        os.urandom,
    )
    kms_args = {"key_id": kms_file["key_id"], "provider": "local", "version": 1}
    custodian, _ = vs.spec_seal(
        1,
        context | {"share_role": "custodian"},
        CUSTODIAN,
        [
            {
                "type": "kms",
                "id": os.urandom(16).hex(),
                "args": kms_args,
                "kms_key": base64.b64decode(kms_file["versions"]["1"]).hex(),
            }
        ],
        os.urandom,
        kms_nonces=os.urandom,
    )
    record = {
        "schema": 1,
        "wallet_id": "w",
        "mode": "managed",
        "current": {
            "backup_set_id": backup_set.hex(),
            "key_epoch": 1,
            "client_envelope_id": envelope.parse(client).envelope_id.hex(),
            "client_envelope": client.hex(),
            "custodian_envelope": custodian.hex(),
            "stanzas": [{"id": stanza_id.hex(), "method": PASS}],
            "created_at": "2026-11-01T00:00:00+00:00",
            "reason": PASS,
            "discard_on_success": [],
            "discard_on_failure": [],
        },
        "pending": None,
        "statuses": [],
        "discard_queue": [],
        "last_epoch": 1,
    }
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as wb:
        wb.custodian.store.save("w", json.dumps(record).encode())


def test_a_v1_backup_opens_and_its_next_change_writes_v2(urls: dict[str, str]) -> None:
    """Format v1 (and the record schema before it) stay readable; the next change writes v2."""
    _v1_wallet(urls)
    with WalletBackup(store=urls["store"], kms=urls["kms"], device_state=None) as wb:
        got = wb.recover_wallet("w", method=PASS, passphrase=UNLOCK["passphrase"])
        assert (got.client_share, got.custodian_share, got.revision) == (CLIENT, CUSTODIAN, 0)
        result = wb.add_backup_method("w", TOKEN, unlock_with=UNLOCK, token="t")
        assert envelope.parse(result.cipher_text).version == envelope.VERSION
        assert result.revision == 1
        for unlock_with in (UNLOCK, {"method": TOKEN, "token": "t"}):
            again = wb.recover_wallet("w", **unlock_with)
            assert (again.client_share, again.custodian_share) == (CLIENT, CUSTODIAN)
