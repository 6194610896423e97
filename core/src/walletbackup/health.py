"""Backup health without any secret: what a check finds, and the custodian's half of it.

A health check reads what the parties hold and opens nothing a secret protects. The custodian
checks its own record (:func:`revision_problems`): each envelope parses, the client envelope it
keeps (managed mode) pairs with its custodian envelope and with the record, and the custodian
envelope opens under the KMS. The device adds what only it can ask (``walletbackup.device.health``):
whether each method's remote key material is still there, and when each was last verified.

Without a secret nothing is authenticated: a check catches damage and disappearance (a deleted
Drive file, a damaged record, a lost KMS version), not a forger. ``verify_backup`` does that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import envelope
from .errors import MalformedBackup, WalletBackupError
from .protocol import WalletView
from .state import MethodStatus, Revision

#: How often a stanza should be verified before ``status`` and ``check`` call it due.
DEFAULT_VERIFY_EVERY = timedelta(days=90)

#: What a :class:`Problem` is about.
PROBLEM_KINDS = ("record", "envelope", "pairing", "custodian", "material", "presence")


@dataclass(frozen=True)
class Problem:
    """Something wrong with a wallet's backup; ``kind`` is one of :data:`PROBLEM_KINDS`.

    ``record``: the custodian's record cannot be read; ``envelope``: an envelope does not parse;
    ``pairing``: the client envelope, the custodian envelope and the record disagree (wallet,
    backup set, epoch, revision, commitment, stanzas); ``custodian``: the custodian envelope does
    not open under the KMS; ``material``: a method's remote key material is gone; ``presence``:
    asking a method about its material failed. ``method`` and ``stanza_id`` say which stanza,
    where one does.
    """

    kind: str
    message: str
    method: str | None = None
    stanza_id: str | None = None


@dataclass(frozen=True)
class MethodHealth:
    """One stanza of a wallet's current backup, as a check sees it.

    ``present``: the method's remote key material is there (``True``), gone (``False``), or the
    method cannot tell here (``None``: it keeps nothing remote, is not installed or signed in,
    or the check was asked not to look; ``detail`` says which). ``verified_at`` is the status's
    (see :class:`~walletbackup.state.MethodStatus`); ``due``: a verification is due by the policy.
    """

    method: str
    stanza_id: str
    status: str
    present: bool | None
    verified_at: str | None
    due: bool
    detail: str = ""


@dataclass(frozen=True)
class WalletHealth:
    """One wallet's health: its methods and the problems found (none: ``ok``).

    ``mode`` and ``revision`` (the current one; 0 when there is none) are ``None`` when the
    custodian's record cannot be read.
    """

    wallet_id: str
    mode: str | None
    revision: int | None
    methods: tuple[MethodHealth, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def due(self) -> tuple[MethodHealth, ...]:
        """The methods whose verification is due."""
        return tuple(m for m in self.methods if m.due)


@dataclass(frozen=True)
class CustodianCheck:
    """The custodian's half of a check: its view of the wallet (``None`` when its record cannot
    be read) and the problems it found."""

    wallet_id: str
    view: WalletView | None
    problems: tuple[Problem, ...]


def is_due(status: MethodStatus, every: timedelta | None, now: datetime) -> bool:
    """Whether a stored stanza's verification is due: last verified (or, never verified, last
    changed) ``every`` or longer before ``now``. ``every=None``: never due."""
    if every is None or status.status != "stored":
        return False
    try:
        since = datetime.fromisoformat(status.verified_at or status.updated_at)
    except ValueError:
        return True  # not a time walletbackup wrote (the record is public data): verify to know
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return now - since >= every


def revision_problems(
    wallet_id: str,
    held: Revision,
    open_custodian: Callable[[Revision, envelope.Envelope], object],
) -> list[Problem]:
    """What is wrong with one revision the custodian holds (structure, pairing, its KMS side).

    ``open_custodian`` opens the revision's custodian envelope (given parsed) under the KMS,
    checking its context against the record, or raises; what it returns is dropped at once.
    """
    label = f"revision {held.revision}"
    problems: list[Problem] = []
    # Custodian.check fetches an envelope its keeper holds before it asks.
    assert held.custodian_envelope is not None
    custodian_env = _parsed(held.custodian_envelope, f"the custodian envelope of {label}", problems)
    client_env = None
    if held.client_envelope is not None:
        client_env = _parsed(held.client_envelope, f"the client envelope of {label}", problems)
    if client_env is not None:
        problems += _client_against_record(label, wallet_id, held, client_env)
        if custodian_env is not None:
            problems += _pair(label, client_env.context, custodian_env.context)
    if custodian_env is not None:
        try:
            open_custodian(held, custodian_env)
        except WalletBackupError as exc:
            problems.append(
                Problem(
                    "custodian",
                    f"the custodian envelope of {label} does not open under the KMS "
                    f"({type(exc).__name__}: {exc})",
                )
            )
    return problems


def _parsed(data: bytes, what: str, problems: list[Problem]) -> envelope.Envelope | None:
    try:
        return envelope.parse(data)
    except MalformedBackup as exc:
        problems.append(Problem("envelope", f"{what} does not parse: {exc}"))
        return None


def _client_against_record(
    label: str, wallet_id: str, held: Revision, env: envelope.Envelope
) -> list[Problem]:
    context = env.context
    found = []
    if context.share_role != envelope.ROLE_CLIENT:
        found.append("it is not a client envelope")
    if context.wallet_id != wallet_id:
        found.append(f"it belongs to wallet {context.wallet_id!r}")
    if env.envelope_id.hex() != held.client_envelope_id:
        found.append("its envelope id")
    if context.revision != held.revision:
        found.append(f"its revision ({context.revision})")
    if context.backup_set_id.hex() != held.backup_set_id:
        found.append("its backup set")
    if context.key_epoch != held.key_epoch:
        found.append(f"its key epoch ({context.key_epoch})")
    if {(s.id.hex(), s.type) for s in env.stanzas} != {(r.id, r.method) for r in held.stanzas}:
        found.append("its stanzas")
    if not found:
        return []
    return [
        Problem(
            "pairing",
            f"the client envelope of {label} disagrees with the custodian's record: "
            + ", ".join(found),
        )
    ]


def _pair(label: str, client: envelope.Context, custodian: envelope.Context) -> list[Problem]:
    differ = [
        name
        for name, mine, theirs in (
            ("wallet", client.wallet_id, custodian.wallet_id),
            ("backup set", client.backup_set_id, custodian.backup_set_id),
            ("key epoch", client.key_epoch, custodian.key_epoch),
            ("revision", client.revision, custodian.revision),
            ("share commitment", client.share_commitment, custodian.share_commitment),
        )
        if mine != theirs
    ]
    if custodian.share_role != envelope.ROLE_CUSTODIAN:
        differ.insert(0, "role (the custodian envelope is not a custodian envelope)")
    if not differ:
        return []
    return [
        Problem(
            "pairing",
            f"the client and custodian envelopes of {label} do not pair: their "
            + ", ".join(differ)
            + " differ",
        )
    ]


__all__ = [
    "DEFAULT_VERIFY_EVERY",
    "PROBLEM_KINDS",
    "CustodianCheck",
    "MethodHealth",
    "Problem",
    "WalletHealth",
    "is_due",
    "revision_problems",
]
