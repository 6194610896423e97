"""The envelope: one encrypted share, its header, and the stanzas that unlock it.

docs/format.md is the specification. ``format`` is the wire format (structure only), ``crypto``
seals and opens, ``armor`` is the text form. The cryptographic names load on first use (PEP 562),
so parsing an envelope or listing its methods never imports ``cryptography``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .armor import ARMOR_BEGIN, ARMOR_END, ARMOR_LINE, MAX_ARMOR, armor, dearmor
from .format import (
    KMS_TYPE,
    MAGIC,
    MAX_ARG_STRING,
    MAX_ARGS,
    MAX_COMMITMENT,
    MAX_ENVELOPE,
    MAX_HEADER,
    MAX_KEY_EPOCH,
    MAX_KMS_BLOB,
    MAX_PAYLOAD,
    MAX_PAYLOAD_V1,
    MAX_REVISION,
    MAX_SHARE,
    MAX_STANZAS,
    MAX_WALLET_ID,
    MIN_PAYLOAD,
    MIN_PAYLOAD_V1,
    ROLE_CLIENT,
    ROLE_CUSTODIAN,
    SUITE,
    VERSION,
    VERSION_1,
    VERSIONS,
    Context,
    Envelope,
    Stanza,
    parse,
)

if TYPE_CHECKING:
    from .crypto import (
        KmsRecipient,
        Opened,
        Recipient,
        open_with_key,
        recipient_public_key,
        seal,
        share_commitment,
        share_commitment_matches,
        stanza_aad,
        stanza_auth_key,
        unlock,
        unwrap_key_kms,
    )

_CRYPTO = frozenset(
    {
        "KmsRecipient",
        "Opened",
        "Recipient",
        "open_with_key",
        "recipient_public_key",
        "seal",
        "share_commitment",
        "share_commitment_matches",
        "stanza_aad",
        "stanza_auth_key",
        "unlock",
        "unwrap_key_kms",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _CRYPTO:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(".crypto", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ARMOR_BEGIN",
    "ARMOR_END",
    "ARMOR_LINE",
    "KMS_TYPE",
    "MAGIC",
    "MAX_ARGS",
    "MAX_ARG_STRING",
    "MAX_ARMOR",
    "MAX_COMMITMENT",
    "MAX_ENVELOPE",
    "MAX_HEADER",
    "MAX_KEY_EPOCH",
    "MAX_KMS_BLOB",
    "MAX_PAYLOAD",
    "MAX_PAYLOAD_V1",
    "MAX_REVISION",
    "MAX_SHARE",
    "MAX_STANZAS",
    "MAX_WALLET_ID",
    "MIN_PAYLOAD",
    "MIN_PAYLOAD_V1",
    "ROLE_CLIENT",
    "ROLE_CUSTODIAN",
    "SUITE",
    "VERSION",
    "VERSIONS",
    "VERSION_1",
    "Context",
    "Envelope",
    "KmsRecipient",
    "Opened",
    "Recipient",
    "Stanza",
    "armor",
    "dearmor",
    "open_with_key",
    "parse",
    "recipient_public_key",
    "seal",
    "share_commitment",
    "share_commitment_matches",
    "stanza_aad",
    "stanza_auth_key",
    "unlock",
    "unwrap_key_kms",
]
