"""What a key file is called, what it says about itself, and the stanza args that find it again."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from walletbackup.methods import MethodContext, check_arg_names, require

KEY_SIZE = 32
ARGS = frozenset({"file_id", "file_name", "client"})
#: The appProperties every key file carries; the list command finds key files by them.
KIND_PROPERTY = ("walletbackup", "method-secret")

_FILE_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FILE_NAME = re.compile(r"walletbackup-key-[0-9a-f]{32}-[0-9a-f]{1,64}")
_FINGERPRINT = re.compile(r"(?:[0-9a-f]{32})?")
_HEX = re.compile(r"[0-9a-f]{1,64}")


def _digest(label: bytes, value: str) -> str:
    return hashlib.sha256(label + b"\x00" + value.encode()).hexdigest()[:32]


def wallet_tag(wallet_id: str) -> str:
    """A stand-in for the wallet id in names Google sees (the id itself may identify a person)."""
    return _digest(b"walletbackup-gdrive/wallet", wallet_id)


def client_fingerprint(client_id: str | None) -> str:
    """A short public fingerprint of an OAuth client id ("" when the credentials do not say)."""
    return _digest(b"walletbackup-gdrive/oauth-client", client_id) if client_id else ""


@dataclass(frozen=True)
class KeyFileSpec:
    """The name and metadata of the key file for one stanza."""

    name: str
    app_properties: dict[str, str]
    description: str

    @classmethod
    def for_context(cls, context: MethodContext) -> KeyFileSpec:
        for label, value in (
            ("stanza_id", context.stanza_id),
            ("backup_set_id", context.backup_set_id),
        ):
            if not _HEX.fullmatch(value):
                raise ValueError(f"gdrive: context.{label} must be 1 to 64 lowercase hex digits")
        tag = wallet_tag(context.wallet_id)
        # Each key+value must stay under Drive's 124-byte appProperties limit.
        properties = {
            KIND_PROPERTY[0]: KIND_PROPERTY[1],
            "format": "1",
            "wallet": tag,
            "stanza": context.stanza_id,
            "backupSet": context.backup_set_id,
        }
        return cls(
            name=f"walletbackup-key-{tag}-{context.stanza_id}",
            app_properties=properties,
            description=(
                "walletbackup: a random key that protects one wallet backup. Deleting it "
                "disables recovering that wallet with Google Drive."
            ),
        )


def check_args(args: Mapping[str, Any]) -> None:
    """Raise :class:`MalformedBackup` unless ``args`` are exactly what enroll writes."""
    check_arg_names(args, ARGS, method="gdrive")
    for key, pattern in (
        ("file_id", _FILE_ID),
        ("file_name", _FILE_NAME),
        ("client", _FINGERPRINT),
    ):
        require(args, key, str, method="gdrive", pattern=pattern, what="well-formed")


__all__ = [
    "ARGS",
    "KEY_SIZE",
    "KIND_PROPERTY",
    "KeyFileSpec",
    "check_args",
    "client_fingerprint",
    "wallet_tag",
]
