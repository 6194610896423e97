"""Bench-only backup methods with no KDF, so the store's costs are what a run measures.

``benchpass`` (one per wallet, like ``password``) and ``benchtoken`` (several, like ``passkey``)
derive their secret with HKDF from an option and a salt kept in the args. :func:`install` makes
this process (and the children it starts) load them as the distribution
``walletbackup-benchquick`` (bench/benchplugin), and no other plugin.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from walletbackup import hookimpl, plugins
from walletbackup.errors import MalformedBackup
from walletbackup.methods import SECRET_SIZE, BackupMethod, Enrollment, MethodContext, Option

HERE = Path(__file__).parent
PASS, TOKEN = "benchpass", "benchtoken"
_SALT = re.compile(r"[0-9a-f]{32}")


def derive(name: str, value: str, salt: str) -> bytes:
    """The method secret of ``name`` for option ``value`` and ``salt`` (hex)."""
    kdf = HKDF(
        algorithm=hashes.SHA256(),
        length=SECRET_SIZE,
        salt=bytes.fromhex(salt),
        info=f"walletbackup-bench/{name}".encode(),
    )
    return kdf.derive(value.encode())


class _Quick(BackupMethod):
    secret_option: ClassVar[str]

    def enroll(self, context: MethodContext) -> Enrollment:
        salt = secrets.token_hex(16)
        return Enrollment(
            derive(self.name, str(self.option(self.secret_option)), salt), {"salt": salt}
        )

    def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
        self.validate_args(args)
        return derive(self.name, str(self.option(self.secret_option)), args["salt"])

    @classmethod
    def validate_args(cls, args: Mapping[str, Any]) -> None:
        salt = args.get("salt")
        if set(args) != {"salt"} or not isinstance(salt, str) or not _SALT.fullmatch(salt):
            raise MalformedBackup(f'{cls.name} args must be {{"salt": "<32 hex>"}}')


class BenchPass(_Quick):
    name = PASS
    secret_option = "passphrase"
    options = (Option("passphrase", "The passphrase.", secret=True, required=True),)


class BenchToken(_Quick):
    name = TOKEN
    multiple = True
    secret_option = "token"
    options = (Option("token", "The token.", secret=True, required=True),)


@hookimpl
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    register(BenchPass)
    register(BenchToken)


def install() -> None:
    """Load only these methods, here and in child processes."""
    for path in (str(HERE / "benchplugin"), str(HERE)):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE / "benchplugin"), str(HERE), os.environ.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    os.environ[plugins.ENV_VAR] = "benchquick"
    plugins.reset_plugins()
