"""What the API returns. Secret fields are excluded from ``repr``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .envelope import armor


@dataclass(frozen=True)
class BackupResult:
    """A backup written (managed: stored and verified) or handed back (self-managed: pending)."""

    wallet_id: str
    method: str
    status: str
    backup_set_id: str
    key_epoch: int
    envelope_id: str
    methods: tuple[str, ...]
    cipher_text: bytes = field(repr=False)
    #: the wallet's revision this backup is (revisions only move forward)
    revision: int = 0

    @property
    def cipher_text_armored(self) -> str:
        """The cipher text as ASCII armor, for transport in text channels."""
        return armor(self.cipher_text)


@dataclass(frozen=True)
class Recovered:
    """Both shares, recovered and checked to belong together."""

    wallet_id: str
    method: str
    backup_set_id: str
    key_epoch: int
    client_share: bytes = field(repr=False)
    custodian_share: bytes = field(repr=False)
    #: reasons to re-wrap (e.g. password costs below today's policy); see ``rewrap_backup``
    rewrap_advice: tuple[str, ...] = ()
    revision: int = 0


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``verify_backup``: it opened; nothing secret is returned."""

    wallet_id: str
    method: str
    backup_set_id: str
    key_epoch: int
    envelope_id: str
    rewrap_advice: tuple[str, ...] = ()
    revision: int = 0
