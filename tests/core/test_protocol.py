"""The protocol between device and custodian: messages, their JSON form, the custodian's rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from walletbackup import Custodian, StaleBackup, envelope
from walletbackup.errors import BackupNotFound, MalformedBackup, PolicyViolation, StorageError
from walletbackup.protocol import (
    Proposal,
    Released,
    RevisionView,
    WalletView,
    from_json,
    to_json,
)
from walletbackup.state import MethodStatus, StanzaRef

CLIENT, CUSTODIAN = b"client share", b"custodian share"


def _proposal(revision: int = 1, base: int = 0, share: bytes | None = CUSTODIAN) -> Proposal:
    return Proposal(
        wallet_id="w",
        mode="managed",
        base_revision=base,
        revision=revision,
        backup_set_id="00" * 16,
        key_epoch=1,
        share_commitment=envelope.share_commitment(CLIENT, CUSTODIAN),
        client_envelope_id=f"{revision:064x}",
        client_envelope=b"opaque client cipher text",
        stanzas=(StanzaRef("11" * 16, "password"),),
        new_stanzas=("11" * 16,),
        reason="password",
        custodian_share=share,
    )


@pytest.fixture
def custodian(tmp_path: Path) -> Custodian:
    return Custodian(store="memory:", kms=f"local://{tmp_path / 'custodian.key'}")


def test_messages_round_trip_through_json() -> None:
    status = MethodStatus(
        "11" * 16, "password", "stored", "2026-01-01T00:00:00+00:00", "00", 1, "ab"
    )
    revision = RevisionView(
        3, "00" * 16, 1, "ab" * 32, b"\x00\xff", (StanzaRef("11", "pw"),), "pw", "t"
    )
    view = WalletView("w", "managed", 3, 1, revision, None, (status,))
    released = Released("w", 3, "00" * 16, 1, b"c" * 32, b"share")
    for message in (view, revision, released, _proposal()):
        text = json.dumps(to_json(message))
        assert from_json(type(message), json.loads(text)) == message


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d | {"revision": "3"},
        lambda d: d | {"revision": True},
        lambda d: d | {"unknown": 1},
        lambda d: {k: v for k, v in d.items() if k != "revision"},
        lambda d: d | {"share_commitment": "not base64!"},
        lambda d: d | {"stanzas": "no list"},
    ],
)
def test_malformed_messages_are_refused(edit: object) -> None:
    data = to_json(_proposal())
    with pytest.raises(MalformedBackup):
        from_json(Proposal, edit(data))  # type: ignore[operator]


def test_secret_fields_stay_out_of_repr() -> None:
    proposal = _proposal()
    assert CUSTODIAN.hex() not in repr(proposal) and repr(CUSTODIAN) not in repr(proposal)
    released = Released("w", 1, "00", 1, b"c", CUSTODIAN)
    assert repr(CUSTODIAN) not in repr(released)


def test_no_message_carries_a_client_share_or_method_secret() -> None:
    """The custodian's inputs: cipher text and public metadata only (by construction)."""
    fields = set(Proposal.__dataclass_fields__)
    assert fields.isdisjoint({"client_share", "secret", "password", "auth_key", "backup_key"})


def test_propose_promote_release(custodian: Custodian) -> None:
    held = custodian.propose(_proposal())
    assert (held.revision, held.client_envelope) == (1, b"opaque client cipher text")
    assert custodian.release("w", 1).share == CUSTODIAN  # pending is released
    custodian.promote("w", 1)
    view = custodian.view("w")
    assert view is not None and view.current is not None and view.pending is None
    assert (view.current.revision, view.last_revision) == (1, 1)


def test_a_retried_proposal_is_recognised(custodian: Custodian) -> None:
    first = custodian.propose(_proposal())
    assert custodian.propose(_proposal()) == first


def test_a_proposal_built_on_another_revision_is_refused(custodian: Custodian) -> None:
    custodian.propose(_proposal())
    custodian.promote("w", 1)
    with pytest.raises(StorageError, match="changed while"):
        custodian.propose(replace(_proposal(revision=2, base=0), key_epoch=2))


def test_revisions_only_move_forward(custodian: Custodian) -> None:
    custodian.propose(_proposal(revision=5))
    custodian.promote("w", 5)
    with pytest.raises(StaleBackup):
        custodian.propose(replace(_proposal(revision=4, base=5), key_epoch=2))


def test_a_method_change_keeps_the_custodian_share(custodian: Custodian) -> None:
    custodian.propose(_proposal())
    custodian.promote("w", 1)
    custodian.propose(_proposal(revision=2, base=1, share=None))
    assert custodian.release("w", 2).share == CUSTODIAN
    with pytest.raises(PolicyViolation, match="keep the backup set"):
        custodian.propose(
            replace(_proposal(revision=3, base=1, share=None), backup_set_id="ff" * 16)
        )


def test_only_current_or_pending_revisions_are_released(custodian: Custodian) -> None:
    custodian.propose(_proposal())
    custodian.promote("w", 1)
    custodian.propose(_proposal(revision=2, base=1, share=None))
    custodian.promote("w", 2)
    with pytest.raises(StaleBackup, match="never released"):
        custodian.release("w", 1)
    with pytest.raises(BackupNotFound):
        custodian.release("nobody", 1)


def test_a_relabelled_custodian_envelope_is_refused(custodian: Custodian) -> None:
    """The revision is inside the KMS-sealed envelope: editing the record's number is caught."""
    custodian.propose(_proposal())
    custodian.promote("w", 1)
    document = custodian.store.load("w")
    assert document is not None
    custodian.store.save("w", document.replace(b'"revision":1', b'"revision":7'))
    with pytest.raises(MalformedBackup, match="another wallet or revision"):
        custodian.release("w", 7)


def test_a_new_custodian_share_needs_a_new_epoch(custodian: Custodian) -> None:
    custodian.propose(_proposal())
    custodian.promote("w", 1)
    with pytest.raises(PolicyViolation, match="new key epoch"):
        custodian.propose(_proposal(revision=2, base=1))
