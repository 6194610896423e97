"""The ``walletbackup`` command's exit codes (docs/cli.md), one per kind of walletbackup error."""

from __future__ import annotations

from walletbackup import errors

#: Exit codes (documented in docs/cli.md). Click itself exits 2 on usage errors.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNLOCK_FAILED = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
EXIT_MALFORMED = 6
EXIT_POLICY = 7
EXIT_STORAGE = 8
EXIT_PLUGIN = 9
EXIT_STALE = 10
#: Ctrl-C (SIGINT): 128 + the signal's number, as a shell reports it (:mod:`.interrupt`).
EXIT_INTERRUPTED = 130
#: ``walletbackup check`` found a problem (no error: the check itself ran).
EXIT_UNHEALTHY = 11
EXIT_ACCESS_DENIED = 12

_EXIT_FOR: tuple[tuple[type[errors.WalletBackupError], int], ...] = (
    (errors.UnlockFailed, EXIT_UNLOCK_FAILED),
    (errors.BackupNotFound, EXIT_NOT_FOUND),
    (errors.MethodUnavailable, EXIT_UNAVAILABLE),
    (errors.MalformedBackup, EXIT_MALFORMED),
    (errors.PolicyViolation, EXIT_POLICY),
    (errors.StorageError, EXIT_STORAGE),
    (errors.PluginError, EXIT_PLUGIN),
    (errors.StaleBackup, EXIT_STALE),
    (errors.AccessDenied, EXIT_ACCESS_DENIED),
)


def exit_code_for(error: errors.WalletBackupError) -> int:
    """The documented exit code for an error."""
    return next((code for kind, code in _EXIT_FOR if isinstance(error, kind)), EXIT_ERROR)
