"""The envelope's wire format: constants, limits, the parsed form, the header and :func:`parse`.

Structure only (docs/format.md §1-3): nothing here needs a key and nothing imports
``cryptography``, so listing an envelope's methods stays cheap. Every structural defect raises
:class:`MalformedBackup` here, before crypto.py runs any cryptography.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from walletbackup import canonical
from walletbackup.canonical import b64decode, b64encode
from walletbackup.errors import BackupNotFound, MalformedBackup

MAGIC = b"\x89WBK\r\n\x1a\n"
VERSION = 2  # the version seal writes
VERSION_1 = 1  # still read (docs/format.md, "Reading v1")
VERSIONS = (VERSION_1, VERSION)
SUITE = 1  # X25519 + HKDF-SHA256 + AES-256-GCM + HMAC-SHA256

PREFIX_LEN = 14  # magic, version, suite, header_len
MAC_LEN = 32
LENGTH_LEN = 4
GCM_TAG_LEN = 16
KEY_LEN = 32  # backup key, method secret, auth key, X25519 keys, derived keys
ENVELOPE_ID_LEN = 32
BACKUP_SET_ID_LEN = 16
STANZA_ID_LEN = 16
STANZA_TAG_LEN = 32
WRAPPED_KEY_LEN = KEY_LEN + GCM_TAG_LEN
AUTH_ENTRY_LEN = STANZA_ID_LEN + KEY_LEN  # one (stanza id, auth key) pair in the v2 payload

MIN_HEADER = 2
MAX_HEADER = 65536
MAX_SHARE = 65536
MAX_STANZAS = 16
# v2 payload plaintext: count (1) || count x (stanza id, auth key) || share.
MIN_PAYLOAD = 1 + 1 + GCM_TAG_LEN
MAX_PAYLOAD = 1 + MAX_STANZAS * AUTH_ENTRY_LEN + MAX_SHARE + GCM_TAG_LEN
MIN_PAYLOAD_V1 = 1 + GCM_TAG_LEN
MAX_PAYLOAD_V1 = MAX_SHARE + GCM_TAG_LEN
MAX_ENVELOPE = PREFIX_LEN + MAX_HEADER + MAC_LEN + LENGTH_LEN + MAX_PAYLOAD
MAX_ARGS = 4096
MAX_ARG_STRING = 1024
MAX_KMS_BLOB = 1024
MAX_WALLET_ID = 128
MAX_COMMITMENT = 64
MAX_KEY_EPOCH = 2**53 - 1
MAX_REVISION = 2**53 - 1

ROLE_CLIENT = "client"
ROLE_CUSTODIAN = "custodian"
KMS_TYPE = "kms"

_PAYLOAD_BOUNDS = {VERSION_1: (MIN_PAYLOAD_V1, MAX_PAYLOAD_V1), VERSION: (MIN_PAYLOAD, MAX_PAYLOAD)}
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_HEADER_KEYS = frozenset({"context", "envelope_id", "stanzas"})
_CONTEXT_KEYS = {
    VERSION_1: frozenset({"backup_set_id", "key_epoch", "share_role", "wallet_id"}),
    VERSION: frozenset({"backup_set_id", "key_epoch", "revision", "share_role", "wallet_id"}),
}
_V1_METHOD_KEYS = frozenset({"args", "ephemeral", "id", "recipient", "type", "wrapped_key"})
_METHOD_KEYS = {VERSION_1: _V1_METHOD_KEYS, VERSION: _V1_METHOD_KEYS | {"tag"}}
_KMS_KEYS = frozenset({"args", "id", "type", "wrapped_key"})


@dataclass(frozen=True)
class Context:
    """What the envelope belongs to; bound into every stanza, the tags and the header MAC.

    ``revision`` exists from version 2 on (a version-1 envelope parses with revision 0).
    """

    wallet_id: str
    backup_set_id: bytes
    share_role: str
    key_epoch: int
    revision: int = 0
    share_commitment: bytes | None = None


@dataclass(frozen=True)
class Stanza:
    """One way to get the backup key: a method (X25519 recipient, tagged in v2) or a KMS."""

    type: str
    id: bytes
    args: Mapping[str, Any]
    wrapped_key: bytes
    recipient: bytes | None = None
    ephemeral: bytes | None = None
    tag: bytes | None = None

    @property
    def is_kms(self) -> bool:
        return self.type == KMS_TYPE


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope: checked for structure only, not yet authenticated."""

    version: int
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

    @property
    def method_stanzas(self) -> tuple[Stanza, ...]:
        return tuple(s for s in self.stanzas if not s.is_kms)

    @property
    def authenticated(self) -> bytes:
        """Magic through header: the bytes the header MAC covers."""
        return self.raw[: self._header_end]

    @property
    def header_mac(self) -> bytes:
        return self.raw[self._header_end : self._header_end + MAC_LEN]

    @property
    def payload(self) -> bytes:
        """The payload field: AES-GCM ciphertext and tag."""
        return self.raw[self._header_end + MAC_LEN + LENGTH_LEN :]

    @property
    def _header_end(self) -> int:
        return PREFIX_LEN + int.from_bytes(self.raw[10:PREFIX_LEN], "big")


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
    version = data[8]
    if version not in VERSIONS:
        raise MalformedBackup(
            f"unsupported envelope version {version}: this walletbackup reads versions "
            f"{VERSION_1} and {VERSION}"
        )
    if data[9] != SUITE:
        raise MalformedBackup(
            f"unknown cipher suite {data[9]}: version {version} defines suite {SUITE}"
        )
    header_len = int.from_bytes(data[10:PREFIX_LEN], "big")
    if not MIN_HEADER <= header_len <= MAX_HEADER:
        raise MalformedBackup(f"header length {header_len} is outside {MIN_HEADER}..{MAX_HEADER}")
    header_end = PREFIX_LEN + header_len
    payload_start = header_end + MAC_LEN + LENGTH_LEN
    if len(data) < payload_start:
        raise MalformedBackup("the envelope is truncated (inside the header or header MAC)")
    payload_len = int.from_bytes(data[payload_start - LENGTH_LEN : payload_start], "big")
    low, high = _PAYLOAD_BOUNDS[version]
    if not low <= payload_len <= high:
        raise MalformedBackup(f"payload length {payload_len} is outside {low}..{high}")
    if len(data) < payload_start + payload_len:
        raise MalformedBackup("the envelope is truncated (inside the payload)")
    if len(data) > payload_start + payload_len:
        raise MalformedBackup("the envelope has trailing bytes after the payload")
    try:
        header = canonical.loads(data[PREFIX_LEN:header_end])
    except MalformedBackup as exc:
        raise MalformedBackup(f"envelope header: {exc}") from None
    envelope_id, context, stanzas = _header_from_json(header, version)
    return Envelope(version, envelope_id, context, stanzas, data)


# --- header <-> dataclasses ------------------------------------------------------------------


def encode_header(
    version: int,
    envelope_id: bytes,
    context: Context,
    stanzas: tuple[Stanza, ...] | list[Stanza],
    *,
    tags: bool = True,
) -> bytes:
    """The canonical header; ``tags=False`` gives the v2 header core (every "tag" left out)."""
    return canonical.dumps(
        {
            "context": context_to_json(context, version),
            "envelope_id": b64encode(envelope_id),
            "stanzas": [stanza_to_json(s, tag=tags) for s in stanzas],
        }
    )


def header_core(envelope: Envelope) -> bytes:
    """The header without its stanza tags, re-encoded from the parsed form (v2 §4.5)."""
    return encode_header(
        envelope.version, envelope.envelope_id, envelope.context, envelope.stanzas, tags=False
    )


def prefix(version: int, header: bytes) -> bytes:
    """Magic, version, suite, header_len and the header: what the header MAC covers."""
    return MAGIC + bytes([version, SUITE]) + len(header).to_bytes(LENGTH_LEN, "big") + header


def context_to_json(context: Context, version: int) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "backup_set_id": b64encode(context.backup_set_id),
        "key_epoch": context.key_epoch,
        "share_role": context.share_role,
        "wallet_id": context.wallet_id,
    }
    if version >= VERSION:
        obj["revision"] = context.revision
    if context.share_commitment is not None:
        obj["share_commitment"] = b64encode(context.share_commitment)
    return obj


def stanza_to_json(stanza: Stanza, *, wrapped_key: bool = True, tag: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "args": dict(stanza.args),
        "id": b64encode(stanza.id),
        "type": stanza.type,
    }
    if wrapped_key:
        obj["wrapped_key"] = b64encode(stanza.wrapped_key)
    if stanza.recipient is not None and stanza.ephemeral is not None:
        obj["ephemeral"] = b64encode(stanza.ephemeral)
        obj["recipient"] = b64encode(stanza.recipient)
    if tag and stanza.tag is not None:
        obj["tag"] = b64encode(stanza.tag)
    return obj


def check_context(context: Context, version: int) -> None:
    """Refuse a context that would not parse (the writer obeys the reader's rules)."""
    _context_from_json(context_to_json(context, version), version)


def check_roles(share_role: str, is_kms: list[bool]) -> None:
    if share_role == ROLE_CLIENT and any(is_kms):
        raise MalformedBackup("a client envelope may not hold a kms stanza")
    if share_role == ROLE_CUSTODIAN and is_kms != [True]:
        raise MalformedBackup("a custodian envelope holds exactly one stanza, of type kms")


def _header_from_json(header: Any, version: int) -> tuple[bytes, Context, tuple[Stanza, ...]]:
    _require_keys(header, _HEADER_KEYS, frozenset(), "header")
    envelope_id = _bytes_field(header, "envelope_id", "header", ENVELOPE_ID_LEN)
    context = _context_from_json(header["context"], version)
    raw_stanzas = header["stanzas"]
    if not isinstance(raw_stanzas, list) or not 1 <= len(raw_stanzas) <= MAX_STANZAS:
        raise MalformedBackup(f"header.stanzas must be a list of 1..{MAX_STANZAS} stanzas")
    stanzas = tuple(_stanza_from_json(s, i, version) for i, s in enumerate(raw_stanzas))
    if len({s.id for s in stanzas}) != len(stanzas):
        raise MalformedBackup("two stanzas have the same id")
    check_roles(context.share_role, [s.is_kms for s in stanzas])
    return envelope_id, context, stanzas


def _context_from_json(obj: Any, version: int) -> Context:
    _require_keys(obj, _CONTEXT_KEYS[version], frozenset({"share_commitment"}), "context")
    wallet_id = obj["wallet_id"]
    if not isinstance(wallet_id, str) or not 1 <= len(_utf8(wallet_id)) <= MAX_WALLET_ID:
        raise MalformedBackup(f"context.wallet_id must be 1..{MAX_WALLET_ID} bytes of UTF-8")
    if any(unicodedata.category(c) == "Cc" for c in wallet_id):
        raise MalformedBackup("context.wallet_id must not contain control characters")
    if not unicodedata.is_normalized("NFC", wallet_id):
        raise MalformedBackup("context.wallet_id must be in Unicode normal form NFC")
    key_epoch = _integer(obj, "key_epoch", MAX_KEY_EPOCH)
    revision = _integer(obj, "revision", MAX_REVISION) if version >= VERSION else 0
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
        revision=revision,
        share_commitment=commitment,
    )


def _integer(obj: dict[str, Any], key: str, maximum: int) -> int:
    value = obj[key]
    if type(value) is not int or not 0 <= value <= maximum:
        raise MalformedBackup(f"context.{key} must be an integer in 0..{maximum}")
    return value


def _stanza_from_json(obj: Any, index: int, version: int) -> Stanza:
    where = f"stanza {index}"
    if not isinstance(obj, dict):
        raise MalformedBackup(f"{where} must be an object")
    kind = obj.get("type")
    if not isinstance(kind, str) or not _TYPE_NAME.fullmatch(kind):
        raise MalformedBackup(f"{where}: type must match [a-z][a-z0-9_-]{{0,31}}")
    is_kms = kind == KMS_TYPE
    _require_keys(obj, _KMS_KEYS if is_kms else _METHOD_KEYS[version], frozenset(), where)
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
        tag=_bytes_field(obj, "tag", where, STANZA_TAG_LEN) if version >= VERSION else None,
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
