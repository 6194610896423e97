"""The Python API: :class:`WalletBackup` (Portal's names, Pythonic).

Semantics, in short (docs/api.md has the long form):

* ``backup_wallet`` seals the client share under a fresh backup key wrapped to the given method
  *and to every other method the wallet already has* (``replace=True`` keeps only the given one),
  and seals the custodian share under the KMS. A method that allows one stanza per wallet
  (password) replaces its old stanza: the old password stops working once the new backup is stored.
* managed mode: the new state is written, read back, and opened with the key still in memory
  before anything reads ``stored``; the previous backup stays the recovery path until then, and
  obsolete remote key material is discarded only after.
* self-managed mode: the cipher text is handed back, ``pending`` until the application confirms
  with ``stored_client_backup_share``; ``success=False`` keeps the previous backup.
* ``add_backup_method`` / ``remove_backup_method`` / ``rewrap_backup`` unlock with one method and
  write a new envelope under a fresh backup key; the shares themselves do not change.
"""

from __future__ import annotations

import hmac
import logging
import os
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import canonical, envelope, plugins
from .envelope import Context, Envelope, KmsRecipient, Recipient, Stanza
from .errors import (
    BackupNotFound,
    MalformedBackup,
    MethodUnavailable,
    PolicyViolation,
    StorageError,
    UnlockFailed,
    WalletBackupError,
)
from .kms import KmsKeyMissing, KmsProvider
from .methods import BackupMethod, MethodContext
from .results import BackupResult, Recovered, VerifyReport
from .state import MODES, DiscardItem, MethodStatus, Revision, StanzaRef, WalletState, now
from .stores import Store, open_store

log = logging.getLogger("walletbackup")

MAX_WALLET_ID_BYTES = 128
ID_BYTES = 16


@dataclass
class _Change:
    """What a new revision is made of, before it is sealed."""

    share: bytes
    custodian_envelope: bytes | None  # None: seal this custodian share anew
    custodian_share: bytes | None
    backup_set_id: bytes
    key_epoch: int
    share_commitment: bytes | None
    keep: list[Stanza]
    drop: list[Stanza]
    enroll: BackupMethod | None
    reason: str


class WalletBackup:
    """Back up and recover an MPC wallet's two backup shares.

    ``store`` and ``kms`` are URLs (``sqlite:``, ``file:``, ``memory:``, ``local:`` and what
    plugins register) or ready instances. ``mode`` is ``"managed"`` (the store keeps the client
    cipher text) or ``"self-managed"`` (the application keeps it and confirms with
    :meth:`stored_client_backup_share`).
    """

    def __init__(
        self,
        *,
        store: str | Store = "sqlite:",
        kms: str | KmsProvider = "local:",
        mode: str = "managed",
    ) -> None:
        if mode not in MODES:
            raise PolicyViolation(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.store = (
            store
            if isinstance(store, Store)
            else open_store(
                store,
                {
                    scheme: item.value
                    for scheme, item in plugins.store_registry().items()
                    if item.distribution != plugins.CORE_DISTRIBUTION
                },
            )
        )
        self.kms = kms if isinstance(kms, KmsProvider) else _open_kms(kms)
        # The latest instance of each method that has remote material, with its options
        # (credentials): what discards obsolete material, possibly in a later call.
        self._discarders: dict[str, BackupMethod] = {}

    def __repr__(self) -> str:
        return f"<WalletBackup mode={self.mode!r} store={self.store!r} kms={self.kms!r}>"

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> WalletBackup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- backups -------------------------------------------------------------------------

    def backup_wallet(
        self,
        wallet_id: str,
        client_share: bytes,
        *,
        method: str,
        custodian_share: bytes,
        replace: bool = False,
        cipher_text: bytes | str | None = None,
        **options: Any,
    ) -> BackupResult:
        """Back up both shares, protecting the client share with ``method``.

        On a wallet that already has a backup, the wallet's other methods are kept (their keys
        are re-wrapped to the new backup key without their secrets); ``replace=True`` keeps only
        ``method``. In self-managed mode, keeping them needs the current ``cipher_text``.
        """
        wallet_id = _check_wallet_id(wallet_id)
        share = _check_share(client_share, "client_share")
        custodian = _check_share(custodian_share, "custodian_share")
        with self._audited("backup", wallet_id, method=method), self._locked(wallet_id) as state:
            current_env = self._current_client(state, cipher_text, required=False)
            keep, drop = [], []
            if current_env is not None:
                for stanza in current_env.stanzas:
                    if replace or (stanza.type == method and not _allows_several(method)):
                        drop.append(stanza)
                    else:
                        keep.append(stanza)
            elif state.current is not None and not replace:
                others = sorted({ref.method for ref in state.current.stanzas} - {method})
                if others:
                    raise PolicyViolation(
                        f"wallet {wallet_id!r} already has a backup that {', '.join(others)} also "
                        f"protect(s); pass cipher_text=<its current cipher text> to keep them, or "
                        f"replace=True to replace the backup with {method} only"
                    )
            state.last_epoch += 1
            change = _Change(
                share=share,
                custodian_envelope=None,
                custodian_share=custodian,
                backup_set_id=os.urandom(ID_BYTES),
                key_epoch=state.last_epoch,
                share_commitment=envelope.share_commitment(share, custodian),
                keep=keep,
                drop=drop,
                enroll=self._method(method, options),
                reason=method,
            )
            return self._commit(state, change)

    def add_backup_method(
        self,
        wallet_id: str,
        method: str,
        *,
        unlock_with: Mapping[str, Any],
        cipher_text: bytes | str | None = None,
        **options: Any,
    ) -> BackupResult:
        """Protect the wallet's client share with one more method (unlocking with another).

        A method that allows a single stanza per wallet (password) replaces its old stanza, so
        ``add_backup_method(w, "password", unlock_with={"method": "password", "password": old},
        password=new)`` is a password change.
        """
        wallet_id = _check_wallet_id(wallet_id)
        with (
            self._audited("add_method", wallet_id, method=method),
            self._locked(wallet_id) as state,
        ):
            env, share = self._unlocked_share(state, unlock_with, cipher_text)
            several = _allows_several(method)
            keep = [s for s in env.stanzas if several or s.type != method]
            drop = [s for s in env.stanzas if not several and s.type == method]
            return self._commit(
                state,
                self._rewrite(
                    state,
                    env,
                    share=share,
                    keep=keep,
                    drop=drop,
                    enroll=self._method(method, options),
                    reason=method,
                ),
            )

    def remove_backup_method(
        self,
        wallet_id: str,
        method: str,
        *,
        unlock_with: Mapping[str, Any],
        cipher_text: bytes | str | None = None,
        stanza_id: str | None = None,
        **options: Any,
    ) -> BackupResult:
        """Stop protecting the client share with ``method`` (all its stanzas, or ``stanza_id``).

        Writes a new envelope under a fresh backup key without it, then discards its remote key
        material (``options`` reach the method for that, e.g. credentials). Refuses to remove the
        last method.
        """
        wallet_id = _check_wallet_id(wallet_id)
        with (
            self._audited("remove_method", wallet_id, method=method),
            self._locked(wallet_id) as state,
        ):
            env, share = self._unlocked_share(state, unlock_with, cipher_text)
            drop = [
                s
                for s in env.stanzas
                if s.type == method and (stanza_id is None or s.id.hex() == stanza_id)
            ]
            if not drop:
                raise BackupNotFound(f"wallet {wallet_id!r} has no {method} method to remove")
            keep = [s for s in env.stanzas if s not in drop]
            if not keep:
                raise PolicyViolation(
                    f"{method} is the only method protecting wallet {wallet_id!r}; add another "
                    "method first, or back up again with replace=True"
                )
            if options:
                self._method(method, options, check=False)  # it will discard the material
            return self._commit(
                state,
                self._rewrite(
                    state, env, share=share, keep=keep, drop=drop, enroll=None, reason=method
                ),
            )

    def rewrap_backup(
        self, wallet_id: str, method: str, *, cipher_text: bytes | str | None = None, **options: Any
    ) -> BackupResult:
        """Enroll ``method`` again with today's policy (e.g. stronger Argon2 costs).

        What to call when ``recover_wallet``/``verify_backup`` report ``rewrap_advice``.
        """
        return self.add_backup_method(
            wallet_id,
            method,
            cipher_text=cipher_text,
            unlock_with={"method": method, **options},
            **options,
        )

    def stored_client_backup_share(
        self, wallet_id: str, method: str, success: bool, **options: Any
    ) -> None:
        """Self-managed mode: confirm (or deny) that the application stored the cipher text.

        ``success=True`` makes the pending backup current and discards obsolete material;
        ``success=False`` marks it ``failed`` and keeps the previous backup as the recovery path.
        ``options`` reach ``method`` for discarding its remote material (credentials), when this
        ``WalletBackup`` has not used that method yet.
        """
        if options:
            self._method(method, options, check=False)
        wallet_id = _check_wallet_id(wallet_id)
        with (
            self._audited("confirm", wallet_id, method=method, success=success),
            self._locked(wallet_id) as state,
        ):
            pending = state.pending
            if self.mode != "self-managed" or state.mode != "self-managed":
                raise PolicyViolation("stored_client_backup_share is for self-managed mode only")
            if pending is None or pending.reason != method:
                raise BackupNotFound(
                    f"wallet {wallet_id!r} has no pending {method} backup to confirm"
                )
            if success:
                self._promote(state)
            else:
                self._abandon(state, "the application reported it could not store the cipher text")
            self._save(state)
            self._run_discards(state)

    # --- recovery ------------------------------------------------------------------------

    def recover_wallet(
        self,
        wallet_id: str,
        *,
        method: str,
        cipher_text: bytes | str | None = None,
        stanza_id: str | None = None,
        **options: Any,
    ) -> Recovered:
        """Recover both shares, unlocking the client share with ``method``."""
        wallet_id = _check_wallet_id(wallet_id)
        with self._audited("recover", wallet_id, method=method):
            state = self._load(wallet_id)
            env, share, advice = self._open_client(
                state, {"method": method, "stanza_id": stanza_id, **options}, cipher_text
            )
            custodian = self._open_custodian(state, env, share)
            return Recovered(
                wallet_id,
                method,
                env.context.backup_set_id.hex(),
                env.context.key_epoch,
                share,
                custodian,
                advice,
            )

    def verify_backup(
        self,
        wallet_id: str,
        *,
        method: str,
        cipher_text: bytes | str | None = None,
        stanza_id: str | None = None,
        **options: Any,
    ) -> VerifyReport:
        """Test a backup: open both envelopes, return nothing secret. Raises when it would fail."""
        wallet_id = _check_wallet_id(wallet_id)
        with self._audited("verify", wallet_id, method=method):
            state = self._load(wallet_id)
            env, share, advice = self._open_client(
                state, {"method": method, "stanza_id": stanza_id, **options}, cipher_text
            )
            self._open_custodian(state, env, share)
            return VerifyReport(
                wallet_id,
                method,
                env.context.backup_set_id.hex(),
                env.context.key_epoch,
                env.envelope_id.hex(),
                advice,
            )

    # --- status --------------------------------------------------------------------------

    def backup_status(self, wallet_id: str) -> list[MethodStatus]:
        """Per stanza: method, ``pending`` / ``stored`` / ``failed``, when, which backup set."""
        state = self._load(_check_wallet_id(wallet_id))
        return sorted(state.statuses, key=lambda s: (s.method, s.updated_at, s.stanza_id))

    def available_recovery_methods(self, wallet_id: str) -> list[str]:
        """The methods that can recover the wallet now (those of its current backup)."""
        state = self._load(_check_wallet_id(wallet_id))
        if state.current is None:
            return []
        return sorted({ref.method for ref in state.current.stanzas})

    def wallets(self) -> list[str]:
        return list(self.store.wallets())

    def audit_log(self, wallet_id: str | None = None) -> list[dict[str, Any]]:
        """The audit events kept in the store, oldest first (optionally one wallet's)."""
        events = (canonical.loads(record) for record in self.store.audit_records())
        return [e for e in events if wallet_id is None or e.get("wallet_id") == wallet_id]

    # --- custodian key rotation ----------------------------------------------------------

    def rotate_kms_key(self) -> int:
        """Roll in a new KMS key version for new custodian envelopes; returns its number."""
        return self.kms.rotate()

    def rewrap_custodian(self, wallet_id: str) -> None:
        """Re-seal the wallet's custodian share under the KMS key's current version."""
        wallet_id = _check_wallet_id(wallet_id)
        with self._audited("rewrap_custodian", wallet_id), self._locked(wallet_id) as state:
            for revision in (state.current, state.pending):
                if revision is None:
                    continue
                env = envelope.parse(revision.custodian_envelope)
                share = self._custodian_share(env)
                revision.custodian_envelope = self._seal_custodian(env.context, share)
            self._save(state)

    # --- internals: state ----------------------------------------------------------------

    @contextmanager
    def _locked(self, wallet_id: str) -> Iterator[WalletState]:
        """Lock the wallet, load its state, and finish what an interrupted process left."""
        with self.store.lock(wallet_id):
            state = self._load(wallet_id, missing_ok=True)
            if state.mode != self.mode and (state.current or state.pending):
                raise PolicyViolation(
                    f"wallet {wallet_id!r} is backed up in {state.mode} mode; open it with "
                    f"WalletBackup(mode={state.mode!r})"
                )
            state.mode = self.mode
            if state.pending is not None and self.mode == "managed":
                self._abandon(state, "interrupted before the backup was verified")
                self._save(state)
            yield state

    def _load(self, wallet_id: str, missing_ok: bool = False) -> WalletState:
        document = self.store.load(wallet_id)
        if document is None:
            if missing_ok:
                return WalletState(wallet_id, self.mode)
            raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
        return WalletState.from_bytes(document, wallet_id)

    def _save(self, state: WalletState) -> None:
        self.store.save(state.wallet_id, state.to_bytes())

    def _promote(self, state: WalletState) -> None:
        revision = state.pending
        assert revision is not None  # callers check
        state.discard_queue += revision.discard_on_success
        state.current, state.pending = revision, None
        state.set_status(revision, "stored")
        state.forget_statuses_not_in(revision)

    def _abandon(self, state: WalletState, detail: str) -> None:
        revision = state.pending
        assert revision is not None  # callers check
        state.discard_queue += revision.discard_on_failure
        new = {item.context["stanza_id"] for item in revision.discard_on_failure}
        state.set_status(revision, "failed", detail, only=new)
        state.pending = None
        state.forget_statuses_not_in(state.current)

    def _run_discards(self, state: WalletState) -> None:
        """Delete obsolete remote material; what fails stays queued for the next operation."""
        remaining = []
        for item in state.discard_queue:
            try:
                method = self._discarders.get(item.method) or self._method(
                    item.method, {}, check=False
                )
                method.discard(item.args, MethodContext(**item.context))
            except Exception as exc:
                log.warning(
                    "could not discard %s key material (will retry): %s",
                    item.method,
                    type(exc).__name__,
                )
                remaining.append(
                    DiscardItem(
                        item.method, item.args, item.context, item.attempts + 1, type(exc).__name__
                    )
                )
        if remaining != state.discard_queue:
            state.discard_queue = remaining
            self._save(state)

    # --- internals: writing a revision ---------------------------------------------------

    def _rewrite(
        self,
        state: WalletState,
        env: Envelope,
        *,
        share: bytes,
        keep: list[Stanza],
        drop: list[Stanza],
        enroll: BackupMethod | None,
        reason: str,
    ) -> _Change:
        current = state.current
        assert current is not None  # _unlocked_share found it
        return _Change(
            share=share,
            custodian_envelope=current.custodian_envelope,
            custodian_share=None,
            backup_set_id=env.context.backup_set_id,
            key_epoch=env.context.key_epoch,
            share_commitment=env.context.share_commitment,
            keep=keep,
            drop=drop,
            enroll=enroll,
            reason=reason,
        )

    def _commit(self, state: WalletState, change: _Change) -> BackupResult:
        """Seal, store as pending, verify, promote: the one path every change takes."""
        if state.pending is not None:  # self-managed, never confirmed: superseded
            self._abandon(state, "superseded by a newer backup before it was confirmed")
        envelope_id = os.urandom(32)
        context = Context(
            state.wallet_id,
            change.backup_set_id,
            "client",
            change.key_epoch,
            change.share_commitment,
        )
        recipients = [Recipient.from_stanza(s) for s in change.keep]
        enrolled: list[tuple[Recipient, bytes]] = []
        fresh: list[DiscardItem] = []
        if change.enroll is not None:
            stanza_id = os.urandom(ID_BYTES)
            ctx = MethodContext(
                state.wallet_id, change.backup_set_id.hex(), envelope_id.hex(), stanza_id.hex()
            )
            enrollment = change.enroll.enroll(ctx)
            new = Recipient.from_secret(
                change.enroll.name, stanza_id, dict(enrollment.args), enrollment.secret
            )
            recipients.append(new)
            enrolled.append((new, enrollment.secret))
            fresh.append(_discard_item(change.enroll.name, new.args, ctx))
        try:
            client_bytes, backup_key = envelope.seal(
                context, change.share, recipients, envelope_id=envelope_id
            )
            custodian_bytes = change.custodian_envelope
            if custodian_bytes is None:
                assert change.custodian_share is not None  # backup_wallet passes it
                custodian_bytes = self._seal_custodian(
                    Context(
                        state.wallet_id,
                        change.backup_set_id,
                        "custodian",
                        change.key_epoch,
                        change.share_commitment,
                    ),
                    change.custodian_share,
                )
        except BaseException:
            state.discard_queue += fresh  # sealing failed: the new material is orphaned
            self._save(state)
            self._run_discards(state)
            raise
        obsolete = [
            _discard_item(
                s.type, dict(s.args), _context_of(state.wallet_id, s, context, envelope_id)
            )
            for s in change.drop
        ]
        revision = Revision(
            backup_set_id=change.backup_set_id.hex(),
            key_epoch=change.key_epoch,
            client_envelope_id=envelope_id.hex(),
            client_envelope=client_bytes if self.mode == "managed" else None,
            custodian_envelope=custodian_bytes,
            stanzas=[StanzaRef(r.id.hex(), r.type) for r in recipients],
            created_at=now(),
            reason=change.reason,
            discard_on_success=obsolete,
            discard_on_failure=fresh,
        )
        state.pending = revision
        state.set_status(revision, "pending", only={item.context["stanza_id"] for item in fresh})
        self._save(state)
        try:
            self._verify_written(
                wallet_id=state.wallet_id,
                client_bytes=client_bytes,
                backup_key=backup_key,
                change=change,
                enrolled=enrolled,
            )
        except WalletBackupError as exc:
            self._abandon(state, f"verification failed: {type(exc).__name__}")
            self._save(state)
            self._run_discards(state)
            raise StorageError(
                f"the new backup of wallet {state.wallet_id!r} did not read back intact; the "
                "previous backup is unchanged"
            ) from exc
        if self.mode == "managed":
            self._promote(state)
            self._save(state)
        self._run_discards(state)
        return BackupResult(
            state.wallet_id,
            change.reason,
            "stored" if self.mode == "managed" else "pending",
            revision.backup_set_id,
            revision.key_epoch,
            revision.client_envelope_id,
            tuple(sorted({ref.method for ref in revision.stanzas})),
            client_bytes,
        )

    def _verify_written(
        self,
        *,
        wallet_id: str,
        client_bytes: bytes,
        backup_key: bytes,
        change: _Change,
        enrolled: list[tuple[Recipient, bytes]],
    ) -> None:
        """Read the new state back and open it with the keys still in memory."""
        stored = self._load(wallet_id).pending
        if stored is None:
            raise StorageError("the pending backup is missing after it was written")
        written = stored.client_envelope if self.mode == "managed" else client_bytes
        if written is None:
            raise StorageError("the client envelope is missing after it was written")
        env = envelope.parse(written)
        if not hmac.compare_digest(envelope.open_with_key(env, backup_key), change.share):
            raise StorageError("the client share did not read back identical")
        for recipient, secret in enrolled:
            key = envelope.unwrap_key(env, _stanza(env, recipient.id), secret)
            if not hmac.compare_digest(key, backup_key):
                raise StorageError("the new method does not open the new envelope")
        custodian_env = envelope.parse(stored.custodian_envelope)
        custodian = self._custodian_share(custodian_env)
        if change.custodian_share is not None and not hmac.compare_digest(
            custodian, change.custodian_share
        ):
            raise StorageError("the custodian share did not read back identical")
        _check_pair(env, custodian_env)
        _check_commitment(custodian_env, change.share, custodian)

    def _seal_custodian(self, context: Context, share: bytes) -> bytes:
        try:
            args = self.kms.stanza_args()
        except KmsKeyMissing:
            # Only a store with no wallet may get a new key: anywhere else the key was lost.
            if next(self.store.wallets(), None) is not None:
                raise
            self.kms.create_key()
            args = self.kms.stanza_args()
        recipient = KmsRecipient(os.urandom(ID_BYTES), args, self.kms)
        data, _ = envelope.seal(context, share, [recipient])
        return data

    # --- internals: opening --------------------------------------------------------------

    def _current_client(
        self, state: WalletState, cipher_text: bytes | str | None, required: bool = True
    ) -> Envelope | None:
        """The wallet's current client envelope: from the store, or the application's copy."""
        current = state.current
        if current is None:
            if required:
                raise BackupNotFound(f"there is no backup for wallet {state.wallet_id!r}")
            return None
        if current.client_envelope is not None:
            return envelope.parse(current.client_envelope)
        if cipher_text is None:
            if required:
                raise PolicyViolation(
                    "self-managed mode: pass cipher_text=<the wallet's current cipher text>"
                )
            return None
        env = _parse_cipher_text(cipher_text, state.wallet_id)
        if env.envelope_id.hex() != current.client_envelope_id:
            raise PolicyViolation(
                f"this cipher text is not wallet {state.wallet_id!r}'s current backup (envelope "
                f"{env.envelope_id.hex()[:16]}..., current {current.client_envelope_id[:16]}...);"
                " pass the current one"
            )
        return env

    def _unlocked_share(
        self, state: WalletState, unlock_with: Mapping[str, Any], cipher_text: bytes | str | None
    ) -> tuple[Envelope, bytes]:
        env = self._current_client(state, cipher_text)
        assert env is not None  # required=True
        _, share = self._unlock(env, unlock_with)[:2]
        return env, share

    def _open_client(
        self, state: WalletState, unlock_with: Mapping[str, Any], cipher_text: bytes | str | None
    ) -> tuple[Envelope, bytes, tuple[str, ...]]:
        if cipher_text is not None:
            env = _parse_cipher_text(cipher_text, state.wallet_id)
        else:
            found = self._current_client(state, None)
            assert found is not None  # required=True
            env = found
        _, share, advice = self._unlock(env, unlock_with)
        return env, share, advice

    def _unlock(
        self, env: Envelope, unlock_with: Mapping[str, Any]
    ) -> tuple[bytes, bytes, tuple[str, ...]]:
        """Open the client envelope with one method: (backup key, share, re-wrap advice)."""
        options = dict(unlock_with)
        name = options.pop("method", None)
        if not isinstance(name, str):
            raise PolicyViolation("unlock_with needs a 'method' naming the method to unlock with")
        stanza_id = options.pop("stanza_id", None)
        stanzas = [
            s
            for s in env.stanzas
            if s.type == name and (stanza_id is None or s.id.hex() == stanza_id)
        ]
        if not stanzas:
            raise BackupNotFound(
                f"wallet {env.context.wallet_id!r} has no {name} method; it can be recovered "
                f"with: {', '.join(sorted({s.type for s in env.stanzas}))}"
            )
        method = self._method(name, options)
        for stanza in stanzas:
            type(method).validate_args(stanza.args)
        method_error: UnlockFailed | None = None
        for stanza in stanzas:
            ctx = MethodContext(
                env.context.wallet_id,
                env.context.backup_set_id.hex(),
                env.envelope_id.hex(),
                stanza.id.hex(),
            )
            try:
                secret = method.unlock(stanza.args, ctx)
            except UnlockFailed as exc:  # the method's own account (PIN rejected, wrong key)
                method_error = exc
                continue
            try:
                key = envelope.unwrap_key(env, stanza, secret)
            except UnlockFailed:
                continue
            share = envelope.open_with_key(env, key)
            advice = method.rewrap_advice(stanza.args)
            return key, share, (advice,) if advice else ()
        # The envelope's failures all read alike; a method's own reason is worth passing on.
        raise method_error or UnlockFailed()

    def _open_custodian(
        self, state: WalletState, client_env: Envelope, client_share: bytes
    ) -> bytes:
        """The custodian share that belongs with this client envelope and share, checked."""
        wanted = client_env.context.backup_set_id.hex()
        revisions = [
            r for r in (state.current, state.pending) if r is not None and r.backup_set_id == wanted
        ]
        if not revisions:
            raise BackupNotFound(
                f"no custodian share for backup set {wanted[:16]}... of wallet "
                f"{state.wallet_id!r}: this cipher text is from a backup that was replaced"
            )
        custodian_env = envelope.parse(revisions[0].custodian_envelope)
        _check_pair(client_env, custodian_env)
        custodian = self._custodian_share(custodian_env)
        _check_commitment(custodian_env, client_share, custodian)
        return custodian

    def _custodian_share(self, custodian_env: Envelope) -> bytes:
        (stanza,) = custodian_env.stanzas
        if stanza.args.get("provider") != self.kms.scheme:
            raise MethodUnavailable(
                f"the custodian share was sealed by KMS provider {stanza.args.get('provider')!r};"
                f" configure kms= with that provider (now: {self.kms.scheme!r})"
            )
        key = envelope.unwrap_key_kms(custodian_env, stanza, self.kms)
        return envelope.open_with_key(custodian_env, key)

    # --- internals: methods and audit ----------------------------------------------------

    def _method(self, name: str, options: Mapping[str, Any], check: bool = True) -> BackupMethod:
        method = plugins.get_method(name)(**options)
        if options and type(method).discard is not BackupMethod.discard:
            self._discarders[name] = method
        if check:
            availability = method.availability()
            if not availability.available:
                raise MethodUnavailable(
                    f"backup method {name!r} cannot be used here: {availability.reason}"
                    + (f"; {availability.remedy}" if availability.remedy else "")
                )
        return method

    @contextmanager
    def _audited(self, kind: str, wallet_id: str, **fields: Any) -> Iterator[None]:
        event: dict[str, Any] = {
            "type": kind,
            "wallet_id": wallet_id,
            "mode": self.mode,
            **{k: v for k, v in fields.items() if v is not None},
        }
        try:
            yield
        except BaseException as exc:
            self._record(event | {"outcome": "failed", "error": type(exc).__name__})
            raise
        self._record(event | {"outcome": "ok"})

    def _record(self, event: dict[str, Any]) -> None:
        event["at"] = now()
        event = {k: (int(v) if isinstance(v, bool) else v) for k, v in event.items()}
        try:
            self.store.append_audit(canonical.dumps(event))
        except WalletBackupError as exc:
            log.warning("could not write the audit record: %s", exc)
        plugins.emit_audit(event)


# --- helpers -------------------------------------------------------------------------------


def _open_kms(url: str) -> KmsProvider:
    scheme, colon, _ = url.partition(":")
    if not colon or not scheme:
        raise MethodUnavailable(f"a KMS URL looks like 'local:///path/custodian.key', not {url!r}")
    return plugins.get_kms(scheme.lower())(url)


def _allows_several(method: str) -> bool:
    return plugins.get_method(method).multiple


def _stanza(env: Envelope, stanza_id: bytes) -> Stanza:
    return next(s for s in env.stanzas if s.id == stanza_id)


def _discard_item(method: str, args: Mapping[str, Any], ctx: MethodContext) -> DiscardItem:
    return DiscardItem(
        method,
        dict(args),
        {
            "wallet_id": ctx.wallet_id,
            "backup_set_id": ctx.backup_set_id,
            "envelope_id": ctx.envelope_id,
            "stanza_id": ctx.stanza_id,
        },
    )


def _context_of(
    wallet_id: str, stanza: Stanza, context: Context, envelope_id: bytes
) -> MethodContext:
    return MethodContext(wallet_id, context.backup_set_id.hex(), envelope_id.hex(), stanza.id.hex())


def _check_pair(client: Envelope, custodian: Envelope) -> None:
    a, b = client.context, custodian.context
    if (a.share_role, b.share_role) != ("client", "custodian"):
        raise MalformedBackup("expected a client and a custodian envelope")
    mismatched = [
        name
        for name, x, y in (
            ("wallet", a.wallet_id, b.wallet_id),
            ("backup set", a.backup_set_id, b.backup_set_id),
            ("epoch", a.key_epoch, b.key_epoch),
            ("share commitment", a.share_commitment, b.share_commitment),
        )
        if x != y
    ]
    if mismatched:
        raise MalformedBackup(
            f"the client and custodian envelopes do not belong together ({', '.join(mismatched)}"
            " differ)"
        )


def _check_commitment(custodian_env: Envelope, client_share: bytes, custodian_share: bytes) -> None:
    """The shares must match the commitment in the (KMS-sealed) custodian envelope."""
    stored = custodian_env.context.share_commitment
    if stored is None:
        raise MalformedBackup("the custodian envelope carries no share commitment")
    if not hmac.compare_digest(envelope.share_commitment(client_share, custodian_share), stored):
        # A forged or substituted client envelope: as good as tampering.
        raise UnlockFailed


def _parse_cipher_text(cipher_text: bytes | str, wallet_id: str) -> Envelope:
    data = envelope.dearmor(cipher_text) if isinstance(cipher_text, str) else bytes(cipher_text)
    env = envelope.parse(data)
    if env.context.share_role != "client":
        raise MalformedBackup("this is a custodian envelope, not a client backup")
    if env.context.wallet_id != wallet_id:
        raise MalformedBackup(
            f"this cipher text belongs to wallet {env.context.wallet_id!r}, not {wallet_id!r}"
        )
    return env


def _check_wallet_id(wallet_id: str) -> str:
    if not isinstance(wallet_id, str):
        raise PolicyViolation("wallet_id must be a string")
    normal = unicodedata.normalize("NFC", wallet_id)
    size = len(normal.encode())
    if not 1 <= size <= MAX_WALLET_ID_BYTES or any(
        unicodedata.category(ch) == "Cc" for ch in normal
    ):
        raise PolicyViolation(
            f"wallet_id must be 1 to {MAX_WALLET_ID_BYTES} bytes of UTF-8 without control "
            "characters"
        )
    return normal


def _check_share(share: bytes, name: str) -> bytes:
    if not isinstance(share, bytes | bytearray | memoryview):
        raise PolicyViolation(f"{name} must be bytes")
    data = bytes(share)
    if not 1 <= len(data) <= envelope.MAX_SHARE:
        raise PolicyViolation(f"{name} must be 1 to {envelope.MAX_SHARE} bytes, not {len(data)}")
    return data


__all__ = ["WalletBackup"]
