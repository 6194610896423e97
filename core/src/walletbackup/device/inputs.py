"""What the device accepts from its caller: wallet ids and shares, checked before anything runs."""

from __future__ import annotations

import unicodedata

from walletbackup.envelope import MAX_SHARE
from walletbackup.errors import PolicyViolation

MAX_WALLET_ID_BYTES = 128


def wallet_id(value: str) -> str:
    """The wallet id in NFC: 1 to 128 bytes of UTF-8 without control characters."""
    if not isinstance(value, str):
        raise PolicyViolation("wallet_id must be a string")
    normal = unicodedata.normalize("NFC", value)
    size = len(normal.encode())
    if not 1 <= size <= MAX_WALLET_ID_BYTES or any(
        unicodedata.category(ch) == "Cc" for ch in normal
    ):
        raise PolicyViolation(
            f"wallet_id must be 1 to {MAX_WALLET_ID_BYTES} bytes of UTF-8 without control "
            "characters"
        )
    return normal


def share(value: bytes, name: str) -> bytes:
    """A share as bytes: 1 to ``MAX_SHARE`` of them."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise PolicyViolation(f"{name} must be bytes")
    data = bytes(value)
    if not 1 <= len(data) <= MAX_SHARE:
        raise PolicyViolation(f"{name} must be 1 to {MAX_SHARE} bytes, not {len(data)}")
    return data
