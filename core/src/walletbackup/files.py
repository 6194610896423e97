"""Private files: readable by their owner only, written whole or not at all, and durably.

Everything walletbackup and its plugins keep on the local disk that someone else must not read
(store documents, sign-in tokens, session cookies, recovered shares) goes through here:

- :func:`private_dir`: a directory of mode 0700 (and its missing parents);
- :func:`write_private`: a file of mode 0600 from its first byte, replaced atomically: a temporary
  file beside it (``O_EXCL``, so never through someone else's file or link) is written, fsynced and
  renamed over it, then the directory is fsynced, so a crash leaves the old file or the new one;
- :func:`exclusive`: a lock beside a file, for read-modify-write across processes;
- :func:`read_limited`: a file's bytes up to a limit, with the mode of the very file read.

The functions raise :class:`OSError` (callers know what the file is, so they say it in their own
walletbackup error); :class:`FileTooLarge` is one, for a file over the reader's limit.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

#: The flags every file created here is opened with: no descriptor leaks into child processes.
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: What link() fails with where the file system has no hard links (FAT, some network mounts).
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})

StrPath = str | os.PathLike[str]


class FileTooLarge(OSError):
    """A file holds more bytes than the reader accepts (``strerror`` says how many at most)."""

    def __init__(self, path: StrPath, limit: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
        self.limit = limit


@dataclass(frozen=True)
class FileContents:
    """What :func:`read_limited` read, and the status of the file it was read from."""

    data: bytes
    status: os.stat_result

    @property
    def loose_mode(self) -> int | None:
        """The permission bits when this is a regular file group or others may access, else None."""
        mode = self.status.st_mode
        return stat.S_IMODE(mode) if stat.S_ISREG(mode) and mode & 0o077 else None


def private_dir(path: StrPath, *, tighten: bool = False) -> Path:
    """Create the directory ``path`` with mode 0700, and its missing parents; return it.

    An existing directory keeps its mode (it may be one the user chose, such as the working
    directory) unless ``tighten``: then it is made 0700 too, for directories only walletbackup uses.
    """
    directory = Path(path)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if tighten:
        os.chmod(directory, 0o700)
    return directory


def fsync_dir(path: StrPath) -> None:
    """Make a rename, link or unlink in the directory ``path`` durable (it is the directory's)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(
    path: StrPath, data: bytes, *, replace: bool = True, temp_prefix: str | None = None
) -> None:
    """Write ``data`` to ``path`` (mode 0600) whole or not at all, and durably.

    ``replace``: an existing file is replaced atomically. Otherwise an existing file (or link)
    wins and :class:`FileExistsError` is raised; the new file then appears whole, by a hard link
    (a file system without hard links gets the name claimed empty first, then renamed over).
    The temporary file is ``<temp_prefix>.<random>.tmp`` beside ``path`` (default prefix
    ``.<name>``); it is removed when anything fails.
    """
    target = Path(path)
    prefix = temp_prefix if temp_prefix is not None else f".{target.name}"
    # os.urandom, not secrets: the CLI imports this module at start-up, and secrets pulls in more.
    temporary = target.with_name(f"{prefix}.{os.urandom(8).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, target)
        else:
            _publish_new(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_dir(target.parent)


def _publish_new(temporary: Path, target: Path) -> None:
    """Give the written ``temporary`` the name ``target`` unless that name exists."""
    try:
        os.link(temporary, target)
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise  # FileExistsError among them: the existing file wins
        # Claiming the name with O_EXCL keeps "an existing file wins"; the rename then swaps the
        # empty claim for the whole file.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600))
        try:
            os.replace(temporary, target)
        except BaseException:
            os.unlink(target)
            raise
        return
    os.unlink(temporary)


@contextmanager
def exclusive(path: StrPath) -> Iterator[None]:
    """Hold an exclusive lock for changes to ``path`` (an ``flock`` on ``<path>.lock``).

    Processes that change one file take turns; the kernel drops the lock when its holder dies,
    however it dies. The lock file (0600) and the directory (0700) are created when missing.
    """
    target = Path(path)
    private_dir(target.parent)
    fd = os.open(f"{target}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_limited(path: StrPath, limit: int) -> FileContents:
    """Read ``path`` whole if it holds at most ``limit`` bytes (:class:`FileTooLarge` if not).

    The status is taken from the open file, so a mode checked afterwards is the mode of the
    bytes read, not of whatever the name points to by then.
    """
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(path, limit)
    return FileContents(data, status)


__all__ = [
    "FileContents",
    "FileTooLarge",
    "fsync_dir",
    "private_dir",
    "read_limited",
    "write_private",
]
