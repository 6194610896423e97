"""walletbackup: the backup layer for MPC wallets.

Public names are imported lazily (PEP 562) so that ``walletbackup --help`` and plugin discovery
do not pay for ``cryptography`` until something is actually sealed or opened.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDenied,
    BackupNotFound,
    MalformedBackup,
    MethodUnavailable,
    PluginError,
    PolicyViolation,
    StaleBackup,
    StorageError,
    UnlockFailed,
    WalletBackupError,
)

if TYPE_CHECKING:
    from .api import WalletBackup
    from .custodian import Custodian
    from .health import MethodHealth, Problem, WalletHealth
    from .hookspecs import hookimpl
    from .methods import Availability, BackupMethod, Enrollment, MethodContext, Option
    from .results import BackupResult, Recovered, VerifyReport
    from .split import combine_shares, split_secret

__version__ = "0.1.0"

_LAZY = {
    "WalletBackup": "api",
    "Custodian": "custodian",
    "MethodHealth": "health",
    "Problem": "health",
    "WalletHealth": "health",
    "BackupMethod": "methods",
    "Enrollment": "methods",
    "MethodContext": "methods",
    "Option": "methods",
    "Availability": "methods",
    "BackupResult": "results",
    "Recovered": "results",
    "VerifyReport": "results",
    "split_secret": "split",
    "combine_shares": "split",
    # pluggy is imported with it: the walletbackup command installs its Ctrl-C handler first.
    "hookimpl": "hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'walletbackup' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AccessDenied",
    "Availability",
    "BackupMethod",
    "BackupNotFound",
    "BackupResult",
    "Custodian",
    "Enrollment",
    "MalformedBackup",
    "MethodContext",
    "MethodHealth",
    "MethodUnavailable",
    "Option",
    "PluginError",
    "PolicyViolation",
    "Problem",
    "Recovered",
    "StaleBackup",
    "StorageError",
    "UnlockFailed",
    "VerifyReport",
    "WalletBackup",
    "WalletBackupError",
    "WalletHealth",
    "__version__",
    "combine_shares",
    "hookimpl",
    "split_secret",
]
