"""The protocol between the two parties: what the device and the custodian say to each other.

The device (:class:`walletbackup.WalletBackup`) holds method secrets and the client share; the
custodian (:class:`walletbackup.Custodian`) holds the KMS, the custodian share and the managed
client cipher texts. They talk only through :class:`CustodianApi`, in the messages below: plain
dataclasses of JSON-safe values (bytes travel as base64url), versioned by
:data:`PROTOCOL_VERSION`, so the same device code talks to a custodian in this process or across
HTTP. Every write names the revision it builds on (a compare-and-swap) and the revision it
creates, so a retried message is recognised rather than applied twice.

Nothing the custodian answers is trusted by the device as such: the device authenticates client
envelopes with keys derived from method secrets, and checks the custodian share against the
commitment inside the authenticated client header (docs/security.md).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .canonical import b64decode, b64encode
from .errors import MalformedBackup
from .state import MethodStatus, StanzaRef

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class RevisionView:
    """One revision as the custodian holds it (public data, plus the managed cipher text)."""

    revision: int
    backup_set_id: str
    key_epoch: int
    client_envelope_id: str
    client_envelope: bytes | None = field(repr=False)
    stanzas: tuple[StanzaRef, ...]
    reason: str
    created_at: str


@dataclass(frozen=True)
class WalletView:
    """What the custodian holds for a wallet: the device's starting point for every operation."""

    wallet_id: str
    mode: str
    last_revision: int
    last_epoch: int
    current: RevisionView | None
    pending: RevisionView | None
    statuses: tuple[MethodStatus, ...]


@dataclass(frozen=True)
class Proposal:
    """A new revision the device has sealed, for the custodian to hold as pending.

    ``base_revision`` is the current revision the change was built on (0: none): the custodian
    refuses the proposal when its current revision is another. ``custodian_share`` is given when
    the backup brings a new custodian share; ``None`` re-seals the current one under the new
    revision (a method change).
    """

    wallet_id: str
    mode: str
    base_revision: int
    revision: int
    backup_set_id: str
    key_epoch: int
    share_commitment: bytes
    client_envelope_id: str
    client_envelope: bytes | None = field(repr=False)
    stanzas: tuple[StanzaRef, ...]
    new_stanzas: tuple[str, ...]
    reason: str
    custodian_share: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Released:
    """The custodian share of one revision, with the context its KMS-sealed envelope carries."""

    wallet_id: str
    revision: int
    backup_set_id: str
    key_epoch: int
    share_commitment: bytes
    share: bytes = field(repr=False)


@dataclass(frozen=True)
class Checked:
    """The custodian opened its envelope of one revision under its KMS (the share not shown).

    What a custodian that does not release its share to the device answers for a recovery or a
    verification, in place of :class:`Released`.
    """

    revision: int
    backup_set_id: str
    key_epoch: int


@dataclass(frozen=True)
class EjectRequest:
    """An eject the device asked for: the custodian share of ``revision`` (then current) is
    released to the device once ``not_before`` (ISO 8601) has passed, unless cancelled."""

    revision: int
    not_before: str


class CustodianApi(Protocol):
    """The custodian as the device sees it: in this process, or a client of the service."""

    @property
    def location(self) -> str | None:
        """Where this custodian is (a store URL; a service's URL and the token's user): the key
        of the device's revision pins. ``None`` when it has no lasting identity (in memory)."""

    #: Whether :meth:`release` gives the device the custodian share. A service keeps it from a
    #: device (it goes to the tenant's MPC node, or to the device through eject): the device then
    #: asks it to :meth:`check` the revision instead, and recovers the client share only.
    releases_custodian_share: bool

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        """Serialise changes to one wallet (a no-op where compare-and-swap alone protects)."""

    def view(self, wallet_id: str) -> WalletView | None:
        """The wallet as the custodian holds it; ``None`` when it holds nothing for it."""

    def propose(self, proposal: Proposal) -> RevisionView:
        """Seal the custodian share for ``proposal`` and hold the revision as pending."""

    def promote(self, wallet_id: str, revision: int) -> None:
        """Make the pending ``revision`` current (managed: verified; self-managed: confirmed)."""

    def abandon(self, wallet_id: str, revision: int, detail: str) -> None:
        """Mark the pending ``revision`` failed; the current one stays the recovery path."""

    def release(self, wallet_id: str, revision: int) -> Released:
        """The custodian share of the current or pending ``revision`` (the only ones released)."""

    def check(self, wallet_id: str, revision: int) -> Checked:
        """Open the custodian envelope of the current or pending ``revision`` under the KMS,
        without giving the share out (refused, as :meth:`release` is, for any other revision)."""

    def record_verified(self, wallet_id: str, revision: int, stanza_id: str) -> None:
        """Note that the device opened ``revision`` with stanza ``stanza_id`` (hex) and checked
        the released share: the stanza's ``verified_at`` (a status: nothing anyone trusts)."""

    def audit(self, event: dict[str, Any]) -> None:
        """Record one audit event."""

    def close(self) -> None:
        """Release connections."""


@typing.runtime_checkable
class EjectingCustodian(Protocol):
    """A custodian that releases its share to the device through eject (a service), in two
    steps with a delay between them, so the tenant can warn the user and cancel."""

    def prepare_eject(self, wallet_id: str) -> EjectRequest:
        """Ask for the current revision's custodian share, after the service's eject delay."""

    def eject(self, wallet_id: str) -> Released:
        """The share of the prepared revision, once the delay is over."""

    def cancel_eject(self, wallet_id: str) -> None:
        """Withdraw the request."""


# --- JSON form -----------------------------------------------------------------------------

M = TypeVar("M")


def to_json(message: Any) -> Any:
    """A message (or a value inside one) as JSON-safe data; bytes become base64url."""
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        return {f.name: to_json(getattr(message, f.name)) for f in dataclasses.fields(message)}
    if isinstance(message, bytes):
        return b64encode(message)
    if isinstance(message, tuple | list):
        return [to_json(item) for item in message]
    return message


def from_json(cls: type[M], data: Any) -> M:
    """The ``cls`` message :func:`to_json` gave ``data`` for; :class:`MalformedBackup` if not."""
    try:
        return typing.cast(M, _decode(cls, data))
    except (TypeError, KeyError, ValueError) as exc:
        raise MalformedBackup(f"malformed {cls.__name__} message ({type(exc).__name__})") from None


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    # Resolving the string annotations is most of a decode's cost; the messages are few and fixed.
    return typing.get_type_hints(kind)


def _decode(kind: Any, data: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        (real,) = [option for option in options if option is not type(None)]
        return _decode(real, data)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(data, list):
            raise TypeError("expected a list")
        return tuple(_decode(item, value) for value in data)
    if dataclasses.is_dataclass(kind):
        if not isinstance(data, dict) or set(data) - {f.name for f in dataclasses.fields(kind)}:
            raise TypeError("expected an object with known fields only")
        hints = _hints(typing.cast(type, kind))
        fields = {name: _decode(hints[name], value) for name, value in data.items()}
        return typing.cast(Any, kind)(**fields)
    if kind is bytes:
        return b64decode(data)
    if kind is int and (type(data) is not int):
        raise TypeError("expected an integer")
    if kind is str and not isinstance(data, str):
        raise TypeError("expected a string")
    if kind is bool and not isinstance(data, bool):
        raise TypeError("expected a boolean")
    return data


__all__ = [
    "PROTOCOL_VERSION",
    "Checked",
    "CustodianApi",
    "EjectRequest",
    "EjectingCustodian",
    "Proposal",
    "Released",
    "RevisionView",
    "WalletView",
    "from_json",
    "to_json",
]
