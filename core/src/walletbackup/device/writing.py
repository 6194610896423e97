"""Writing a new revision: seal on the device, hand to the custodian, read back, then promote.

The one path every change takes. The previous revision stays the recovery path until the new
one has been read back and opened with the keys still in memory (managed) or confirmed by the
application (self-managed); remote material is deleted only after that (:mod:`.discards`).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from walletbackup import envelope
from walletbackup.envelope import Recipient, Stanza
from walletbackup.errors import PolicyViolation, StorageError, WalletBackupError
from walletbackup.methods import BackupMethod, MethodContext
from walletbackup.protocol import CustodianApi, Proposal, WalletView
from walletbackup.results import BackupResult
from walletbackup.state import StanzaRef

from . import discards
from .memory import DeviceMemory, DiscardItem, Plan
from .opening import Unlocked

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
    #: the kept stanzas' material, as the device authenticated it
    kept: list[DiscardItem]
    #: obsolete material of dropped stanzas the device authenticated (or wrote itself)
    drop: list[DiscardItem]
    enroll: BackupMethod | None
    share: bytes = field(repr=False)
    custodian_share: bytes | None = field(default=None, repr=False)


def carried(
    opened: Unlocked, keep: Sequence[Stanza]
) -> tuple[list[Recipient], list[DiscardItem], list[DiscardItem]]:
    """What a change takes from the envelope it unlocked: the kept stanzas, re-tagged with their
    auth keys, with their material; and the material of the dropped ones."""
    recipients = []
    for stanza in keep:
        auth_key = opened.auth_keys.get(stanza.id)
        if auth_key is None:
            raise PolicyViolation(
                f"wallet {opened.envelope.context.wallet_id!r} is in envelope format v1, which "
                f"cannot carry its {stanza.type} method over; back up again with replace=True "
                "and add the other methods anew"
            )
        recipients.append(Recipient.from_stanza(stanza, auth_key))
    kept = {s.id.hex() for s in keep}
    material = discards.items_of(opened.envelope)
    return (
        recipients,
        [i for i in material if i.context["stanza_id"] in kept],
        [i for i in material if i.context["stanza_id"] not in kept],
    )


def prepare(
    view: WalletView | None,
    mode: str,
    reason: str,
    opened: Unlocked | None,
    keep: Sequence[Stanza],
    *,
    enroll: BackupMethod | None,
    share: bytes,
    backup_set_id: bytes,
    key_epoch: int,
    share_commitment: bytes,
    custodian_share: bytes | None = None,
    vouched: Sequence[DiscardItem] = (),
) -> Change:
    """A change built on ``opened`` (kept stanzas re-tagged), or on nothing (a first backup, a
    replace): then ``vouched`` is the material the device knows the replaced revision had."""
    if len(keep) + (enroll is not None) > envelope.MAX_STANZAS:
        # The format's limit, said as a policy before anything is enrolled or written.
        raise PolicyViolation(
            f"a wallet holds at most {envelope.MAX_STANZAS} methods (stanzas); remove one first"
        )
    recipients: list[Recipient] = []
    kept: list[DiscardItem] = []
    drop = list(vouched)
    if opened is not None:
        recipients, kept, drop = carried(opened, keep)
    return Change(
        view=view,
        mode=mode,
        reason=reason,
        backup_set_id=backup_set_id,
        key_epoch=key_epoch,
        share_commitment=share_commitment,
        keep=recipients,
        kept=kept,
        drop=drop,
        enroll=enroll,
        share=share,
        custodian_share=custodian_share,
    )


def commit(
    custodian: CustodianApi, device: DeviceMemory, wallet_id: str, change: Change
) -> BackupResult:
    view, location = change.view, custodian.location
    current = view.current.revision if view and view.current else 0
    pending = view.pending.revision if view and view.pending else None
    known = device.read(location, wallet_id)
    if pending is not None and _tell_failure(custodian, device, wallet_id, pending):
        pending = None
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
    plan.stanzas = [*change.kept, *plan.on_failure]
    with device.edit(location, wallet_id) as memory:
        memory.plans[revision] = plan
    try:
        with _remembered(
            device, location, wallet_id, revision, lambda e: f"write failed: {_cause(e)}"
        ):
            client_bytes, backup_key = _propose(
                custodian, wallet_id, change, current, revision, envelope_id, recipients, enrolled
            )
    except BaseException as exc:
        # A refused proposal's number is not dead: another device's change may take it and
        # become current (devices racing through a service).
        refused = isinstance(exc, WalletBackupError) and _refused(
            custodian, wallet_id, revision, envelope_id
        )
        with device.edit(location, wallet_id) as memory:
            discards.settle(memory, revision, landed=False, dead=not refused)
            if refused and memory.failure_of(revision):
                # Nor is a failure to tell: it would abandon another device's pending revision.
                memory.forget_failure()
        raise
    new_ids = {r.id.hex() for r in recipients}
    with device.edit(location, wallet_id) as memory:
        live = {i.context["stanza_id"] for i in (*change.kept, *change.drop)}
        discards.supersede(memory, current, revision, pending, live=new_ids | live)
    try:
        _read_back(custodian, wallet_id, revision, client_bytes, backup_key, change, enrolled)
    except WalletBackupError as exc:
        because = f"verification failed: {_cause(exc)}"
        with _remembered(device, location, wallet_id, revision, lambda _: because):
            custodian.abandon(wallet_id, revision, because)
        with device.edit(location, wallet_id) as memory:
            discards.settle(memory, revision, landed=False)
        raise StorageError(
            f"the new backup of wallet {wallet_id!r} did not read back intact; the previous "
            "backup is unchanged"
        ) from exc
    if change.mode == "managed":
        # Whether a failed promote landed is not known (a store can fail after its commit): the
        # next operation learns it from the custodian; the cause is kept meanwhile.
        with _remembered(
            device, location, wallet_id, revision, lambda e: f"not made current: {_cause(e)}"
        ):
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


def _refused(custodian: CustodianApi, wallet_id: str, revision: int, envelope_id: bytes) -> bool:
    """Whether the custodian, after a proposal of ``revision`` failed, holds no such envelope:
    the proposal did not land, so ``revision`` is free for another device's change. When the
    custodian does not answer, the fate is unknown and the number stays dead."""
    try:
        view = custodian.view(wallet_id)
    except WalletBackupError:
        return False
    if view is None:
        return True
    held = (r for r in (view.current, view.pending) if r is not None and r.revision == revision)
    return all(r.client_envelope_id != envelope_id.hex() for r in held)


def _propose(  # noqa: PLR0917 - private, one caller
    custodian: CustodianApi,
    wallet_id: str,
    change: Change,
    current: int,
    revision: int,
    envelope_id: bytes,
    recipients: list[Recipient],
    enrolled: list[tuple[Recipient, bytes]],
) -> tuple[bytes, bytes]:
    """Seal the client envelope and propose the revision; the envelope and its backup key."""
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
    return client_bytes, backup_key


def _cause(exc: BaseException) -> str:
    """An error as a status detail: its kind and its message (which never holds a secret)."""
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _remembered(
    device: DeviceMemory,
    location: str | None,
    wallet_id: str,
    revision: int,
    because: Callable[[BaseException], str],
) -> Iterator[None]:
    """Keep why a step on ``revision`` failed, so the next change can tell the custodian."""
    try:
        yield
    except (WalletBackupError, OSError) as exc:
        # The device memory may sit on the same full disk: the error raised is the store's.
        with suppress(WalletBackupError), device.edit(location, wallet_id) as memory:
            memory.remember_failure(revision, because(exc))
        raise


def _tell_failure(
    custodian: CustodianApi, device: DeviceMemory, wallet_id: str, pending: int
) -> bool:
    """Abandon ``pending`` with the cause this device remembers, if it remembers one.

    When a change of this device failed and the custodian could not record why at the time (a
    full disk), the custodian records it now, rather than a bare "interrupted".
    """
    location = custodian.location
    because = device.read(location, wallet_id).failure_of(pending)
    if not because:
        return False
    custodian.abandon(wallet_id, pending, because)
    with device.edit(location, wallet_id) as memory:
        discards.settle(memory, pending, landed=False)
        memory.forget_failure()
    return True


def _read_back(  # noqa: PLR0917 - private, one caller
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
    if not custodian.releases_custodian_share:
        # A service checks in propose that its envelope reads back with the share it was handed
        # (or, for a method change, with the commitment of the share it keeps); here, that the
        # envelope it holds is of this revision and opens under its KMS.
        checked = custodian.check(wallet_id, revision)
        if (checked.revision, checked.backup_set_id, checked.key_epoch) != (
            revision,
            change.backup_set_id.hex(),
            change.key_epoch,
        ):
            raise StorageError("the custodian checked another backup than the one written")
        return
    released = custodian.release(wallet_id, revision)
    if change.custodian_share is not None and not hmac.compare_digest(
        released.share, change.custodian_share
    ):
        raise StorageError("the custodian share did not read back identical")
    commitment = envelope.share_commitment(change.share, released.share)
    if not hmac.compare_digest(commitment, change.share_commitment):
        raise StorageError("the custodian share does not match the client share's commitment")
