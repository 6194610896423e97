"""The file store: a directory with one file per wallet.

Layout (the directory is created 0700, every file 0600):

``FORMAT``
    The layout version: ASCII digits and a newline (``1\\n``). A newer version is refused.
``LOCK``
    The lock file: one byte per wallet and one for the audit log (see ``locking``).
``<sha256>.wbdoc``
    A wallet's document; ``<sha256>`` is the hex SHA-256 of the UTF-8 wallet id. One header line,
    ASCII JSON ``{"length":<n>,"wallet_id":"<id>"}`` then ``\\n``, then the ``n`` document bytes.
    The header maps the file back to its wallet (for ``wallets()``) and shows a damaged file.
``audit.log``
    The audit records, appended: each a 4-byte big-endian length, the 4-byte big-endian CRC-32
    of the record, then the record. A frame cut short by a killed process is ignored when
    reading and cut off before the next append.
``<sha256>.<random>.tmp``, ``FORMAT.<random>.tmp``
    A file being written. Every replace creates one exclusively, fsyncs it, renames it over its
    target and fsyncs the directory, so a crash leaves the old file or the new one. A killed
    process can leave one behind: readers ignore it; the next save or delete of that wallet
    removes it (a ``FORMAT`` one, left only by a first open killed midway, may be deleted).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import IO

from walletbackup import files
from walletbackup.errors import StorageError
from walletbackup.stores.base import Store
from walletbackup.stores.locking import LockFile, wallet_key
from walletbackup.stores.urls import local_path, make_private_dir

_FORMAT = "FORMAT"
_LOCK = "LOCK"
_AUDIT = "audit.log"
_SUFFIX = ".wbdoc"
_DOC_NAME = re.compile(r"([0-9a-f]{64})\.wbdoc")
_MAX_HEADER = 1 << 20
_MAX_RECORD = 1 << 20
_FRAME = struct.Struct(">II")
# The audit log's lock key: no wallet id hashes from these bytes (0xFF never occurs in UTF-8).
_AUDIT_KEY = hashlib.sha256(b"\xffaudit.log").digest()


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _damaged(path: Path, why: str) -> StorageError:
    return StorageError(
        f"{path} is damaged ({why}); restore it from a backup or move it out of the store directory"
    )


class FileStore(Store):
    """``file:///abs/dir`` or ``file:relative/dir``: a directory, created if missing."""

    scheme = "file"

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        super().__init__(url)
        self.path = local_path(url)
        self._timeout = timeout
        # How far audit.log (by device and inode) is known to hold whole frames; audit lock held.
        self._audit_good: tuple[tuple[int, int], int] = ((0, 0), 0)
        make_private_dir(self.path)
        self._check_format()
        self._locks = LockFile(self.path / _LOCK)

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(
                f"cannot {action} in the store directory {self.path}: {exc.strerror or exc}; "
                "check that this user can write it and that the disk has space"
            ) from exc

    def _check_format(self) -> None:
        target = self.path / _FORMAT
        with self._translated("read or create the FORMAT file"):
            try:
                text = target.read_bytes()
            except FileNotFoundError:
                self._write_atomic(target, _FORMAT, b"%d\n" % self.schema_version, replace=False)
                text = target.read_bytes()
        match = re.fullmatch(rb"([1-9][0-9]{0,8})\n", text)
        if match is None:
            raise _damaged(target, "it does not hold a format version")
        version = int(match[1])
        if version > self.schema_version:
            raise StorageError(
                f"the store directory {self.path} has format version {version}, newer than the "
                f"{self.schema_version} this walletbackup understands: upgrade walletbackup"
            )

    def _write_atomic(self, target: Path, prefix: str, content: bytes, *, replace: bool) -> None:
        """Write ``target`` whole or not at all; without ``replace``, an existing one wins."""
        with suppress(FileExistsError):  # without replace: another process wrote it first
            files.write_private(target, content, replace=replace, temp_prefix=prefix)

    def _remove_leftovers(self, name: str) -> None:
        prefix = name + "."
        with os.scandir(self.path) as entries:
            stale = [e.path for e in entries if e.name.startswith(prefix) and e.name[-4:] == ".tmp"]
        for path in stale:
            with suppress(FileNotFoundError):
                os.unlink(path)

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

    def lock(self, wallet_id: str) -> AbstractContextManager[None]:
        return self._locks.hold(wallet_key(wallet_id), self._timeout, f"wallet {wallet_id!r}")

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
        header = json.dumps(
            {"length": len(document), "wallet_id": wallet_id},
            ensure_ascii=True,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("ascii")
        with self._translated("save a wallet document"):
            self._write_atomic(
                self.path / (name + _SUFFIX), name, header + b"\n" + document, replace=True
            )
            self._remove_leftovers(name)

    def delete(self, wallet_id: str) -> None:
        name = wallet_key(wallet_id).hex()
        with self._translated("delete a wallet document"):
            self._remove_leftovers(name)
            try:
                os.unlink(self.path / (name + _SUFFIX))
            except FileNotFoundError:
                return
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

    def append_audit(self, record: bytes) -> None:
        if not 0 < len(record) <= _MAX_RECORD:
            raise StorageError(
                f"an audit record must hold 1 to {_MAX_RECORD} bytes, not {len(record)}"
            )
        frame = _FRAME.pack(len(record), zlib.crc32(record)) + record
        path = self.path / _AUDIT
        with (
            self._locks.hold(_AUDIT_KEY, self._timeout, "the audit log"),
            self._translated("append to the audit log"),
        ):
            created = not path.exists()
            with open(path, "a+b", opener=_private) as f:
                end = self._good_end(f, path)
                if f.seek(0, os.SEEK_END) != end:
                    f.truncate(end)  # a frame torn by a killed writer: never append after it
                f.write(frame)
                f.flush()
                os.fsync(f.fileno())
                self._audit_good = (self._audit_good[0], end + len(frame))
            if created:
                files.fsync_dir(self.path)

    def audit_records(self) -> Iterator[bytes]:
        path = self.path / _AUDIT
        with self._translated("read the audit log"):
            try:
                f = open(path, "rb")  # noqa: SIM115 - the with below closes it
            except FileNotFoundError:
                return
            with f:
                # Frames before the good end never change, so they are read without the lock.
                with self._locks.hold(_AUDIT_KEY, self._timeout, "the audit log"):
                    end = self._good_end(f, path)
                for offset, record in self._frames(f, path, 0):
                    if offset > end:
                        return
                    yield record

    def _good_end(self, f: IO[bytes], path: Path) -> int:
        """Where the whole frames of the audit log end. The audit lock is held."""
        st = os.fstat(f.fileno())
        inode, known = self._audit_good
        end = known if inode == (st.st_dev, st.st_ino) and known <= st.st_size else 0
        for frame_end, _ in self._frames(f, path, end):
            end = frame_end
        self._audit_good = ((st.st_dev, st.st_ino), end)
        return end

    def _frames(self, f: IO[bytes], path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
        """``(end offset, record)`` of each whole frame from ``offset``; stops at a torn tail."""
        f.seek(offset)
        while True:
            header = f.read(_FRAME.size)
            if len(header) < _FRAME.size:
                return
            length, crc = _FRAME.unpack(header)
            if not 0 < length <= _MAX_RECORD:
                raise _damaged(
                    path, f"no valid audit frame at byte {offset}; the ones before it are intact"
                )
            record = f.read(length)
            if len(record) < length:
                return
            if zlib.crc32(record) != crc:
                if not f.read(1):  # the last frame: torn while being written
                    return
                raise _damaged(
                    path,
                    f"bad checksum in the audit frame at byte {offset}; the ones "
                    "before it are intact",
                )
            offset += _FRAME.size + length
            yield offset, record

    def close(self) -> None:
        self._locks.close()


__all__ = ["FileStore"]
