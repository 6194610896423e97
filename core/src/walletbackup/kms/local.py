"""The ``local`` KMS: the custodian's wrapping keys in a key file only its owner may read.

URLs: ``local:///abs/path/custodian.key``, ``local:relative/path`` (resolved against the working
directory when the provider is made) and bare ``local:`` (``custodian.key`` in the user data
directory). The path is taken literally: no percent-decoding, no query.

The key file is JSON: ``{"format": 1, "key_id": <32 hex>, "current": n, "versions": {"1": <base64
of 32 bytes>, ...}}``. Only :meth:`LocalKms.create_key` creates it (mode 0600 in a 0700
directory), and only when there is none: every other operation on a missing file raises
:class:`KmsKeyMissing` and leaves no trace, so a lost key file is never silently replaced by a new
key that opens nothing. Every write (create, rotate, retire) goes to a fresh ``O_CREAT|O_EXCL``
0600 temporary file in the same directory, is fsynced and renamed over the key file, all under an
``flock`` on ``<key file>.lock``: two processes creating a key at once end up with one key file
(the other gets a :class:`StorageError`), and concurrent rotations never lose a version. The file
is read again on every operation, so a rotation by another process is seen at once. POSIX only.

Versions are numbered from 1; :meth:`LocalKms.retire` drops the lowest ones, so the file keeps a
run of versions up to the current one, and a version below the lowest kept one is known to be
retired.

Errors: a key file others may read or write (``mode & 0o077``) is refused with
:class:`PolicyViolation` (the message gives the ``chmod 600`` command; the check is on the file's
mode, so it holds for root too); a malformed or unreadable key file is a :class:`StorageError`
naming the path. ``unwrap`` raises :class:`MalformedBackup` for stanza args of the wrong shape
and :class:`UnlockFailed` for everything else. Key ids and version numbers are public (they are in
the stanza), so the :class:`UnlockFailed` for an envelope sealed under another key file, under a
retired version or under a version this file lacks, says so; a failed decryption gives the
standard message only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import shlex
import stat
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from walletbackup.errors import MalformedBackup, PolicyViolation, StorageError, UnlockFailed
from walletbackup.files import exclusive, write_private
from walletbackup.kms.base import (
    KeyInfo,
    KmsKeyMissing,
    KmsProvider,
    key_fingerprint,
    version_not_held,
)

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
FORMAT = 1
DEFAULT_FILE_NAME = "custodian.key"
#: Far above any real key file (a few dozen bytes per version); stops a huge file being parsed.
MAX_FILE_SIZE = 1 << 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Keys:
    key_id: str
    current: int
    versions: dict[int, bytes] = field(repr=False)


class LocalKms(KmsProvider):
    """Wraps keys with AES-256-GCM under a versioned key held in a local 0600 key file."""

    scheme: ClassVar[str] = "local"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = _path_of(url)

    def create_key(self) -> KeyInfo:
        with _locked(self.path):
            existing = _read(self.path)
            if existing is not None:
                raise StorageError(
                    f"the custodian key file {self.path} already holds local KMS key "
                    f"{existing.key_id}; a key is never overwritten: keep using it"
                )
            keys = _new_keys()
            _write(self.path, keys)
        log.info("created local KMS key %s in %s", keys.key_id, self.path)
        return self._info(keys)

    def key_info(self) -> KeyInfo:
        return self._info(self._keys())

    def wrap(self, key: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        if len(key) != KEY_SIZE:
            raise ValueError(f"the key to wrap must be {KEY_SIZE} bytes")
        key_id, version = _parse_args(args)
        keys = self._keys(key_id)
        if key_id != keys.key_id or version not in keys.versions:
            raise StorageError(
                f"cannot wrap under local KMS key {key_id} version {version}: the key file "
                f"{self.path} holds key {keys.key_id} versions {sorted(keys.versions)}"
            )
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - see _new_key

        nonce = os.urandom(NONCE_SIZE)
        return nonce + AESGCM(keys.versions[version]).encrypt(nonce, key, aad)

    def unwrap(self, blob: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        key_id, version = _parse_args(args)
        keys = self._keys(key_id)
        if key_id != keys.key_id:
            raise UnlockFailed(
                f"this envelope was sealed by another local KMS key (key_id {key_id}); "
                f"the key file {self.path} holds key_id {keys.key_id}"
            )
        if version not in keys.versions:
            raise version_not_held(
                f"local KMS key {key_id}",
                version,
                keys.versions,
                f"the key file {self.path}",
                "an older copy of the file?",
            )
        if len(blob) != NONCE_SIZE + KEY_SIZE + TAG_SIZE:
            raise UnlockFailed
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415 - see _new_key
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        try:
            return AESGCM(keys.versions[version]).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad)
        except InvalidTag:
            raise UnlockFailed from None

    def rotate(self) -> int:
        with self._changing() as keys:
            version = max(keys.versions) + 1
            _write(self.path, _Keys(keys.key_id, version, {**keys.versions, version: _new_key()}))
        log.info("rotated local KMS key %s in %s to version %d", keys.key_id, self.path, version)
        return version

    def retire(self, below: int) -> tuple[int, ...]:
        with self._changing() as keys:
            if below > keys.current:
                raise PolicyViolation(
                    f"cannot retire the versions below {below} of local KMS key {keys.key_id}: "
                    f"that includes the current version {keys.current}; rotate first"
                )
            retired = tuple(version for version in sorted(keys.versions) if version < below)
            if retired:
                kept = {v: key for v, key in keys.versions.items() if v >= below}
                _write(self.path, _Keys(keys.key_id, keys.current, kept))
        if retired:
            log.info(
                "retired the versions below %d of local KMS key %s in %s: %s",
                below,
                keys.key_id,
                self.path,
                ", ".join(map(str, retired)),
            )
        return retired

    def _info(self, keys: _Keys) -> KeyInfo:
        return KeyInfo(
            provider=self.scheme,
            key_id=keys.key_id,
            current=keys.current,
            versions=tuple(sorted(keys.versions)),
            fingerprint=key_fingerprint(keys.versions[keys.current]),
        )

    def _keys(self, key_id: str | None = None) -> _Keys:
        """The key file's keys; :class:`KmsKeyMissing` (naming ``key_id``) when there is none."""
        keys = _read(self.path)
        if keys is not None:
            return keys
        held = f" (it held local KMS key {key_id})" if key_id else ""
        raise KmsKeyMissing(
            f"the custodian key file {self.path} does not exist{held}: restore it from your "
            "backup of that file (mode 0600) or point the local KMS URL at it. A new key would "
            "open none of the custodian envelopes sealed before; create one only for a "
            "custodian that has sealed nothing yet"
        )

    @contextmanager
    def _changing(self) -> Iterator[_Keys]:
        """The keys, read again under the file's lock, for a change that rewrites the file."""
        # Checked before _locked, which makes the directory and lock file: no key, no trace.
        self._keys()
        with _locked(self.path):
            yield self._keys()


def _path_of(url: str) -> Path:
    scheme, colon, rest = url.partition(":")
    if scheme != LocalKms.scheme or not colon:
        raise StorageError(f"{url!r} is not a local KMS URL (local:///path/to/custodian.key)")
    if rest.startswith("//"):
        if not rest.startswith("///"):
            raise StorageError(
                f"{url!r}: a local KMS URL has no host; write local:///absolute/path "
                "or local:relative/path"
            )
        rest = rest[2:]
    if not rest:
        import platformdirs  # noqa: PLC0415 - only for the default path

        return Path(platformdirs.user_data_dir("walletbackup", appauthor=False)) / DEFAULT_FILE_NAME
    return Path(rest).absolute()


def _parse_args(args: Mapping[str, Any]) -> tuple[str, int]:
    key_id = args.get("key_id")
    version = args.get("version")
    if (
        args.get("provider") != LocalKms.scheme
        or not isinstance(key_id, str)
        or not isinstance(version, int)
        or isinstance(version, bool)
    ):
        raise MalformedBackup(
            'local KMS stanza args must be {"provider": "local", "key_id": str, "version": int}'
        )
    return key_id, version


def _new_keys() -> _Keys:
    return _Keys(secrets.token_hex(16), 1, {1: _new_key()})


def _new_key() -> bytes:
    # cryptography is imported where a key is used, not with the module: every command loads
    # this provider with the plugins, and `walletbackup --help` or `methods` never use it.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    return AESGCM.generate_key(bit_length=KEY_SIZE * 8)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for changes to ``path``; the kernel drops it if the process dies."""
    with ExitStack() as stack:
        try:
            stack.enter_context(exclusive(path))
        except OSError as exc:
            raise StorageError(
                f"cannot use the custodian key file {path}: {exc.strerror}"
            ) from None
        yield


def _read(path: Path) -> _Keys | None:
    """The keys in ``path``, or None when it does not exist; refuses loose or malformed files."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read the custodian key file {path}: {exc.strerror}") from None
    try:
        # fstat on the open file: the mode checked is the mode of the bytes read.
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise StorageError(f"the custodian key file {path} is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            raise PolicyViolation(
                f"the custodian key file {path} has mode {mode:04o}: other users may read or "
                f"change it; restrict it with: chmod 600 {shlex.quote(str(path))}"
            )
        data = os.read(fd, MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise StorageError(f"cannot read the custodian key file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return _parse(path, data)


def _parse(path: Path, data: bytes) -> _Keys:
    def malformed(what: str) -> StorageError:
        return StorageError(
            f"the custodian key file {path} is malformed ({what}); restore it from your key backup"
        )

    if len(data) > MAX_FILE_SIZE:
        raise malformed("too large")
    try:
        document = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError):
        raise malformed("not JSON") from None
    if not isinstance(document, dict) or set(document) != {
        "format",
        "key_id",
        "current",
        "versions",
    }:
        raise malformed("expected exactly the keys format, key_id, current, versions")
    if document["format"] != FORMAT:
        raise malformed(f"format must be {FORMAT}")
    key_id = document["key_id"]
    if not isinstance(key_id, str) or len(key_id) != 32 or key_id.strip("0123456789abcdef"):
        raise malformed("key_id must be 32 lowercase hex digits")
    raw_versions = document["versions"]
    if not isinstance(raw_versions, dict) or not raw_versions:
        raise malformed("versions must be a non-empty object")
    versions: dict[int, bytes] = {}
    for number, encoded in raw_versions.items():
        if not number.isascii() or not number.isdigit() or number != str(int(number)):
            raise malformed("version numbers must be decimal")
        try:
            key = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except binascii.Error:
            key = b""
        if len(key) != KEY_SIZE or int(number) < 1:
            raise malformed(f"version {number} is not a base64 {KEY_SIZE}-byte key")
        versions[int(number)] = key
    current = document["current"]
    if not isinstance(current, int) or isinstance(current, bool) or current not in versions:
        raise malformed("current must name one of the versions")
    return _Keys(key_id, current, versions)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key")
    return document


def _write(path: Path, keys: _Keys) -> None:
    """Replace ``path`` atomically and durably with ``keys``; callers hold :func:`_locked`."""
    document = {
        "format": FORMAT,
        "key_id": keys.key_id,
        "current": keys.current,
        "versions": {
            str(number): base64.b64encode(key).decode("ascii")
            for number, key in sorted(keys.versions.items())
        },
    }
    data = json.dumps(document, indent=2).encode("ascii") + b"\n"
    try:
        write_private(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write the custodian key file {path}: {exc.strerror}") from None


__all__ = ["LocalKms"]
