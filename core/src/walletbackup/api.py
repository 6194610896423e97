"""The Python API: :class:`WalletBackup`, the device (Portal's names, Pythonic).

The device holds method secrets and the client share; it seals and opens the client envelope
and authenticates everything it reads (:mod:`walletbackup.device`). The custodian keeps the
custodian share under its KMS (:class:`walletbackup.Custodian`, in this process by default).
docs/api.md has the long form; in short:

* ``backup_wallet`` seals the client share under a fresh backup key, to ``method`` and to the
  wallet's other methods, which needs one unlock (``unlock_with=``) or ``replace=True``.
* managed mode: the new revision is written, read back and opened before anything reads
  ``stored``; self-managed mode: ``pending`` until ``stored_client_backup_share``.
* ``add_backup_method`` / ``remove_backup_method`` / ``rewrap_backup`` unlock with one method and
  write a new envelope under a fresh backup key; the shares themselves do not change.
* ``check_backups`` checks every wallet without a secret; ``verify_backup`` and
  ``recover_wallet`` record when each stanza last opened the wallet.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from . import audit, envelope
from .audit import audited
from .custodian import Custodian
from .device import discards, inputs, writing
from .device import health as device_health
from .device.memory import DeviceMemory, DiscardItem, default_path
from .device.methods import Methods
from .device.opening import (
    Unlocked,
    check_checked,
    check_released,
    client_envelope,
    unlock,
    vouched_for,
)
from .errors import BackupNotFound, PolicyViolation, StaleBackup, StorageError, WalletBackupError
from .health import DEFAULT_VERIFY_EVERY, WalletHealth, is_due
from .kms import KmsProvider
from .methods import BackupMethod
from .protocol import CustodianApi, EjectingCustodian, EjectRequest, WalletView
from .remote import RemoteCustodian
from .results import BackupResult, Recovered, VerifyReport
from .state import MODES, MethodStatus
from .stores import Store

log = logging.getLogger("walletbackup")

ID_BYTES = 16
_DEFAULT = "default"


class WalletBackup:
    """Back up and recover an MPC wallet's two backup shares: the device's side.

    ``custodian`` is the other party: by default a :class:`Custodian` in this process on
    ``store`` and ``kms`` (URLs or instances); a custodian service's URL (``"https://…"``, or
    ``"http://…"`` on a loopback address), reached with the user token ``token`` (a
    :class:`~walletbackup.remote.RemoteCustodian`); or a ready custodian object. ``store`` and
    ``kms`` configure the embedded custodian only, and are refused beside ``custodian``.
    ``mode`` is ``"managed"`` (the custodian keeps the client cipher text) or
    ``"self-managed"`` (the application keeps it and confirms with
    :meth:`stored_client_backup_share`). ``device_state`` is the file where this device
    remembers the newest revision of each wallet it has seen (default: in the user data
    directory; ``None``: only while this object lives). ``verify_every`` is how often each
    method should be verified before :meth:`verification_due` and :meth:`check_backups` call it
    due (``None``: never).
    """

    def __init__(
        self,
        *,
        store: str | Store | None = None,
        kms: str | KmsProvider | None = None,
        mode: str = "managed",
        custodian: CustodianApi | str | None = None,
        token: str | None = None,
        device_state: str | os.PathLike[str] | None = _DEFAULT,
        verify_every: timedelta | None = DEFAULT_VERIFY_EVERY,
    ) -> None:
        if mode not in MODES:
            raise PolicyViolation(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if verify_every is not None and verify_every <= timedelta(0):
            raise PolicyViolation("verify_every must be a positive timedelta, or None")
        self.mode = mode
        self.verify_every = verify_every
        self.custodian = _custodian(custodian, token, store, kms)
        path = default_path() if device_state == _DEFAULT else device_state
        self.device = DeviceMemory(None if path is None else Path(path))
        self.methods = Methods()

    def __repr__(self) -> str:
        return f"<WalletBackup mode={self.mode!r} custodian={self.custodian!r}>"

    def close(self) -> None:
        self.custodian.close()

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
        unlock_with: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> BackupResult:
        """Back up both shares, protecting the client share with ``method``.

        On a wallet that already has a backup, the wallet's other methods are kept, which needs
        one unlock of the current backup (``unlock_with={"method": ..., **its options}``; in
        self-managed mode with its ``cipher_text``); ``replace=True`` keeps only ``method``.
        """
        wallet_id = inputs.wallet_id(wallet_id)
        share = inputs.share(client_share, "client_share")
        custodian = inputs.share(custodian_share, "custodian_share")
        with self._operation("backup", wallet_id, method=method) as view:
            several = self.methods.kind(method).multiple
            current = view.current if view else None
            opened: Unlocked | None = None
            vouched: list[DiscardItem] = []
            if view is not None and current is not None and unlock_with is not None:
                opened = self._unlock(view, unlock_with, cipher_text, change=True)
            elif current is not None:
                known = self.device.read(self.custodian.location, wallet_id)
                vouched = vouched_for(
                    known, wallet_id, current, method, several=several, replace=replace
                )
            keep = (
                []
                if replace or opened is None
                else [s for s in opened.envelope.stanzas if several or s.type != method]
            )
            change = writing.prepare(
                view,
                self.mode,
                method,
                opened,
                keep,
                enroll=self.methods.make(method, options),
                share=share,
                custodian_share=custodian,
                backup_set_id=os.urandom(ID_BYTES),
                key_epoch=(view.last_epoch if view else 0) + 1,
                share_commitment=envelope.share_commitment(share, custodian),
                vouched=vouched,
            )
            return writing.commit(self.custodian, self.device, wallet_id, change)

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
        wallet_id = inputs.wallet_id(wallet_id)
        with self._operation("add_method", wallet_id, method=method) as view:
            opened = self._unlock(_exists(view, wallet_id), unlock_with, cipher_text, change=True)
            several = self.methods.kind(method).multiple
            keep = [s for s in opened.envelope.stanzas if several or s.type != method]
            return self._rewrite(view, opened, keep, self.methods.make(method, options), method)

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
        wallet_id = inputs.wallet_id(wallet_id)
        with self._operation("remove_method", wallet_id, method=method) as view:
            opened = self._unlock(_exists(view, wallet_id), unlock_with, cipher_text, change=True)
            stanzas = opened.envelope.stanzas
            drop = [
                s
                for s in stanzas
                if s.type == method and (stanza_id is None or s.id.hex() == stanza_id)
            ]
            if not drop:
                raise BackupNotFound(f"wallet {wallet_id!r} has no {method} method to remove")
            keep = [s for s in stanzas if s not in drop]
            if not keep:
                raise PolicyViolation(
                    f"{method} is the only method protecting wallet {wallet_id!r}; add another "
                    "method first, or back up again with replace=True"
                )
            if options:
                self.methods.make(method, options, check=False)  # it will discard the material
            return self._rewrite(view, opened, keep, None, method)

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
            self.methods.make(method, options, check=False)
        wallet_id = inputs.wallet_id(wallet_id)
        with self._operation("confirm", wallet_id, method=method, success=success) as view:
            pending = view.pending if view else None
            if self.mode != "self-managed" or (view is not None and view.mode != "self-managed"):
                raise PolicyViolation("stored_client_backup_share is for self-managed mode only")
            if pending is None or pending.reason != method:
                raise BackupNotFound(
                    f"wallet {wallet_id!r} has no pending {method} backup to confirm"
                )
            # The application answers for the cipher text this device handed back last; a
            # store writer may show another pending revision (replayed) in its place.
            if not self.device.read(self.custodian.location, wallet_id).handed_back(
                pending.revision
            ):
                raise StaleBackup(
                    f"the pending backup of wallet {wallet_id!r} (revision {pending.revision}) "
                    "is not the one this device handed back last, or one it holds abandoned; "
                    "the store may have been rolled back"
                )
            if success:
                self.custodian.promote(wallet_id, pending.revision)
            else:
                self.custodian.abandon(
                    wallet_id,
                    pending.revision,
                    "the application reported it could not store the cipher text",
                )
            with self.device.edit(self.custodian.location, wallet_id) as memory:
                discards.settle(memory, pending.revision, landed=success)

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
        """Recover both shares, unlocking the client share with ``method``.

        A custodian service keeps its share (``custodian_share=None`` in the result, see
        :class:`~walletbackup.Recovered`): the client share is recovered, and the service checks
        that its envelope of the same revision opens.
        """
        opened, custodian = self._open_newest(
            "recover", inputs.wallet_id(wallet_id), method, stanza_id, options, cipher_text
        )
        return _recovered(opened, method, custodian)

    # --- eject (a custodian service) -----------------------------------------------------

    def prepare_eject(self, wallet_id: str) -> EjectRequest:
        """Ask a custodian service for the custodian share of the current backup.

        The service releases it only after its eject delay (a day by default), announcing the
        request to the application meanwhile, so a stolen token cannot take the share at once;
        then :meth:`eject_wallet` recovers both shares. :meth:`cancel_eject` withdraws it.
        """
        return _ejecting(self.custodian).prepare_eject(inputs.wallet_id(wallet_id))

    def cancel_eject(self, wallet_id: str) -> None:
        """Withdraw an eject request (nothing happens when there is none)."""
        _ejecting(self.custodian).cancel_eject(inputs.wallet_id(wallet_id))

    def eject_wallet(
        self,
        wallet_id: str,
        *,
        method: str,
        cipher_text: bytes | str | None = None,
        stanza_id: str | None = None,
        **options: Any,
    ) -> Recovered:
        """Recover both shares from a custodian service, once a prepared eject's delay is over.

        The client share is unlocked with ``method`` and authenticated as by
        :meth:`recover_wallet`; the ejected custodian share is checked against the share
        commitment of that authenticated envelope before it is returned.
        """
        wallet_id = inputs.wallet_id(wallet_id)
        service = _ejecting(self.custodian)
        with self._operation("recover", wallet_id, method=method, lock=False, eject=True) as view:
            opened = self._open_client(
                _exists(view, wallet_id), method, stanza_id, options, cipher_text
            )
            return _recovered(opened, method, check_released(opened, service.eject(wallet_id)))

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
        wallet_id = inputs.wallet_id(wallet_id)
        opened, _ = self._open_newest("verify", wallet_id, method, stanza_id, options, cipher_text)
        context = opened.envelope.context
        return VerifyReport(
            wallet_id,
            method,
            context.backup_set_id.hex(),
            context.key_epoch,
            opened.envelope.envelope_id.hex(),
            opened.advice,
            opened.revision,
        )

    # --- status and the embedded custodian -----------------------------------------------

    def backup_status(self, wallet_id: str) -> list[MethodStatus]:
        """Per stanza: method, ``pending`` / ``stored`` / ``failed``, when, which backup set."""
        view = _exists(self.custodian.view(inputs.wallet_id(wallet_id)), wallet_id)
        statuses = list(view.statuses)
        pending = view.pending
        because = "" if pending is None else self._failure_of(view.wallet_id, pending.revision)
        if pending is not None and because:
            # A change of this device failed where the custodian could not record why yet.
            statuses = [
                replace(s, detail=because)
                if s.status == "pending" and s.client_envelope_id == pending.client_envelope_id
                else s
                for s in statuses
            ]
        return sorted(statuses, key=lambda s: (s.method, s.updated_at, s.stanza_id))

    def verification_due(self, status: MethodStatus, now: datetime | None = None) -> bool:
        """Whether a stored method (a :meth:`backup_status` entry) should be verified again: last
        verified (never verified: last changed) ``verify_every`` or longer ago."""
        return is_due(status, self.verify_every, now or datetime.now(UTC))

    def available_recovery_methods(self, wallet_id: str) -> list[str]:
        """The methods that can recover the wallet now (those of its current backup)."""
        view = _exists(self.custodian.view(inputs.wallet_id(wallet_id)), wallet_id)
        return sorted({ref.method for ref in view.current.stanzas}) if view.current else []

    def wallets(self) -> list[str]:
        """The wallets the custodian holds (a service: this user's)."""
        if isinstance(self.custodian, RemoteCustodian):
            return self.custodian.wallets()
        return self._embedded().wallets()

    def check_backups(
        self,
        *wallet_ids: str,
        presence: bool = True,
        method_options: Mapping[str, Mapping[str, Any]] | None = None,
        progress: Callable[[WalletHealth], None] | None = None,
    ) -> list[WalletHealth]:
        """Check the backups of ``wallet_ids`` (default: every wallet) without any secret.

        One :class:`~walletbackup.WalletHealth` per wallet, in order: the custodian's record
        reads, the envelopes parse and pair, the custodian envelope opens under the KMS, each
        method's remote key material is still there (``presence``; methods that offer the check,
        made with ``method_options[name]``, e.g. credentials), and which verifications are due.
        A gone key file or a due verification is also an audit event (``material_missing``,
        ``verification_due``). ``progress`` is called with each wallet's result. The custodian
        operator's check: only with the embedded :class:`Custodian`.
        """
        custodian = self._embedded()
        ids = [inputs.wallet_id(w) for w in wallet_ids] or custodian.wallets()
        probes = device_health.Probes(
            lambda name, options: self.methods.make(name, options, check=False),
            method_options or {},
        )
        now = datetime.now(UTC)
        results = []
        for wallet_id in ids:
            checked = device_health.assess(
                custodian.check(wallet_id),
                probes=probes if presence else None,
                memory=functools.partial(self.device.read, custodian.location, wallet_id),
                every=self.verify_every,
                now=now,
            )
            self._audit_health(checked)
            results.append(checked)
            if progress is not None:
                progress(checked)
        return results

    def forget_wallet(self, wallet_id: str) -> None:
        """Delete the wallet's backup for good: the custodian's record (its custodian share and
        the managed client cipher text) and this device's memory of it. Audited (``forget``).

        Remote key material (a Drive key file) is left where it is; queued deletions of obsolete
        material are tried first. Nothing recovers the wallet afterwards.
        """
        wallet_id = inputs.wallet_id(wallet_id)
        custodian = self._embedded()
        location = custodian.location
        with audited(custodian, "forget", wallet_id, mode=self.mode), custodian.lock(wallet_id):
            discards.run(self.device, location, wallet_id, self.methods.discarder)
            custodian.forget(wallet_id)
            self.device.forget(location, wallet_id)

    def audit_log(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The audit events kept by the custodian, oldest first (optionally one wallet's), each
        with its ``seq``: pass the last one's as ``after`` for the next page."""
        return self._embedded().audit_log(wallet_id, after=after, limit=limit)

    def prune_audit(self, before: datetime, *, archive: IO[bytes] | None = None) -> int:
        """Remove the audit events recorded before ``before``, archived first in ``archive``
        when given (:meth:`Custodian.prune_audit`); returns how many."""
        return self._embedded().prune_audit(before, archive=archive)

    def rotate_kms_key(self) -> int:
        """Roll in a new KMS key version for new custodian envelopes; returns its number."""
        return self._embedded().rotate_kms_key()

    def rewrap_custodian(self, wallet_id: str) -> None:
        """Re-seal the wallet's custodian share under the KMS key's current version."""
        wallet_id = inputs.wallet_id(wallet_id)
        with audited(self.custodian, "rewrap_custodian", wallet_id, mode=self.mode):
            self._embedded().rewrap(wallet_id)

    # --- internals -------------------------------------------------------------------------

    @contextmanager
    def _operation(
        self, kind: str, wallet_id: str, *, lock: bool = True, **fields: Any
    ) -> Iterator[WalletView | None]:
        """Audit, lock (for changes), read the custodian's view, then retry queued discards."""
        with audited(self.custodian, kind, wallet_id, mode=self.mode, **fields):
            try:
                if lock:
                    with self.custodian.lock(wallet_id):
                        yield self.custodian.view(wallet_id)
                else:
                    yield self.custodian.view(wallet_id)
            finally:
                discards.run(
                    self.device, self.custodian.location, wallet_id, self.methods.discarder
                )

    def _unlock(
        self,
        view: WalletView,
        unlock_with: Mapping[str, Any],
        cipher_text: bytes | str | None,
        change: bool = False,
    ) -> Unlocked:
        """Open a client envelope of the wallet, authenticated; settle interrupted plans.

        A ``change`` starts from the current revision only (not a pending one).
        """
        location = self.custodian.location
        env = client_envelope(view, cipher_text)
        known = self.device.read(location, view.wallet_id)
        opened = unlock(view, env, unlock_with, self.methods.make, known)
        if opened.held is not view.current:
            if change:
                raise PolicyViolation(
                    "a change starts from the current backup: pass its cipher text "
                    "(cipher_text=...)"
                )
            return opened
        with self.device.edit(location, view.wallet_id) as memory:
            discards.learn(memory, env, view.pending.revision if view.pending else None)
        return opened

    def _open_client(
        self,
        view: WalletView,
        method: str,
        stanza_id: str | None,
        options: Mapping[str, Any],
        cipher_text: bytes | str | None,
    ) -> Unlocked:
        """Open the client envelope with ``method`` (and ``stanza_id``), authenticated."""
        unlock_with = {"method": method, "stanza_id": stanza_id, **options}
        return self._unlock(view, unlock_with, cipher_text)

    def _open_both(
        self,
        view: WalletView,
        method: str,
        stanza_id: str | None,
        options: Mapping[str, Any],
        cipher_text: bytes | str | None,
    ) -> tuple[Unlocked, bytes | None]:
        """Open the client envelope and have the custodian open its own: its share when it
        releases it to the device (checked against the commitment), else ``None``."""
        opened = self._open_client(view, method, stanza_id, options, cipher_text)
        share: bytes | None = None
        if self.custodian.releases_custodian_share:
            share = check_released(opened, self.custodian.release(view.wallet_id, opened.revision))
        else:
            check_checked(opened, self.custodian.check(view.wallet_id, opened.revision))
        try:
            self.custodian.record_verified(view.wallet_id, opened.revision, opened.stanza_id.hex())
        except WalletBackupError as exc:  # a read-only store: the backup opened all the same
            log.warning("could not record when wallet %r was verified: %s", view.wallet_id, exc)
        return opened, share

    def _open_newest(  # noqa: PLR0917 - private, the arguments of recover and verify
        self,
        kind: str,
        wallet_id: str,
        method: str,
        stanza_id: str | None,
        options: Mapping[str, Any],
        cipher_text: bytes | str | None,
    ) -> tuple[Unlocked, bytes | None]:
        """:meth:`_open_both` on the wallet as the custodian holds it, as operation ``kind``.

        Another device's change may make a newer revision current between the read and the
        custodian's answer, which then refuses the one opened (:class:`StaleBackup`): the wallet
        is read and opened once more. Not with the application's own cipher text (it would be
        as old again), and not twice: a custodian that keeps refusing is rolling back, not racing.
        """

        def attempt() -> tuple[Unlocked, bytes | None]:
            with self._operation(kind, wallet_id, method=method, lock=False) as view:
                return self._open_both(
                    _exists(view, wallet_id), method, stanza_id, options, cipher_text
                )

        try:
            return attempt()
        except StaleBackup:
            if cipher_text is not None:
                raise
        return attempt()

    def _audit_health(self, checked: WalletHealth) -> None:
        """What the owner of the wallet should act on, as audit events (for reminders)."""
        for problem in checked.problems:
            if problem.kind == "material":
                audit.record(
                    self.custodian,
                    "material_missing",
                    checked.wallet_id,
                    "failed",
                    mode=checked.mode,
                    method=problem.method,
                    stanza_id=problem.stanza_id,
                )
        for method in checked.due:
            audit.record(
                self.custodian,
                "verification_due",
                checked.wallet_id,
                "failed",
                mode=checked.mode,
                method=method.method,
                stanza_id=method.stanza_id,
                verified_at=method.verified_at,
            )

    def _rewrite(
        self,
        view: WalletView | None,
        opened: Unlocked,
        keep: list[envelope.Stanza],
        enroll: BackupMethod | None,
        reason: str,
    ) -> BackupResult:
        """A method change: same shares, backup set and epoch; a new envelope and revision."""
        context = opened.envelope.context
        assert context.share_commitment is not None  # check_released needs it for every backup
        change = writing.prepare(
            view,
            self.mode,
            reason,
            opened,
            keep,
            enroll=enroll,
            share=opened.share,
            backup_set_id=context.backup_set_id,
            key_epoch=context.key_epoch,
            share_commitment=context.share_commitment,
        )
        return writing.commit(self.custodian, self.device, context.wallet_id, change)

    def _failure_of(self, wallet_id: str, revision: int) -> str:
        """Why this device's change ``revision`` failed, if it knows ("" if its memory cannot be
        read: a status then shows the custodian's record alone)."""
        try:
            return self.device.read(self.custodian.location, wallet_id).failure_of(revision)
        except StorageError:
            return ""

    def _embedded(self) -> Custodian:
        if not isinstance(self.custodian, Custodian):
            raise PolicyViolation("this operation is the custodian operator's, not the device's")
        return self.custodian


def _custodian(
    custodian: CustodianApi | str | None,
    token: str | None,
    store: str | Store | None,
    kms: str | KmsProvider | None,
) -> CustodianApi:
    """The custodian ``WalletBackup(...)`` was given, made from its arguments."""
    if custodian is None:
        if token is not None:
            raise PolicyViolation(
                "token= is the user token for a custodian service: give its URL as custodian="
            )
        return Custodian(
            store="sqlite:" if store is None else store, kms="local:" if kms is None else kms
        )
    if store is not None or kms is not None:
        raise PolicyViolation(
            "store= and kms= configure the embedded custodian; a custodian given with "
            "custodian= keeps its own store and KMS"
        )
    if not isinstance(custodian, str):
        if token is not None:
            raise PolicyViolation(
                "token= goes with a custodian service URL (custodian='https://…')"
            )
        return custodian
    if token is None:
        raise PolicyViolation(
            "a custodian service needs the user token the application's backend minted: token=..."
        )
    return RemoteCustodian(custodian, token)


def _exists(view: WalletView | None, wallet_id: str) -> WalletView:
    if view is None:
        raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
    return view


__all__ = ["WalletBackup"]


def _recovered(opened: Unlocked, method: str, custodian_share: bytes | None) -> Recovered:
    context = opened.envelope.context
    return Recovered(
        context.wallet_id,
        method,
        context.backup_set_id.hex(),
        context.key_epoch,
        opened.share,
        custodian_share,
        opened.advice,
        opened.revision,
        context.share_commitment or b"",
    )


def _ejecting(custodian: CustodianApi) -> EjectingCustodian:
    if not isinstance(custodian, EjectingCustodian):
        raise PolicyViolation(
            "eject is for a custodian service (WalletBackup(custodian=URL, token=...)); this "
            "custodian releases its share at recovery"
        )
    return custodian
