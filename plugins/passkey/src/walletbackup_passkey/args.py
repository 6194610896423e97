"""The passkey stanza arguments: what finds the credential again, checked strictly.

All public: the relying party id, the credential id, the PRF salt and the path (transport) the
passkey was enrolled through. None of them lets anyone compute the secret without the
authenticator and its user verification.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from walletbackup.errors import MalformedBackup
from walletbackup.methods import JsonValue

VERSION = 1
SECURITY_KEY = "security-key"
BROWSER = "browser"
TRANSPORTS = (SECURITY_KEY, BROWSER)
#: The only relying party id a page served from this machine can use.
LOCALHOST = "localhost"
SALT_SIZE = 32
#: WebAuthn caps credential ids at 1023 bytes; real authenticators use 16 to a few hundred.
CREDENTIAL_ID_MIN, CREDENTIAL_ID_MAX = 16, 1023
_KEYS = frozenset({"v", "transport", "rp_id", "credential_id", "salt"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_RP_ID = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class PasskeyArgs:
    """One enrolled passkey: where it lives and which PRF input gives the secret."""

    transport: str
    rp_id: str
    credential_id: bytes
    salt: bytes

    def to_args(self) -> dict[str, JsonValue]:
        return {
            "v": VERSION,
            "transport": self.transport,
            "rp_id": self.rp_id,
            "credential_id": b64encode(self.credential_id),
            "salt": b64encode(self.salt),
        }


def parse(args: Mapping[str, Any]) -> PasskeyArgs:
    """Check every stanza argument before any authenticator or browser is touched."""
    if not isinstance(args, Mapping):
        raise MalformedBackup("passkey stanza arguments must be an object")
    unknown = sorted(repr(key)[:40] for key in set(args) - _KEYS)
    if unknown:
        raise MalformedBackup(f"unknown passkey stanza argument(s): {', '.join(unknown)}")
    version = args.get("v")
    if type(version) is not int or version != VERSION:
        raise MalformedBackup(f"passkey stanza argument 'v' must be {VERSION}")
    transport = args.get("transport")
    if transport not in TRANSPORTS:
        raise MalformedBackup(
            f"passkey stanza argument 'transport' must be {' or '.join(map(repr, TRANSPORTS))}"
        )
    rp_id = check_rp_id(args.get("rp_id"), MalformedBackup)
    if transport == BROWSER and rp_id != LOCALHOST:
        raise MalformedBackup("a browser-path passkey stanza must have rp_id 'localhost'")
    credential_id = _bytes(args, "credential_id", CREDENTIAL_ID_MIN, CREDENTIAL_ID_MAX)
    salt = _bytes(args, "salt", SALT_SIZE, SALT_SIZE)
    return PasskeyArgs(str(transport), rp_id, credential_id, salt)


def check_rp_id(value: object, error: type[Exception]) -> str:
    """A relying party id: a lowercase DNS name (``localhost``, ``wallet.example.com``)."""
    if not isinstance(value, str) or len(value) > 253 or not _RP_ID.fullmatch(value):
        raise error(
            "the relying party id must be a lowercase domain name such as 'localhost' or "
            "'wallet.example.com'"
        )
    return value


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64decode(value: object, low: int, high: int) -> bytes | None:
    """Strict unpadded base64url of ``low`` to ``high`` bytes, or None (one spelling only)."""
    if not isinstance(value, str) or len(value) > (high * 4 + 2) // 3 + 1:
        return None
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if b64encode(raw) != value or not low <= len(raw) <= high:
        return None
    return raw


def _bytes(args: Mapping[str, Any], key: str, low: int, high: int) -> bytes:
    raw = b64decode(args.get(key), low, high)
    if raw is None:
        size = f"{low}" if low == high else f"{low} to {high}"
        raise MalformedBackup(
            f"passkey stanza argument {key!r} must be unpadded base64url of {size} bytes"
        )
    return raw
