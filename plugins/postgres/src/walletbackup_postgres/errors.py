"""psycopg's errors as the core's :class:`StorageError`, with advice and without a password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from walletbackup.errors import StorageError

from .urls import PostgresUrl

if TYPE_CHECKING:
    import psycopg

# Advice by SQLSTATE, most specific first (a class is its first two characters).
_ADVICE = (
    ("57P0", "the server shut down or restarted (requests in flight fail); retry"),
    ("08", "the connection to the server was lost or refused; check that it runs, then retry"),
    ("28", "the server refused the login: check the user and password of the store URL"),
    ("3D000", "the database does not exist: create it (createdb) or fix the URL"),
    ("42501", "the PostgreSQL role lacks a privilege: grant it on the database or its tables"),
    ("25006", "the server accepts no writes (a standby?): point the store at the primary"),
    ("53", "the server is out of resources (disk, memory or connections)"),
    ("40", "the transaction was cancelled by a conflict; retry"),
)
# A failed connection carries no SQLSTATE in psycopg, only the server's text: what it says.
_CONNECT_ADVICE = (
    ("authentication failed", "28000"),
    ("no pg_hba.conf entry", "28000"),
    ("FATAL:  role", "28000"),
    ("FATAL:  database", "3D000"),
    ("the database system is", "57P03"),
)
_UNREACHABLE = (
    "cannot connect: check that the server runs and the URL's host, port, user and password"
)


def advice(error: psycopg.Error) -> str:
    """What to do about ``error``."""
    code = error.sqlstate
    if code is None:
        text = str(error)
        code = next((state for phrase, state in _CONNECT_ADVICE if phrase in text), None)
    if code is None:
        return _UNREACHABLE if type(error).__name__ == "OperationalError" else "see above"
    return next((text for prefix, text in _ADVICE if code.startswith(prefix)), "see above")


@contextmanager
def translated(url: PostgresUrl, timeout: float) -> Iterator[None]:
    """Turn psycopg's errors raised in the block into :class:`StorageError`."""
    import psycopg  # noqa: PLC0415 - imported when a store opens (see store.py)
    import psycopg_pool  # noqa: PLC0415 - likewise

    try:
        yield
    except psycopg_pool.PoolTimeout:
        raise StorageError(
            f"PostgreSQL store {url.shown}: no connection within {timeout:g} s: the server is "
            "unreachable, or all of the pool's connections stayed busy (raise pool_size)"
        ) from None
    except psycopg_pool.PoolClosed:
        raise StorageError(f"the PostgreSQL store {url.shown} is closed") from None
    except psycopg.Error as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        scrubbed = url.scrub(text)
        error = StorageError(f"PostgreSQL store {url.shown}: {scrubbed}; {advice(exc)}")
        # The original goes along as the cause unless its text holds a password.
        raise error from (exc if scrubbed == text else None)


__all__ = ["advice", "translated"]
