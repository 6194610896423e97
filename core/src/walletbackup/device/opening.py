"""Opening a client envelope on the device, and authenticating everything read with it.

The order is the security argument (docs/security.md): structure first (before any KDF), then
the method's secret, the stanza tag (a key only that secret gives), the header MAC and payload;
only then are the context and revision trusted, and compared with the wallet asked for, the
custodian's view and the newest revision this device has seen.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from walletbackup import envelope
from walletbackup.envelope import Envelope
from walletbackup.errors import (
    BackupNotFound,
    MalformedBackup,
    PolicyViolation,
    StaleBackup,
    UnlockFailed,
)
from walletbackup.methods import BackupMethod, MethodContext
from walletbackup.protocol import Checked, Released, RevisionView, WalletView

from .memory import DiscardItem, WalletMemory


@dataclass(frozen=True)
class Unlocked:
    """A client envelope this device opened and authenticated, and the revision it matched."""

    envelope: Envelope
    held: RevisionView
    backup_key: bytes = field(repr=False)
    share: bytes = field(repr=False)
    auth_keys: Mapping[bytes, bytes] = field(repr=False)
    stanza_id: bytes
    advice: tuple[str, ...]

    @property
    def revision(self) -> int:
        return self.envelope.context.revision


def client_envelope(view: WalletView, cipher_text: bytes | str | None) -> Envelope:
    """The client envelope to open: the application's copy, or the custodian's (managed)."""
    if cipher_text is not None:
        data = envelope.dearmor(cipher_text) if isinstance(cipher_text, str) else bytes(cipher_text)
    elif view.current is None:
        raise BackupNotFound(f"there is no backup for wallet {view.wallet_id!r}")
    elif view.current.client_envelope is None:
        raise PolicyViolation(
            "self-managed mode: pass the wallet's current cipher text (cipher_text=...)"
        )
    else:
        data = view.current.client_envelope
    env = envelope.parse(data)
    if env.context.share_role != "client":
        raise MalformedBackup("this is a custodian envelope, not a client backup")
    if env.context.wallet_id != view.wallet_id:
        raise MalformedBackup(
            f"this backup belongs to wallet {env.context.wallet_id!r}, not {view.wallet_id!r}"
        )
    return env


def unlock(
    view: WalletView,
    env: Envelope,
    unlock_with: Mapping[str, Any],
    method_for: Callable[[str, Mapping[str, Any]], BackupMethod],
    memory: WalletMemory,
) -> Unlocked:
    """Open ``env`` with one method and check it is the custodian's current (or pending) one."""
    options = dict(unlock_with)
    name = options.pop("method", None)
    if not isinstance(name, str):
        raise PolicyViolation("unlock_with needs a 'method' naming the method to unlock with")
    stanza_id = options.pop("stanza_id", None)
    stanzas = [
        s for s in env.stanzas if s.type == name and (stanza_id is None or s.id.hex() == stanza_id)
    ]
    if not stanzas:
        raise BackupNotFound(
            f"wallet {view.wallet_id!r} has no {name} method; it can be recovered with: "
            f"{', '.join(sorted({s.type for s in env.stanzas}))}"
        )
    method = method_for(name, options)
    if not type(method).multiple and sum(s.type == name for s in env.stanzas) > 1:
        # One KDF per unlock at most: a hostile envelope cannot multiply its cost.
        raise MalformedBackup(f"the backup holds more than one stanza of the {name} method")
    for stanza in stanzas:
        type(method).validate_args(stanza.args)
    method_error: UnlockFailed | None = None
    for stanza in stanzas:
        ctx = MethodContext(
            view.wallet_id, env.context.backup_set_id.hex(), env.envelope_id.hex(), stanza.id.hex()
        )
        try:
            secret = method.unlock(stanza.args, ctx)
        except UnlockFailed as exc:  # the method's own account (PIN rejected, wrong key)
            method_error = exc
            continue
        try:
            key = envelope.unlock(env, stanza, secret)
        except UnlockFailed:
            continue
        opened = envelope.open_with_key(env, key)
        advice = method.rewrap_advice(stanza.args)
        # A v1 payload carries no auth keys: the unlocking method's own is derived here, so a
        # v1 backup moves to v2 with at least that method.
        auth_keys = {stanza.id: envelope.stanza_auth_key(secret, stanza.id), **opened.auth_keys}
        return Unlocked(
            env,
            _held(view, env, memory),
            key,
            opened.share,
            auth_keys,
            stanza.id,
            (advice,) if advice else (),
        )
    # The envelope's failures all read alike; a method's own reason is worth passing on.
    raise method_error or UnlockFailed()


def _held(view: WalletView, env: Envelope, memory: WalletMemory) -> RevisionView:
    """The custodian's revision this authenticated envelope is; refuses replays and rollbacks."""
    revision = env.context.revision
    current = view.current.revision if view.current else 0
    if current < memory.pin:
        raise StaleBackup(
            f"wallet {view.wallet_id!r} was rolled back: this device has seen revision "
            f"{memory.pin}, but the custodian's current backup is revision {current}"
        )
    if revision in memory.dead:
        raise StaleBackup(
            f"revision {revision} of wallet {view.wallet_id!r} was abandoned (not stored, or "
            "superseded before it was confirmed) and never recovers the wallet"
        )
    for held in (view.current, view.pending):
        if (
            held is not None
            and held.revision == revision
            and held.client_envelope_id == env.envelope_id.hex()
        ):
            return held
    if revision < current:
        raise StaleBackup(
            f"this is an earlier backup of wallet {view.wallet_id!r} (revision {revision}); it "
            f"was replaced by revision {current} and no longer recovers the wallet"
        )
    raise StaleBackup(
        f"the custodian does not hold revision {revision} of wallet {view.wallet_id!r} (its "
        f"current is {current}): the backup was abandoned, or the custodian's state is older"
    )


def check_released(unlocked: Unlocked, released: Released) -> bytes:
    """The custodian share, if it belongs with this authenticated client envelope and share."""
    context = unlocked.envelope.context
    if context.share_commitment is None:
        raise MalformedBackup("the client backup carries no share commitment")
    if (
        released.wallet_id != context.wallet_id
        or released.revision != context.revision
        or released.backup_set_id != context.backup_set_id.hex()
        or released.key_epoch != context.key_epoch
        or not hmac.compare_digest(released.share_commitment, context.share_commitment)
    ):
        raise MalformedBackup("the client and custodian shares do not belong together")
    if not envelope.share_commitment_matches(
        unlocked.share, released.share, context.share_commitment
    ):
        raise UnlockFailed  # a forged or substituted share: as good as tampering
    return released.share


def check_checked(unlocked: Unlocked, checked: Checked) -> None:
    """That a custodian keeping its share checked the revision of this authenticated envelope.

    Whoever receives the custodian share checks it against the envelope's share commitment
    (docs/security.md): here only the revision, backup set and epoch can be compared.
    """
    context = unlocked.envelope.context
    if context.share_commitment is None:
        raise MalformedBackup("the client backup carries no share commitment")
    if (checked.revision, checked.backup_set_id, checked.key_epoch) != (
        context.revision,
        context.backup_set_id.hex(),
        context.key_epoch,
    ):
        raise MalformedBackup("the custodian checked another backup than the one opened here")


def vouched_for(
    memory: WalletMemory,
    wallet_id: str,
    current: RevisionView,
    method: str,
    *,
    several: bool,
    replace: bool,
) -> list[DiscardItem]:
    """The current revision's stanzas, for a backup that replaces them without an unlock.

    Without an unlock the custodian's record names the stanzas: trusted only when it is the
    revision this device last saw current, stanzas and all. Refuses when the backup would drop
    methods other than ``method`` (unless ``replace``) or when the device cannot vouch.
    """
    vouched: list[DiscardItem] = []
    if memory.vouches_for(current.revision, {ref.id for ref in current.stanzas}):
        vouched = list(memory.stanzas)
    elif not replace:
        raise PolicyViolation(
            f"this device cannot vouch for the methods of wallet {wallet_id!r} "
            f"(revision {current.revision} is not the one it last opened); unlock it once "
            "(unlock_with=...), or replace the backup (replace=True)"
        )
    others = sorted({i.method for i in vouched if several or i.method != method})
    if others and not replace:
        raise PolicyViolation(
            f"wallet {wallet_id!r} already has a backup that {', '.join(others)} also "
            "protect(s); unlock it once to keep them (unlock_with=...), or "
            f"replace the backup with {method} only (replace=True)"
        )
    return vouched
