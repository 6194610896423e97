"""Writing a new revision: seal on the device, hand to the custodian, read back, then promote.

The one path every change takes. The previous revision stays the recovery path until the new
one has been read back and opened with the keys still in memory (managed) or confirmed by the
application (self-managed); remote material is deleted only after that (:mod:`.discards`).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from .. import envelope
from ..envelope import Recipient
from ..errors import StorageError, WalletBackupError
from ..methods import BackupMethod, MethodContext
from ..protocol import CustodianApi, Proposal, WalletView
from ..results import BackupResult
from ..state import StanzaRef
from . import discards
from .memory import DeviceMemory, DiscardItem, Plan

ENVELOPE_ID_BYTES = 32
STANZA_ID_BYTES = 16


@dataclass
class Change:
    """What a new revision is made of, before it is sealed."""

    view: WalletView | None
    mode: str
    reason: str
    backup_set_id: bytes
    key_epoch: int
    share_commitment: bytes
    keep: list[Recipient]
    #: obsolete material of stanzas dropped from an envelope the device authenticated
    drop: list[DiscardItem]
    enroll: BackupMethod | None
    #: stanza ids of the current revision the device authenticated (never discarded)
    live: set[str]
    share: bytes = field(repr=False)
    custodian_share: bytes | None = field(default=None, repr=False)


def commit(
    custodian: CustodianApi, device: DeviceMemory, wallet_id: str, change: Change
) -> BackupResult:
    view, location = change.view, custodian.location
    current = view.current.revision if view and view.current else 0
    pending = view.pending.revision if view and view.pending else None
    known = device.read(location, wallet_id)
    # Above every revision this device knows of, its own open proposals included: a number it
    # has proposed never names a second envelope, whatever the store shows of the first.
    revision = max(view.last_revision if view else 0, known.pin, *known.dead, *known.plans) + 1
    envelope_id = os.urandom(ENVELOPE_ID_BYTES)
    recipients = list(change.keep)
    enrolled: list[tuple[Recipient, bytes]] = []
    plan = Plan(on_success=list(change.drop))
    if change.enroll is not None:
        stanza_id = os.urandom(STANZA_ID_BYTES)
        ctx = MethodContext(
            wallet_id, change.backup_set_id.hex(), envelope_id.hex(), stanza_id.hex()
        )
        enrollment = change.enroll.enroll(ctx)
        new = Recipient.from_secret(
            change.enroll.name, stanza_id, dict(enrollment.args), enrollment.secret
        )
        recipients.append(new)
        enrolled.append((new, enrollment.secret))
        plan.on_failure.append(discards.item(change.enroll.name, dict(new.args), ctx))
    plan.stanzas = [r.id.hex() for r in recipients]
    with device.edit(location, wallet_id) as memory:
        memory.plans[revision] = plan
    try:
        context = envelope.Context(
            wallet_id=wallet_id,
            backup_set_id=change.backup_set_id,
            share_role="client",
            key_epoch=change.key_epoch,
            revision=revision,
            share_commitment=change.share_commitment,
        )
        client_bytes, backup_key = envelope.seal(
            context, change.share, recipients, envelope_id=envelope_id
        )
        custodian.propose(
            Proposal(
                wallet_id=wallet_id,
                mode=change.mode,
                base_revision=current,
                revision=revision,
                backup_set_id=change.backup_set_id.hex(),
                key_epoch=change.key_epoch,
                share_commitment=change.share_commitment,
                client_envelope_id=envelope_id.hex(),
                client_envelope=client_bytes if change.mode == "managed" else None,
                stanzas=tuple(StanzaRef(r.id.hex(), r.type) for r in recipients),
                new_stanzas=tuple(r.id.hex() for r, _ in enrolled),
                reason=change.reason,
                custodian_share=change.custodian_share,
            )
        )
    except BaseException:
        with device.edit(location, wallet_id) as memory:
            discards.settle(memory, revision, landed=False)
        raise
    new_ids = {r.id.hex() for r in recipients}
    with device.edit(location, wallet_id) as memory:
        discards.supersede(memory, current, revision, pending, live=new_ids | change.live)
    try:
        _read_back(custodian, wallet_id, revision, client_bytes, backup_key, change, enrolled)
    except WalletBackupError as exc:
        custodian.abandon(wallet_id, revision, f"verification failed: {type(exc).__name__}")
        with device.edit(location, wallet_id) as memory:
            discards.settle(memory, revision, landed=False)
        raise StorageError(
            f"the new backup of wallet {wallet_id!r} did not read back intact; the previous "
            "backup is unchanged"
        ) from exc
    if change.mode == "managed":
        custodian.promote(wallet_id, revision)
        with device.edit(location, wallet_id) as memory:
            discards.settle(memory, revision, landed=True, live=new_ids)
    return BackupResult(
        wallet_id,
        change.reason,
        "stored" if change.mode == "managed" else "pending",
        change.backup_set_id.hex(),
        change.key_epoch,
        envelope_id.hex(),
        tuple(sorted({r.type for r in recipients})),
        client_bytes,
        revision,
    )


def _read_back(
    custodian: CustodianApi,
    wallet_id: str,
    revision: int,
    client_bytes: bytes,
    backup_key: bytes,
    change: Change,
    enrolled: list[tuple[Recipient, bytes]],
) -> None:
    """Read the new revision back and open it with the keys still in memory."""
    view = custodian.view(wallet_id)
    held = view.pending if view else None
    if held is None or held.revision != revision:
        raise StorageError("the pending backup is missing after it was written")
    written = held.client_envelope if change.mode == "managed" else client_bytes
    if written is None:
        raise StorageError("the client envelope is missing after it was written")
    env = envelope.parse(written)
    if not hmac.compare_digest(envelope.open_with_key(env, backup_key).share, change.share):
        raise StorageError("the client share did not read back identical")
    for recipient, secret in enrolled:
        stanza = env.find_stanza(recipient.id)
        if not hmac.compare_digest(envelope.unlock(env, stanza, secret), backup_key):
            raise StorageError("the new method does not open the new envelope")
    released = custodian.release(wallet_id, revision)
    if change.custodian_share is not None and not hmac.compare_digest(
        released.share, change.custodian_share
    ):
        raise StorageError("the custodian share did not read back identical")
    commitment = envelope.share_commitment(change.share, released.share)
    if not hmac.compare_digest(commitment, change.share_commitment):
        raise StorageError("the custodian share does not match the client share's commitment")
