"""``postgresql://`` store URLs: what libpq connects with, what may be shown, the store's options.

A store URL is a libpq connection URI (``postgresql://`` or ``postgres://``) plus query
parameters of the store's own, removed before libpq sees the URL:

- ``namespace=NAME`` (``[a-z_][a-z0-9_]{0,40}``, default ``walletbackup``): the prefix of the
  store's tables, so several stores share one database without seeing each other's data;
- ``pool_size=N`` (1..100, default 10): the most connections the store opens at once;
- ``timeout=SECONDS`` (1..300, default 30): the longest a call waits for a connection or a
  wallet's lock before it fails with :class:`StorageError` (during a database outage, how long a
  request waits before its error).

A password (in the user part, or a ``password=``/``sslpassword=`` parameter) reaches libpq and
nothing else: the URL shown in ``repr``, :attr:`PostgresUrl.shown`, has none, and error texts
are scrubbed of it.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from walletbackup.errors import StorageError

SCHEMES = ("postgresql", "postgres")
DEFAULT_NAMESPACE = "walletbackup"
DEFAULT_POOL_SIZE = 10
MAX_POOL_SIZE = 100
MAX_TIMEOUT = 300
NAMESPACE = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_DIGITS = re.compile(r"[0-9]{1,3}")
_SECRET_PARAMS = frozenset({"password", "sslpassword"})
_USAGE = (
    "use postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?namespace=NAME&pool_size=N"
    "&timeout=SECONDS] "
    "(or postgresql:///DATABASE?host=/socket/dir)"
)


@dataclass(frozen=True)
class PostgresUrl:
    """A parsed store URL."""

    #: The URL libpq gets: the store's own parameters removed, the password kept.
    conninfo: str = field(repr=False)
    #: The URL without any password or pool size, the namespace explicit: the store's location.
    shown: str
    namespace: str
    pool_size: int
    #: Seconds to wait for a connection or a lock; ``None``: the store's default.
    timeout: float | None
    #: The password texts (as written and decoded) that no message may show.
    secrets: tuple[str, ...] = field(repr=False)

    def scrub(self, text: str) -> str:
        """``text`` with every password in it replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def parse(url: str) -> PostgresUrl:
    """Split a store URL into what connects and what is shown; a bad URL is a StorageError
    whose text holds no part of the URL (it may hold a password)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise StorageError(f"malformed PostgreSQL store URL; {_USAGE}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise StorageError(f"not a PostgreSQL store URL (scheme {parts.scheme!r}); {_USAGE}")
    if parts.fragment or "#" in url:
        raise StorageError(f"malformed PostgreSQL store URL: no #fragment allowed; {_USAGE}")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    secrets = {password, urllib.parse.unquote(password)} if colon else set()
    namespace, pool_size = DEFAULT_NAMESPACE, DEFAULT_POOL_SIZE
    timeout: float | None = None
    passed: list[tuple[str, str]] = []
    shown_params: list[tuple[str, str]] = []
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name == "namespace":
            namespace = _namespace(value)
        elif name == "pool_size":
            pool_size = _pool_size(value)
        elif name == "timeout":
            timeout = _timeout(value)
        else:
            passed.append((name, value))
            if name in _SECRET_PARAMS:
                secrets.add(value)
            else:
                shown_params.append((name, value))
    shown_netloc = f"{user}{at}{hosts}" if user else hosts
    shown_query = urllib.parse.urlencode([*shown_params, ("namespace", namespace)])
    return PostgresUrl(
        conninfo=urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(passed), "")
        ),
        shown=urllib.parse.urlunsplit(("postgresql", shown_netloc, parts.path, shown_query, "")),
        namespace=namespace,
        pool_size=pool_size,
        timeout=timeout,
        # Longest first, so a password that contains another is replaced whole.
        secrets=tuple(sorted((s for s in secrets if s), key=len, reverse=True)),
    )


def _namespace(value: str) -> str:
    if not NAMESPACE.fullmatch(value):
        raise StorageError(
            f"PostgreSQL store namespace {value!r} is not valid: it must match "
            f"{NAMESPACE.pattern} (it prefixes table names)"
        )
    return value


def _pool_size(value: str) -> int:
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_POOL_SIZE:
        raise StorageError(
            f"PostgreSQL store pool_size {value!r} is not valid: it must be a whole number "
            f"from 1 to {MAX_POOL_SIZE}"
        )
    return int(value)


def _timeout(value: str) -> float:
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_TIMEOUT:
        raise StorageError(
            f"PostgreSQL store timeout {value!r} is not valid: it must be a whole number of "
            f"seconds from 1 to {MAX_TIMEOUT}"
        )
    return float(value)


__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_POOL_SIZE", "SCHEMES", "PostgresUrl", "parse"]
