"""The local KMS against real key files and real concurrent processes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from walletbackup.errors import MalformedBackup, PolicyViolation, StorageError, UnlockFailed
from walletbackup.kms import KeyInfo, KmsKeyMissing, LocalKms

AAD = b"custodian envelope header"
CHILD_TIMEOUT = 60


def make_kms(path: Path) -> LocalKms:
    return LocalKms(f"local://{path}")


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "custodian.key"


@pytest.fixture
def kms(key_path: Path) -> LocalKms:
    """A provider whose key file has been created."""
    kms = make_kms(key_path)
    kms.create_key()
    return kms


def file_keys(path: Path) -> list[bytes]:
    document = json.loads(path.read_bytes())
    return [base64.b64decode(key) for key in document["versions"].values()]


def fingerprint_of(key: bytes) -> str:
    """docs/plugins.md's fingerprint, computed here independently of the library."""
    return hmac.new(key, b"walletbackup/kms-fingerprint", hashlib.sha256).digest()[:16].hex()


def test_constructor_creates_nothing(key_path: Path) -> None:
    assert make_kms(key_path).path == key_path
    assert not key_path.parent.exists()


@pytest.mark.parametrize(
    "operation",
    ["stanza_args", "key_info", "rotate", "retire", "wrap", "unwrap"],
)
def test_no_operation_but_create_key_makes_a_key(key_path: Path, operation: str) -> None:
    kms = make_kms(key_path)
    args = {"provider": "local", "key_id": "0123456789abcdef0123456789abcdef", "version": 1}
    calls = {
        "stanza_args": kms.stanza_args,
        "key_info": kms.key_info,
        "rotate": kms.rotate,
        "retire": lambda: kms.retire(2),
        "wrap": lambda: kms.wrap(os.urandom(32), AAD, args),
        "unwrap": lambda: kms.unwrap(bytes(60), AAD, args),
    }
    with pytest.raises(KmsKeyMissing, match=f"{key_path} does not exist"):
        calls[operation]()
    assert not key_path.parent.exists(), "a missing key must leave no trace"


def test_create_key_makes_key_file_0600_in_dir_0700(key_path: Path) -> None:
    info = make_kms(key_path).create_key()
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert key_path.parent.stat().st_mode & 0o777 == 0o700
    document = json.loads(key_path.read_bytes())
    assert document["format"] == 1
    assert document["current"] == 1
    assert len(bytes.fromhex(document["key_id"])) == 16
    assert [len(key) for key in file_keys(key_path)] == [32]
    assert info == KeyInfo(
        provider="local",
        key_id=document["key_id"],
        current=1,
        versions=(1,),
        fingerprint=fingerprint_of(file_keys(key_path)[0]),
    )


def test_create_key_never_overwrites(kms: LocalKms, key_path: Path) -> None:
    before = key_path.read_bytes()
    key_id = kms.key_info().key_id
    with pytest.raises(StorageError, match=f"{key_path} already holds local KMS key {key_id}"):
        make_kms(key_path).create_key()
    assert key_path.read_bytes() == before


def test_create_key_never_overwrites_a_malformed_file(key_path: Path) -> None:
    key_path.parent.mkdir(mode=0o700)
    key_path.write_bytes(b"{damaged")
    key_path.chmod(0o600)
    with pytest.raises(StorageError, match="is malformed"):
        make_kms(key_path).create_key()
    assert key_path.read_bytes() == b"{damaged"


def test_deleted_key_file_is_missing_not_replaced(kms: LocalKms, key_path: Path) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(os.urandom(32), AAD, args)
    key_path.unlink()
    with pytest.raises(KmsKeyMissing) as raised:
        make_kms(key_path).unwrap(blob, AAD, args)
    message = str(raised.value)
    assert str(key_path) in message
    assert args["key_id"] in message
    assert "restore it from your backup of that file" in message
    with pytest.raises(KmsKeyMissing, match=f"{key_path} does not exist"):
        kms.wrap(os.urandom(32), AAD, args)
    with pytest.raises(KmsKeyMissing):
        kms.stanza_args()
    assert not key_path.exists()


def test_key_info_fingerprint_compares_copies_without_the_key(
    kms: LocalKms, key_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy" / "custodian.key"
    copy.parent.mkdir(mode=0o700)
    copy.write_bytes(key_path.read_bytes())
    copy.chmod(0o600)
    info = kms.key_info()
    assert make_kms(copy).key_info() == info
    assert info.fingerprint == fingerprint_of(file_keys(key_path)[0])
    kms.rotate()
    rotated = kms.key_info()
    assert rotated.fingerprint == fingerprint_of(file_keys(key_path)[1])
    assert rotated.fingerprint != info.fingerprint
    assert make_kms(copy).key_info().fingerprint == info.fingerprint  # the copy is behind


def test_stanza_args_name_provider_key_and_version(kms: LocalKms, key_path: Path) -> None:
    args = kms.stanza_args()
    key_id = json.loads(key_path.read_bytes())["key_id"]
    assert args == {"provider": "local", "key_id": key_id, "version": 1}


def test_wrap_unwrap_round_trip(kms: LocalKms) -> None:
    key = os.urandom(32)
    args = kms.stanza_args()
    blob = kms.wrap(key, AAD, args)
    assert len(blob) == 12 + 32 + 16
    assert kms.unwrap(blob, AAD, args) == key


def test_wraps_of_one_key_differ(kms: LocalKms) -> None:
    key = os.urandom(32)
    args = kms.stanza_args()
    assert kms.wrap(key, AAD, args) != kms.wrap(key, AAD, args)


def test_second_instance_reads_the_same_key(kms: LocalKms, key_path: Path) -> None:
    key = os.urandom(32)
    args = kms.stanza_args()
    blob = kms.wrap(key, AAD, args)
    other = make_kms(key_path)
    assert other.stanza_args() == args
    assert other.unwrap(blob, AAD, args) == key


def test_aad_mismatch_fails_to_unlock(kms: LocalKms) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(os.urandom(32), AAD, args)
    with pytest.raises(UnlockFailed) as raised:
        kms.unwrap(blob, AAD + b"x", args)
    assert str(raised.value) == UnlockFailed.MESSAGE


@pytest.mark.parametrize("position", [0, 11, 12, 43, 44, 59])
def test_altered_blob_fails_to_unlock(kms: LocalKms, position: int) -> None:
    args = kms.stanza_args()
    blob = bytearray(kms.wrap(os.urandom(32), AAD, args))
    blob[position] ^= 0x01
    with pytest.raises(UnlockFailed, match=UnlockFailed.MESSAGE):
        kms.unwrap(bytes(blob), AAD, args)


@pytest.mark.parametrize("length", [0, 12, 59, 61])
def test_blob_of_wrong_length_fails_to_unlock(kms: LocalKms, length: int) -> None:
    args = kms.stanza_args()
    blob = (kms.wrap(os.urandom(32), AAD, args) * 2)[:length]
    with pytest.raises(UnlockFailed, match=UnlockFailed.MESSAGE):
        kms.unwrap(blob, AAD, args)


def test_envelope_from_another_key_file_names_both_key_ids(kms: LocalKms, tmp_path: Path) -> None:
    other = make_kms(tmp_path / "other" / "custodian.key")
    other.create_key()
    other_args = other.stanza_args()
    blob = other.wrap(os.urandom(32), AAD, other_args)
    own_key_id = kms.stanza_args()["key_id"]
    with pytest.raises(UnlockFailed) as raised:
        kms.unwrap(blob, AAD, other_args)
    assert other_args["key_id"] in str(raised.value)
    assert own_key_id in str(raised.value)


def test_unknown_version_fails_to_unlock(kms: LocalKms) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(os.urandom(32), AAD, args)
    with pytest.raises(UnlockFailed, match="version 2 of local KMS key"):
        kms.unwrap(blob, AAD, {**args, "version": 2})


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "pkcs11"},
        {"provider": None},
        {"key_id": 7},
        {"version": "1"},
        {"version": True},
        {"version": None},
    ],
)
def test_malformed_stanza_args_are_rejected(kms: LocalKms, change: dict[str, object]) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(os.urandom(32), AAD, args)
    with pytest.raises(MalformedBackup, match="local KMS stanza args must be"):
        kms.unwrap(blob, AAD, {**args, **change})


def test_unwrap_without_key_file_says_where_it_looked(key_path: Path) -> None:
    elsewhere = make_kms(key_path.parent.parent / "elsewhere.key")
    elsewhere.create_key()
    args = elsewhere.stanza_args()
    with pytest.raises(KmsKeyMissing, match=f"{key_path} does not exist"):
        make_kms(key_path).unwrap(bytes(60), AAD, args)
    assert not key_path.exists()


def test_rotate_keeps_old_versions_and_wraps_under_the_new(kms: LocalKms, key_path: Path) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old_args = kms.stanza_args()
    old_blob = kms.wrap(old_key, AAD, old_args)
    assert kms.rotate() == 2
    new_args = kms.stanza_args()
    assert new_args == {**old_args, "version": 2}
    new_blob = kms.wrap(new_key, AAD, new_args)
    assert kms.unwrap(old_blob, AAD, old_args) == old_key
    assert kms.unwrap(new_blob, AAD, new_args) == new_key
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert len(set(file_keys(key_path))) == 2


def test_retire_drops_old_versions_and_refuses_their_envelopes(
    kms: LocalKms, key_path: Path
) -> None:
    old_key = os.urandom(32)
    old_args = kms.stanza_args()
    old_blob = kms.wrap(old_key, AAD, old_args)
    kms.rotate()
    assert kms.rotate() == 3
    new_key = os.urandom(32)
    new_args = kms.stanza_args()
    new_blob = kms.wrap(new_key, AAD, new_args)
    kept = file_keys(key_path)[2]
    assert kms.retire(3) == (1, 2)
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert file_keys(key_path) == [kept]
    assert kms.key_info().versions == (3,)
    with pytest.raises(UnlockFailed) as raised:
        make_kms(key_path).unwrap(old_blob, AAD, old_args)
    assert f"version 1 of local KMS key {old_args['key_id']}, which was retired" in str(
        raised.value
    )
    assert "keeps versions 3 and above" in str(raised.value)
    assert make_kms(key_path).unwrap(new_blob, AAD, new_args) == new_key
    assert kms.retire(3) == ()
    assert kms.rotate() == 4, "numbers of retired versions are never reused"


def test_retire_never_drops_the_current_version(kms: LocalKms, key_path: Path) -> None:
    kms.rotate()
    before = key_path.read_bytes()
    with pytest.raises(PolicyViolation, match="includes the current version 2; rotate first"):
        kms.retire(3)
    assert key_path.read_bytes() == before
    assert kms.retire(0) == ()
    assert kms.retire(1) == ()
    assert key_path.read_bytes() == before, "nothing to retire: the file is not rewritten"


def test_leaked_copy_is_worthless_after_rotate_rewrap_and_retire(
    kms: LocalKms, key_path: Path, tmp_path: Path
) -> None:
    key = os.urandom(32)
    old_args = kms.stanza_args()
    old_blob = kms.wrap(key, AAD, old_args)
    leaked = tmp_path / "leaked" / "custodian.key"
    leaked.parent.mkdir(mode=0o700)
    leaked.write_bytes(key_path.read_bytes())
    leaked.chmod(0o600)
    # The operator's answer to the leak: a new version, every envelope re-wrapped, the old retired.
    version = kms.rotate()
    new_args = kms.stanza_args()
    new_blob = kms.wrap(key, AAD, new_args)
    kms.retire(version)
    thief = make_kms(leaked)
    with pytest.raises(UnlockFailed, match=f"version {version} of local KMS key"):
        thief.unwrap(new_blob, AAD, new_args)
    with pytest.raises(UnlockFailed, match="which was retired"):
        kms.unwrap(old_blob, AAD, old_args)
    # What the copy still opens is what was never re-wrapped: why the re-wrap must come first.
    assert thief.unwrap(old_blob, AAD, old_args) == key


def test_rotation_is_seen_by_an_existing_instance(kms: LocalKms, key_path: Path) -> None:
    other = make_kms(key_path)
    assert other.stanza_args()["version"] == 1
    kms.rotate()
    assert other.stanza_args()["version"] == 2


def test_wrap_under_a_version_the_file_lacks_is_refused(kms: LocalKms) -> None:
    args = kms.stanza_args()
    with pytest.raises(StorageError, match="cannot wrap under local KMS key"):
        kms.wrap(os.urandom(32), AAD, {**args, "version": 5})


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o666])
def test_loose_permissions_are_refused(kms: LocalKms, key_path: Path, mode: int) -> None:
    kms.stanza_args()
    key_path.chmod(mode)
    # The check is on the file's mode, so it holds even for root, who could read the file.
    with pytest.raises(PolicyViolation) as raised:
        kms.stanza_args()
    assert f"chmod 600 {key_path}" in str(raised.value)
    assert f"{mode:04o}" in str(raised.value)


def test_loose_permissions_are_refused_on_unwrap(kms: LocalKms, key_path: Path) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(os.urandom(32), AAD, args)
    key_path.chmod(0o644)
    with pytest.raises(PolicyViolation, match="chmod 600"):
        kms.unwrap(blob, AAD, args)


def valid_document() -> dict[str, object]:
    return {
        "format": 1,
        "key_id": "0123456789abcdef0123456789abcdef",
        "current": 1,
        "versions": {"1": base64.b64encode(bytes(32)).decode()},
    }


def encoded(**changes: object) -> bytes:
    return json.dumps({**valid_document(), **changes}).encode()


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "expected exactly the keys"),
        (json.dumps({"format": 1}).encode(), "expected exactly the keys"),
        (encoded(extra=1), "expected exactly the keys"),
        (encoded(format=2), "format must be 1"),
        (encoded(key_id="ABCDEF0123456789abcdef0123456789"), "key_id must be"),
        (encoded(key_id="0123"), "key_id must be"),
        (encoded(versions={}), "versions must be a non-empty object"),
        (encoded(versions=[]), "versions must be a non-empty object"),
        (
            encoded(versions={"01": base64.b64encode(bytes(32)).decode()}),
            "version numbers must be decimal",
        ),
        (
            encoded(versions={"x": base64.b64encode(bytes(32)).decode()}),
            "version numbers must be decimal",
        ),
        (encoded(versions={"0": base64.b64encode(bytes(32)).decode()}), "version 0 is not"),
        (encoded(versions={"1": base64.b64encode(bytes(16)).decode()}), "version 1 is not"),
        (encoded(versions={"1": "not base64!"}), "version 1 is not"),
        (encoded(versions={"1": 5}), "version 1 is not"),
        (encoded(current=2), "current must name one of the versions"),
        (encoded(current=True), "current must name one of the versions"),
        (encoded(current="1"), "current must name one of the versions"),
        (b'{"format": 1, "format": 1, "key_id": "", "current": 1, "versions": {}}', "not JSON"),
        (b" " * (1 << 20) + encoded(), "too large"),
    ],
)
def test_malformed_key_file_is_refused(key_path: Path, content: bytes, what: str) -> None:
    key_path.parent.mkdir(mode=0o700)
    key_path.write_bytes(content)
    key_path.chmod(0o600)
    with pytest.raises(StorageError) as raised:
        make_kms(key_path).stanza_args()
    assert f"{key_path} is malformed ({what}" in str(raised.value)
    assert key_path.read_bytes() == content  # nothing stored is lost or replaced


def test_well_formed_hand_written_key_file_is_accepted(key_path: Path) -> None:
    key_path.parent.mkdir(mode=0o700)
    key_path.write_bytes(encoded())
    key_path.chmod(0o600)
    kms = make_kms(key_path)
    args = kms.stanza_args()
    assert args["key_id"] == "0123456789abcdef0123456789abcdef"
    key = os.urandom(32)
    assert kms.unwrap(kms.wrap(key, AAD, args), AAD, args) == key


def test_relative_url_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kms = LocalKms("local:keys/custodian.key")
    monkeypatch.chdir("/")
    kms.create_key()
    assert (tmp_path / "keys" / "custodian.key").is_file()


def test_bare_url_uses_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    expected = Path(platformdirs.user_data_dir("walletbackup", appauthor=False)) / "custodian.key"
    assert expected.is_relative_to(tmp_path)
    assert LocalKms("local:").path == expected


@pytest.mark.parametrize("url", ["local://host/custodian.key", "file:///x.key", "localx:/k"])
def test_url_that_is_not_a_local_path_is_refused(url: str) -> None:
    with pytest.raises(StorageError, match="local:///"):
        LocalKms(url)


def test_repr_shows_the_url_and_no_key(kms: LocalKms, key_path: Path) -> None:
    kms.rotate()
    text = repr(kms)
    assert text == f"<LocalKms 'local://{key_path}'>"
    for key in file_keys(key_path):
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text


def test_no_key_material_is_logged(key_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kms = make_kms(key_path)
    kms.create_key()
    key = os.urandom(32)
    args = kms.stanza_args()
    kms.unwrap(kms.wrap(key, AAD, args), AAD, args)
    kms.rotate()
    retired = file_keys(key_path)[0]
    kms.retire(2)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "created local KMS key" in logged
    assert "retired the versions below 2 of local KMS key" in logged
    for secret in [key, retired, *file_keys(key_path)]:
        assert secret.hex() not in logged
        assert base64.b64encode(secret).decode() not in logged


CHILD = """
import json, os, pathlib, sys, time
from walletbackup.errors import StorageError
from walletbackup.kms import LocalKms

go = pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 30
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.001)
kms = LocalKms("local://" + sys.argv[1])
if sys.argv[3] == "create":
    try:
        print(json.dumps({"created": kms.create_key().key_id}))
    except StorageError as exc:
        print(json.dumps({"refused": str(exc)}))
else:
    print(json.dumps({"version": kms.rotate()}))
"""


def run_together(key_path: Path, action: str, count: int) -> list[dict[str, object]]:
    """Start ``count`` processes that all act on ``key_path`` once a go file appears."""
    go = key_path.parent.parent / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(key_path), str(go), action],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=CHILD_TIMEOUT)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_concurrent_create_key_yields_one_key(key_path: Path) -> None:
    results = run_together(key_path, "create", 6)
    created = [str(result["created"]) for result in results if "created" in result]
    assert len(created) == 1
    key_id = created[0]
    refusals = [str(result["refused"]) for result in results if "refused" in result]
    assert (
        refusals
        == [
            f"the custodian key file {key_path} already holds local KMS key "
            f"{key_id}; a key is never overwritten: keep using it"
        ]
        * 5
    )
    assert sorted(p.name for p in key_path.parent.iterdir()) == [
        "custodian.key",
        "custodian.key.lock",
    ]
    assert make_kms(key_path).key_info().key_id == key_id


def test_concurrent_rotations_lose_no_version(kms: LocalKms, key_path: Path) -> None:
    args = kms.stanza_args()
    key = os.urandom(32)
    blob = kms.wrap(key, b"aad", args)
    results = run_together(key_path, "rotate", 5)
    assert sorted(int(str(result["version"])) for result in results) == [2, 3, 4, 5, 6]
    assert kms.stanza_args()["version"] == 6
    assert len(set(file_keys(key_path))) == 6
    assert kms.unwrap(blob, b"aad", args) == key


def test_key_path_that_is_a_directory_is_refused(key_path: Path) -> None:
    key_path.mkdir(parents=True, mode=0o700)
    with pytest.raises(StorageError, match="is not a regular file"):
        make_kms(key_path).stanza_args()


def test_key_path_under_a_file_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError, match=r"cannot read the custodian key file .*Not a directory"):
        make_kms(blocker / "custodian.key").stanza_args()


def test_key_directory_that_cannot_be_made_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError, match=r"cannot use the custodian key file .*File exists"):
        make_kms(blocker / "custodian.key").create_key()
