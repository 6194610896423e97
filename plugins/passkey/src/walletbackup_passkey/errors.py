"""Passkey errors: subclasses of walletbackup's, so callers can catch either.

Failures that concern *one* passkey (not on this authenticator, declined, wrong PIN) are
:class:`~walletbackup.errors.UnlockFailed` subclasses: on a wallet with several passkeys the core
then tries the next stanza. Failures that concern every passkey (no PRF support, PIN blocked,
another request in progress) are raised as :class:`~walletbackup.errors.MethodUnavailable` or
:class:`~walletbackup.errors.PolicyViolation` and stop the attempt.
"""

from __future__ import annotations

from walletbackup.errors import BackupNotFound, UnlockFailed

#: What to use instead when passkeys cannot give a PRF result here.
ALTERNATIVES = (
    "use a FIDO2 security key with hmac-secret through the security-key path "
    "(transport='security-key'), or protect the wallet with another method: password, "
    "gdrive or icloud"
)


class PasskeyNotFound(BackupNotFound, UnlockFailed):
    """The passkey is not on the authenticator at hand: deleted, reset, or another key."""


class PasskeyDeclined(UnlockFailed):
    """The request was cancelled, refused (user verification), timed out or its page closed."""


class PinRejected(UnlockFailed):
    """The security key rejected the PIN; the method does not try it again in this operation."""


__all__ = ["ALTERNATIVES", "PasskeyDeclined", "PasskeyNotFound", "PinRejected"]
