"""walletbackup-passkey: the passkey backup method (WebAuthn PRF / CTAP2 hmac-secret)."""

from __future__ import annotations

from .errors import PasskeyDeclined, PasskeyNotFound, PinRejected
from .method import PasskeyMethod

__all__ = ["PasskeyDeclined", "PasskeyMethod", "PasskeyNotFound", "PinRejected"]
