"""The file store: a directory with one file per wallet, and the audit log.

Layout 2 (the directory is created 0700, every file 0600):

``FORMAT``
    The layout version: ASCII digits and a newline (``2\\n``). A newer version is refused.
``LOCK``
    The lock file: one byte per wallet and one for the audit log (see ``locking``).
``<sha256>.wbdoc``
    A wallet's document; ``<sha256>`` is the hex SHA-256 of the UTF-8 wallet id. One header line,
    ASCII JSON ``{"length":<n>,"wallet_id":"<id>"}`` then ``\\n``, then the ``n`` document bytes.
    The header maps the file back to its wallet (for ``wallets()``) and shows a damaged file.
``<sha256>.tmp``
    The wallet's document being written: created exclusively, fsynced, renamed over the
    document. One name per wallet, so the next save or delete of the wallet (which holds its
    lock) removes the one a killed process left, without listing the directory; readers
    ignore it.
``audit/``
    The audit log: segments and an index per wallet (:mod:`walletbackup.stores.filelog`).

The rename of a save inside an operation is made durable (the directory fsynced) by the
operation's sync; the document itself is fsynced before the rename, so a crash leaves the old
document or the new one either way.

Layout 1 (before this release) kept the audit log in one ``audit.log`` (frames of a length, a
CRC-32 and a record) and named temporary files ``<sha256>.<random>.tmp``. A writable store of
layout 1 is upgraded when it opens, under the audit log's lock (so a process of the old release
appending meanwhile waits): the new log is built, made durable, ``FORMAT`` is replaced (the
moment the upgrade takes effect), then ``audit.log`` and old temporary files are removed. A
read-only store of layout 1 is read as it is.

A directory this user cannot write opens read-only: reads work, writes raise.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import IO, TypeVar

from walletbackup import files
from walletbackup.errors import StorageError
from walletbackup.stores import filelog
from walletbackup.stores.base import AuditEntry, Store, check_paging, read_only_error, utc
from walletbackup.stores.locking import LockFile, wallet_key
from walletbackup.stores.urls import local_path, make_private_dir

T = TypeVar("T")

_FORMAT = "FORMAT"
_LOCK = "LOCK"
_AUDIT = "audit"
_LEGACY_AUDIT = "audit.log"
_SUFFIX = ".wbdoc"
_TEMP = ".tmp"
_DOC_NAME = re.compile(r"([0-9a-f]{64})\.wbdoc")
_LEGACY_TEMP = re.compile(r"(?:[0-9a-f]{64}|FORMAT)\.[0-9a-f]{16}\.tmp")
_MAX_HEADER = 1 << 20
# The audit log's lock key: no wallet id hashes from these bytes (0xFF never occurs in UTF-8).
_AUDIT_KEY = hashlib.sha256(b"\xffaudit.log").digest()
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _damaged(path: Path, why: str) -> StorageError:
    return StorageError(
        f"{path} is damaged ({why}); restore it from a backup or move it out of the store directory"
    )


class FileStore(Store):
    """``file:///abs/dir`` or ``file:relative/dir``: a directory, created if missing."""

    scheme = "file"
    schema_version = 2

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        super().__init__(url)
        self.path = local_path(url)
        self._timeout = timeout
        self._log = filelog.AuditLog(self.path / _AUDIT)
        #: a rename or unlink of this instance not yet made durable
        self._dir_unsynced = False
        self._locks: LockFile | None = None
        self._read_only = self.path.is_dir() and not os.access(self.path, os.W_OK)
        if self._read_only:
            format_ = self._read_format()
            if format_ is None:
                raise StorageError(f"{self.path} is read-only and holds no walletbackup store")
            self._format = format_
            return
        make_private_dir(self.path)
        self._locks = LockFile(self.path / _LOCK)
        try:
            self._format = self._open_layout()
        except BaseException:
            self._locks.close()
            raise

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(
                f"cannot {action} in the store directory {self.path}: {exc.strerror or exc}; "
                "check that this user can write it and that the disk has space"
            ) from exc

    # --- the layout ----------------------------------------------------------------------------

    def _read_format(self) -> int | None:
        target = self.path / _FORMAT
        with self._translated("read the FORMAT file"):
            try:
                text = target.read_bytes()
            except FileNotFoundError:
                return None
        match = re.fullmatch(rb"([1-9][0-9]{0,8})\n", text)
        if match is None:
            raise _damaged(target, "it does not hold a format version")
        version = int(match[1])
        if version > self.schema_version:
            raise StorageError(
                f"the store directory {self.path} has format version {version}, newer than the "
                f"{self.schema_version} this walletbackup understands: upgrade walletbackup"
            )
        return version

    def _open_layout(self) -> int:
        """The layout, made (a new store) or upgraded first if need be."""
        if self._read_format() == self.schema_version:
            return self.schema_version
        with self._hold_audit(), self._translated("set up the store directory"):
            version = self._read_format()  # again: another process may have done it
            if version == self.schema_version:
                return version
            audit = self.path / _AUDIT
            if audit.exists():
                filelog.remove_tree(audit)  # what a setup or upgrade that died left
            self._log.create()
            if version == 1:
                filelog.import_legacy(self._log, filelog.legacy_records(self.path / _LEGACY_AUDIT))
            files.write_private(
                self.path / _FORMAT, b"%d\n" % self.schema_version, temp_prefix=_FORMAT
            )
            if version == 1:
                self._remove_layout_1()
        return self.schema_version

    def _remove_layout_1(self) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.path / _LEGACY_AUDIT)
        with os.scandir(self.path) as entries:
            stale = [e.path for e in entries if _LEGACY_TEMP.fullmatch(e.name)]
        for path in stale:
            with suppress(FileNotFoundError):
                os.unlink(path)
        files.fsync_dir(self.path)

    def _hold_audit(self) -> AbstractContextManager[None]:
        if self._locks is None:
            raise read_only_error(self, "write to the audit log")
        return self._locks.hold(_AUDIT_KEY, self._timeout, "the audit log")

    def _writable(self, what: str) -> None:
        if self._read_only:
            raise read_only_error(self, what)

    # --- documents -----------------------------------------------------------------------------

    def _header(self, f: IO[bytes], path: Path, name: str) -> str:
        """Check a wallet file's header (and length); return its wallet id."""
        line = f.readline(_MAX_HEADER)
        try:
            fields = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            fields = None
        if (
            not isinstance(fields, dict)
            or sorted(fields) != ["length", "wallet_id"]
            or not isinstance(fields["wallet_id"], str)
            or type(fields["length"]) is not int
        ):
            raise _damaged(path, "no valid header line")
        wallet_id: str = fields["wallet_id"]
        try:
            owner = wallet_key(wallet_id).hex()
        except StorageError:
            owner = ""
        if owner != name:
            raise _damaged(path, "its header names a wallet that does not belong in this file")
        if os.fstat(f.fileno()).st_size != len(line) + fields["length"]:
            raise _damaged(path, "its length does not match its header")
        return wallet_id

    @property
    def location(self) -> str | None:
        return f"file://{self.path}"

    @property
    def read_only(self) -> bool:
        return self._read_only

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        key = wallet_key(wallet_id)
        if self._locks is None:
            raise read_only_error(self, f"change wallet {wallet_id!r}")
        return self._locks.hold(key, self._timeout, f"wallet {wallet_id!r}")

    def load(self, wallet_id: str) -> bytes | None:
        name = wallet_key(wallet_id).hex()
        path = self.path / (name + _SUFFIX)
        with self._translated("read a wallet document"):
            try:
                f = open(path, "rb")  # noqa: SIM115 - the with below closes it
            except FileNotFoundError:
                return None
            with f:
                self._header(f, path, name)
                return f.read()

    def save(self, wallet_id: str, document: bytes) -> None:
        name = wallet_key(wallet_id).hex()
        self._writable("save a wallet document")
        header = json.dumps(
            {"length": len(document), "wallet_id": wallet_id},
            ensure_ascii=True,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("ascii")
        with self._translated("save a wallet document"):
            self._replace(name, header + b"\n" + document)
        if not self.in_operation():
            self.sync()

    def _replace(self, name: str, content: bytes) -> None:
        temp = self.path / (name + _TEMP)
        with suppress(FileNotFoundError):
            os.unlink(temp)  # a killed save's; we hold the wallet's lock, so nobody else's
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | _NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path / (name + _SUFFIX))
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        self._dir_unsynced = True

    def delete(self, wallet_id: str) -> None:
        name = wallet_key(wallet_id).hex()
        self._writable("delete a wallet document")
        with self._translated("delete a wallet document"):
            with suppress(FileNotFoundError):
                os.unlink(self.path / (name + _TEMP))
            try:
                os.unlink(self.path / (name + _SUFFIX))
            except FileNotFoundError:
                return
            self._dir_unsynced = True
        if not self.in_operation():
            self.sync()

    def sync(self) -> None:
        if self._dir_unsynced:
            self._dir_unsynced = False  # before the fsync: a rename after it sets it again
            with self._translated("make a change durable"):
                files.fsync_dir(self.path)

    def wallets(self) -> Iterator[str]:
        found = []
        with self._translated("list the wallets"), os.scandir(self.path) as entries:
            for entry in entries:
                match = _DOC_NAME.fullmatch(entry.name)
                if match is None:
                    continue
                path = Path(entry.path)
                try:
                    f = open(path, "rb")  # noqa: SIM115 - the with below closes it
                except FileNotFoundError:  # deleted since the listing
                    continue
                with f:
                    found.append(self._header(f, path, match[1]))
        return iter(sorted(found))

    # --- audit ---------------------------------------------------------------------------------

    def append_audit(self, record: bytes, *, wallet_id: str | None, at: datetime) -> int:
        if wallet_id is not None:
            wallet_key(wallet_id)
        at = utc(at)
        self._writable("write an audit record")
        with self._hold_audit(), self._translated("append to the audit log"):
            return self._log.append(bytes(record), wallet_id, at)

    def audit_records(
        self, wallet_id: str | None = None, *, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        check_paging(after, limit)
        if self._format == 1:
            found = filelog.legacy_entries(self.path / _LEGACY_AUDIT, wallet_id, after, limit)
        else:
            found = self._log.records(wallet_id, after, limit)
        return self._translating(found, "read the audit log")

    def _translating(self, items: Iterator[T], action: str) -> Iterator[T]:
        with self._translated(action):
            yield from items

    def prune_audit(self, before: datetime, *, through: int | None = None) -> int:
        before = utc(before)
        self._writable("prune the audit log")
        with self._translated("prune the audit log"):
            return self._log.prune(before, through, self._hold_audit)

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self._log.close()
            if self._locks is not None:
                self._locks.close()


__all__ = ["FileStore"]
