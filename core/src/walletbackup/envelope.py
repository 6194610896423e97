"""The envelope, format v1: one encrypted share, its header, and the stanzas that unlock it.

docs/format.md is the specification; this module implements it and nothing else. Parsing checks
structure only and raises :class:`MalformedBackup` before any cryptography runs; every failure
after that raises :class:`UnlockFailed` with its single message, so a wrong secret and a tampered
envelope look the same.

Each method stanza is an X25519 recipient (as in age): the method secret deterministically gives
a key pair whose public key is stored in the stanza. A fresh backup key can therefore be wrapped
to every existing method without their secrets, and the public key doubles as the key check value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import canonical
from .canonical import b64decode, b64encode
from .errors import BackupNotFound, MalformedBackup, UnlockFailed
from .kms import KmsProvider

MAGIC = b"\x89WBK\r\n\x1a\n"
VERSION = 1
SUITE = 1  # X25519 + HKDF-SHA256 + AES-256-GCM + HMAC-SHA256

PREFIX_LEN = 14  # magic, version, suite, header_len
MAC_LEN = 32
LENGTH_LEN = 4
TAG_LEN = 16
KEY_LEN = 32  # backup key, method secret, X25519 keys, derived keys
ENVELOPE_ID_LEN = 32
BACKUP_SET_ID_LEN = 16
STANZA_ID_LEN = 16
WRAPPED_KEY_LEN = KEY_LEN + TAG_LEN

MIN_HEADER = 2
MAX_HEADER = 65536
MAX_SHARE = 65536
MIN_PAYLOAD = 1 + TAG_LEN
MAX_PAYLOAD = MAX_SHARE + TAG_LEN
MAX_ENVELOPE = PREFIX_LEN + MAX_HEADER + MAC_LEN + LENGTH_LEN + MAX_PAYLOAD
MAX_STANZAS = 16
MAX_ARGS = 4096
MAX_ARG_STRING = 1024
MAX_KMS_BLOB = 1024
MAX_WALLET_ID = 128
MAX_COMMITMENT = 64
MAX_KEY_EPOCH = 2**53 - 1

ROLE_CLIENT = "client"
ROLE_CUSTODIAN = "custodian"
KMS_TYPE = "kms"

LABEL_STANZA_KEY = b"walletbackup/v1/stanza-key"
LABEL_WRAP = b"walletbackup/v1/wrap"
LABEL_STANZA_AAD = b"walletbackup/v1/stanza\x00"
LABEL_HEADER_MAC = b"walletbackup/v1/header-mac"
LABEL_PAYLOAD = b"walletbackup/v1/payload"
LABEL_SHARE_COMMITMENT = b"walletbackup/v1/share-commitment"

ARMOR_BEGIN = "-----BEGIN WALLETBACKUP ENVELOPE-----"
ARMOR_END = "-----END WALLETBACKUP ENVELOPE-----"
ARMOR_LINE = 64
_ARMOR_CHARS = 4 * -(-MAX_ENVELOPE // 3)
MAX_ARMOR = len(ARMOR_BEGIN) + len(ARMOR_END) + 2 + _ARMOR_CHARS + -(-_ARMOR_CHARS // ARMOR_LINE)

# Each key is used for exactly one encryption (fresh ephemeral / fresh backup key).
_ZERO_NONCE = bytes(12)
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ARMOR_BODY = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_HEADER_KEYS = frozenset({"context", "envelope_id", "stanzas"})
_CONTEXT_KEYS = frozenset({"backup_set_id", "key_epoch", "share_role", "wallet_id"})
_METHOD_KEYS = frozenset({"args", "ephemeral", "id", "recipient", "type", "wrapped_key"})
_KMS_KEYS = frozenset({"args", "id", "type", "wrapped_key"})


@dataclass(frozen=True)
class Context:
    """What the envelope belongs to; bound into every stanza and the header MAC."""

    wallet_id: str
    backup_set_id: bytes
    share_role: str
    key_epoch: int
    share_commitment: bytes | None = None


@dataclass(frozen=True)
class Stanza:
    """One way to get the backup key: a method (X25519 recipient) or a KMS."""

    type: str
    id: bytes
    args: Mapping[str, Any]
    wrapped_key: bytes
    recipient: bytes | None = None
    ephemeral: bytes | None = None

    @property
    def is_kms(self) -> bool:
        return self.type == KMS_TYPE


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: checked for structure only, not yet authenticated."""

    envelope_id: bytes
    context: Context
    stanzas: tuple[Stanza, ...]
    raw: bytes = field(repr=False)

    def find_stanza(self, stanza_id: bytes) -> Stanza:
        """The stanza with this id; :class:`BackupNotFound` when there is none."""
        for stanza in self.stanzas:
            if stanza.id == stanza_id:
                return stanza
        raise BackupNotFound(f"the envelope has no stanza with id {stanza_id.hex()}")


@dataclass(frozen=True)
class Recipient:
    """A method to wrap a backup key to: its stanza type, id, args and X25519 public key."""

    type: str
    id: bytes
    args: Mapping[str, Any]
    recipient: bytes

    def __post_init__(self) -> None:
        if self.type == KMS_TYPE:
            raise ValueError("stanza type 'kms' is reserved: use KmsRecipient")

    @classmethod
    def from_stanza(cls, stanza: Stanza) -> Recipient:
        """Re-wrap to the method of an existing stanza (no secret needed)."""
        if stanza.recipient is None:
            raise ValueError("a kms stanza is not a method recipient")
        return cls(stanza.type, stanza.id, stanza.args, stanza.recipient)

    @classmethod
    def from_secret(
        cls, type: str, stanza_id: bytes, args: Mapping[str, Any], method_secret: bytes
    ) -> Recipient:
        """Wrap to a newly enrolled method, from its secret."""
        return cls(type, stanza_id, args, recipient_public_key(method_secret, stanza_id))


@dataclass(frozen=True)
class KmsRecipient:
    """A KMS to wrap a backup key with (the custodian envelope's single stanza)."""

    id: bytes
    args: Mapping[str, Any]
    provider: KmsProvider


def recipient_public_key(method_secret: bytes, stanza_id: bytes) -> bytes:
    """The X25519 public key a method secret gives for one stanza."""
    return _stanza_private_key(method_secret, stanza_id).public_key().public_bytes_raw()


def parse(data: bytes) -> Envelope:
    """Check the structure of ``data`` and return the envelope; :class:`MalformedBackup` if bad."""
    if not isinstance(data, bytes):
        raise MalformedBackup(
            "an envelope must be given as bytes (for the text form, use dearmor())"
        )
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise MalformedBackup("not a walletbackup envelope (wrong magic bytes)")
    if len(data) < PREFIX_LEN:
        raise MalformedBackup("the envelope is truncated (inside the fixed prefix)")
    if data[8] != VERSION:
        raise MalformedBackup(
            f"unsupported envelope version {data[8]}: this walletbackup reads version {VERSION}"
        )
    if data[9] != SUITE:
        raise MalformedBackup(f"unknown cipher suite {data[9]}: version 1 defines suite {SUITE}")
    header_len = int.from_bytes(data[10:PREFIX_LEN], "big")
    if not MIN_HEADER <= header_len <= MAX_HEADER:
        raise MalformedBackup(f"header length {header_len} is outside {MIN_HEADER}..{MAX_HEADER}")
    header_end = PREFIX_LEN + header_len
    payload_start = header_end + MAC_LEN + LENGTH_LEN
    if len(data) < payload_start:
        raise MalformedBackup("the envelope is truncated (inside the header or header MAC)")
    payload_len = int.from_bytes(data[payload_start - LENGTH_LEN : payload_start], "big")
    if not MIN_PAYLOAD <= payload_len <= MAX_PAYLOAD:
        raise MalformedBackup(
            f"payload length {payload_len} is outside {MIN_PAYLOAD}..{MAX_PAYLOAD}"
        )
    if len(data) < payload_start + payload_len:
        raise MalformedBackup("the envelope is truncated (inside the payload)")
    if len(data) > payload_start + payload_len:
        raise MalformedBackup("the envelope has trailing bytes after the payload")
    try:
        header = canonical.loads(data[PREFIX_LEN:header_end])
    except MalformedBackup as exc:
        raise MalformedBackup(f"envelope header: {exc}") from None
    envelope_id, context, stanzas = _header_from_json(header)
    return Envelope(envelope_id, context, stanzas, data)


def seal(
    context: Context,
    share: bytes,
    recipients: Sequence[Recipient | KmsRecipient],
    *,
    envelope_id: bytes | None = None,
    backup_key: bytes | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> tuple[bytes, bytes]:
    """Encrypt ``share`` to ``recipients``; return ``(envelope bytes, backup key)``.

    Randomness is drawn from ``rng`` in this order: the envelope_id (32 bytes) and the backup
    key (32), each unless given, then one ephemeral X25519 secret (32) per method recipient, in
    recipient order. A given ``envelope_id`` (known before sealing, so methods can name remote
    files after it) must be fresh. Raises :class:`MalformedBackup` when the inputs would not make
    a valid envelope, ValueError for a key or id of the wrong length.
    """
    context_obj = _context_to_json(context)
    _context_from_json(context_obj)
    # Before any KMS call: a client key must never reach the custodian's KMS.
    _check_roles(context.share_role, [isinstance(r, KmsRecipient) for r in recipients])
    if not isinstance(share, bytes) or not 1 <= len(share) <= MAX_SHARE:
        raise MalformedBackup(f"a share is 1..{MAX_SHARE} bytes")
    if envelope_id is None:
        envelope_id = _draw(rng, ENVELOPE_ID_LEN)
    _require_len(envelope_id, ENVELOPE_ID_LEN, "envelope id")
    key = _draw(rng, KEY_LEN) if backup_key is None else backup_key
    _require_len(key, KEY_LEN, "backup key")
    stanzas = [_wrap(context_obj, envelope_id, key, r, rng) for r in recipients]
    header = canonical.dumps(
        {"context": context_obj, "envelope_id": b64encode(envelope_id), "stanzas": stanzas}
    )
    if len(header) > MAX_HEADER:
        raise MalformedBackup(f"the header would be {len(header)} bytes (max {MAX_HEADER})")
    prefix = MAGIC + bytes([VERSION, SUITE]) + len(header).to_bytes(4, "big") + header
    authenticated = prefix + _header_mac(key, envelope_id, prefix)
    payload = AESGCM(_hkdf(key, envelope_id, LABEL_PAYLOAD)).encrypt(
        _ZERO_NONCE, share, hashlib.sha256(authenticated).digest()
    )
    data = authenticated + len(payload).to_bytes(4, "big") + payload
    parse(data)  # the writer obeys exactly the rules of the reader
    return data, key


def unwrap_key(envelope: Envelope, stanza: Stanza, method_secret: bytes) -> bytes:
    """The backup key from a method stanza; :class:`UnlockFailed` on a wrong secret or tampering.

    The result is not yet authenticated: only :func:`open_with_key` checks the header MAC.
    """
    if stanza.recipient is None or stanza.ephemeral is None:
        raise ValueError("unwrap_key needs a method stanza (use unwrap_key_kms for kms)")
    private = _stanza_private_key(method_secret, stanza.id)
    if not hmac.compare_digest(private.public_key().public_bytes_raw(), stanza.recipient):
        raise UnlockFailed()
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(stanza.ephemeral))
        wrap_key = _hkdf(shared, stanza.ephemeral + stanza.recipient, LABEL_WRAP)
        return AESGCM(wrap_key).decrypt(
            _ZERO_NONCE, stanza.wrapped_key, stanza_aad(envelope, stanza)
        )
    except (ValueError, InvalidTag):
        raise UnlockFailed() from None


def unwrap_key_kms(envelope: Envelope, stanza: Stanza, provider: KmsProvider) -> bytes:
    """The backup key from a kms stanza, unwrapped by ``provider``; :class:`UnlockFailed` if not.

    The provider's own errors pass through unchanged (its UnlockFailed may name a public key id
    it lacks; an unreachable KMS is not a wrong key). Not yet authenticated, as for unwrap_key.
    """
    if not stanza.is_kms:
        raise ValueError("unwrap_key_kms needs a kms stanza (use unwrap_key for methods)")
    key = provider.unwrap(stanza.wrapped_key, stanza_aad(envelope, stanza), stanza.args)
    if not isinstance(key, bytes) or len(key) != KEY_LEN:
        raise UnlockFailed()
    return key


def open_with_key(envelope: Envelope, backup_key: bytes) -> bytes:
    """Verify the header MAC under ``backup_key`` and decrypt the share; :class:`UnlockFailed`."""
    _require_len(backup_key, KEY_LEN, "backup key")
    raw = envelope.raw
    header_end = PREFIX_LEN + int.from_bytes(raw[10:PREFIX_LEN], "big")
    mac_end = header_end + MAC_LEN
    verifier = crypto_hmac.HMAC(
        _hkdf(backup_key, envelope.envelope_id, LABEL_HEADER_MAC), hashes.SHA256()
    )
    verifier.update(raw[:header_end])
    try:
        verifier.verify(raw[header_end:mac_end])
        return AESGCM(_hkdf(backup_key, envelope.envelope_id, LABEL_PAYLOAD)).decrypt(
            _ZERO_NONCE, raw[mac_end + LENGTH_LEN :], hashlib.sha256(raw[:mac_end]).digest()
        )
    except (InvalidSignature, InvalidTag):
        raise UnlockFailed() from None


def stanza_aad(envelope: Envelope, stanza: Stanza) -> bytes:
    """The associated data that binds a stanza's wrapped key to its envelope and context."""
    return _aad(_context_to_json(envelope.context), envelope.envelope_id, _stanza_to_json(stanza))


def armor(data: bytes) -> str:
    """The text form: PEM-like lines of standard base64 (64 characters each)."""
    if not data:
        raise ValueError("nothing to armor")
    body = base64.b64encode(data).decode("ascii")
    lines = [body[i : i + ARMOR_LINE] for i in range(0, len(body), ARMOR_LINE)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


def dearmor(text: str) -> bytes:
    """Decode the text form exactly as :func:`armor` writes it (final newline optional)."""
    if not isinstance(text, str):
        raise MalformedBackup("armored text must be a str")
    if len(text) > MAX_ARMOR:
        raise MalformedBackup("the armored text is longer than any envelope")
    lines = (text if text.endswith("\n") else text + "\n").split("\n")
    if len(lines) < 4 or lines[0] != ARMOR_BEGIN or lines[-2:] != [ARMOR_END, ""]:
        raise MalformedBackup(
            f"the armored text must start with {ARMOR_BEGIN!r} and end with {ARMOR_END!r}"
        )
    body = lines[1:-2]
    for number, line in enumerate(body, start=2):
        last = number == len(body) + 1
        if not (0 < len(line) <= ARMOR_LINE if last else len(line) == ARMOR_LINE):
            raise MalformedBackup(
                f"armored text line {number} has {len(line)} characters; every line but the "
                f"last has exactly {ARMOR_LINE}"
            )
    joined = "".join(body)
    if not _ARMOR_BODY.fullmatch(joined):
        raise MalformedBackup("the armored text holds characters outside standard base64")
    try:
        data = base64.b64decode(joined, validate=True)
    except binascii.Error:
        raise MalformedBackup("the armored text is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != joined:
        raise MalformedBackup("the armored text is not canonical base64 (padding or stray bits)")
    return data


# --- derivations ---------------------------------------------------------------------------


def share_commitment(client_share: bytes, custodian_share: bytes) -> bytes:
    """Bind the two shares: HMAC-SHA256 of the client share, keyed from the custodian share.

    Stored in both envelopes' context. Whoever lacks the custodian share learns nothing from it
    and cannot make a client share that matches it, so a forged client envelope (see "Honest
    limit" in docs/format.md) fails on recovery, when both shares are known.
    """
    key = _hkdf(custodian_share, b"", LABEL_SHARE_COMMITMENT)
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(client_share)
    return mac.finalize()


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=salt, info=info).derive(ikm)


def _stanza_private_key(method_secret: bytes, stanza_id: bytes) -> X25519PrivateKey:
    _require_len(method_secret, KEY_LEN, "method secret")
    _require_len(stanza_id, STANZA_ID_LEN, "stanza id")
    return X25519PrivateKey.from_private_bytes(_hkdf(method_secret, stanza_id, LABEL_STANZA_KEY))


def _aad(context_obj: dict[str, Any], envelope_id: bytes, stanza_obj: dict[str, Any]) -> bytes:
    without_key = {k: v for k, v in stanza_obj.items() if k != "wrapped_key"}
    return LABEL_STANZA_AAD + canonical.dumps(
        {"context": context_obj, "envelope_id": b64encode(envelope_id), "stanza": without_key}
    )


def _header_mac(backup_key: bytes, envelope_id: bytes, prefix: bytes) -> bytes:
    mac = crypto_hmac.HMAC(_hkdf(backup_key, envelope_id, LABEL_HEADER_MAC), hashes.SHA256())
    mac.update(prefix)
    return mac.finalize()


def _wrap(
    context_obj: dict[str, Any],
    envelope_id: bytes,
    backup_key: bytes,
    recipient: Recipient | KmsRecipient,
    rng: Callable[[int], bytes],
) -> dict[str, Any]:
    _require_len(recipient.id, STANZA_ID_LEN, "stanza id")
    if isinstance(recipient, KmsRecipient):
        stanza: dict[str, Any] = {
            "args": dict(recipient.args),
            "id": b64encode(recipient.id),
            "type": KMS_TYPE,
        }
        aad = _aad(context_obj, envelope_id, stanza)
        stanza["wrapped_key"] = b64encode(recipient.provider.wrap(backup_key, aad, stanza["args"]))
        return stanza
    _require_len(recipient.recipient, KEY_LEN, "recipient public key")
    ephemeral = X25519PrivateKey.from_private_bytes(_draw(rng, KEY_LEN))
    ephemeral_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.recipient))
    stanza = {
        "args": dict(recipient.args),
        "ephemeral": b64encode(ephemeral_pub),
        "id": b64encode(recipient.id),
        "recipient": b64encode(recipient.recipient),
        "type": recipient.type,
    }
    wrap_key = _hkdf(shared, ephemeral_pub + recipient.recipient, LABEL_WRAP)
    wrapped = AESGCM(wrap_key).encrypt(
        _ZERO_NONCE, backup_key, _aad(context_obj, envelope_id, stanza)
    )
    stanza["wrapped_key"] = b64encode(wrapped)
    return stanza


def _draw(rng: Callable[[int], bytes], size: int) -> bytes:
    value = rng(size)
    _require_len(value, size, "rng output")
    return value


def _require_len(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"the {what} must be exactly {size} bytes")


# --- header <-> JSON -------------------------------------------------------------------------


def _context_to_json(context: Context) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "backup_set_id": b64encode(context.backup_set_id),
        "key_epoch": context.key_epoch,
        "share_role": context.share_role,
        "wallet_id": context.wallet_id,
    }
    if context.share_commitment is not None:
        obj["share_commitment"] = b64encode(context.share_commitment)
    return obj


def _stanza_to_json(stanza: Stanza) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "args": dict(stanza.args),
        "id": b64encode(stanza.id),
        "type": stanza.type,
        "wrapped_key": b64encode(stanza.wrapped_key),
    }
    if stanza.recipient is not None and stanza.ephemeral is not None:
        obj["ephemeral"] = b64encode(stanza.ephemeral)
        obj["recipient"] = b64encode(stanza.recipient)
    return obj


def _header_from_json(header: Any) -> tuple[bytes, Context, tuple[Stanza, ...]]:
    _require_keys(header, _HEADER_KEYS, frozenset(), "header")
    envelope_id = _bytes_field(header, "envelope_id", "header", ENVELOPE_ID_LEN)
    context = _context_from_json(header["context"])
    raw_stanzas = header["stanzas"]
    if not isinstance(raw_stanzas, list) or not 1 <= len(raw_stanzas) <= MAX_STANZAS:
        raise MalformedBackup(f"header.stanzas must be a list of 1..{MAX_STANZAS} stanzas")
    stanzas = tuple(_stanza_from_json(s, i) for i, s in enumerate(raw_stanzas))
    if len({s.id for s in stanzas}) != len(stanzas):
        raise MalformedBackup("two stanzas have the same id")
    _check_roles(context.share_role, [s.is_kms for s in stanzas])
    return envelope_id, context, stanzas


def _check_roles(share_role: str, is_kms: list[bool]) -> None:
    if share_role == ROLE_CLIENT and any(is_kms):
        raise MalformedBackup("a client envelope may not hold a kms stanza")
    if share_role == ROLE_CUSTODIAN and is_kms != [True]:
        raise MalformedBackup("a custodian envelope holds exactly one stanza, of type kms")


def _context_from_json(obj: Any) -> Context:
    _require_keys(obj, _CONTEXT_KEYS, frozenset({"share_commitment"}), "context")
    wallet_id = obj["wallet_id"]
    if not isinstance(wallet_id, str) or not 1 <= len(_utf8(wallet_id)) <= MAX_WALLET_ID:
        raise MalformedBackup(f"context.wallet_id must be 1..{MAX_WALLET_ID} bytes of UTF-8")
    if any(unicodedata.category(c) == "Cc" for c in wallet_id):
        raise MalformedBackup("context.wallet_id must not contain control characters")
    if not unicodedata.is_normalized("NFC", wallet_id):
        raise MalformedBackup("context.wallet_id must be in Unicode normal form NFC")
    key_epoch = obj["key_epoch"]
    if type(key_epoch) is not int or not 0 <= key_epoch <= MAX_KEY_EPOCH:
        raise MalformedBackup(f"context.key_epoch must be an integer in 0..{MAX_KEY_EPOCH}")
    share_role = obj["share_role"]
    if share_role not in (ROLE_CLIENT, ROLE_CUSTODIAN):
        raise MalformedBackup("context.share_role must be 'client' or 'custodian'")
    commitment = None
    if "share_commitment" in obj:
        commitment = _bytes_field(obj, "share_commitment", "context")
        if not 1 <= len(commitment) <= MAX_COMMITMENT:
            raise MalformedBackup(f"context.share_commitment must be 1..{MAX_COMMITMENT} bytes")
    return Context(
        wallet_id=wallet_id,
        backup_set_id=_bytes_field(obj, "backup_set_id", "context", BACKUP_SET_ID_LEN),
        share_role=share_role,
        key_epoch=key_epoch,
        share_commitment=commitment,
    )


def _stanza_from_json(obj: Any, index: int) -> Stanza:
    where = f"stanza {index}"
    if not isinstance(obj, dict):
        raise MalformedBackup(f"{where} must be an object")
    kind = obj.get("type")
    if not isinstance(kind, str) or not _TYPE_NAME.fullmatch(kind):
        raise MalformedBackup(f"{where}: type must match [a-z][a-z0-9_-]{{0,31}}")
    is_kms = kind == KMS_TYPE
    _require_keys(obj, _KMS_KEYS if is_kms else _METHOD_KEYS, frozenset(), where)
    args = obj["args"]
    if not isinstance(args, dict):
        raise MalformedBackup(f"{where}: args must be an object")
    if len(canonical.dumps(args)) > MAX_ARGS:
        raise MalformedBackup(f"{where}: args exceed {MAX_ARGS} bytes")
    if _longest_string(args) > MAX_ARG_STRING:
        raise MalformedBackup(f"{where}: a string in args exceeds {MAX_ARG_STRING} characters")
    stanza_id = _bytes_field(obj, "id", where, STANZA_ID_LEN)
    if is_kms:
        wrapped = _bytes_field(obj, "wrapped_key", where)
        if not 1 <= len(wrapped) <= MAX_KMS_BLOB:
            raise MalformedBackup(f"{where}: a kms wrapped_key is 1..{MAX_KMS_BLOB} bytes")
        return Stanza(kind, stanza_id, args, wrapped)
    return Stanza(
        kind,
        stanza_id,
        args,
        _bytes_field(obj, "wrapped_key", where, WRAPPED_KEY_LEN),
        recipient=_bytes_field(obj, "recipient", where, KEY_LEN),
        ephemeral=_bytes_field(obj, "ephemeral", where, KEY_LEN),
    )


def _require_keys(obj: Any, required: frozenset[str], optional: frozenset[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise MalformedBackup(f"{where} must be an object")
    missing = sorted(required - obj.keys())
    if missing:
        raise MalformedBackup(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise MalformedBackup(f"{where}: unknown key(s) {names}")


def _bytes_field(obj: dict[str, Any], key: str, where: str, length: int | None = None) -> bytes:
    try:
        return b64decode(obj[key], length)
    except MalformedBackup as exc:
        raise MalformedBackup(f"{where}.{key}: {exc}") from None


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max([0, *map(len, value), *map(_longest_string, value.values())])
    if isinstance(value, list):
        return max([0, *map(_longest_string, value)])
    return 0


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBackup("a string is not valid Unicode") from None


__all__ = [
    "MAGIC",
    "MAX_ARGS",
    "MAX_ARG_STRING",
    "MAX_COMMITMENT",
    "MAX_ENVELOPE",
    "MAX_HEADER",
    "MAX_KEY_EPOCH",
    "MAX_KMS_BLOB",
    "MAX_PAYLOAD",
    "MAX_SHARE",
    "MAX_STANZAS",
    "MAX_WALLET_ID",
    "SUITE",
    "VERSION",
    "Context",
    "Envelope",
    "KmsRecipient",
    "Recipient",
    "Stanza",
    "armor",
    "dearmor",
    "open_with_key",
    "parse",
    "recipient_public_key",
    "seal",
    "stanza_aad",
    "unwrap_key",
    "unwrap_key_kms",
]
