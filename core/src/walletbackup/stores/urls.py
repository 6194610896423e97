"""Store URLs and the local paths they name.

A store URL is ``<scheme>:<location>``. For the stores that live on the local disk the location is
a path: ``sqlite:///abs/backups.db`` or ``sqlite:relative/backups.db`` (``file:`` alike). Paths are
taken literally: no percent-decoding, no ``~`` expansion; a relative path is resolved against the
working directory when the store opens, so a later ``chdir`` does not move the store.
"""

from __future__ import annotations

import re
from pathlib import Path

from walletbackup import files
from walletbackup.errors import StorageError

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def split_url(url: str) -> tuple[str, str]:
    """``(scheme, location)`` of a store URL; the scheme lower-cased."""
    scheme, colon, location = url.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise StorageError(
            f"malformed store URL {url!r}: expected <scheme>:<location>, "
            "e.g. sqlite:///var/lib/walletbackup/backups.db or file:backups"
        )
    return scheme.lower(), location


def local_path(url: str) -> Path:
    """The absolute path a ``sqlite:`` or ``file:`` URL names."""
    scheme, location = split_url(url)
    usage = f"use {scheme}:///absolute/path or {scheme}:relative/path"
    if "?" in location or "#" in location or "\x00" in location:
        raise StorageError(
            f"malformed store URL {url!r}: query strings, fragments and NUL are not supported; "
            + usage
        )
    if location.startswith("//"):
        # "//" opens an authority (a host); only the empty one of "///abs/path" is meaningful.
        if not location.startswith("///"):
            raise StorageError(f"malformed store URL {url!r}: a host is not supported; " + usage)
        location = location[2:]
    if location in ("", "/"):
        raise StorageError(f"malformed store URL {url!r}: no path; " + usage)
    return Path(location).absolute()


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if needed, mode 0700; a failure is a StorageError."""
    try:
        files.private_dir(path)
    except OSError as exc:
        raise StorageError(
            f"cannot create the store directory {path}: {exc.strerror or exc}; "
            "choose a location this user can write to"
        ) from exc


__all__ = ["local_path", "make_private_dir", "split_url"]
