"""Test-only helpers for the envelope vectors, written from docs/format.md alone.

Nothing here imports ``walletbackup.envelope``: :func:`spec_seal` and the ``frame_v*`` functions
are an independent implementation of the format, so a vector the library reproduces and this
module reproduces is evidence the spec and the code agree. Also: seeded randomness, a fixed-key
test KMS, and small JSON helpers.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from walletbackup.errors import PolicyViolation, StorageError, UnlockFailed
from walletbackup.kms import KeyInfo, KmsProvider
from walletbackup.kms.base import key_fingerprint

MAGIC = b"\x89WBK\r\n\x1a\n"
Z12 = bytes(12)

# --- randomness ------------------------------------------------------------------------------


class SeededStream:
    """Deterministic bytes: SHA-256(seed || counter as 8 bytes big-endian), concatenated.

    Test-only: it makes vectors reproducible; it is not a primitive of the product.
    """

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def __call__(self, size: int) -> bytes:
        while len(self._buffer) < size:
            block = self._seed + self._counter.to_bytes(8, "big")
            self._buffer += hashlib.sha256(block).digest()
            self._counter += 1
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


class Replay:
    """An rng that hands out exactly the recorded bytes, in order."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, size: int) -> bytes:
        if size > len(self._data):
            raise AssertionError("seal drew more randomness than was recorded")
        out, self._data = self._data[:size], self._data[size:]
        return out

    @property
    def left(self) -> int:
        return len(self._data)


class Recording:
    """Wraps an rng and keeps every byte it handed out."""

    def __init__(self, rng: Callable[[int], bytes]) -> None:
        self._rng = rng
        self.drawn = b""

    def __call__(self, size: int) -> bytes:
        out = self._rng(size)
        self.drawn += out
        return out


class FixedKeyKms(KmsProvider):
    """Test KMS: blob = nonce (12) || AES-256-GCM(key[version], nonce, backup key, aad).

    Version 1 is the key given; :meth:`rotate` adds version n+1 = SHA-256(key[n]). The key
    exists from the start, so :meth:`create_key` always refuses.
    """

    scheme: ClassVar[str] = "test"

    def __init__(self, key: bytes, nonces: Callable[[int], bytes]) -> None:
        super().__init__("test:fixed")
        self._keys = {1: key}
        self._nonces = nonces

    def create_key(self) -> KeyInfo:
        raise StorageError("the test KMS key is given when the provider is made")

    def stanza_args(self) -> dict[str, Any]:
        return {"key_id": "fixed", "provider": self.scheme, "version": max(self._keys)}

    def key_info(self) -> KeyInfo:
        current = max(self._keys)
        return KeyInfo(
            self.scheme,
            "fixed",
            current,
            tuple(sorted(self._keys)),
            key_fingerprint(self._keys[current]),
        )

    def wrap(self, key: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        nonce = self._nonces(12)
        return nonce + AESGCM(self._keys[args["version"]]).encrypt(nonce, key, aad)

    def unwrap(self, blob: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        version = args.get("version")
        key = self._keys.get(version) if isinstance(version, int) else None
        if key is None or len(blob) < 28:
            raise UnlockFailed()
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
        except InvalidTag:
            raise UnlockFailed() from None

    def rotate(self) -> int:
        version = max(self._keys)
        self._keys[version + 1] = hashlib.sha256(self._keys[version]).digest()
        return version + 1

    def retire(self, below: int) -> tuple[int, ...]:
        if below > max(self._keys):
            raise PolicyViolation("the current version cannot be retired")
        retired = tuple(version for version in sorted(self._keys) if version < below)
        for version in retired:
            del self._keys[version]
        return retired


# --- encodings -------------------------------------------------------------------------------


def canon(obj: Any) -> bytes:
    """Canonical JSON the way docs/format.md defines it (independent of walletbackup.canonical)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text: Any) -> bytes | None:
    """The bytes of a base64url string, or None when it is not one (edited headers)."""
    if not isinstance(text, str):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def header_of(data: bytes) -> dict[str, Any]:
    """The header object of a well-formed envelope (a fresh copy, free to edit)."""
    length = int.from_bytes(data[10:14], "big")
    header: dict[str, Any] = json.loads(data[14 : 14 + length])
    return header


def header_end(data: bytes) -> int:
    return 14 + int.from_bytes(data[10:14], "big")


# --- the format, from the spec ---------------------------------------------------------------


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sha256").digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def recipient_key(method_secret: bytes, stanza_id: bytes) -> bytes:
    sk = hkdf(method_secret, stanza_id, b"walletbackup/v1/stanza-key")
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()


def auth_key(method_secret: bytes, stanza_id: bytes) -> bytes:
    return hkdf(method_secret, stanza_id, b"walletbackup/v2/stanza-auth")


def stanza_aad(version: int, header: dict[str, Any], stanza: dict[str, Any]) -> bytes:
    bare = {k: v for k, v in stanza.items() if k not in ("wrapped_key", "tag")}
    label = b"walletbackup/v%d/stanza\x00" % version
    return label + canon(
        {"context": header["context"], "envelope_id": header["envelope_id"], "stanza": bare}
    )


def frame_v1(header: bytes, backup_key: bytes, envelope_id: bytes, share: bytes) -> bytes:
    """Magic, version 1, suite, header, header MAC and payload (docs/format.md, reading v1)."""
    prefix = MAGIC + b"\x01\x01" + len(header).to_bytes(4, "big") + header
    mac = hmac256(hkdf(backup_key, envelope_id, b"walletbackup/v1/header-mac"), prefix)
    payload_key = hkdf(backup_key, envelope_id, b"walletbackup/v1/payload")
    payload = AESGCM(payload_key).encrypt(Z12, share, sha256(prefix + mac))
    return prefix + mac + len(payload).to_bytes(4, "big") + payload


def strip_tags(header: Any) -> Any:
    """The header without any stanza "tag" (what the v2 header core encodes)."""
    out = copy.deepcopy(header)
    if isinstance(out, dict) and isinstance(out.get("stanzas"), list):
        for stanza in out["stanzas"]:
            if isinstance(stanza, dict):
                stanza.pop("tag", None)
    return out


def method_ids(header: Any) -> list[bytes]:
    """The ids of the header's method stanzas, in order (skipping what does not decode)."""
    if not isinstance(header, dict) or not isinstance(header.get("stanzas"), list):
        return []
    ids = []
    for stanza in header["stanzas"]:
        if isinstance(stanza, dict) and stanza.get("type") != "kms":
            decoded = unb64u(stanza.get("id"))
            if decoded is not None:
                ids.append(decoded)
    return ids


def frame_v2(
    header: Any,
    *,
    backup_key: bytes,
    envelope_id: bytes,
    share: bytes,
    auth_keys: Mapping[bytes, bytes],
    entries: Sequence[tuple[bytes, bytes]] | None = None,
    retag: bool = True,
    encode: Callable[[Any], bytes] = canon,
) -> bytes:
    """A version-2 envelope around ``header``, with its payload, tags and MAC made from the spec.

    The payload lists ``entries`` (default: every method stanza's id with its auth key, a zero
    key for an unknown id). With ``retag``, every stanza that has a "tag" and a known id gets the
    tag its auth key makes; other tags stay as they are. So an edited header comes back with
    everything the key holders could re-make, and only the edit itself is wrong.
    """
    header = copy.deepcopy(header)
    core = encode(strip_tags(header))
    if entries is None:
        entries = [(i, auth_keys.get(i, bytes(32))) for i in method_ids(header)]
    plaintext = bytes([len(entries)]) + b"".join(i + k for i, k in entries) + share
    payload_key = hkdf(backup_key, envelope_id, b"walletbackup/v2/payload")
    aad = sha256(b"walletbackup/v2/payload-aad" + core)
    payload = AESGCM(payload_key).encrypt(Z12, plaintext, aad)
    if retag and isinstance(header, dict) and isinstance(header.get("stanzas"), list):
        digest = b"walletbackup/v2/stanza-tag" + sha256(core) + sha256(payload)
        for stanza in header["stanzas"]:
            if isinstance(stanza, dict) and "tag" in stanza:
                key = auth_keys.get(unb64u(stanza.get("id")) or b"")
                if key is not None:
                    stanza["tag"] = b64u(hmac256(key, digest))
    encoded = encode(header)
    prefix = MAGIC + b"\x02\x01" + len(encoded).to_bytes(4, "big") + encoded
    mac = hmac256(hkdf(backup_key, envelope_id, b"walletbackup/v2/header-mac"), prefix)
    return prefix + mac + len(payload).to_bytes(4, "big") + payload


def frame_v2_bytes(header: bytes, *, backup_key: bytes, envelope_id: bytes, share: bytes) -> bytes:
    """A version-2 frame around header bytes that must fail parsing (the core is not derived)."""
    plaintext = b"\x00" + share
    payload = AESGCM(hkdf(backup_key, envelope_id, b"walletbackup/v2/payload")).encrypt(
        Z12, plaintext, sha256(b"walletbackup/v2/payload-aad" + header)
    )
    prefix = MAGIC + b"\x02\x01" + len(header).to_bytes(4, "big") + header
    mac = hmac256(hkdf(backup_key, envelope_id, b"walletbackup/v2/header-mac"), prefix)
    return prefix + mac + len(payload).to_bytes(4, "big") + payload


def spec_seal(
    version: int,
    context: dict[str, Any],
    share: bytes,
    recipients: Sequence[Mapping[str, Any]],
    rng: Callable[[int], bytes],
    kms_nonces: Callable[[int], bytes] | None = None,
) -> tuple[bytes, bytes]:
    """Seal from the spec: ``context`` is the header's context object; each recipient is a
    vector's description (type, id and args as hex/JSON, and method_secret or kms_key as hex).

    Randomness is drawn as docs/format.md says: envelope_id, backup key, one ephemeral per
    method recipient; a kms recipient's nonce comes from ``kms_nonces``.
    """
    envelope_id, backup_key = rng(32), rng(32)
    header: dict[str, Any] = {"context": context, "envelope_id": b64u(envelope_id), "stanzas": []}
    auth_keys = {}
    for r in recipients:
        stanza_id = bytes.fromhex(r["id"])
        stanza: dict[str, Any] = {"args": r["args"], "id": b64u(stanza_id), "type": r["type"]}
        if r["type"] == "kms":
            if kms_nonces is None:
                raise AssertionError("a kms recipient needs kms_nonces")
            nonce = kms_nonces(12)
            aesgcm = AESGCM(bytes.fromhex(r["kms_key"]))
            blob = nonce + aesgcm.encrypt(nonce, backup_key, stanza_aad(version, header, stanza))
            stanza["wrapped_key"] = b64u(blob)
        else:
            secret = bytes.fromhex(r["method_secret"])
            recipient = recipient_key(secret, stanza_id)
            e = X25519PrivateKey.from_private_bytes(rng(32))
            ephemeral = e.public_key().public_bytes_raw()
            stanza.update(ephemeral=b64u(ephemeral), recipient=b64u(recipient))
            shared = e.exchange(X25519PublicKey.from_public_bytes(recipient))
            wrap_key = hkdf(shared, ephemeral + recipient, b"walletbackup/v1/wrap")
            aad = stanza_aad(version, header, stanza)
            stanza["wrapped_key"] = b64u(AESGCM(wrap_key).encrypt(Z12, backup_key, aad))
            if version == 2:
                stanza["tag"] = ""  # made by frame_v2, once the payload exists
                auth_keys[stanza_id] = auth_key(secret, stanza_id)
        header["stanzas"].append(stanza)
    if version == 1:
        return frame_v1(canon(header), backup_key, envelope_id, share), backup_key
    data = frame_v2(
        header, backup_key=backup_key, envelope_id=envelope_id, share=share, auth_keys=auth_keys
    )
    return data, backup_key


# --- edits -----------------------------------------------------------------------------------


def nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def args_of_size(size: int) -> dict[str, str]:
    """Stanza args whose canonical JSON is exactly ``size`` bytes, no string over 1000 chars."""
    args: dict[str, str] = {}
    while (missing := size - len(canon(args))) > 0:
        key = f"k{len(args):02d}"
        overhead = len(canon({key: ""})) - (2 if not args else 1)
        fill = min(1000, max(0, missing - overhead))
        if 0 < missing - overhead - fill < 10:  # leave room for one more whole entry
            fill -= 10
        args[key] = "x" * fill
    if len(canon(args)) != size:
        raise AssertionError(f"cannot build args of exactly {size} bytes")
    return args


def flip(data: bytes, offset: int, bit: int = 0x01) -> bytes:
    return data[:offset] + bytes([data[offset] ^ bit]) + data[offset + 1 :]


def set_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + value.to_bytes(4, "big") + data[offset + 4 :]
