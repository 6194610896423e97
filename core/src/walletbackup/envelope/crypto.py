"""The envelope's cryptography: seal, unlock, open, stanza tags and the derivations.

docs/format.md is the specification. format.py has already refused anything malformed; every
failure here is :class:`UnlockFailed` with its single message, so a wrong secret and a tampered
envelope look the same.

Each method stanza is an X25519 recipient (as in age): the method secret deterministically gives
a key pair whose public key is stored in the stanza, and (from version 2) an *auth key* that tags
the stanza. The public key lets anyone wrap a key to the method; only the auth key makes a tag
the opener accepts, and the auth keys travel inside the encrypted payload, so whoever opened the
envelope once can tag the next one for every method it keeps.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from walletbackup import canonical
from walletbackup.canonical import b64encode
from walletbackup.errors import MalformedBackup, UnlockFailed
from walletbackup.kms import KmsProvider

from .format import (
    AUTH_ENTRY_LEN,
    ENVELOPE_ID_LEN,
    KEY_LEN,
    KMS_TYPE,
    MAX_HEADER,
    MAX_SHARE,
    MAX_STANZAS,
    STANZA_ID_LEN,
    VERSION,
    VERSION_1,
    Context,
    Envelope,
    Stanza,
    check_context,
    check_roles,
    context_to_json,
    encode_header,
    header_core,
    parse,
    prefix,
    stanza_to_json,
)

# Unchanged in v2: a method secret gives the same recipient key in both versions.
LABEL_STANZA_KEY = b"walletbackup/v1/stanza-key"
LABEL_WRAP = b"walletbackup/v1/wrap"
LABEL_SHARE_COMMITMENT = b"walletbackup/v1/share-commitment"
LABEL_STANZA_AAD = {
    VERSION_1: b"walletbackup/v1/stanza\x00",
    VERSION: b"walletbackup/v2/stanza\x00",
}
LABEL_HEADER_MAC = {
    VERSION_1: b"walletbackup/v1/header-mac",
    VERSION: b"walletbackup/v2/header-mac",
}
LABEL_PAYLOAD = {VERSION_1: b"walletbackup/v1/payload", VERSION: b"walletbackup/v2/payload"}
LABEL_PAYLOAD_AAD = b"walletbackup/v2/payload-aad"
LABEL_STANZA_AUTH = b"walletbackup/v2/stanza-auth"
LABEL_STANZA_TAG = b"walletbackup/v2/stanza-tag"

# Each key is used for exactly one encryption (fresh ephemeral / fresh backup key).
_ZERO_NONCE = bytes(12)


@dataclass(frozen=True)
class Recipient:
    """A method to wrap a backup key to: stanza type, id, args, X25519 public key, auth key.

    The auth key (secret: it lets its holder tag stanzas for this method) makes the stanza's tag.
    """

    type: str
    id: bytes
    args: Mapping[str, Any]
    recipient: bytes
    auth_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.type == KMS_TYPE:
            raise ValueError("stanza type 'kms' is reserved: use KmsRecipient")

    @classmethod
    def from_stanza(cls, stanza: Stanza, auth_key: bytes) -> Recipient:
        """Re-wrap to the method of an existing stanza, with its auth key (from ``Opened``)."""
        if stanza.recipient is None:
            raise ValueError("a kms stanza is not a method recipient")
        return cls(stanza.type, stanza.id, stanza.args, stanza.recipient, auth_key)

    @classmethod
    def from_secret(
        cls, type: str, stanza_id: bytes, args: Mapping[str, Any], method_secret: bytes
    ) -> Recipient:
        """Wrap to a newly enrolled method, from its secret."""
        return cls(
            type,
            stanza_id,
            args,
            recipient_public_key(method_secret, stanza_id),
            stanza_auth_key(method_secret, stanza_id),
        )


@dataclass(frozen=True)
class KmsRecipient:
    """A KMS to wrap a backup key with (the custodian envelope's single stanza)."""

    id: bytes
    args: Mapping[str, Any]
    provider: KmsProvider


@dataclass(frozen=True)
class Opened:
    """An authenticated envelope's contents: the share and every method stanza's auth key."""

    share: bytes = field(repr=False)
    #: stanza id -> auth key, for every method stanza (empty for version 1 and custodian)
    auth_keys: Mapping[bytes, bytes] = field(repr=False)


def recipient_public_key(method_secret: bytes, stanza_id: bytes) -> bytes:
    """The X25519 public key a method secret gives for one stanza."""
    return _stanza_private_key(method_secret, stanza_id).public_key().public_bytes_raw()


def stanza_auth_key(method_secret: bytes, stanza_id: bytes) -> bytes:
    """The key that tags one stanza (v2): only the method secret's holder can derive it."""
    _require_len(method_secret, KEY_LEN, "method secret")
    _require_len(stanza_id, STANZA_ID_LEN, "stanza id")
    return _hkdf(method_secret, stanza_id, LABEL_STANZA_AUTH)


def seal(
    context: Context,
    share: bytes,
    recipients: Sequence[Recipient | KmsRecipient],
    *,
    envelope_id: bytes | None = None,
    backup_key: bytes | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> tuple[bytes, bytes]:
    """Encrypt ``share`` to ``recipients`` (format version 2); return ``(envelope, backup key)``.

    Randomness is drawn from ``rng`` in this order: the envelope_id (32 bytes) and the backup
    key (32), each unless given, then one ephemeral X25519 secret (32) per method recipient, in
    recipient order. A given ``envelope_id`` (known before sealing, so methods can name remote
    files after it) must be fresh. Raises :class:`MalformedBackup` when the inputs would not make
    a valid envelope, ValueError for a key or id of the wrong length.
    """
    check_context(context, VERSION)
    # Before any KMS call: a client key must never reach the custodian's KMS.
    check_roles(context.share_role, [isinstance(r, KmsRecipient) for r in recipients])
    if not 1 <= len(recipients) <= MAX_STANZAS:
        raise MalformedBackup(f"an envelope has 1..{MAX_STANZAS} stanzas, not {len(recipients)}")
    if not isinstance(share, bytes) or not 1 <= len(share) <= MAX_SHARE:
        raise MalformedBackup(f"a share is 1..{MAX_SHARE} bytes")
    if envelope_id is None:
        envelope_id = _draw(rng, ENVELOPE_ID_LEN)
    _require_len(envelope_id, ENVELOPE_ID_LEN, "envelope id")
    key = _draw(rng, KEY_LEN) if backup_key is None else backup_key
    _require_len(key, KEY_LEN, "backup key")
    stanzas = [_wrap(context, envelope_id, key, r, rng) for r in recipients]
    methods = [r for r in recipients if isinstance(r, Recipient)]
    core = encode_header(VERSION, envelope_id, context, stanzas, tags=False)
    plaintext = bytes([len(methods)]) + b"".join(r.id + r.auth_key for r in methods) + share
    payload = AESGCM(_hkdf(key, envelope_id, LABEL_PAYLOAD[VERSION])).encrypt(
        _ZERO_NONCE, plaintext, _payload_aad(core)
    )
    digest = _tag_input(core, payload)
    auth_keys = {r.id: r.auth_key for r in methods}
    tagged = [s if s.is_kms else replace(s, tag=_hmac(auth_keys[s.id], digest)) for s in stanzas]
    header = encode_header(VERSION, envelope_id, context, tagged)
    if len(header) > MAX_HEADER:
        raise MalformedBackup(f"the header would be {len(header)} bytes (max {MAX_HEADER})")
    authenticated = prefix(VERSION, header)
    mac = _header_mac(VERSION, key, envelope_id, authenticated)
    data = authenticated + mac + len(payload).to_bytes(4, "big") + payload
    parse(data)  # the writer obeys exactly the rules of the reader
    return data, key


def unlock(envelope: Envelope, stanza: Stanza, method_secret: bytes) -> bytes:
    """The backup key from a method stanza; :class:`UnlockFailed` on a wrong secret or tampering.

    Version 2 checks the stanza's tag first: nothing of a stanza that the method's auth key did
    not tag is used. The key is not yet proof of the rest: only :func:`open_with_key` checks the
    header MAC, the payload and every other stanza's tag.
    """
    if stanza.recipient is None or stanza.ephemeral is None:
        raise ValueError("unlock needs a method stanza (use unwrap_key_kms for kms)")
    if envelope.version >= VERSION:
        expected = _hmac(
            stanza_auth_key(method_secret, stanza.id),
            _tag_input(header_core(envelope), envelope.payload),
        )
        if stanza.tag is None or not hmac.compare_digest(expected, stanza.tag):
            raise UnlockFailed()
    return _unwrap(envelope, stanza, method_secret, stanza.recipient, stanza.ephemeral)


def unwrap_key_kms(envelope: Envelope, stanza: Stanza, provider: KmsProvider) -> bytes:
    """The backup key from a kms stanza, unwrapped by ``provider``; :class:`UnlockFailed` if not.

    The provider's own errors pass through unchanged (its UnlockFailed may name a public key id
    it lacks; an unreachable KMS is not a wrong key). Not yet authenticated, as for unlock.
    """
    if not stanza.is_kms:
        raise ValueError("unwrap_key_kms needs a kms stanza (use unlock for methods)")
    key = provider.unwrap(stanza.wrapped_key, stanza_aad(envelope, stanza), stanza.args)
    if not isinstance(key, bytes) or len(key) != KEY_LEN:
        raise UnlockFailed()
    return key


def open_with_key(envelope: Envelope, backup_key: bytes) -> Opened:
    """Authenticate the envelope under ``backup_key`` and decrypt it; :class:`UnlockFailed`.

    Version 2: the header MAC, the payload, its auth-key list (one per method stanza, in header
    order) and every method stanza's tag under its auth key.
    """
    _require_len(backup_key, KEY_LEN, "backup key")
    version, envelope_id = envelope.version, envelope.envelope_id
    expected_mac = _header_mac(version, backup_key, envelope_id, envelope.authenticated)
    if not hmac.compare_digest(expected_mac, envelope.header_mac):
        raise UnlockFailed()
    payload_key = _hkdf(backup_key, envelope_id, LABEL_PAYLOAD[version])
    if version == VERSION_1:
        aad = hashlib.sha256(envelope.authenticated + envelope.header_mac).digest()
        return Opened(_decrypt(payload_key, envelope.payload, aad), MappingProxyType({}))
    core = header_core(envelope)
    plaintext = _decrypt(payload_key, envelope.payload, _payload_aad(core))
    auth_keys, share = _split_plaintext(plaintext, envelope.method_stanzas)
    digest = _tag_input(core, envelope.payload)
    for stanza in envelope.method_stanzas:
        if not hmac.compare_digest(_hmac(auth_keys[stanza.id], digest), stanza.tag or b""):
            raise UnlockFailed()
    return Opened(share, MappingProxyType(auth_keys))


def stanza_aad(envelope: Envelope, stanza: Stanza) -> bytes:
    """The associated data that binds a stanza's wrapped key to its envelope and context."""
    return _aad(envelope.version, envelope.context, envelope.envelope_id, stanza)


def share_commitment(client_share: bytes, custodian_share: bytes) -> bytes:
    """Bind the two shares: HMAC-SHA256 of the client share, keyed from the custodian share.

    Stored in both envelopes' context. Whoever lacks the custodian share learns nothing from it
    and cannot make a client share that matches it, so a client envelope forged by a removed
    method's former holder (docs/format.md §9) fails on recovery, when both shares are known.
    """
    key = _hkdf(custodian_share, b"", LABEL_SHARE_COMMITMENT)
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(client_share)
    return mac.finalize()


def share_commitment_matches(
    client_share: bytes, custodian_share: bytes, commitment: bytes
) -> bool:
    """Whether the two shares are the pair ``commitment`` binds (compared in constant time).

    For whoever brings the shares together when the device did not: the node that got the
    custodian share from a service checks it against the commitment of the authenticated client
    envelope (``Recovered.share_commitment``) before it combines them.
    """
    return hmac.compare_digest(share_commitment(client_share, custodian_share), commitment)


# --- internals -------------------------------------------------------------------------------


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=salt, info=info).derive(ikm)


def _hmac(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _stanza_private_key(method_secret: bytes, stanza_id: bytes) -> X25519PrivateKey:
    _require_len(method_secret, KEY_LEN, "method secret")
    _require_len(stanza_id, STANZA_ID_LEN, "stanza id")
    return X25519PrivateKey.from_private_bytes(_hkdf(method_secret, stanza_id, LABEL_STANZA_KEY))


def _aad(version: int, context: Context, envelope_id: bytes, stanza: Stanza) -> bytes:
    return LABEL_STANZA_AAD[version] + canonical.dumps(
        {
            "context": context_to_json(context, version),
            "envelope_id": b64encode(envelope_id),
            "stanza": stanza_to_json(stanza, wrapped_key=False, tag=False),
        }
    )


def _header_mac(version: int, backup_key: bytes, envelope_id: bytes, authenticated: bytes) -> bytes:
    return _hmac(_hkdf(backup_key, envelope_id, LABEL_HEADER_MAC[version]), authenticated)


def _payload_aad(core: bytes) -> bytes:
    return hashlib.sha256(LABEL_PAYLOAD_AAD + core).digest()


def _tag_input(core: bytes, payload: bytes) -> bytes:
    return LABEL_STANZA_TAG + hashlib.sha256(core).digest() + hashlib.sha256(payload).digest()


def _decrypt(key: bytes, payload: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(_ZERO_NONCE, payload, aad)
    except InvalidTag:
        raise UnlockFailed() from None


def _split_plaintext(
    plaintext: bytes, methods: tuple[Stanza, ...]
) -> tuple[dict[bytes, bytes], bytes]:
    """The auth keys (which must name exactly the method stanzas, in order) and the share.

    Authenticated already, so a mismatch means a sealer that held the backup key but did not
    follow the format (or tags made for other stanzas): as good as tampering.
    """
    count = plaintext[0]
    share = plaintext[1 + count * AUTH_ENTRY_LEN :]
    if count != len(methods) or not 1 <= len(share) <= MAX_SHARE:
        raise UnlockFailed()
    auth_keys: dict[bytes, bytes] = {}
    for index, stanza in enumerate(methods):
        entry = plaintext[1 + index * AUTH_ENTRY_LEN : 1 + (index + 1) * AUTH_ENTRY_LEN]
        if not hmac.compare_digest(entry[:STANZA_ID_LEN], stanza.id):
            raise UnlockFailed()
        auth_keys[stanza.id] = entry[STANZA_ID_LEN:]
    return auth_keys, share


def _unwrap(
    envelope: Envelope, stanza: Stanza, method_secret: bytes, recipient: bytes, ephemeral: bytes
) -> bytes:
    private = _stanza_private_key(method_secret, stanza.id)
    if not hmac.compare_digest(private.public_key().public_bytes_raw(), recipient):
        raise UnlockFailed()
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        wrap_key = _hkdf(shared, ephemeral + recipient, LABEL_WRAP)
        return AESGCM(wrap_key).decrypt(
            _ZERO_NONCE, stanza.wrapped_key, stanza_aad(envelope, stanza)
        )
    except (ValueError, InvalidTag):
        raise UnlockFailed() from None


def _wrap(
    context: Context,
    envelope_id: bytes,
    backup_key: bytes,
    recipient: Recipient | KmsRecipient,
    rng: Callable[[int], bytes],
) -> Stanza:
    """The untagged v2 stanza for one recipient (tags need the payload, made afterwards)."""
    _require_len(recipient.id, STANZA_ID_LEN, "stanza id")
    if isinstance(recipient, KmsRecipient):
        bare = Stanza(KMS_TYPE, recipient.id, dict(recipient.args), b"")
        aad = _aad(VERSION, context, envelope_id, bare)
        return replace(bare, wrapped_key=recipient.provider.wrap(backup_key, aad, bare.args))
    _require_len(recipient.recipient, KEY_LEN, "recipient public key")
    _require_len(recipient.auth_key, KEY_LEN, "auth key")
    ephemeral = X25519PrivateKey.from_private_bytes(_draw(rng, KEY_LEN))
    ephemeral_pub = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.recipient))
    bare = Stanza(
        recipient.type,
        recipient.id,
        dict(recipient.args),
        b"",
        recipient=recipient.recipient,
        ephemeral=ephemeral_pub,
    )
    wrap_key = _hkdf(shared, ephemeral_pub + recipient.recipient, LABEL_WRAP)
    wrapped = AESGCM(wrap_key).encrypt(
        _ZERO_NONCE, backup_key, _aad(VERSION, context, envelope_id, bare)
    )
    return replace(bare, wrapped_key=wrapped)


def _draw(rng: Callable[[int], bytes], size: int) -> bytes:
    value = rng(size)
    _require_len(value, size, "rng output")
    return value


def _require_len(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"the {what} must be exactly {size} bytes")
