"""The file store's audit log: its layout, torn tails, damage, segments, the wallet indexes."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from walletbackup.errors import StorageError
from walletbackup.stores import FileStore, filelog

AT = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
AT_MICROS = (AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(directory: Path) -> Iterator[FileStore]:
    store = FileStore(f"file://{directory}")
    yield store
    store.close()


def frame(seq: int, record: bytes, wallet_id: str | None = "w", at: int = AT_MICROS) -> bytes:
    wallet = b"" if wallet_id is None else wallet_id.encode()
    body = struct.pack(">QqBH", seq, at, 0 if wallet_id is None else 1, len(wallet))
    body += wallet + record
    return struct.pack(">II", len(body), zlib.crc32(body)) + body + struct.pack(">I", len(body))


def segment(directory: Path, number: int = 1) -> Path:
    return directory / "audit" / f"{number:010d}.seg"


def index(directory: Path, wallet_id: str) -> Path:
    return (
        directory / "audit" / "wallets" / (hashlib.sha256(wallet_id.encode()).hexdigest() + ".idx")
    )


HEADER = b"WBAUDIT2" + struct.pack(">Q", 1)


def records(store: FileStore, wallet_id: str | None = None) -> list[bytes]:
    return [e.record for e in store.audit_records(wallet_id)]


def test_layout(store: FileStore, directory: Path) -> None:
    assert store.append_audit(b"one", wallet_id="w", at=AT) == 1
    assert store.append_audit(b'{"two":2}', wallet_id=None, at=AT) == 2
    assert store.append_audit(b"three", wallet_id="é", at=AT) == 3
    first = frame(1, b"one")
    second = frame(2, b'{"two":2}', None)
    assert segment(directory).read_bytes() == HEADER + first + second + frame(3, b"three", "é")
    assert (directory / "audit" / "CURRENT").read_bytes() == b"1\n"
    assert index(directory, "w").read_bytes() == struct.pack(">QII", 1, 1, 16)
    offset = 16 + len(first) + len(second)
    assert index(directory, "é").read_bytes() == struct.pack(">QII", 3, 1, offset)


class TestTornTail:
    """A frame cut short by a killed writer is ignored, and cut off before the next append."""

    @pytest.fixture
    def log(self, store: FileStore, directory: Path) -> Path:
        for record in (b"one", b"two", b"three"):
            store.append_audit(record, wallet_id="w", at=AT)
        return segment(directory)

    @pytest.mark.parametrize(
        "torn",
        [
            pytest.param(frame(4, b"four")[:3], id="part-of-header"),
            pytest.param(frame(4, b"four")[:8], id="header-only"),
            pytest.param(frame(4, b"four")[:30], id="part-of-body"),
            pytest.param(frame(4, b"four")[:-1], id="no-trailer"),
            pytest.param(frame(4, b"four")[:-5] + b"X" + frame(4, b"four")[-4:], id="bad-checksum"),
            pytest.param(b"\x00" * 40, id="zeros"),
        ],
    )
    def test_tolerated(self, directory: Path, log: Path, torn: bytes) -> None:
        whole = log.read_bytes()
        log.write_bytes(whole + torn)
        store = FileStore(f"file://{directory}")  # a handle that has not seen the log yet
        try:
            assert records(store) == [b"one", b"two", b"three"]
            assert store.append_audit(b"five", wallet_id="w", at=AT) == 4
            assert records(store, "w") == [b"one", b"two", b"three", b"five"]
        finally:
            store.close()
        assert log.read_bytes() == whole + frame(4, b"five")

    @pytest.mark.parametrize(
        "damage",
        [
            pytest.param(lambda data: data[:30] + b"X" + data[31:], id="bad-checksum"),
            pytest.param(lambda data: data[:16] + b"\xff" + data[17:], id="bad-length"),
        ],
    )
    def test_damage_before_the_tail_refused(
        self, directory: Path, log: Path, damage: object
    ) -> None:
        assert callable(damage)
        damaged = damage(log.read_bytes())
        log.write_bytes(damaged)
        store = FileStore(f"file://{directory}")
        try:
            with pytest.raises(StorageError, match=rf"{log} is damaged.*at byte 16"):
                list(store.audit_records())
        finally:
            store.close()
        assert log.read_bytes() == damaged


def test_a_new_handle_does_not_read_the_log_to_append(
    store: FileStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(50):
        store.append_audit(b"r%d" % n, wallet_id=f"w{n % 5}", at=AT)

    def scan(*args: object) -> object:
        raise AssertionError("the log was read to append")

    monkeypatch.setattr(filelog, "_frames", scan)
    other = FileStore(f"file://{directory}")
    try:
        assert other.append_audit(b"r50", wallet_id="w0", at=AT) == 51
        assert store.append_audit(b"r51", wallet_id="w1", at=AT) == 52  # after another's append
    finally:
        other.close()


def test_an_index_entry_whose_frame_never_landed_is_skipped(
    store: FileStore, directory: Path
) -> None:
    store.append_audit(b"one", wallet_id="w", at=AT)
    whole = segment(directory).read_bytes()
    store.append_audit(b"two", wallet_id="w", at=AT)
    segment(directory).write_bytes(whole)  # as if killed between the index and the frame
    fresh = FileStore(f"file://{directory}")
    try:
        assert records(fresh, "w") == [b"one"]
        assert fresh.append_audit(b"again", wallet_id="v", at=AT) == 2  # the seq is taken again
        assert records(fresh, "w") == [b"one"]  # the old entry points at another wallet's
        assert records(fresh, "v") == [b"again"]
        assert fresh.append_audit(b"three", wallet_id="w", at=AT) == 3
        assert records(fresh, "w") == [b"one", b"three"]
    finally:
        fresh.close()


def test_a_partial_index_entry_is_cut_off(store: FileStore, directory: Path) -> None:
    store.append_audit(b"one", wallet_id="w", at=AT)
    with open(index(directory, "w"), "ab") as f:
        f.write(b"\x00\x01\x02")
    assert records(store, "w") == [b"one"]
    store.append_audit(b"two", wallet_id="w", at=AT)
    assert records(store, "w") == [b"one", b"two"]
    assert len(index(directory, "w").read_bytes()) == 32


class TestSegments:
    @pytest.fixture(autouse=True)
    def small_segments(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(filelog, "SEGMENT_BYTES", 200)

    def test_appends_move_on_to_a_new_segment(self, store: FileStore, directory: Path) -> None:
        made = [b"record %02d" % n for n in range(20)]
        for n, record in enumerate(made):
            store.append_audit(record, wallet_id=f"w{n % 3}", at=AT)
        assert len(filelog.segment_numbers(directory / "audit")) > 3
        assert (directory / "audit" / "CURRENT").read_bytes() != b"1\n"
        assert records(store) == made
        assert records(store, "w1") == made[1::3]
        everything = list(store.audit_records())
        for after in range(0, 21, 4):
            assert list(store.audit_records(after=after, limit=3)) == everything[after : after + 3]

    def test_another_handle_follows_a_new_segment(self, directory: Path) -> None:
        first, second = FileStore(f"file://{directory}"), FileStore(f"file://{directory}")
        try:
            for n in range(30):
                (first if n % 7 else second).append_audit(b"r%02d" % n, wallet_id="w", at=AT)
            assert records(first, "w") == [b"r%02d" % n for n in range(30)]
            assert [e.seq for e in second.audit_records()] == list(range(1, 31))
        finally:
            first.close()
            second.close()

    def test_a_rotation_killed_before_current_was_written(
        self, store: FileStore, directory: Path
    ) -> None:
        for n in range(12):
            store.append_audit(b"r%02d" % n, wallet_id="w", at=AT)
        (directory / "audit" / "CURRENT").write_bytes(b"1\n")  # as if never updated
        fresh = FileStore(f"file://{directory}")
        try:
            fresh.append_audit(b"r12", wallet_id="w", at=AT)
            assert [e.seq for e in fresh.audit_records("w")] == list(range(1, 14))
        finally:
            fresh.close()

    def test_prune_deletes_whole_segments_and_blanks_the_rest(
        self, store: FileStore, directory: Path
    ) -> None:
        times = [AT + timedelta(minutes=n) for n in range(20)]
        for n, at in enumerate(times):
            store.append_audit(b"secret-%02d" % n, wallet_id=f"w{n % 2}", at=at)
        segments = filelog.segment_numbers(directory / "audit")
        assert store.prune_audit(times[9]) == 9
        left = filelog.segment_numbers(directory / "audit")
        assert left[0] > segments[0] and left[-1] == segments[-1]
        on_disk = b"".join(p.read_bytes() for p in (directory / "audit").rglob("*") if p.is_file())
        for n in range(9):
            assert b"secret-%02d" % n not in on_disk
        assert records(store) == [b"secret-%02d" % n for n in range(9, 20)]
        assert records(store, "w0") == [b"secret-%02d" % n for n in range(10, 20, 2)]
        entries = index(directory, "w0").read_bytes()
        assert len(entries) == 16 * 5  # the pruned records' entries are gone
        assert store.prune_audit(times[19] + timedelta(1)) == 11
        assert records(store) == []
        assert not index(directory, "w0").exists()
        assert store.append_audit(b"after", wallet_id="w0", at=AT) == 21
        assert records(store, "w0") == [b"after"]
