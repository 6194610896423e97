"""Private files: 0700 directories, 0600 files written atomically and durably."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import StorageError


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700 if it does not exist."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the directory {path}: {exc.strerror}") from None


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a 0600 temporary file, fsync, rename, fsync the directory."""
    private_dir(path.parent)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_dir(path.parent)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {exc.strerror}") from None


def fsync_dir(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
