"""The file store's audit log: segments in append order, and an index per wallet.

Layout of ``<store>/audit/`` (directories 0700, files 0600):

``<n>.seg`` (``n``: ten digits, from 1)
    A segment: a 16-byte header (``WBAUDIT2`` and the big-endian u64 seq of its first record),
    then frames. A frame is the u32 length of its body, the CRC-32 of the body, the body, and
    the length again, so the last frame is checked from the end of the file without reading
    the rest. A body is the record's u64 seq, its time (i64 microseconds since 1970 UTC), a
    flags byte (1: it names a wallet; 2: pruned), the u16 length of the wallet id, the UTF-8
    wallet id and the record. Appends go to the last segment; once it holds
    :data:`SEGMENT_BYTES`, the next append opens a new one.
``CURRENT``
    The number of the last segment when it was opened. A process that finds segment ``n + 1``
    moves on to it (a crash between making a segment and writing ``CURRENT`` costs nothing).
``wallets/<sha256>.idx``
    Per wallet (hex SHA-256 of its id): 16-byte entries, the u64 seq, u32 segment and u32
    offset of each of its records, in seq order. So one wallet's history is read without
    reading anyone else's.

An append, under the log's lock: the index entry (fsynced), then the frame (fsynced). A reader
checks each index entry against its frame (seq, wallet, checksum), so an entry whose frame a
crash kept from being written is skipped, and the next append takes its seq again. A frame cut
short by a killed writer is found from the end of its segment (the trailing length does not
match) and cut off before the next append; that scan reads one segment at most.

Pruning rewrites a segment with its pruned frames blanked in place (same length, flag 2, no
wallet, no record), so every other frame keeps its offset and every reader's ``seq`` cursor
stays valid; a segment with nothing left (but the last) is deleted; then the wallets' indexes
drop the entries of pruned records.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from walletbackup import files
from walletbackup.errors import StorageError
from walletbackup.stores.base import AuditEntry, check_paging, utc
from walletbackup.stores.locking import wallet_key

#: A segment takes no more appends once it holds this many bytes.
SEGMENT_BYTES = 4 << 20
#: The largest record the log takes.
MAX_RECORD = 1 << 20

_MAGIC = b"WBAUDIT2"
_SEGMENT_HEADER = struct.Struct(">8sQ")
_HEAD = struct.Struct(">II")  # body length, CRC-32 of the body
_TAIL = struct.Struct(">I")  # body length
_BODY = struct.Struct(">QqBH")  # seq, at (µs), flags, wallet id length
_ENTRY = struct.Struct(">QII")  # seq, segment, offset
_NAMES_WALLET = 1
_PRUNED = 2
_OVERHEAD = _HEAD.size + _TAIL.size
_MAX_BODY = _BODY.size + 0xFFFF + MAX_RECORD
_SEGMENT_NAME = re.compile(r"([0-9]{10})\.seg")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_TIME = datetime.min.replace(tzinfo=UTC)

#: Gives the store's lock on the audit log, for one step of a prune.
LockFactory = Callable[[], AbstractContextManager[None]]


def _micros(at: datetime) -> int:
    return (utc(at) - _EPOCH) // timedelta(microseconds=1)


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _segment_name(number: int) -> str:
    return f"{number:010d}.seg"


@dataclass(frozen=True)
class _Frame:
    offset: int
    length: int  # of the whole frame
    seq: int
    at: int
    flags: int
    wallet_id: str | None
    record: bytes


class _Tail:
    """The appender's view of the last segment: its descriptor, inode, good end and next seq."""

    def __init__(self, number: int, fd: int, inode: int, end: int, next_seq: int) -> None:
        self.number, self.fd, self.inode, self.end, self.next_seq = number, fd, inode, end, next_seq


class AuditLog:
    """The audit log in ``directory``. Appends and pruning need the store's lock on the log
    (the caller holds it); reading needs no lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tail: _Tail | None = None
        self._segments = _Segments(directory)

    # --- appending ---------------------------------------------------------------------------

    def create(self) -> None:
        """Make an empty log (the directory must not hold one)."""
        files.private_dir(self.directory)  # each 0700: mkdir's parents=True would not be
        files.private_dir(self.directory / "wallets")
        self._new_segment(1, 1)
        files.write_private(self.directory / "CURRENT", b"1\n")

    def append(
        self, record: bytes, wallet_id: str | None, at: datetime, *, durable: bool = True
    ) -> int:
        """Append one record (the log's lock held by the caller); return its seq."""
        if not 0 < len(record) <= MAX_RECORD:
            raise StorageError(
                f"an audit record must hold 1 to {MAX_RECORD} bytes, not {len(record)}"
            )
        tail = self._current()
        if tail.end >= SEGMENT_BYTES:
            tail = self._rotate(tail)
        seq = tail.next_seq
        frame = _frame(seq, _micros(at), wallet_id, record)
        if wallet_id is not None:
            self._index(wallet_id, (seq, tail.number, tail.end), durable=durable)
        os.pwrite(tail.fd, frame, tail.end)
        if durable:
            os.fsync(tail.fd)
        tail.end += len(frame)
        tail.next_seq += 1
        return seq

    def flush(self) -> None:
        """Make appends made with ``durable=False`` durable (the whole log directory)."""
        for path in self.directory.rglob("*"):
            if path.is_file():
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        files.fsync_dir(self.directory / "wallets")
        files.fsync_dir(self.directory)

    def close(self) -> None:
        self._segments.close()
        if self._tail is not None:
            os.close(self._tail.fd)
            self._tail = None

    def _current(self) -> _Tail:
        """The last segment, its good end and next seq: O(1) unless a torn frame is cut off."""
        tail = self._tail
        number = tail.number if tail is not None else _read_current(self.directory)
        while (self.directory / _segment_name(number + 1)).exists():
            number += 1  # another process opened a new segment
        path = self.directory / _segment_name(number)
        st = os.stat(path)
        if tail is not None and (tail.number, tail.inode, tail.end) == (
            number,
            st.st_ino,
            st.st_size,
        ):
            return tail
        self.close()
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            end, next_seq = _good_end(fd, path)
        except BaseException:
            os.close(fd)
            raise
        self._tail = _Tail(number, fd, os.fstat(fd).st_ino, end, next_seq)
        return self._tail

    def _rotate(self, tail: _Tail) -> _Tail:
        number = tail.number + 1
        self._new_segment(number, tail.next_seq)
        files.write_private(self.directory / "CURRENT", b"%d\n" % number)
        return self._current()

    def _new_segment(self, number: int, first_seq: int) -> None:
        with suppress(FileExistsError):  # made by a rotation that crashed before CURRENT
            files.write_private(
                self.directory / _segment_name(number),
                _SEGMENT_HEADER.pack(_MAGIC, first_seq),
                replace=False,
            )

    def _index(self, wallet_id: str, entry: tuple[int, int, int], *, durable: bool) -> None:
        path = self._index_path(wallet_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd).st_size
            whole = size - size % _ENTRY.size  # a partial entry a killed writer left
            if whole != size:
                os.ftruncate(fd, whole)
            os.pwrite(fd, _ENTRY.pack(*entry), whole)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if durable and size == 0:
            files.fsync_dir(path.parent)  # a new index file: its name must last too

    def _index_path(self, wallet_id: str) -> Path:
        return self.directory / "wallets" / (wallet_key(wallet_id).hex() + ".idx")

    # --- reading -----------------------------------------------------------------------------

    def records(
        self, wallet_id: str | None = None, after: int = 0, limit: int | None = None
    ) -> Iterator[AuditEntry]:
        check_paging(after, limit)
        if limit == 0:
            return iter(())
        if wallet_id is None:
            return self._all(after, limit)
        return self._of_wallet(wallet_id, after, limit)

    def _of_wallet(self, wallet_id: str, after: int, limit: int | None) -> Iterator[AuditEntry]:
        try:
            data = self._index_path(wallet_id).read_bytes()
        except FileNotFoundError:
            return
        entries = sorted(set(_ENTRY.iter_unpack(data[: len(data) - len(data) % _ENTRY.size])))
        found = 0
        for seq, number, offset in entries:
            if seq <= after:
                continue
            frame = self._segments.frame_at(number, offset)
            if (
                frame is None
                or frame.seq != seq
                or frame.flags & _PRUNED
                or frame.wallet_id != wallet_id
            ):
                continue  # a crash kept the frame from being written, or it was pruned
            yield _entry(frame)
            found += 1
            if limit is not None and found >= limit:
                return

    def _all(self, after: int, limit: int | None) -> Iterator[AuditEntry]:
        numbers = segment_numbers(self.directory)
        start = _first_segment_after(self.directory, numbers, after)
        found = 0
        for number in numbers[start:]:
            path = self.directory / _segment_name(number)
            try:
                f = open(path, "rb")  # noqa: SIM115 - the with below closes it
            except FileNotFoundError:  # pruned since the listing
                continue
            with f:
                for frame in _frames(f, path):
                    if frame.seq <= after or frame.flags & _PRUNED:
                        continue
                    yield _entry(frame)
                    found += 1
                    if limit is not None and found >= limit:
                        return

    # --- pruning -----------------------------------------------------------------------------

    def prune(self, before: datetime, through: int | None, locked: LockFactory) -> int:
        """Blank or delete the records made before ``before`` (``seq <= through``)."""
        cut = _micros(before)
        pruned: set[int] = set()
        for number in segment_numbers(self.directory):
            with locked():
                pruned |= self._prune_segment(number, cut, through)
        if pruned:
            self._prune_indexes(pruned, locked)
        return len(pruned)

    def _prune_segment(self, number: int, cut: int, through: int | None) -> set[int]:
        path = self.directory / _segment_name(number)
        try:
            f = open(path, "rb")  # noqa: SIM115 - the with below closes it
        except FileNotFoundError:
            return set()
        with f:
            header = f.read(_SEGMENT_HEADER.size)
            frames = list(_frames(f, path))
        live = [fr for fr in frames if not fr.flags & _PRUNED]
        gone = {fr.seq for fr in live if fr.at < cut and (through is None or fr.seq <= through)}
        if not gone:
            return gone
        last = not (self.directory / _segment_name(number + 1)).exists()
        if len(gone) == len(live) and not last:
            path.unlink()
        else:
            body = b"".join(_blank(fr) if fr.seq in gone else _encode(fr) for fr in frames)
            files.write_private(path, header + body)  # readers keep the file they opened
        files.fsync_dir(self.directory)
        return gone

    def _prune_indexes(self, pruned: set[int], locked: LockFactory) -> None:
        directory = self.directory / "wallets"
        with os.scandir(directory) as listing:
            paths = [Path(e.path) for e in listing if e.name.endswith(".idx")]
        for path in paths:
            with locked():
                data = path.read_bytes()
                entries = list(_ENTRY.iter_unpack(data[: len(data) - len(data) % _ENTRY.size]))
                kept = [e for e in entries if e[0] not in pruned]
                if len(kept) == len(entries):
                    continue
                if kept:
                    files.write_private(path, b"".join(_ENTRY.pack(*e) for e in kept))
                else:
                    path.unlink()
        files.fsync_dir(directory)


class _Segments:
    """Segments kept open for reading (the most recently used ones), so reading one wallet's
    records costs the same however many segments the log has. A segment pruned since it was
    opened (deleted, or replaced: another inode) is opened again, or found gone."""

    KEPT = 32

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.mutex = threading.Lock()
        self.open: OrderedDict[int, tuple[int, int]] = OrderedDict()  # number: (fd, inode)

    def frame_at(self, number: int, offset: int) -> _Frame | None:
        path = self.directory / _segment_name(number)
        with self.mutex:
            try:
                inode = os.stat(path).st_ino
            except FileNotFoundError:
                return None  # pruned whole
            held = self.open.get(number)
            if held is None or held[1] != inode:
                if held is not None:
                    os.close(self.open.pop(number)[0])
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    return None
                held = self.open[number] = (fd, os.fstat(fd).st_ino)
                while len(self.open) > self.KEPT:
                    os.close(self.open.popitem(last=False)[1][0])
            self.open.move_to_end(number)
            fd = held[0]
        head = os.pread(fd, _HEAD.size, offset)
        size = _HEAD.unpack(head)[0] if len(head) == _HEAD.size else 0
        if not _BODY.size <= size <= _MAX_BODY:
            return None
        return _read_frame(
            io.BytesIO(head + os.pread(fd, size + _TAIL.size, offset + _HEAD.size)), offset
        )

    def close(self) -> None:
        with self.mutex:
            for fd, _ in self.open.values():
                os.close(fd)
            self.open.clear()


def segment_numbers(directory: Path) -> list[int]:
    with os.scandir(directory) as listing:
        return sorted(int(m[1]) for e in listing if (m := _SEGMENT_NAME.fullmatch(e.name)))


def _first_segment_after(directory: Path, numbers: list[int], after: int) -> int:
    """The index in ``numbers`` of the segment holding the first seq above ``after``."""
    low, high = 0, len(numbers)
    while high - low > 1:  # the last segment whose first seq is <= after + 1
        middle = (low + high) // 2
        first = _first_seq(directory / _segment_name(numbers[middle]))
        if first is not None and first <= after + 1:
            low = middle
        else:
            high = middle
    return low


def _first_seq(path: Path) -> int | None:
    try:
        with open(path, "rb") as f:
            magic, first = _SEGMENT_HEADER.unpack(f.read(_SEGMENT_HEADER.size))
    except (FileNotFoundError, struct.error):
        return None
    return first if magic == _MAGIC else None


def _read_current(directory: Path) -> int:
    try:
        text = (directory / "CURRENT").read_bytes()
    except FileNotFoundError:
        return 1
    match = re.fullmatch(rb"([1-9][0-9]{0,9})\n", text)
    if match is None:
        raise _damaged(directory / "CURRENT", "it does not hold a segment number")
    return int(match[1])


def _damaged(path: Path, why: str) -> StorageError:
    return StorageError(
        f"{path} is damaged ({why}); restore it from a backup or move it out of the store directory"
    )


def _frame(seq: int, at: int, wallet_id: str | None, record: bytes) -> bytes:
    wallet = b"" if wallet_id is None else wallet_id.encode("utf-8")
    flags = 0 if wallet_id is None else _NAMES_WALLET
    body = _BODY.pack(seq, at, flags, len(wallet)) + wallet + record
    return _HEAD.pack(len(body), zlib.crc32(body)) + body + _TAIL.pack(len(body))


def _encode(frame: _Frame) -> bytes:
    if frame.flags & _PRUNED:
        return _blank(frame)
    return _frame(frame.seq, frame.at, frame.wallet_id, frame.record)


def _blank(frame: _Frame) -> bytes:
    """A pruned frame: the same length, its seq and time kept, nothing else."""
    size = frame.length - _OVERHEAD
    body = _BODY.pack(frame.seq, frame.at, _PRUNED, 0).ljust(size, b"\x00")
    return _HEAD.pack(size, zlib.crc32(body)) + body + _TAIL.pack(size)


def _entry(frame: _Frame) -> AuditEntry:
    return AuditEntry(frame.seq, _time(frame.at), frame.wallet_id, frame.record)


def _read_frame(f: IO[bytes], offset: int) -> _Frame | None:
    """The whole, intact frame at ``offset`` (where ``f`` is), or None."""
    head = f.read(_HEAD.size)
    size, crc = _HEAD.unpack(head) if len(head) == _HEAD.size else (0, 0)
    if not _BODY.size <= size <= _MAX_BODY:
        return None
    rest = f.read(size + _TAIL.size)
    body = rest[:size]
    if (
        len(rest) < size + _TAIL.size
        or zlib.crc32(body) != crc
        or _TAIL.unpack(rest[size:])[0] != size
    ):
        return None
    seq, at, flags, wallet_size = _BODY.unpack_from(body)
    wallet_end = _BODY.size + wallet_size
    try:
        wallet_id = body[_BODY.size : wallet_end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if wallet_end > size:
        return None
    return _Frame(
        offset,
        size + _OVERHEAD,
        seq,
        at,
        flags,
        wallet_id if flags & _NAMES_WALLET else None,
        body[wallet_end:],
    )


def _frames(f: IO[bytes], path: Path) -> Iterator[_Frame]:
    """Every intact frame of a segment, from its start; stops at a torn last frame."""
    f.seek(0)
    header = f.read(_SEGMENT_HEADER.size)
    if len(header) < _SEGMENT_HEADER.size or header[:8] != _MAGIC:
        raise _damaged(path, "it has no segment header")
    offset = _SEGMENT_HEADER.size
    while True:
        frame = _read_frame(f, offset)
        if frame is None:
            if f.seek(0, os.SEEK_END) > offset and _intact_after(f, offset):
                raise _damaged(
                    path, f"no valid audit frame at byte {offset}; the ones before it are intact"
                )
            return
        yield frame
        offset += frame.length
        f.seek(offset)


def _intact_after(f: IO[bytes], offset: int) -> bool:
    """Whether a whole frame ends the segment after a bad one at ``offset`` (damage, not a
    torn tail: a killed writer only ever leaves its own last frame incomplete)."""
    size = f.seek(0, os.SEEK_END)
    if size - offset < _OVERHEAD + _BODY.size:
        return False
    f.seek(size - _TAIL.size)
    length = _TAIL.unpack(f.read(_TAIL.size))[0]
    start = size - _OVERHEAD - length
    if start <= offset:
        return False
    f.seek(start)
    return _read_frame(f, start) is not None


def _good_end(fd: int, path: Path) -> tuple[int, int]:
    """Where the last segment's whole frames end, and the next seq; a torn tail is cut off."""
    with open(fd, "rb", closefd=False) as f:
        header = f.read(_SEGMENT_HEADER.size)
        if len(header) < _SEGMENT_HEADER.size or header[:8] != _MAGIC:
            raise _damaged(path, "it has no segment header")
        first_seq = _SEGMENT_HEADER.unpack(header)[1]
        size = f.seek(0, os.SEEK_END)
        if size == _SEGMENT_HEADER.size:
            return size, first_seq
        if size >= _SEGMENT_HEADER.size + _OVERHEAD:
            f.seek(size - _TAIL.size)
            start = size - _OVERHEAD - _TAIL.unpack(f.read(_TAIL.size))[0]
            if start >= _SEGMENT_HEADER.size:
                f.seek(start)
                last = _read_frame(f, start)
                if last is not None:
                    return size, last.seq + 1
        end, next_seq = _SEGMENT_HEADER.size, first_seq  # torn: find the last whole frame
        for frame in _frames(f, path):
            end, next_seq = frame.offset + frame.length, frame.seq + 1
    os.ftruncate(fd, end)
    os.fsync(fd)
    return end, next_seq


# --- the layout-1 log (a single audit.log), read by the migration and by read-only stores -----

_LEGACY_FRAME = struct.Struct(">II")


def legacy_records(path: Path) -> Iterator[tuple[bytes, str | None, datetime | None]]:
    """``(record, wallet id, time)`` of every whole frame of a layout-1 ``audit.log``; the
    wallet and time are read from the record (canonical JSON), when it has them."""
    import json  # noqa: PLC0415 - only old stores need it

    try:
        f = open(path, "rb")  # noqa: SIM115 - the with below closes it
    except FileNotFoundError:
        return
    with f:
        offset = 0
        while True:
            header = f.read(_LEGACY_FRAME.size)
            if len(header) < _LEGACY_FRAME.size:
                return
            length, crc = _LEGACY_FRAME.unpack(header)
            if not 0 < length <= MAX_RECORD:
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
            offset += _LEGACY_FRAME.size + length
            try:
                fields = json.loads(record)
            except ValueError:
                fields = None
            wallet = fields.get("wallet_id") if isinstance(fields, dict) else None
            at = fields.get("at") if isinstance(fields, dict) else None
            yield record, wallet if isinstance(wallet, str) else None, _parse_time(at)


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return utc(datetime.fromisoformat(text))
    except (ValueError, StorageError):
        return None


def legacy_entries(
    path: Path, wallet_id: str | None, after: int, limit: int | None
) -> Iterator[AuditEntry]:
    """A layout-1 log as entries: seq is the record's position (from 1)."""
    check_paging(after, limit)
    found = 0
    for seq, (record, wallet, at) in enumerate(legacy_records(path), start=1):
        if limit is not None and found >= limit:
            return
        if seq <= after or (wallet_id is not None and wallet != wallet_id):
            continue
        found += 1
        yield AuditEntry(seq, at or _NO_TIME, wallet, record)


def import_legacy(
    log: AuditLog, records: Iterable[tuple[bytes, str | None, datetime | None]]
) -> None:
    """Append a layout-1 log's records to a new log, in order, then make it all durable. A
    record without a time gets the earliest there is, so any prune takes it."""
    for record, wallet_id, at in records:
        log.append(record, wallet_id, at or _NO_TIME, durable=False)
    log.flush()


def remove_tree(path: Path) -> None:
    """Remove what a migration that died midway left."""
    shutil.rmtree(path, ignore_errors=False)


__all__ = [
    "MAX_RECORD",
    "SEGMENT_BYTES",
    "AuditLog",
    "import_legacy",
    "legacy_entries",
    "legacy_records",
    "remove_tree",
    "segment_numbers",
]
