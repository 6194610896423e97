"""Where the CLI's store, KMS and mode come from: command line, else config file, else defaults.

The config file is TOML with the top-level keys ``store``, ``kms``, ``mode`` and ``custodian``
(strings) and ``verify_every_days`` (an integer: how often each method should be verified before
``status`` and ``check`` call it due; 0: never). Its location is ``--config PATH``, else
``$WALLETBACKUP_CONFIG``, else ``config.toml`` in the user config directory
(``platformdirs.user_config_dir("walletbackup")``). A file named explicitly must exist; the
default one may be absent. A file that does not parse is a usage error (exit 2) naming the file
and line.

``custodian`` (or ``--custodian``) names a custodian service (``https://…``): the device commands
then talk to it with the user token in ``$WALLETBACKUP_TOKEN`` (a token on the command line would
be in the process list and the shell history), and ``store``/``kms`` are the service's business.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from walletbackup import files

if TYPE_CHECKING:
    from walletbackup.api import WalletBackup
    from walletbackup.custodian import Custodian
    from walletbackup.kms import KmsProvider

CONFIG_ENV = "WALLETBACKUP_CONFIG"
TOKEN_ENV = "WALLETBACKUP_TOKEN"  # noqa: S105 - the name of a variable
CONFIG_NAME = "config.toml"
MODES = ("managed", "self-managed")
DEFAULTS = {"store": "sqlite:", "kms": "local:", "mode": "managed"}
VERIFY_EVERY_KEY = "verify_every_days"
CUSTODIAN_KEY = "custodian"
#: The default of ``verify_every_days`` (walletbackup.health.DEFAULT_VERIFY_EVERY, in days).
DEFAULT_VERIFY_EVERY_DAYS = 90
#: Far beyond any useful policy; keeps the timedelta arithmetic in range.
MAX_VERIFY_EVERY_DAYS = 36_500
# A config file is a few lines; anything larger is not one.
MAX_CONFIG_BYTES = 64 * 1024


class ConfigError(click.ClickException):
    """A config file that is missing, unreadable or invalid: a usage error (exit 2)."""

    exit_code = 2


@dataclass
class Globals:
    """The group's global options, and what was resolved from them (once per command)."""

    store: str | None
    kms: str | None
    mode: str | None
    config: str | None
    custodian: str | None = None
    _settings: dict[str, str] | None = field(default=None, repr=False)
    _file: dict[str, Any] | None = field(default=None, repr=False)

    def settings(self) -> dict[str, str]:
        """``store``, ``kms`` and ``mode``: command line, else config file, else defaults."""
        for key in ("store", "kms", "custodian"):
            value = getattr(self, key)
            if value is not None and _has_password(value):
                # Every user of the machine can read a process's arguments; shells keep them.
                raise ConfigError(
                    f"--{key}: a URL with a password does not go on the command line: put it "
                    "in the config file (mode 0600), or the password in PGPASSFILE or PGPASSWORD"
                )
        if self._settings is None:
            from_file = self.from_file()
            given = {"store": self.store, "kms": self.kms, "mode": self.mode}
            self._settings = {
                key: given[key] or from_file.get(key) or DEFAULTS[key] for key in DEFAULTS
            }
        return self._settings

    def from_file(self) -> dict[str, Any]:
        """The config file's settings (read once)."""
        if self._file is None:
            path, explicit = config_path(self.config)
            self._file = load_config(path, explicit)
        return self._file

    def service(self) -> str | None:
        """The custodian service's URL: command line, else config file; ``None``: embedded."""
        found = self.custodian or self.from_file().get(CUSTODIAN_KEY)
        return str(found) if found else None

    def verify_every(self) -> timedelta | None:
        """How often each method should be verified (``None``: never due)."""
        days = self.from_file().get(VERIFY_EVERY_KEY, DEFAULT_VERIFY_EVERY_DAYS)
        return timedelta(days=days) if days else None

    def given_on_command_line(self) -> dict[str, str]:
        """The global options given on this command line (to repeat them in a hint)."""
        given = {
            "store": self.store,
            "kms": self.kms,
            "mode": self.mode,
            "config": self.config,
            "custodian": self.custodian,
        }
        return {key: value for key, value in given.items() if value is not None}


def _refuse_shared_passwords(path: Path, document: dict[str, Any]) -> None:
    """A config file that holds a password must be its owner's only."""
    secret = [k for k, value in document.items() if isinstance(value, str) and _has_password(value)]
    if secret and path.stat().st_mode & 0o077:
        raise ConfigError(
            f"config file {path}: {', '.join(secret)} holds a password, and others may read the "
            f"file: chmod 600 {path}"
        )


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit  # noqa: PLC0415 - only when a URL was given

    try:
        return urlsplit(url).password is not None
    except ValueError:  # not a URL of that shape: the store says what is wrong with it
        return False


def config_path(explicit: str | None) -> tuple[Path, bool]:
    """The config file to read, and whether it was named explicitly (then it must exist)."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), True
    import platformdirs  # noqa: PLC0415 - only commands that open a store need the config

    return Path(platformdirs.user_config_dir("walletbackup")) / CONFIG_NAME, False


def load_config(path: Path, must_exist: bool) -> dict[str, Any]:
    """The settings in the config file at ``path`` ({} when it is absent and optional)."""
    try:
        data = files.read_limited(path, MAX_CONFIG_BYTES).data
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except files.FileTooLarge:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    import tomllib  # noqa: PLC0415 - only commands that open a store read the config

    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # The message names the line and column: "Invalid value (at line 2, column 7)".
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known = [*DEFAULTS, CUSTODIAN_KEY, VERIFY_EVERY_KEY]
    unknown = sorted(set(document) - set(known))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known keys: {', '.join(known)}"
        )
    for key, value in document.items():
        if key == VERIFY_EVERY_KEY:
            if type(value) is not int or not 0 <= value <= MAX_VERIFY_EVERY_DAYS:
                raise ConfigError(
                    f"config file {path}: {key} must be a whole number of days from 0 (never "
                    f"due) to {MAX_VERIFY_EVERY_DAYS}"
                )
        elif not isinstance(value, str) or not value:
            raise ConfigError(f"config file {path}: {key} must be a non-empty string")
    _refuse_shared_passwords(path, document)
    if document.get("mode", "managed") not in MODES:
        raise ConfigError(f"config file {path}: mode must be one of {', '.join(MODES)}")
    return dict(document)


def open_backup(ctx: click.Context, *, operator: bool = False) -> WalletBackup:
    """A :class:`WalletBackup` on the configured store and KMS, closed when the command ends.

    ``operator``: the command acts on the custodian's store (check, prune, forget), so it is
    refused when the device commands go to a custodian service.
    """
    from walletbackup.api import WalletBackup  # noqa: PLC0415 - keeps --help free of cryptography

    if operator:
        _refuse_service(ctx)
    settings = _globals(ctx)
    resolved = settings.settings()
    service = settings.service()
    if service is None:
        where: dict[str, Any] = {"store": resolved["store"], "kms": resolved["kms"]}
    else:
        if settings.store or settings.kms:
            raise ConfigError("--store and --kms are the service's business: not with --custodian")
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise ConfigError(
                f"a custodian service needs your user token in ${TOKEN_ENV} (your application's "
                "backend mints it); it is never taken from the command line"
            )
        where = {"custodian": service, "token": token}
    backup = WalletBackup(mode=resolved["mode"], verify_every=settings.verify_every(), **where)
    ctx.call_on_close(backup.close)
    return backup


def through_service(ctx: click.Context) -> bool:
    """Whether the device commands talk to a custodian service (``--custodian``)."""
    return _globals(ctx).service() is not None


def open_custodian(ctx: click.Context) -> Custodian:
    """The custodian on the configured store and KMS (for the operator's commands)."""
    from walletbackup.custodian import Custodian  # noqa: PLC0415 - see open_backup

    _refuse_service(ctx)
    resolved = _globals(ctx).settings()
    custodian = Custodian(store=resolved["store"], kms=resolved["kms"])
    ctx.call_on_close(custodian.close)
    return custodian


def open_kms(ctx: click.Context) -> KmsProvider:
    """The configured KMS alone (no store is opened)."""
    from walletbackup.custodian import open_kms as open_url  # noqa: PLC0415 - see open_backup

    _refuse_service(ctx)
    return open_url(_globals(ctx).settings()["kms"])


def _refuse_service(ctx: click.Context) -> None:
    if through_service(ctx):
        raise ConfigError(
            "operator commands act on a store and KMS of this machine, not on a custodian "
            "service: run them where the service runs (see `walletbackup server --help`)"
        )


def _globals(ctx: click.Context) -> Globals:
    settings = ctx.find_object(Globals)
    assert settings is not None  # the group always sets it
    return settings
