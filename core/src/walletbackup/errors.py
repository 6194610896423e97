"""The exceptions walletbackup raises.

Every error the library raises on purpose is a :class:`WalletBackupError`. Messages say what went
wrong and what to do; they never contain a secret (a password, a key, a share, a method secret).
"""

from __future__ import annotations


class WalletBackupError(Exception):
    """Base class of every error walletbackup raises on purpose."""


class UnlockFailed(WalletBackupError):
    """The envelope did not open: a wrong secret, or the envelope was altered.

    The two cases are deliberately indistinguishable (one type, one message), so an attacker
    learns nothing from the error about which part failed.
    """

    MESSAGE = "the backup could not be opened: wrong secret, or the backup was altered"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.MESSAGE)


class MalformedBackup(WalletBackupError):
    """The input is not a well-formed envelope (or state record); raised before any cryptography."""


class BackupNotFound(WalletBackupError):
    """There is no backup (or no custodian share, or no such method) for the wallet asked for."""


class MethodUnavailable(WalletBackupError):
    """A backup method cannot be used here; the message names what to install or do."""


class PolicyViolation(WalletBackupError):
    """A request breaks a policy: weak password, costs below the floor, removing the last method."""


class StorageError(WalletBackupError):
    """The store could not be read or written (path not writable, locked, corrupt)."""


class StaleBackup(WalletBackupError):
    """An authentic backup that is older than one already seen: a replay or a rollback.

    Raised when a client envelope's revision is below the wallet's current revision at the
    custodian, or below the newest revision this device has seen (docs/security.md, rollback).
    """


class AccessDenied(WalletBackupError):
    """The custodian service refused the credential: none, unknown or expired (ask the
    application's backend for a new user token), not allowed this request, or too many
    requests (try again later). The message never holds the credential.
    """


class PluginError(WalletBackupError):
    """A plugin is broken or conflicts with another (the message names the distributions)."""


__all__ = [
    "AccessDenied",
    "BackupNotFound",
    "MalformedBackup",
    "MethodUnavailable",
    "PluginError",
    "PolicyViolation",
    "StaleBackup",
    "StorageError",
    "UnlockFailed",
    "WalletBackupError",
]
