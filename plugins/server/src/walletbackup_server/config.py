"""Where ``walletbackup serve`` and ``walletbackup server ...`` take their settings from.

The command line, else the config file (``--config FILE``, TOML with the keys ``listen``,
``store``, ``kms``, ``state``, ``token_ttl_seconds``, ``trusted_proxies``, ``eject_delay_seconds``
and the table ``rate_limits``), else the embedded default: SQLite and a local key file in the user
data directory, the server's own documents beside the store
(:func:`walletbackup_server.state.default_state_url`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from walletbackup.errors import PolicyViolation

from .ratelimit import DEFAULT_LIMITS, GroupLimits, limits_from_config, networks
from .settings import DEFAULT_EJECT_DELAY, DEFAULT_TOKEN_TTL, Settings
from .state import default_state_url

DEFAULT_LISTEN = "127.0.0.1:8080"
_INT_KEYS = frozenset({"token_ttl_seconds", "eject_delay_seconds"})
MAX_CONFIG_BYTES = 64 * 1024


class ConfigError(click.ClickException):
    """A config file or option that does not make sense: a usage error (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class ServerConfig:
    listen: str = DEFAULT_LISTEN
    store: str = "sqlite:"
    kms: str = "local:"
    state: str | None = None
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL
    rate_limits: Mapping[str, GroupLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    trusted_proxies: tuple[str, ...] = ()
    eject_delay_seconds: int = DEFAULT_EJECT_DELAY

    def state_url(self) -> str:
        return self.state or default_state_url(self.store)

    def settings(self) -> Settings:
        return Settings(
            token_ttl_seconds=self.token_ttl_seconds,
            rate_limits=self.rate_limits,
            trusted_proxies=self.trusted_proxies,
            eject_delay_seconds=self.eject_delay_seconds,
        )

    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


def load(path: str | None, **given: str | None) -> ServerConfig:
    """The settings: ``given`` (options not ``None``) over the file at ``path`` over defaults.

    A URL given on the command line may not carry a password: every user of the machine sees a
    process's arguments, and the shell keeps them in its history. It belongs in the config file
    (readable by its owner only), or in libpq's own ``PGPASSFILE`` or ``PGPASSWORD``.
    """
    for key, value in given.items():
        if value is not None and _has_password(value):
            raise ConfigError(
                f"--{key}: a URL with a password does not go on the command line (every user "
                "of this machine can read a process's arguments): put it in the config file "
                "(mode 0600), or the password in PGPASSFILE or PGPASSWORD"
            )
    config = ServerConfig() if path is None else _from_file(Path(path))
    chosen: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    return replace(config, **chosen)


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:  # not a URL of that shape: the store or KMS says what is wrong with it
        return False


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0: any free port)."""
    host, colon, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen takes HOST:PORT (e.g. 127.0.0.1:8080), not {text!r}")
    return host, int(port)


def _from_file(path: Path) -> ServerConfig:
    try:
        data = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        document: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.name: f.type for f in fields(ServerConfig)}
    unknown = sorted(set(document) - set(known))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; known keys: "
            f"{', '.join(known)}"
        )
    abuse = _abuse_settings(
        path, document.pop("rate_limits", {}), document.pop("trusted_proxies", [])
    )
    for key, value in document.items():
        expected = int if key in _INT_KEYS else str
        if type(value) is not expected or value == "":
            raise ConfigError(f"config file {path}: {key} must be a non-empty {expected.__name__}")
    secret = [k for k, value in document.items() if isinstance(value, str) and _has_password(value)]
    if secret and path.stat().st_mode & 0o077:
        raise ConfigError(
            f"config file {path}: {', '.join(secret)} holds a password, and others may read the "
            f"file: chmod 600 {path}"
        )
    return ServerConfig(**document, **abuse)


def _abuse_settings(path: Path, limits: object, proxies: object) -> dict[str, Any]:
    """The ``rate_limits`` table and the ``trusted_proxies`` list, checked."""
    try:
        if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
            raise PolicyViolation("trusted_proxies is a list of addresses or networks")
        networks(proxies)
        return {"rate_limits": limits_from_config(limits), "trusted_proxies": tuple(proxies)}
    except PolicyViolation as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


__all__ = ["DEFAULT_LISTEN", "ConfigError", "ServerConfig", "load", "parse_listen"]
