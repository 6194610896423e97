"""The ``pkcs11`` KMS: the custodian's wrapping key is an AES-256 key inside a PKCS#11 token.

URLs: see :mod:`walletbackup_pkcs11.url`. The key never leaves the token: every version is
generated in it (``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``, a private token object that may
encrypt, decrypt and sign, and never wrap or unwrap other keys), and wrapping is AES-256-GCM
computed by the token.

Versions: version N of key ``KEYLABEL`` is the secret-key object labelled ``KEYLABEL.vN``.
Its ``CKA_ID`` is the key id (16 random bytes, the same for every version, made by
:meth:`Pkcs11Kms.create_key`) followed by an 8-byte random *tag* of that object. The public
``key_id`` is the hex of those 16 bytes. :meth:`~Pkcs11Kms.rotate` makes version max+1 and
:meth:`~Pkcs11Kms.retire` destroys the objects of the old versions. PKCS#11 has no
compare-and-swap, so two rotations at the same moment (two processes) can both make a
``KEYLABEL.vN``: both objects stay, new wraps use the one with the lowest ``CKA_ID`` (a
provider that already found the other may go on with it), and each blob names the object it was
made with (its tag), so a blob made with either still opens.

Blob: version (4 bytes, big-endian), the object's tag (8), nonce (12 random bytes), then the
AES-GCM ciphertext of the 32-byte key with its 16-byte tag. The GCM associated data is a label,
the first 12 bytes of the blob and the caller's ``aad``, so the version and tag are
authenticated too. A GCM failure is reported by PKCS#11 modules as a generic error
(``CKR_GENERAL_ERROR`` in SoftHSM2, ``CKR_ENCRYPTED_DATA_INVALID`` in others): every failure
of the decryption itself is :class:`UnlockFailed` with the standard message.

Fingerprint (:attr:`KeyInfo.fingerprint`): AES-CMAC of
:data:`walletbackup.kms.base.FINGERPRINT_LABEL`, computed by the token with the current
version, first 16 bytes in hex. Like the local KMS's HMAC it identifies the key material (a
token restored from a backup, or a cloned HSM partition, shows the same fingerprint) without
revealing it: CMAC is a PRF, and the label is used for nothing else.

Errors follow the local KMS: no object for the key at all is :class:`KmsKeyMissing`; stanza
args of the wrong shape are :class:`MalformedBackup`; an envelope from another key, a retired
version or a version the token lacks is :class:`UnlockFailed` saying which (key ids and
versions are public); the token, module or PIN failing is :class:`StorageError` naming what,
never the PIN.
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from walletbackup.errors import MalformedBackup, PolicyViolation, StorageError, UnlockFailed
from walletbackup.kms import KeyInfo, KmsKeyMissing, KmsProvider
from walletbackup.kms.base import FINGERPRINT_BYTES, FINGERPRINT_LABEL, version_not_held

from . import url as urls
from .token import Token, token_for

if TYPE_CHECKING:
    import pkcs11
    from pkcs11.types import DecryptMixin, EncryptMixin, SignMixin

KEY_SIZE = 32
KEY_ID_SIZE = 16
TAG_SIZE = 8
NONCE_SIZE = 12
GCM_TAG_BITS = 128
HEADER = struct.Struct(">I8s")
BLOB_SIZE = HEADER.size + NONCE_SIZE + KEY_SIZE + GCM_TAG_BITS // 8
#: Prefixed to the GCM associated data: a wrap by this provider is not valid in any other use.
AAD_LABEL = b"walletbackup-pkcs11/wrap/v1\x00"
#: Decryption errors PKCS#11 modules give for a failed GCM tag check or a wrong-sized input.
DECRYPT_FAILURES = (
    "GeneralError",
    "EncryptedDataInvalid",
    "EncryptedDataLenRange",
    "DataInvalid",
    "DataLenRange",
    "FunctionFailed",
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Version:
    number: int
    object_id: bytes  # CKA_ID: the key id, then this object's tag
    key: pkcs11.SecretKey


@dataclass(frozen=True)
class _Family:
    """Every object of the key in the token: its id and each version's objects, by tag."""

    key_id: bytes
    versions: dict[int, list[_Version]]

    @property
    def current(self) -> int:
        return max(self.versions)

    def canonical(self, number: int) -> _Version:
        """The object new wraps use for a version: the lowest tag (see the module docstring)."""
        return min(self.versions[number], key=lambda version: version.object_id)


class Pkcs11Kms(KmsProvider):
    """Wraps keys with AES-256-GCM under a versioned key that never leaves a PKCS#11 token."""

    scheme: ClassVar[str] = urls.SCHEME

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.location = urls.parse(url)
        self._token: Token = token_for(self.location)
        # Version objects by number, found on the session they were found on: a lookup is a
        # search of the token (about ten times the cost of the AES-GCM call itself in SoftHSM2).
        # A handle whose object is gone (retired by another process) fails, and is looked up
        # again; the cache is only ever read under the token's lock.
        self._cache: dict[int, list[_Version]] = {}
        self._cache_session: pkcs11.Session | None = None
        #: The key id and the current version last seen: stanza_args starts from them.
        self._known: tuple[bytes, int] | None = None

    def create_key(self) -> KeyInfo:
        def create(session: pkcs11.Session) -> KeyInfo:
            existing = self._family(session)
            if existing is not None:
                raise StorageError(
                    f"PKCS#11 token {self.location.token!r} already holds KMS key "
                    f"{self.location.object!r} ({existing.key_id.hex()}); a key is never "
                    "overwritten: keep using it"
                )
            key_id = secrets.token_bytes(KEY_ID_SIZE)
            made = self._generate(session, key_id, 1)
            family = self._family(session)
            if family is None or family.key_id != key_id or family.canonical(1).object_id != made:
                # Another process created the key at the same moment and won: drop ours.
                for version in family.versions.get(1, []) if family else []:
                    if version.object_id == made:
                        version.key.destroy()
                raise StorageError(
                    f"PKCS#11 key {self.location.object!r} was created by another process "
                    "at the same time; keep using that one"
                )
            return self._info(family)

        info = self._token.run(self.location.pin_source, create)
        log.info("created PKCS#11 KMS key %s in token %r", info.key_id, self.location.token)
        return info

    def key_info(self) -> KeyInfo:
        return self._token.run(
            self.location.pin_source, lambda session: self._info(self._existing(session))
        )

    def stanza_args(self) -> dict[str, Any]:
        # Called for every custodian envelope sealed, so cheaper than key_info (a listing of
        # the token and a CMAC): from the version last seen, look for the next ones only. A
        # rotation by another process is still seen at once; versions are never removed above
        # the current one, and retire() never removes the current one.
        def current(session: pkcs11.Session) -> dict[str, Any]:
            self._bind(session)
            if self._known is None:
                family = self._existing(session)
                self._known = (family.key_id, family.current)
            key_id, number = self._known
            while self._objects(session, number + 1):
                number += 1
            self._known = (key_id, number)
            return {"provider": self.scheme, "key_id": key_id.hex(), "version": number}

        return self._token.run(self.location.pin_source, current)

    def wrap(self, key: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        if len(key) != KEY_SIZE:
            raise ValueError(f"the key to wrap must be {KEY_SIZE} bytes")
        key_id, number = _parse_args(args)

        def wrap(session: pkcs11.Session) -> bytes:
            for fresh in (False, True):
                held = [
                    found
                    for found in self._cached(session, number, fresh)
                    if found.object_id[:KEY_ID_SIZE] == key_id
                ]
                if not held:
                    break
                version = min(held, key=lambda found: found.object_id)
                header = HEADER.pack(number, version.object_id[KEY_ID_SIZE:])
                nonce = os.urandom(NONCE_SIZE)
                try:
                    return header + nonce + _encrypt(version.key, nonce, header, aad, key)
                except _gone():
                    continue
            family = self._existing(session)
            raise StorageError(
                f"cannot wrap under PKCS#11 key {key_id.hex()} version {number}: token "
                f"{self.location.token!r} holds key {family.key_id.hex()} versions "
                f"{sorted(family.versions)}"
            )

        return self._token.run(self.location.pin_source, wrap)

    def unwrap(self, blob: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        key_id, number = _parse_args(args)

        def unwrap(session: pkcs11.Session) -> bytes:
            if len(blob) == BLOB_SIZE:
                header, nonce = blob[: HEADER.size], blob[HEADER.size : HEADER.size + NONCE_SIZE]
                blob_number, tag = HEADER.unpack(header)
                sealed = blob[HEADER.size + NONCE_SIZE :]
                for fresh in (False, True) if blob_number == number else ():
                    for found in self._cached(session, number, fresh):
                        if found.object_id == key_id + tag:
                            try:
                                return _decrypt(found.key, nonce, header, aad, sealed)
                            except _gone():
                                break
            raise self._unwrap_failure(session, key_id, number)

        return self._token.run(self.location.pin_source, unwrap)

    def rotate(self) -> int:
        def rotate(session: pkcs11.Session) -> int:
            family = self._existing(session)
            number = family.current + 1
            self._generate(session, family.key_id, number)
            return number

        number = self._token.run(self.location.pin_source, rotate)
        log.info(
            "rotated PKCS#11 KMS key %r in token %r to version %d",
            self.location.object,
            self.location.token,
            number,
        )
        return number

    def retire(self, below: int) -> tuple[int, ...]:
        def retire(session: pkcs11.Session) -> tuple[int, ...]:
            family = self._existing(session)
            if below > family.current:
                raise PolicyViolation(
                    f"cannot retire the versions below {below} of PKCS#11 key "
                    f"{family.key_id.hex()}: that includes the current version "
                    f"{family.current}; rotate first"
                )
            retired = tuple(number for number in sorted(family.versions) if number < below)
            self._cache, self._known = {}, None
            for number in retired:
                for version in family.versions[number]:
                    version.key.destroy()
            return retired

        retired = self._token.run(self.location.pin_source, retire)
        if retired:
            log.info(
                "retired the versions below %d of PKCS#11 KMS key %r in token %r: %s",
                below,
                self.location.object,
                self.location.token,
                ", ".join(map(str, retired)),
            )
        return retired

    # --- internals ---------------------------------------------------------------------------

    def _bind(self, session: pkcs11.Session) -> None:
        """Forget what was seen on another session (objects are found anew after a re-login)."""
        if session is not self._cache_session:
            self._cache, self._known, self._cache_session = {}, None, session

    def _cached(self, session: pkcs11.Session, number: int, fresh: bool) -> list[_Version]:
        """The objects of one version, from the cache unless ``fresh``; none are not cached."""
        self._bind(session)
        found = None if fresh else self._cache.get(number)
        if found is None:
            found = self._objects(session, number)
            if found:
                self._cache[number] = found
            else:
                self._cache.pop(number, None)
        return found

    def _info(self, family: _Family) -> KeyInfo:
        from pkcs11 import Mechanism  # noqa: PLC0415 - loaded with the first token operation

        mac = cast("SignMixin", family.canonical(family.current).key).sign(
            FINGERPRINT_LABEL, mechanism=Mechanism.AES_CMAC
        )
        return KeyInfo(
            provider=self.scheme,
            key_id=family.key_id.hex(),
            current=family.current,
            versions=tuple(sorted(family.versions)),
            fingerprint=bytes(mac)[:FINGERPRINT_BYTES].hex(),
        )

    def _generate(self, session: pkcs11.Session, key_id: bytes, number: int) -> bytes:
        """Make version ``number`` in the token; return its object's whole ``CKA_ID``."""
        from pkcs11 import Attribute, KeyType  # noqa: PLC0415 - see _info

        object_id = key_id + secrets.token_bytes(TAG_SIZE)
        session.generate_key(
            KeyType.AES,
            KEY_SIZE * 8,
            label=self._label(number),
            id=object_id,
            store=True,
            template={
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                # Only for the fingerprint (AES-CMAC of a fixed label).
                Attribute.SIGN: True,
                Attribute.VERIFY: False,
                # Never a key-encryption key: no other key can be wrapped out under it.
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.DERIVE: False,
            },
        )
        return object_id

    def _label(self, number: int) -> str:
        return f"{self.location.object}.v{number}"

    def _objects(
        self, session: pkcs11.Session, number: int, object_id: bytes | None = None
    ) -> list[_Version]:
        """The objects of one version (with one ``CKA_ID``, when given)."""
        from pkcs11 import Attribute, ObjectClass  # noqa: PLC0415 - see _info

        template: dict[Any, Any] = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.LABEL: self._label(number),
        }
        if object_id is not None:
            template[Attribute.ID] = object_id
        return [_version(number, key) for key in _search(session, template)]

    def _family(self, session: pkcs11.Session) -> _Family | None:
        """Every version object of the key, or None when the token holds none."""
        from pkcs11 import Attribute, ObjectClass  # noqa: PLC0415 - see _info

        prefix = f"{self.location.object}.v"
        versions: dict[int, list[_Version]] = {}
        for key in _search(session, {Attribute.CLASS: ObjectClass.SECRET_KEY}):
            label = key.label or ""
            suffix = label[len(prefix) :]
            if label.startswith(prefix) and suffix.isascii() and suffix.isdigit():
                number = int(suffix)
                versions.setdefault(number, []).append(_version(number, key))
        if not versions:
            return None
        key_ids = {
            version.object_id[:KEY_ID_SIZE] for held in versions.values() for version in held
        }
        if len(key_ids) != 1:
            raise StorageError(
                f"PKCS#11 token {self.location.token!r} holds objects of {len(key_ids)} keys "
                f"labelled {prefix}N (CKA_ID prefixes {', '.join(k.hex() for k in key_ids)}); "
                "destroy those that are not the custodian's key"
            )
        return _Family(key_ids.pop(), versions)

    def _existing(self, session: pkcs11.Session) -> _Family:
        family = self._family(session)
        if family is not None:
            return family
        raise KmsKeyMissing(
            f"PKCS#11 token {self.location.token!r} holds no key {self.location.object!r} "
            f"(no object labelled {self.location.object}.vN): restore the token from its "
            "backup (or point the URL at the right token). A new key would open none of the "
            "custodian envelopes sealed before; create one only for a custodian that has "
            "sealed nothing yet"
        )

    def _unwrap_failure(self, session: pkcs11.Session, key_id: bytes, number: int) -> Exception:
        """Why a blob has no object to open it: public facts only (see :class:`UnlockFailed`)."""
        family = self._existing(session)
        name = f"PKCS#11 key {key_id.hex()}"
        if key_id != family.key_id:
            return UnlockFailed(
                f"this envelope was sealed by another PKCS#11 key (key_id {key_id.hex()}); "
                f"token {self.location.token!r} holds key_id {family.key_id.hex()}"
            )
        if number not in family.versions:
            return version_not_held(
                name,
                number,
                family.versions,
                f"token {self.location.token!r}",
                "a token restored from an older backup?",
            )
        return UnlockFailed()


def _gone() -> tuple[type[Exception], ...]:
    """What using a handle whose object was destroyed (by another process) raises."""
    from pkcs11 import exceptions  # noqa: PLC0415 - see Pkcs11Kms._info

    return (exceptions.KeyHandleInvalid, exceptions.ObjectHandleInvalid)


def _search(session: pkcs11.Session, template: dict[Any, Any]) -> list[pkcs11.SecretKey]:
    # A cheap call first: on a session the token no longer knows it raises at once, where a
    # search would raise again from its iterator's finaliser (an "unraisable" exception).
    session.generate_random(64)
    return list(session.get_objects(template))  # type: ignore[arg-type]


def _version(number: int, key: pkcs11.SecretKey) -> _Version:
    return _Version(number, bytes(key.id or b""), key)


def _gcm_params(nonce: bytes, header: bytes, aad: bytes) -> Any:
    from pkcs11.mechanisms import GCMParams  # noqa: PLC0415 - see Pkcs11Kms._info

    return GCMParams(nonce, AAD_LABEL + header + aad, GCM_TAG_BITS)


def _encrypt(key: pkcs11.SecretKey, nonce: bytes, header: bytes, aad: bytes, data: bytes) -> bytes:
    from pkcs11 import Mechanism  # noqa: PLC0415 - see Pkcs11Kms._info

    params = _gcm_params(nonce, header, aad)
    # One bytes input gives one bytes output (an iterator only for an iterator input).
    sealed = cast("EncryptMixin", key).encrypt(
        data, mechanism=Mechanism.AES_GCM, mechanism_param=params
    )
    return cast(bytes, sealed)


def _decrypt(key: pkcs11.SecretKey, nonce: bytes, header: bytes, aad: bytes, data: bytes) -> bytes:
    from pkcs11 import Mechanism, exceptions  # noqa: PLC0415 - see Pkcs11Kms._info

    failures = tuple(getattr(exceptions, name) for name in DECRYPT_FAILURES)
    params = _gcm_params(nonce, header, aad)
    try:
        plain = cast(
            bytes,
            cast("DecryptMixin", key).decrypt(
                data, mechanism=Mechanism.AES_GCM, mechanism_param=params
            ),
        )
    except failures:
        raise UnlockFailed from None
    if len(plain) != KEY_SIZE:
        raise UnlockFailed
    return plain


def _parse_args(args: Mapping[str, Any]) -> tuple[bytes, int]:
    key_id = args.get("key_id")
    version = args.get("version")
    if (
        args.get("provider") != Pkcs11Kms.scheme
        or not isinstance(key_id, str)
        or len(key_id) != 2 * KEY_ID_SIZE
        or key_id.strip("0123456789abcdef")
        or not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version < 1 << 32
    ):
        raise MalformedBackup(
            'pkcs11 KMS stanza args must be {"provider": "pkcs11", "key_id": <32 hex>, '
            '"version": int}'
        )
    return bytes.fromhex(key_id), version


__all__ = ["Pkcs11Kms"]
