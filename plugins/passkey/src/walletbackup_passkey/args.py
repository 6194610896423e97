"""The passkey stanza arguments: what finds the credential again, checked strictly.

All public: the relying party id, the credential id, the PRF salt and the path (transport) the
passkey was enrolled through. None of them lets anyone compute the secret without the
authenticator and its user verification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from walletbackup.canonical import b64encode
from walletbackup.errors import MalformedBackup
from walletbackup.methods import JsonValue, check_arg_names, require, require_bytes

VERSION = 1
SECURITY_KEY = "security-key"
BROWSER = "browser"
TRANSPORTS = (SECURITY_KEY, BROWSER)
#: The only relying party id a page served from this machine can use.
LOCALHOST = "localhost"
SALT_SIZE = 32
#: WebAuthn caps credential ids at 1023 bytes; real authenticators use 16 to a few hundred.
CREDENTIAL_ID_SIZES = range(16, 1024)
_KEYS = frozenset({"v", "transport", "rp_id", "credential_id", "salt"})
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
    check_arg_names(args, _KEYS, method="passkey")
    require(args, "v", int, method="passkey", choices=(VERSION,))
    transport = require(args, "transport", str, method="passkey", choices=TRANSPORTS)
    rp_id = check_rp_id(args.get("rp_id"), MalformedBackup)
    if transport == BROWSER and rp_id != LOCALHOST:
        raise MalformedBackup("a browser-path passkey stanza must have rp_id 'localhost'")
    credential_id = require_bytes(args, "credential_id", CREDENTIAL_ID_SIZES, method="passkey")
    salt = require_bytes(args, "salt", SALT_SIZE, method="passkey")
    return PasskeyArgs(transport, rp_id, credential_id, salt)


def check_rp_id(value: object, error: type[Exception]) -> str:
    """A relying party id: a lowercase DNS name (``localhost``, ``wallet.example.com``)."""
    if not isinstance(value, str) or len(value) > 253 or not _RP_ID.fullmatch(value):
        raise error(
            "the relying party id must be a lowercase domain name such as 'localhost' or "
            "'wallet.example.com'"
        )
    return value
