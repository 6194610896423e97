"""The custodian's record of one wallet, and the life of a revision in it.

Every change to a wallet is one atomic replace of this document, so a killed process leaves the
previous record or the next one. A revision goes *pending* (written), then *promoted* (current)
or *abandoned* (failed); :meth:`WalletRecord.promote` and :meth:`WalletRecord.abandon` are the
only ways out of pending. The record holds the custodian envelope, the client envelope in
managed mode (in self-managed mode only its id), public stanza metadata and statuses: nothing
the device must trust. The device authenticates what matters (see docs/security.md).

A custodian with an envelope keeper (:class:`walletbackup.custodian.EnvelopeKeeper`) may hold a
revision's custodian envelope elsewhere: the record then has ``custodian_sha256`` (hex) instead
of the envelope. A revision without that field holds its envelope inline, as every record
written before keepers existed does, so the schema number does not change.

Schema 1 (written before the two parties were split) is read: its revisions get number 0 and its
discard fields, now the device's business, are dropped. Schema 2 (before statuses carried
``verified_at``) is read with ``verified_at`` unknown (``None``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .canonical import b64decode, b64encode
from .errors import MalformedBackup, StorageError

DOCUMENT_SCHEMA = 3
MODES = ("managed", "self-managed")
#: How many statuses of failed backups a wallet keeps once they are no longer live.
FAILED_KEPT = 8


def now() -> str:
    """The current time as ISO 8601 UTC with seconds (what every record carries)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StanzaRef:
    """Which method protects a client envelope, by stanza id (hex); no key material."""

    id: str
    method: str


@dataclass
class Revision:
    """One version of a wallet's backup: a client envelope and its custodian envelope."""

    revision: int
    backup_set_id: str
    key_epoch: int
    client_envelope_id: str
    client_envelope: bytes | None  # None in self-managed mode: the application keeps it
    custodian_envelope: bytes | None  # None when an envelope keeper holds it
    stanzas: list[StanzaRef]
    created_at: str
    reason: str  # the method whose backup or change made this revision
    #: SHA-256 (hex) of the custodian envelope an envelope keeper holds; None when inline.
    custodian_sha256: str | None = None


@dataclass
class MethodStatus:
    """Status of one stanza: ``pending``, ``stored`` or ``failed``.

    ``verified_at`` is when the stanza last opened the wallet: when it was stored (the device
    opens a new backup with each new method before it reads ``stored``), then at each successful
    ``verify_backup`` or ``recover_wallet`` with it. ``None`` for a stanza stored before
    walletbackup recorded it, until its next verification.
    """

    stanza_id: str
    method: str
    status: str
    updated_at: str
    backup_set_id: str
    key_epoch: int
    client_envelope_id: str
    detail: str = ""
    verified_at: str | None = None


@dataclass
class WalletRecord:
    """What the custodian keeps for one wallet."""

    wallet_id: str
    mode: str
    current: Revision | None = None
    pending: Revision | None = None
    statuses: list[MethodStatus] = field(default_factory=list)
    #: The highest revision number ever handed out: revisions only move forward.
    last_revision: int = 0
    last_epoch: int = 0

    # --- the life of a revision ----------------------------------------------------------

    def add_pending(self, revision: Revision, new_stanzas: set[str]) -> None:
        """Hold ``revision`` as pending; an earlier pending one is abandoned (superseded)."""
        if self.pending is not None:
            self.abandon(
                "interrupted before the backup was verified"
                if self.mode == "managed"
                else "superseded by a newer backup before it was confirmed"
            )
        self.pending = revision
        self.last_revision = max(self.last_revision, revision.revision)
        self.last_epoch = max(self.last_epoch, revision.key_epoch)
        self.set_status(revision, "pending", only=new_stanzas)

    def promote(self) -> Revision:
        revision = self.pending
        if revision is None:
            raise StorageError(f"wallet {self.wallet_id!r} has no pending backup to make current")
        # The stanzas this revision enrolled: the device opened the new envelope with each of
        # their secrets before it proposed the revision, so storing them verifies them.
        enrolled = {
            s.stanza_id
            for s in self.statuses
            if s.status == "pending" and s.client_envelope_id == revision.client_envelope_id
        }
        self.current, self.pending = revision, None
        self.set_status(revision, "stored")
        for status in self.statuses:
            if status.stanza_id in enrolled:
                status.verified_at = status.updated_at
        self._forget_statuses_not_in(revision)
        return revision

    def abandon(self, detail: str) -> Revision:
        revision = self.pending
        if revision is None:
            raise StorageError(f"wallet {self.wallet_id!r} has no pending backup to abandon")
        live = {ref.id for ref in self.current.stanzas} if self.current else set()
        self.set_status(revision, "failed", detail, only={r.id for r in revision.stanzas} - live)
        self.pending = None
        self._forget_statuses_not_in(self.current)
        return revision

    def set_status(
        self, revision: Revision, status: str, detail: str = "", only: set[str] | None = None
    ) -> None:
        """Record ``status`` for the revision's stanzas (or the ``only`` stanza ids).

        A stanza keeps its ``verified_at``: a kept stanza is the same method secret and material.
        """
        at = now()
        for ref in revision.stanzas:
            if only is not None and ref.id not in only:
                continue
            verified = next((s.verified_at for s in self.statuses if s.stanza_id == ref.id), None)
            self.statuses = [s for s in self.statuses if s.stanza_id != ref.id]
            self.statuses.append(
                MethodStatus(
                    ref.id,
                    ref.method,
                    status,
                    at,
                    revision.backup_set_id,
                    revision.key_epoch,
                    revision.client_envelope_id,
                    detail,
                    verified,
                )
            )

    def record_verified(self, revision: int, stanza_id: str) -> bool:
        """Note that stanza ``stanza_id`` of the current or pending ``revision`` opened the wallet
        now; ``False`` (nothing changed) when that revision or stanza is not live."""
        live = [held for held in (self.current, self.pending) if held and held.revision == revision]
        if not any(ref.id == stanza_id for held in live for ref in held.stanzas):
            return False
        at = now()
        for status in self.statuses:
            if status.stanza_id == stanza_id and status.status != "failed":
                status.verified_at = at
                return True
        return False

    def _forget_statuses_not_in(self, *revisions: Revision | None) -> None:
        """Drop statuses of stanzas no longer in any live revision.

        The most recent ``failed`` ones are kept (up to :data:`FAILED_KEPT`): they are how a
        status check learns that a backup did not make it.
        """
        live = {ref.id for rev in (*revisions, self.pending) if rev for ref in rev.stanzas}
        failed = [s for s in self.statuses if s.stanza_id not in live and s.status == "failed"]
        kept = {id(s) for s in failed[-FAILED_KEPT:]}
        self.statuses = [s for s in self.statuses if s.stanza_id in live or id(s) in kept]

    # --- the document --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        body = asdict(self)
        for key in ("current", "pending"):
            rev = body[key]
            if rev is not None:
                rev["client_envelope"] = _b64(rev["client_envelope"])
                rev["custodian_envelope"] = _b64(rev["custodian_envelope"])
                if rev["custodian_sha256"] is None:
                    del rev["custodian_sha256"]  # inline: the record reads as it always did
        body["schema"] = DOCUMENT_SCHEMA
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, wallet_id: str) -> WalletRecord:
        try:
            body = json.loads(data)
            schema = body.pop("schema")
            if schema > DOCUMENT_SCHEMA:
                raise StorageError(
                    f"wallet {wallet_id!r} was written by a newer walletbackup (record schema "
                    f"{schema}); upgrade walletbackup to read it"
                )
            decode = bytes.fromhex if schema == 1 else b64decode
            record = cls(
                wallet_id=body["wallet_id"],
                mode=body["mode"],
                current=_revision(body["current"], decode),
                pending=_revision(body["pending"], decode),
                statuses=[MethodStatus(**s) for s in body["statuses"]],
                last_revision=body.get("last_revision", 0),
                last_epoch=body["last_epoch"],
            )
        except (ValueError, KeyError, TypeError, AttributeError, MalformedBackup) as exc:
            raise MalformedBackup(
                f"the stored record of wallet {wallet_id!r} is corrupt ({type(exc).__name__})"
            ) from None
        if record.wallet_id != wallet_id or record.mode not in MODES:
            raise MalformedBackup(f"the stored record of wallet {wallet_id!r} is inconsistent")
        return record


def _b64(value: bytes | None) -> str | None:
    return None if value is None else b64encode(value)


def _revision(body: dict[str, Any] | None, decode: Any) -> Revision | None:
    if body is None:
        return None
    for obsolete in ("discard_on_success", "discard_on_failure"):  # schema 1
        body.pop(obsolete, None)
    client = body.pop("client_envelope")
    custodian = body.pop("custodian_envelope")
    kept = body.get("custodian_sha256")
    if (custodian is None) == (kept is None):
        raise MalformedBackup("a revision holds either its custodian envelope or its hash")
    return Revision(
        **{
            "revision": 0,
            **body,
            "client_envelope": None if client is None else decode(client),
            "custodian_envelope": None if custodian is None else decode(custodian),
            "stanzas": [StanzaRef(**s) for s in body["stanzas"]],
        }
    )
