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
    """The recovered shares: the client share, and the custodian share when the custodian
    releases it to the device, checked to belong together.

    A custodian service does not release its share to a device (its policy sends it to the
    tenant's MPC node, or to the device through eject): ``custodian_share`` is then ``None``, the
    service has checked that its envelope of this revision opens, and whoever receives the
    custodian share checks it against ``share_commitment`` (from the authenticated client
    envelope) with :func:`walletbackup.envelope.share_commitment_matches` before combining.
    """

    wallet_id: str
    method: str
    backup_set_id: str
    key_epoch: int
    client_share: bytes = field(repr=False)
    custodian_share: bytes | None = field(repr=False)
    #: reasons to re-wrap (e.g. password costs below today's policy); see ``rewrap_backup``
    rewrap_advice: tuple[str, ...] = ()
    revision: int = 0
    #: the commitment binding the two shares, from the authenticated client envelope (public)
    share_commitment: bytes = b""


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
