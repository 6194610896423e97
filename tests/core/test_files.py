"""walletbackup.files: private directories and files, written whole or not at all."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from walletbackup import files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_private_dir_creates_parents_and_the_directory_0700(tmp_path: Path) -> None:
    made = files.private_dir(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b"
    assert mode(made) == 0o700


def test_private_dir_keeps_an_existing_mode_unless_asked_to_tighten(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    files.private_dir(shared)
    assert mode(shared) == 0o755
    files.private_dir(shared, tighten=True)
    assert mode(shared) == 0o700


def test_write_private_writes_0600_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "secret.bin"
    files.write_private(target, b"one")
    assert target.read_bytes() == b"one"
    assert mode(target) == 0o600
    files.write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.bin"]


def test_write_private_without_replace_lets_an_existing_file_win(tmp_path: Path) -> None:
    target = tmp_path / "secret.bin"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        files.write_private(target, b"new", replace=False)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.bin"]


def test_write_private_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    link = tmp_path / "link"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        files.write_private(link, b"new", replace=False)
    files.write_private(link, b"new")  # replace: the link itself is replaced, never followed
    assert victim.read_bytes() == b"untouched"
    assert not link.is_symlink()
    assert link.read_bytes() == b"new"


def test_write_private_names_its_temporary_file_by_the_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        seen.append(Path(source).name)
        raise OSError(errno.EIO, "disk on fire")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk on fire"):
        files.write_private(tmp_path / "doc", b"x", temp_prefix="abc")
    assert len(seen) == 1
    assert seen[0].startswith("abc.")
    assert seen[0].endswith(".tmp")
    assert list(tmp_path.iterdir()) == []  # the temporary file was removed


def test_without_hard_links_the_name_is_claimed_then_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "share.bin"
    files.write_private(target, b"share", replace=False)
    assert target.read_bytes() == b"share"
    assert mode(target) == 0o600
    with pytest.raises(FileExistsError):
        files.write_private(target, b"other", replace=False)
    assert target.read_bytes() == b"share"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["share.bin"]


def test_read_limited_returns_the_bytes_and_the_mode_of_the_file_read(tmp_path: Path) -> None:
    path = tmp_path / "in"
    path.write_bytes(b"12345")
    os.chmod(path, 0o600)
    contents = files.read_limited(path, 5)
    assert contents.data == b"12345"
    assert contents.loose_mode is None
    os.chmod(path, 0o640)
    assert files.read_limited(path, 5).loose_mode == 0o640


def test_read_limited_refuses_a_larger_file(tmp_path: Path) -> None:
    path = tmp_path / "in"
    path.write_bytes(b"123456")
    with pytest.raises(files.FileTooLarge, match="larger than 5 bytes") as raised:
        files.read_limited(path, 5)
    assert raised.value.errno == errno.EFBIG
    assert raised.value.limit == 5
