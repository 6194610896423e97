"""A wallet's whole state as one document: what the store keeps, and nothing it must not.

Every change to a wallet is one atomic replace of this document, so a killed process leaves the
previous state or the next one. The document holds envelopes (managed mode), the custodian
envelope, public stanza metadata, statuses and the discard queue. In self-managed mode it holds
no part of the client envelope: only its id and which methods protect it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import MalformedBackup, StorageError

DOCUMENT_SCHEMA = 1
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


@dataclass(frozen=True)
class DiscardItem:
    """Remote key material to delete once a newer backup is safely stored."""

    method: str
    args: dict[str, Any]
    context: dict[str, str]
    attempts: int = 0
    last_error: str = ""


@dataclass
class Revision:
    """One version of a wallet's backup: a client envelope and its custodian envelope."""

    backup_set_id: str
    key_epoch: int
    client_envelope_id: str
    client_envelope: bytes | None  # None in self-managed mode: the application keeps it
    custodian_envelope: bytes
    stanzas: list[StanzaRef]
    created_at: str
    reason: str  # the method whose backup or change made this revision
    #: material made obsolete by this revision: deleted after it is promoted
    discard_on_success: list[DiscardItem] = field(default_factory=list)
    #: material enrolled for this revision: deleted if it fails or is abandoned
    discard_on_failure: list[DiscardItem] = field(default_factory=list)


@dataclass
class MethodStatus:
    """Status of one stanza: ``pending``, ``stored`` or ``failed``."""

    stanza_id: str
    method: str
    status: str
    updated_at: str
    backup_set_id: str
    key_epoch: int
    client_envelope_id: str
    detail: str = ""


@dataclass
class WalletState:
    wallet_id: str
    mode: str
    current: Revision | None = None
    pending: Revision | None = None
    statuses: list[MethodStatus] = field(default_factory=list)
    discard_queue: list[DiscardItem] = field(default_factory=list)
    last_epoch: int = 0

    def set_status(
        self, revision: Revision, status: str, detail: str = "", only: set[str] | None = None
    ) -> None:
        """Record ``status`` for the revision's stanzas (or the ``only`` stanza ids)."""
        at = now()
        for ref in revision.stanzas:
            if only is not None and ref.id not in only:
                continue
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
                )
            )

    def forget_statuses_not_in(self, *revisions: Revision | None) -> None:
        """Drop statuses of stanzas no longer in any live revision.

        The most recent ``failed`` ones are kept (up to :data:`FAILED_KEPT`): they are how a
        status check learns that a backup did not make it.
        """
        live = {ref.id for rev in revisions if rev for ref in rev.stanzas}
        failed = [s for s in self.statuses if s.stanza_id not in live and s.status == "failed"]
        kept = {id(s) for s in failed[-FAILED_KEPT:]}
        self.statuses = [s for s in self.statuses if s.stanza_id in live or id(s) in kept]

    def to_bytes(self) -> bytes:
        body = asdict(self)
        for key in ("current", "pending"):
            if body[key] is not None:
                rev = body[key]
                rev["client_envelope"] = _hex(rev["client_envelope"])
                rev["custodian_envelope"] = _hex(rev["custodian_envelope"])
        body["schema"] = DOCUMENT_SCHEMA
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, wallet_id: str) -> WalletState:
        try:
            body = json.loads(data)
            schema = body.pop("schema")
            if schema > DOCUMENT_SCHEMA:
                raise StorageError(
                    f"wallet {wallet_id!r} was written by a newer walletbackup (state schema "
                    f"{schema}); upgrade walletbackup to read it"
                )
            state = cls(
                wallet_id=body["wallet_id"],
                mode=body["mode"],
                current=_revision(body["current"]),
                pending=_revision(body["pending"]),
                statuses=[MethodStatus(**s) for s in body["statuses"]],
                discard_queue=[DiscardItem(**d) for d in body["discard_queue"]],
                last_epoch=body["last_epoch"],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedBackup(
                f"the stored state of wallet {wallet_id!r} is corrupt ({type(exc).__name__})"
            ) from None
        if state.wallet_id != wallet_id or state.mode not in MODES:
            raise MalformedBackup(f"the stored state of wallet {wallet_id!r} is inconsistent")
        return state


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _revision(body: dict[str, Any] | None) -> Revision | None:
    if body is None:
        return None
    client = body.pop("client_envelope")
    return Revision(
        **{
            **body,
            "client_envelope": None if client is None else bytes.fromhex(client),
            "custodian_envelope": bytes.fromhex(body["custodian_envelope"]),
            "stanzas": [StanzaRef(**s) for s in body["stanzas"]],
            "discard_on_success": [DiscardItem(**d) for d in body["discard_on_success"]],
            "discard_on_failure": [DiscardItem(**d) for d in body["discard_on_failure"]],
        }
    )
