"""The custodian: the party that keeps the custodian share under its KMS (Portal's role).

It holds the KMS, the store of wallet records (with the client cipher texts in managed mode), a
per-wallet revision that only moves forward, and the audit log. It never sees a client share, a
method secret or a password: the device seals and opens the client envelope and hands the
custodian only cipher text and public metadata (:mod:`walletbackup.protocol`).

Its share is released only for the wallet's current revision (or the pending one, before a
self-managed backup is confirmed), and the revision is inside the KMS-sealed custodian envelope,
so a store writer can replay a whole earlier record but cannot relabel an old envelope as new.

An :class:`EnvelopeKeeper` may hold a revision's custodian envelope outside the store (the
service's self-managed mode hands it to the application's backend). The record then keeps only
the envelope's SHA-256, and an envelope that comes back is refused unless it hashes to it, so
the keeper can neither read the share (the envelope is sealed under the KMS) nor swap in another
revision's or another wallet's envelope.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import IO, Any, Protocol, overload

from . import canonical, envelope, health, plugins
from .audit import audited
from .errors import (
    BackupNotFound,
    MalformedBackup,
    MethodUnavailable,
    PolicyViolation,
    StaleBackup,
    StorageError,
    WalletBackupError,
)
from .kms import KmsKeyMissing, KmsProvider
from .protocol import Checked, Proposal, Released, RevisionView, WalletView
from .state import MODES, Revision, WalletRecord, now
from .stores import Store, open_store
from .stores.base import utc

log = logging.getLogger("walletbackup")

STANZA_ID_BYTES = 16


class EnvelopeKeeper(Protocol):
    """Holds custodian envelopes for the custodian, outside its store.

    The custodian seals each envelope under its KMS first, so a keeper only ever holds opaque
    bytes; the custodian's record keeps their SHA-256 and refuses anything else coming back.
    """

    def keeps(self, wallet_id: str, mode: str) -> bool:
        """Whether this keeper holds the envelopes of ``wallet_id``, backed up in ``mode``."""
        ...

    def put(self, wallet_id: str, revision: int, blob: bytes) -> None:
        """Keep ``blob``, the custodian envelope of ``revision``, replacing any earlier one for
        that revision. Raises :class:`StorageError` when it was not kept."""
        ...

    def get(self, wallet_id: str, revision: int) -> bytes:
        """The envelope last put for ``revision``; :class:`StorageError` when it cannot be had."""
        ...


class Custodian:
    """The custodian role, in this process: ``store`` and ``kms`` are URLs or ready instances.

    :class:`walletbackup.WalletBackup` uses one of these by default (the embedded default: both
    parties in one process, talking through the same protocol a remote custodian speaks).
    ``keeper``, when given, holds the custodian envelopes of the wallets it :meth:`keeps
    <EnvelopeKeeper.keeps>` (the store then holds their hashes).
    """

    #: Both parties are one user's here: the device gets the share and checks it (docs/security.md).
    releases_custodian_share = True

    def __init__(
        self,
        *,
        store: str | Store = "sqlite:",
        kms: str | KmsProvider = "local:",
        keeper: EnvelopeKeeper | None = None,
    ) -> None:
        self.store = store if isinstance(store, Store) else open_store(store)
        self.kms = kms if isinstance(kms, KmsProvider) else open_kms(kms)
        self.keeper = keeper
        self.location = self.store.location
        self._held = threading.local()
        self._read_only_said = False

    def __repr__(self) -> str:
        return f"<Custodian store={self.store!r} kms={self.kms!r}>"

    def close(self) -> None:
        self.store.close()

    # --- the protocol ----------------------------------------------------------------------

    @contextmanager
    def lock(self, wallet_id: str) -> Iterator[None]:
        """Hold the wallet's store lock; re-entrant in one thread (the protocol calls nest).

        The outermost block is one store operation: what the store owes its writes (durability,
        the scrub of replaced envelopes) is paid once, before the lock is released.
        """
        held: set[str] = self._held.__dict__.setdefault("ids", set())
        if wallet_id in held:
            yield
            return
        with self.store.lock(wallet_id), self.store.operation():
            held.add(wallet_id)
            try:
                yield
            finally:
                held.discard(wallet_id)

    def view(self, wallet_id: str) -> WalletView | None:
        record = self._load(wallet_id)
        return None if record is None else _wallet_view(record)

    def propose(self, proposal: Proposal) -> RevisionView:
        p = proposal
        if p.mode not in MODES:
            raise PolicyViolation(f"mode must be one of {', '.join(MODES)}, not {p.mode!r}")
        with self.lock(p.wallet_id):
            record = self._load(p.wallet_id) or WalletRecord(p.wallet_id, p.mode)
            pending = record.pending
            if (
                pending is not None
                and pending.revision == p.revision
                and pending.client_envelope_id == p.client_envelope_id
            ):
                return _view(pending)  # a retried proposal: already held
            if record.mode != p.mode and (record.current or record.pending):
                raise PolicyViolation(
                    f"wallet {p.wallet_id!r} is backed up in {record.mode} mode; open it with "
                    f"WalletBackup(mode={record.mode!r})"
                )
            record.mode = p.mode
            current = record.current
            base = current.revision if current else 0
            if p.base_revision != base:
                raise StorageError(
                    f"wallet {p.wallet_id!r} changed while this change was prepared (it is now at "
                    f"revision {base}, the change was built on {p.base_revision}); try again"
                )
            _check_numbers(p, record, base)
            share = p.custodian_share
            if share is None:
                if current is None:
                    raise BackupNotFound(f"there is no backup for wallet {p.wallet_id!r}")
                released = self._open(p.wallet_id, current)
                if (released.backup_set_id, released.key_epoch) != (
                    p.backup_set_id,
                    p.key_epoch,
                ) or (not hmac.compare_digest(released.share_commitment, p.share_commitment)):
                    raise PolicyViolation(
                        "a method change must keep the backup set, epoch and share commitment"
                    )
                share = released.share
            elif p.key_epoch <= record.last_epoch:
                if current is not None and p.key_epoch > current.key_epoch:
                    raise _raced(p.wallet_id, f"key epoch {record.last_epoch}")
                raise PolicyViolation(
                    f"a new custodian share needs a new key epoch (above {record.last_epoch})"
                )
            context = envelope.Context(
                wallet_id=p.wallet_id,
                backup_set_id=bytes.fromhex(p.backup_set_id),
                share_role="custodian",
                key_epoch=p.key_epoch,
                revision=p.revision,
                share_commitment=p.share_commitment,
            )
            revision = Revision(
                revision=p.revision,
                backup_set_id=p.backup_set_id,
                key_epoch=p.key_epoch,
                client_envelope_id=p.client_envelope_id,
                client_envelope=p.client_envelope if p.mode == "managed" else None,
                custodian_envelope=self._seal(context, share),
                stanzas=list(p.stanzas),
                created_at=now(),
                reason=p.reason,
            )
            # Kept before the record names it: a keeper that fails leaves the record as it was.
            self._keep(p.wallet_id, p.mode, revision)
            record.add_pending(revision, set(p.new_stanzas))
            self._save(record)
            stored = self._load(p.wallet_id)
            if stored is None or stored.pending is None:
                raise StorageError("the pending backup is missing after it was written")
            if not hmac.compare_digest(self._open(p.wallet_id, stored.pending).share, share):
                raise StorageError("the custodian share did not read back identical")
            return _view(stored.pending)

    def promote(self, wallet_id: str, revision: int) -> None:
        with self.lock(wallet_id):
            record = self._pending(wallet_id, revision)
            record.promote()
            self._save(record)
            # Durable (and the replaced envelope scrubbed) before the device acts on it.
            self.store.sync()

    def abandon(self, wallet_id: str, revision: int, detail: str) -> None:
        with self.lock(wallet_id):
            record = self._pending(wallet_id, revision)
            record.abandon(detail)
            self._save(record)
            self.store.sync()

    def release(self, wallet_id: str, revision: int) -> Released:
        record = self._load(wallet_id)
        if record is None:
            raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
        for held in (record.current, record.pending):
            if held is not None and held.revision == revision:
                return self._open(wallet_id, held)
        current = record.current.revision if record.current else 0
        raise StaleBackup(
            f"revision {revision} of wallet {wallet_id!r} is not its current backup (revision "
            f"{current}): the custodian share of a replaced backup is never released"
        )

    def record_verified(self, wallet_id: str, revision: int, stanza_id: str) -> None:
        if self.store.read_only:
            return  # a copy on read-only media: the audit warning already says nothing is kept
        with self.lock(wallet_id):
            record = self._load(wallet_id)
            if record is not None and record.record_verified(revision, stanza_id):
                self._save(record)

    def audit(self, event: dict[str, Any]) -> None:
        event = {k: (int(v) if isinstance(v, bool) else v) for k, v in event.items()}
        event.setdefault("at", now())
        wallet_id = event.get("wallet_id")
        if self.store.read_only:
            if not self._read_only_said:
                self._read_only_said = True
                log.warning(
                    "the store %s is read-only: the audit records of this session cannot be "
                    "kept in it",
                    self.store,
                )
        else:
            try:
                self.store.append_audit(
                    canonical.dumps(event),
                    wallet_id=wallet_id if isinstance(wallet_id, str) else None,
                    at=_event_time(event["at"]),
                )
            except WalletBackupError as exc:
                log.warning("could not write the audit record: %s", exc)
        plugins.emit_audit(event)

    # --- operator side -----------------------------------------------------------------------

    def wallets(self) -> list[str]:
        return list(self.store.wallets())

    def audit_log(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The audit events kept in the store, oldest first (optionally one wallet's).

        Each event as it was recorded, plus ``seq``, its place in the log: pass the last one's
        as ``after`` for the next page of at most ``limit`` events. One wallet's events cost
        what they are, whatever else the log holds.
        """
        return [
            {**canonical.loads(entry.record), "seq": entry.seq}
            for entry in self.store.audit_records(wallet_id, after=after, limit=limit)
        ]

    def prune_audit(self, before: datetime, *, archive: IO[bytes] | None = None) -> int:
        """Remove the audit events recorded before ``before``; return how many.

        With ``archive``, each of them is first written there (one JSON object per line, as
        :meth:`audit_log` gives it) and flushed to disk; only what was archived is removed.
        Events that stay keep their ``seq``, so readers paging with ``after`` carry on.
        """
        before = utc(before)
        if archive is None:
            return self.store.prune_audit(before)
        last = 0
        for entry in self.store.audit_records():
            if entry.at >= before:
                continue
            archive.write(canonical.dumps({**canonical.loads(entry.record), "seq": entry.seq}))
            archive.write(b"\n")
            last = entry.seq
        archive.flush()
        with suppress(OSError, ValueError):  # a file, not a pipe or a buffer: make it last
            os.fsync(archive.fileno())
        return self.store.prune_audit(before, through=last) if last else 0

    def rotate_kms_key(self) -> int:
        """Roll in a new KMS key version for new custodian envelopes; returns its number."""
        with audited(self, "rotate_kms", None) as event:
            version = self.kms.rotate()
            event["version"] = version
        return version

    @overload
    def check(self, wallet_id: str) -> health.CustodianCheck: ...

    @overload
    def check(self, wallet_id: str, revision: int) -> Checked: ...

    def check(self, wallet_id: str, revision: int | None = None) -> health.CustodianCheck | Checked:
        """The custodian's half of a health check of one wallet, without any secret.

        Its record reads, its envelopes parse, the client envelope it keeps (managed mode) pairs
        with the custodian envelope and the record, and the custodian envelope opens under the
        KMS. Damage is reported in the result, never raised; :class:`BackupNotFound` when the
        custodian holds nothing for the wallet.

        With ``revision``, the protocol's check of one revision (:class:`Checked`): its custodian
        envelope of that current or pending revision opens under the KMS, else this raises as
        :meth:`release` does; the share stays here.
        """
        if revision is not None:
            released = self.release(wallet_id, revision)
            return Checked(released.revision, released.backup_set_id, released.key_epoch)
        try:
            record = self._load(wallet_id)
        except WalletBackupError as exc:
            return health.CustodianCheck(wallet_id, None, (health.Problem("record", str(exc)),))
        if record is None:
            raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
        problems = []
        for held in _revisions(record):
            try:
                inline = dataclasses.replace(
                    held, custodian_envelope=self._envelope(wallet_id, held)
                )
            except WalletBackupError as exc:
                problems.append(
                    health.Problem(
                        "custodian",
                        f"the custodian envelope of revision {held.revision} cannot be had "
                        f"({type(exc).__name__}: {exc})",
                    )
                )
                continue
            problems += health.revision_problems(
                wallet_id, inline, lambda held, parsed: self._open(wallet_id, held, parsed)
            )
        if record.current is None and record.pending is None:
            problems.append(health.Problem("record", "no backup: its first backup never completed"))
        return health.CustodianCheck(wallet_id, _wallet_view(record), tuple(problems))

    def kms_versions(self, wallet_id: str) -> tuple[int, ...]:
        """The KMS key versions the wallet's custodian envelopes are sealed under (ascending)."""
        record = self._load(wallet_id)
        if record is None:
            raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
        return tuple(sorted({self._kms_version(wallet_id, held) for held in _revisions(record)}))

    def forget(self, wallet_id: str) -> None:
        """Delete the custodian's record of a wallet: its custodian share, the client cipher text
        it keeps (managed mode), its revisions and statuses. Its audit events stay.

        A record that no longer reads is deleted too. :class:`BackupNotFound` when there is none.
        """
        with self.lock(wallet_id):
            if self.store.load(wallet_id) is None:
                raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
            self.store.delete(wallet_id)

    def rewrap(self, wallet_id: str) -> None:
        """Re-seal the wallet's custodian shares under the KMS key's current version."""
        with self.lock(wallet_id):
            record = self._load(wallet_id)
            if record is None:
                raise BackupNotFound(f"there is no backup for wallet {wallet_id!r}")
            held_by_keeper = [h.revision for h in _revisions(record) if h.custodian_sha256]
            if held_by_keeper:
                # A keeper replaces an envelope in place: were the record not saved after it,
                # the revision would hash to neither envelope and no longer open.
                raise PolicyViolation(
                    f"the custodian envelope of wallet {wallet_id!r} revision "
                    f"{held_by_keeper[0]} is held by its envelope keeper; the wallet's next "
                    "backup seals it under the current KMS key version"
                )
            for held in _revisions(record):
                old = envelope.parse(self._envelope(wallet_id, held))
                held.custodian_envelope = self._seal(old.context, self._open(wallet_id, held).share)
            self._save(record)

    def retire_kms_versions(self, below: int) -> tuple[int, ...]:
        """Retire KMS key versions below ``below`` once no custodian envelope uses them."""
        with audited(self, "retire_kms", None, below=below) as event:
            retired = self._retire(below)
            event["retired"] = len(retired)
        return retired

    def _retire(self, below: int) -> tuple[int, ...]:
        in_use = sorted(
            wallet_id
            for wallet_id in self.store.wallets()
            for held in _revisions(self._load(wallet_id))
            if self._kms_version(wallet_id, held) < below
        )
        if in_use:
            raise PolicyViolation(
                f"{len(in_use)} wallet(s) still use a KMS key version below {below} (first: "
                f"{in_use[0]!r}); rewrap them first (Custodian.rewrap)"
            )
        return self.kms.retire(below)

    # --- internals ---------------------------------------------------------------------------

    def _load(self, wallet_id: str) -> WalletRecord | None:
        document = self.store.load(wallet_id)
        return None if document is None else WalletRecord.from_bytes(document, wallet_id)

    def _save(self, record: WalletRecord) -> None:
        self.store.save(record.wallet_id, record.to_bytes())

    def _pending(self, wallet_id: str, revision: int) -> WalletRecord:
        record = self._load(wallet_id)
        if record is not None and (
            revision < record.last_revision
            or (
                record.current is not None
                and record.current.revision >= revision
                and (record.pending is None or record.pending.revision != revision)
            )
        ):
            # Another device's newer change replaced this one before it was made current.
            raise _raced(wallet_id, f"revision {record.last_revision}")
        if record is None or record.pending is None or record.pending.revision != revision:
            raise BackupNotFound(f"wallet {wallet_id!r} has no pending revision {revision}")
        return record

    def _open(
        self, wallet_id: str, held: Revision, parsed: envelope.Envelope | None = None
    ) -> Released:
        """The share in ``held``'s custodian envelope (``parsed`` already), its context checked
        against the record."""
        env = parsed or envelope.parse(self._envelope(wallet_id, held))
        context = env.context
        if (
            context.share_role != "custodian"
            or context.wallet_id != wallet_id
            or context.revision != held.revision
            or context.backup_set_id.hex() != held.backup_set_id
            or context.key_epoch != held.key_epoch
            or context.share_commitment is None
        ):
            raise MalformedBackup(
                f"the custodian envelope of wallet {wallet_id!r} revision {held.revision} belongs "
                "to another wallet or revision"
            )
        (stanza,) = env.stanzas
        if stanza.args.get("provider") != self.kms.scheme:
            raise MethodUnavailable(
                f"the custodian share was sealed by KMS provider {stanza.args.get('provider')!r};"
                f" configure kms= with that provider (now: {self.kms.scheme!r})"
            )
        key = envelope.unwrap_key_kms(env, stanza, self.kms)
        share = envelope.open_with_key(env, key).share
        return Released(
            wallet_id,
            held.revision,
            held.backup_set_id,
            held.key_epoch,
            context.share_commitment,
            share,
        )

    def _keep(self, wallet_id: str, mode: str, held: Revision) -> None:
        """Hand ``held``'s custodian envelope to the keeper, if it keeps this wallet's."""
        if self.keeper is None or not self.keeper.keeps(wallet_id, mode):
            return
        blob = held.custodian_envelope
        assert blob is not None  # just sealed
        self.keeper.put(wallet_id, held.revision, blob)
        held.custodian_envelope = None
        held.custodian_sha256 = hashlib.sha256(blob).hexdigest()

    def _envelope(self, wallet_id: str, held: Revision) -> bytes:
        """``held``'s custodian envelope: inline, or from the keeper, checked against its hash."""
        if held.custodian_envelope is not None:
            return held.custodian_envelope
        if self.keeper is None:
            raise StorageError(
                f"the custodian envelope of wallet {wallet_id!r} revision {held.revision} is "
                "held by an envelope keeper, and this custodian has none"
            )
        blob = self.keeper.get(wallet_id, held.revision)
        expected = (held.custodian_sha256 or "").encode()
        if not hmac.compare_digest(hashlib.sha256(blob).hexdigest().encode(), expected):
            raise StorageError(
                f"the custodian envelope returned for wallet {wallet_id!r} revision "
                f"{held.revision} is not the one sealed for it: refused"
            )
        return blob

    def _kms_version(self, wallet_id: str, held: Revision) -> int:
        stanza = envelope.parse(self._envelope(wallet_id, held)).stanzas[0]
        version = stanza.args.get("version")
        return version if isinstance(version, int) else 0

    def _seal(self, context: envelope.Context, share: bytes) -> bytes:
        recipient = envelope.KmsRecipient(os.urandom(STANZA_ID_BYTES), self._kms_args(), self.kms)
        data, _ = envelope.seal(context, share, [recipient])
        return data

    def _kms_args(self) -> dict[str, Any]:
        """The KMS key to seal under; a key is created only while no envelope needs an old one."""
        try:
            return self.kms.stanza_args()
        except KmsKeyMissing as exc:
            sealed = next(
                (held for w in self.store.wallets() for held in _revisions(self._load(w))), None
            )
            if sealed is not None:
                key = "its KMS key"  # an envelope a keeper holds is not fetched for a message
                if sealed.custodian_envelope is not None:
                    stanza = envelope.parse(sealed.custodian_envelope).stanzas[0]
                    key = f"KMS key {stanza.args.get('key_id')}"
                raise KmsKeyMissing(
                    f"{exc}; custodian shares in {self.store!r} are sealed under {key}: "
                    "restore that key (a new key would not open them)"
                ) from None
        try:
            self.kms.create_key()
            log.info("created a new KMS key for an empty custodian store %r", self.store)
        except StorageError as exc:
            # Another process sealing its first backup may have created it a moment ago.
            try:
                return self.kms.stanza_args()
            except KmsKeyMissing:
                raise exc from None
        return self.kms.stanza_args()


def _check_numbers(p: Proposal, record: WalletRecord, base: int) -> None:
    """Refuse a proposal whose revision is not above the current one (stale), or that another
    proposal made since the device read the wallet took (a race: retried)."""
    if p.revision <= base:
        raise StaleBackup(
            f"revision {p.revision} of wallet {p.wallet_id!r} is not newer than revision "
            f"{base}: revisions only move forward"
        )
    if p.revision <= record.last_revision:
        raise _raced(p.wallet_id, f"revision {record.last_revision}")


def _raced(wallet_id: str, what: str) -> StorageError:
    """A change built on the current revision, but another device's change came first."""
    return StorageError(
        f"wallet {wallet_id!r} changed while this change was prepared ({what} was proposed "
        "since); try again"
    )


def open_kms(url: str) -> KmsProvider:
    scheme, colon, _ = url.partition(":")
    if not colon or not scheme:
        raise MethodUnavailable(f"a KMS URL looks like 'local:///path/custodian.key', not {url!r}")
    return plugins.get_kms(scheme.lower())(url)


def _wallet_view(record: WalletRecord) -> WalletView:
    return WalletView(
        record.wallet_id,
        record.mode,
        record.last_revision,
        record.last_epoch,
        None if record.current is None else _view(record.current),
        None if record.pending is None else _view(record.pending),
        tuple(record.statuses),
    )


def _event_time(at: object) -> datetime:
    """An event's ``at`` as a datetime (now, when it is not an ISO 8601 time with a zone)."""
    try:
        parsed = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        return datetime.now(UTC)
    return parsed


def _view(held: Revision) -> RevisionView:
    return RevisionView(
        held.revision,
        held.backup_set_id,
        held.key_epoch,
        held.client_envelope_id,
        held.client_envelope,
        tuple(held.stanzas),
        held.reason,
        held.created_at,
    )


def _revisions(record: WalletRecord | None) -> list[Revision]:
    return [] if record is None else [r for r in (record.current, record.pending) if r]


__all__ = ["Custodian", "EnvelopeKeeper", "open_kms"]
