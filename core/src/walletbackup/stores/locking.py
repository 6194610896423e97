"""Per-wallet locks that exclude other processes and other threads, and die with their holder.

A wallet's lock is one byte of a lock file, at an offset taken from the SHA-256 of its id, locked
with a POSIX record lock (``fcntl.lockf``), so any number of wallets share one file and the kernel
drops the lock when the holder dies, however it dies. Record locks have two traps this module
exists to avoid:

- they belong to a process, not a thread, so a per-key thread lock orders the threads of this
  process before they reach the file;
- closing *any* descriptor of a file drops *every* record lock the process holds on it, so each
  lock file is opened once per process, shared by every store that names it (keyed by device and
  inode), and closed only when no store and no held lock uses it any more.

A store must not be carried across ``fork()``: open it again in the child.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from walletbackup.errors import StorageError

K = TypeVar("K", bound=Hashable)

# A waiter tries again after 0.1 ms, then twice as long each time up to 5 ms: a lock held for a
# few milliseconds is handed over within a fraction of that, at little CPU cost.
_POLL_FIRST = 0.0001
_POLL_MAX = 0.005


def wallet_key(wallet_id: str) -> bytes:
    """SHA-256 of the UTF-8 wallet id: the key of its lock (and its file name in a file store)."""
    if not wallet_id:
        raise StorageError("a wallet id must not be empty")
    try:
        encoded = wallet_id.encode("utf-8")
    except UnicodeEncodeError:
        raise StorageError(
            "a wallet id must be valid Unicode text (this one holds a lone surrogate)"
        ) from None
    return hashlib.sha256(encoded).digest()


def timeout_error(what: str, timeout: float, where: object) -> StorageError:
    return StorageError(
        f"gave up after {timeout:g} s waiting for the lock on {what} in {where}: another "
        "process or thread holds it; retry later, or stop the other walletbackup process"
    )


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


class KeyedLocks(Generic[K]):
    """One thread lock per key, made on first use and dropped when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._slots: dict[K, _Slot] = {}

    def acquire(self, key: K, timeout: float) -> bool:
        with self._mutex:
            slot = self._slots.setdefault(key, _Slot())
            slot.users += 1
        if slot.lock.acquire(timeout=max(timeout, 0.0)):
            return True
        self._leave(key, slot)
        return False

    def release(self, key: K) -> None:
        with self._mutex:
            slot = self._slots[key]
        slot.lock.release()
        self._leave(key, slot)

    def _leave(self, key: K, slot: _Slot) -> None:
        with self._mutex:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]

    @contextmanager
    def hold(self, key: K, timeout: float, what: str, where: object) -> Iterator[None]:
        if not self.acquire(key, timeout):
            raise timeout_error(what, timeout, where)
        try:
            yield
        finally:
            self.release(key)


class _OpenLockFile:
    """A lock file's one descriptor in this process, with the thread locks of its byte ranges."""

    def __init__(self, fd: int, inode: tuple[int, int]) -> None:
        self.fd = fd
        self.inode = inode
        self.users = 0
        self.threads: KeyedLocks[int] = KeyedLocks()


class _Registry:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._files: dict[tuple[int, int], _OpenLockFile] = {}

    def retain(self, path: Path) -> _OpenLockFile:
        with self._mutex:
            try:
                st = os.stat(path)
                shared = self._files.get((st.st_dev, st.st_ino))
            except FileNotFoundError:
                shared = None
            if shared is None:
                # Never opened twice: closing a second descriptor would drop our locks.
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                st = os.fstat(fd)
                shared = _OpenLockFile(fd, (st.st_dev, st.st_ino))
                self._files[shared.inode] = shared
            shared.users += 1
            return shared

    def again(self, shared: _OpenLockFile) -> None:
        with self._mutex:
            shared.users += 1

    def release(self, shared: _OpenLockFile) -> None:
        with self._mutex:
            shared.users -= 1
            if shared.users == 0:
                del self._files[shared.inode]
                os.close(shared.fd)


_REGISTRY = _Registry()


class LockFile:
    """A store's handle on its lock file; :meth:`hold` locks one key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._shared: _OpenLockFile | None = _REGISTRY.retain(path)
        except OSError as exc:
            raise StorageError(
                f"cannot open the lock file {path}: {exc.strerror or exc}; "
                "choose a store location this user can write to"
            ) from exc

    def close(self) -> None:
        if self._shared is not None:
            _REGISTRY.release(self._shared)
            self._shared = None

    @contextmanager
    def hold(self, key: bytes, timeout: float, what: str) -> Iterator[None]:
        """Lock ``key`` (a SHA-256 digest) for the block; ``what`` names it in errors."""
        shared = self._shared
        if shared is None:
            raise StorageError(f"the store using {self.path} is closed")
        offset = int.from_bytes(key[:8], "big") >> 1  # 63 bits: any such offset is valid
        deadline = time.monotonic() + timeout
        _REGISTRY.again(shared)  # a close() in another thread must not drop a held lock
        try:
            with shared.threads.hold(offset, timeout, what, self.path):
                self._lock_range(shared.fd, offset, deadline, timeout, what)
                try:
                    yield
                finally:
                    fcntl.lockf(shared.fd, fcntl.LOCK_UN, 1, offset)
        finally:
            _REGISTRY.release(shared)

    def _lock_range(self, fd: int, offset: int, deadline: float, timeout: float, what: str) -> None:
        # Polled rather than blocking: a blocking fcntl lock cannot be given a timeout.
        pause = _POLL_FIRST
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                return
            except (BlockingIOError, PermissionError):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise timeout_error(what, timeout, self.path) from None
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _POLL_MAX)
            except OSError as exc:
                raise StorageError(
                    f"cannot lock {what} in {self.path}: {exc.strerror or exc}; "
                    "the file system may not support POSIX locks (use a local disk)"
                ) from exc


__all__ = ["KeyedLocks", "LockFile", "timeout_error", "wallet_key"]
