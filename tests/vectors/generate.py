"""Regenerate the envelope v1 test vectors (deterministic: two runs write identical bytes).

    .venv/bin/python tests/vectors/generate.py

writes tests/vectors/envelope_v1.json (known answers) and tests/vectors/invalid/envelope_v1.json
(named invalid envelopes). The tests never run this script; they check the committed files
against the library. It is also imported by tests/core/test_envelope_*.py for its helpers: the
seeded byte stream, the test KMS, and :func:`frame`, an independent re-implementation of the
framing in docs/format.md (used to build invalid envelopes that carry a valid MAC).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from walletbackup import envelope
from walletbackup.canonical import b64encode
from walletbackup.errors import PolicyViolation, StorageError, UnlockFailed
from walletbackup.kms import KeyInfo, KmsProvider
from walletbackup.kms.base import key_fingerprint

HERE = Path(__file__).resolve().parent
VALID_PATH = HERE / "envelope_v1.json"
INVALID_PATH = HERE / "invalid" / "envelope_v1.json"

# --- helpers shared with the tests ---------------------------------------------------------


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


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def frame(header: bytes, backup_key: bytes, envelope_id: bytes, share: bytes) -> bytes:
    """Magic, version, suite, header, header MAC and payload, written from docs/format.md alone."""
    prefix = b"\x89WBK\r\n\x1a\n\x01\x01" + len(header).to_bytes(4, "big") + header
    mac_key = _hkdf(backup_key, envelope_id, b"walletbackup/v1/header-mac")
    mac = hmac.new(mac_key, prefix, "sha256").digest()
    payload_key = _hkdf(backup_key, envelope_id, b"walletbackup/v1/payload")
    aad = hashlib.sha256(prefix + mac).digest()
    payload = AESGCM(payload_key).encrypt(bytes(12), share, aad)
    return prefix + mac + len(payload).to_bytes(4, "big") + payload


def header_of(data: bytes) -> dict[str, Any]:
    """The header object of a well-formed envelope (a fresh copy, free to edit)."""
    length = int.from_bytes(data[10:14], "big")
    header: dict[str, Any] = json.loads(data[14 : 14 + length])
    return header


def canon(obj: Any) -> bytes:
    """Canonical JSON the way docs/format.md defines it (independent of walletbackup.canonical)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- known-answer vectors ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    wallet_id: str
    share_role: str
    key_epoch: int
    methods: tuple[tuple[str, dict[str, Any]], ...]  # (type, args); empty for custodian
    share_size: int
    commitment: bool = False


CASES = (
    Case(
        "client_one_stanza",
        "client envelope, one password-like method stanza",
        "wallet-1",
        "client",
        0,
        (("password", {"kdf": "argon2id", "m": 65536, "p": 4, "salt": "c2FsdA", "t": 3}),),
        48,
    ),
    Case(
        "client_three_stanzas",
        "client envelope, three method stanzas; non-ASCII wallet id",
        "wallet-\u00fc\u00df-2",
        "client",
        7,
        (
            ("password", {"kdf": "argon2id", "m": 19456, "p": 1, "salt": "cGVwcGVy", "t": 2}),
            ("passkey", {"credential_id": "Y3JlZA", "prf_salt": "cHJm", "rp_id": "localhost"}),
            ("gdrive", {"file_id": "1AbC-dEf_9"}),
        ),
        64,
    ),
    Case(
        "client_share_commitment",
        "client envelope with share_commitment = SHA-256(share); largest key_epoch",
        "wallet-3",
        "client",
        2**53 - 1,
        (("icloud", {"path": "walletbackup/keys/w3.key"}),),
        33,
        commitment=True,
    ),
    Case(
        "custodian_kms",
        "custodian envelope, one kms stanza (test KMS)",
        "wallet-1",
        "custodian",
        0,
        (),
        48,
    ),
)


@dataclass(frozen=True)
class Built:
    """A sealed case with everything needed to open and edit it."""

    vector: dict[str, Any]
    data: bytes
    backup_key: bytes
    share: bytes
    secrets: tuple[bytes, ...]
    kms_key: bytes | None


def build(case: Case) -> Built:
    inputs = SeededStream(b"walletbackup/v1 vector inputs/" + case.name.encode())
    share = inputs(case.share_size)
    context = envelope.Context(
        wallet_id=case.wallet_id,
        backup_set_id=inputs(16),
        share_role=case.share_role,
        key_epoch=case.key_epoch,
        share_commitment=hashlib.sha256(share).digest() if case.commitment else None,
    )
    recipients: list[envelope.Recipient | envelope.KmsRecipient] = []
    described: list[dict[str, Any]] = []
    secrets: list[bytes] = []
    kms_key = None
    nonces = Recording(SeededStream(b"walletbackup/v1 vector kms nonces/" + case.name.encode()))
    for kind, args in case.methods:
        stanza_id, secret = inputs(16), inputs(32)
        recipient = envelope.Recipient.from_secret(kind, stanza_id, args, secret)
        recipients.append(recipient)
        secrets.append(secret)
        described.append(
            {
                "type": kind,
                "id": stanza_id.hex(),
                "args": args,
                "method_secret": secret.hex(),
                "recipient": recipient.recipient.hex(),
            }
        )
    if not case.methods:
        stanza_id, kms_key = inputs(16), inputs(32)
        provider = FixedKeyKms(kms_key, nonces)
        recipients.append(envelope.KmsRecipient(stanza_id, provider.stanza_args(), provider))
        described.append({"type": "kms", "id": stanza_id.hex(), "args": provider.stanza_args()})
    rng = Recording(SeededStream(b"walletbackup/v1 vector rng/" + case.name.encode()))
    data, backup_key = envelope.seal(context, share, recipients, rng=rng)
    if kms_key is not None:
        described[0].update(kms_key=kms_key.hex(), kms_nonce=nonces.drawn.hex())
    header_len = int.from_bytes(data[10:14], "big")
    vector = {
        "name": case.name,
        "description": case.description,
        "context": {
            "wallet_id": context.wallet_id,
            "backup_set_id": context.backup_set_id.hex(),
            "share_role": context.share_role,
            "key_epoch": context.key_epoch,
            "share_commitment": None
            if context.share_commitment is None
            else context.share_commitment.hex(),
        },
        "share": share.hex(),
        "recipients": described,
        "rng": rng.drawn.hex(),
        "expected": {
            "envelope_id": rng.drawn[:32].hex(),
            "backup_key": backup_key.hex(),
            "header": data[14 : 14 + header_len].decode("utf-8"),
            "header_mac": data[14 + header_len : 46 + header_len].hex(),
            "envelope": data.hex(),
            "armored": envelope.armor(data),
        },
    }
    return Built(vector, data, backup_key, share, tuple(secrets), kms_key)


def built(name: str) -> Built:
    return build(next(case for case in CASES if case.name == name))


# --- invalid vectors -----------------------------------------------------------------------


def _set_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + value.to_bytes(4, "big") + data[offset + 4 :]


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def _header_end(data: bytes) -> int:
    return 14 + int.from_bytes(data[10:14], "big")


def _reframe(b: Built, edit: Callable[[dict[str, Any]], None]) -> bytes:
    header = header_of(b.data)
    edit(header)
    return _reframe_bytes(b, canon(header))


def _reframe_bytes(b: Built, header: bytes, envelope_id: bytes | None = None) -> bytes:
    original = bytes.fromhex(b.vector["expected"]["envelope_id"])
    return frame(header, b.backup_key, envelope_id or original, b.share)


def _text_edit(b: Built, old: str, new: str) -> bytes:
    text = canon(header_of(b.data)).decode()
    if old not in text:
        raise AssertionError(f"{old!r} not in the sample header")
    return _reframe_bytes(b, text.replace(old, new, 1).encode())


def _b64(n: int, fill: int = 0x41) -> str:
    return b64encode(bytes([fill]) * n)


def _ctx(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        h["context"][key] = value

    return edit


def _st(key: str, value: Any, index: int = 0) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"][index][key] = value

    return edit


def _del(where: str, key: str) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        target = h["context"] if where == "context" else h["stanzas"][0] if where else h
        del target[key]

    return edit


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


def _stanza_copies(n: int) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        first = h["stanzas"][0]
        h["stanzas"] = [dict(first, id=b64encode(bytes([i]) * 16)) for i in range(n)]

    return edit


def _add_stanza(stanza: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"].append(stanza)

    return edit


def _replace_stanzas(stanzas: list[Any]) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"] = copy.deepcopy(stanzas)

    return edit


def sealed_like(b: Built, *, envelope_id: bytes, backup_key: bytes, ephemeral: bytes) -> bytes:
    """Seal another envelope to b's first method, with chosen envelope id, key and ephemeral."""
    first = b.vector["recipients"][0]
    recipient = envelope.Recipient(
        first["type"], bytes.fromhex(first["id"]), first["args"], bytes.fromhex(first["recipient"])
    )
    ctx = b.vector["context"]
    context = envelope.Context(
        ctx["wallet_id"], bytes.fromhex(ctx["backup_set_id"]), ctx["share_role"], ctx["key_epoch"]
    )
    data, _ = envelope.seal(
        context,
        b"other share",
        [recipient],
        envelope_id=envelope_id,
        backup_key=backup_key,
        rng=Replay(ephemeral),
    )
    return data


def invalid_vectors() -> list[dict[str, Any]]:
    one = built("client_one_stanza")
    three = built("client_three_stanzas")
    kms = built("custodian_kms")
    data = one.data
    hend = _header_end(data)
    size = len(data)
    method = header_of(data)["stanzas"][0]
    kms_stanza = header_of(kms.data)["stanzas"][0]
    kms_blob = base64.urlsafe_b64decode(kms_stanza["wrapped_key"] + "==")
    envelope_id = bytes.fromhex(one.vector["expected"]["envelope_id"])
    other_id = hashlib.sha256(b"another envelope id").digest()
    other_key = hashlib.sha256(b"another backup key").digest()
    ephemeral = hashlib.sha256(b"another ephemeral").digest()
    transplant = header_of(
        sealed_like(one, envelope_id=other_id, backup_key=one.backup_key, ephemeral=ephemeral)
    )["stanzas"][0]
    rewrapped = header_of(
        sealed_like(one, envelope_id=envelope_id, backup_key=other_key, ephemeral=ephemeral)
    )["stanzas"][0]
    other_envelope = sealed_like(
        one, envelope_id=other_id, backup_key=one.backup_key, ephemeral=ephemeral
    )
    other_hend = _header_end(other_envelope)

    malformed: list[tuple[str, str, bytes]] = [
        ("empty", "zero bytes", b""),
        ("truncated_magic", "five bytes of the magic", data[:5]),
        ("bad_magic", "first magic byte 0x88", b"\x88" + data[1:]),
        (
            "magic_crlf_mangled",
            "text-mode transfer turned the magic's CR LF into LF",
            data[:4] + b"\n" + data[6:],
        ),
        ("version_0", "version byte 0", data[:8] + b"\x00" + data[9:]),
        ("version_2", "version byte 2 (no negotiation)", data[:8] + b"\x02" + data[9:]),
        ("suite_0", "suite byte 0", data[:9] + b"\x00" + data[10:]),
        ("suite_2", "unknown suite 2", data[:9] + b"\x02" + data[10:]),
        ("truncated_prefix", "ends inside header_len", data[:13]),
        ("header_len_0", "header_len 0", _set_u32(data, 10, 0)),
        ("header_len_1", "header_len 1 (minimum is 2)", _set_u32(data, 10, 1)),
        ("header_len_65537", "header_len above 65536", _set_u32(data, 10, 65537)),
        ("header_len_beyond_data", "header_len larger than the input", _set_u32(data, 10, size)),
        ("truncated_header", "ends inside the header", data[: hend - 1]),
        ("truncated_header_mac", "ends inside the header MAC", data[: hend + 31]),
        ("truncated_payload_len", "ends inside payload_len", data[: hend + 34]),
        ("truncated_payload", "last payload byte missing", data[:-1]),
        ("trailing_byte", "one byte after the payload", data + b"\x00"),
        ("trailing_newline", "a newline after the payload", data + b"\n"),
        (
            "payload_len_16",
            "payload_len 16 (a tag with no share)",
            _set_u32(data[: hend + 36 + 16], hend + 32, 16),
        ),
        ("payload_len_65553", "payload_len above 65552", _set_u32(data, hend + 32, 65553)),
        (
            "payload_len_too_long",
            "payload_len one more than the data",
            _set_u32(data, hend + 32, size - hend - 36 + 1),
        ),
        (
            "payload_len_too_short",
            "payload_len one less than the data",
            _set_u32(data, hend + 32, size - hend - 36 - 1),
        ),
        (
            "header_not_utf8",
            "a 0xff byte inside a header string",
            _reframe_bytes(one, canon(header_of(data)).replace(b"wallet-1", b"wallet-\xff")),
        ),
        (
            "header_utf8_bom",
            "header starts with a UTF-8 byte order mark",
            _reframe_bytes(one, b"\xef\xbb\xbf" + canon(header_of(data))),
        ),
        (
            "header_whitespace",
            "header JSON with spaces after separators",
            _reframe_bytes(one, json.dumps(header_of(data), sort_keys=True).encode()),
        ),
        (
            "header_trailing_newline",
            "header JSON followed by a newline",
            _reframe_bytes(one, canon(header_of(data)) + b"\n"),
        ),
        (
            "header_keys_unsorted",
            "top-level keys in reverse order",
            _reframe_bytes(
                one,
                json.dumps(
                    dict(reversed(header_of(data).items())),
                    separators=(",", ":"),
                    ensure_ascii=False,
                ).encode(),
            ),
        ),
        (
            "header_duplicate_key",
            "context.key_epoch appears twice",
            _text_edit(one, '"key_epoch":0', '"key_epoch":0,"key_epoch":0'),
        ),
        (
            "header_float",
            "key_epoch written 0.0",
            _text_edit(one, '"key_epoch":0', '"key_epoch":0.0'),
        ),
        (
            "header_exponent",
            "key_epoch written 0e0",
            _text_edit(one, '"key_epoch":0', '"key_epoch":0e0'),
        ),
        (
            "header_negative_zero",
            "key_epoch written -0",
            _text_edit(one, '"key_epoch":0', '"key_epoch":-0'),
        ),
        ("header_bool", "key_epoch true", _reframe(one, _ctx("key_epoch", True))),
        ("header_null", "share_commitment null", _reframe(one, _ctx("share_commitment", None))),
        ("header_nan", "key_epoch NaN", _text_edit(one, '"key_epoch":0', '"key_epoch":NaN')),
        (
            "header_escaped_letter",
            "wallet_id with \\u0077 where a raw 'w' is canonical",
            _text_edit(one, '"wallet-1"', '"\\u0077allet-1"'),
        ),
        (
            "header_escaped_slash",
            "a '/' written as \\/ in stanza args",
            _text_edit(one, '"kdf":"argon2id"', '"kdf":"argon2id\\/x"'),
        ),
        (
            "header_uppercase_escape",
            "a control character in args escaped as \\u001F (canonical: \\u001f)",
            _text_edit(one, '"kdf":"argon2id"', '"kdf":"argon2id\\u001F"'),
        ),
        (
            "header_lone_surrogate",
            "an escaped lone surrogate \\ud800 in args",
            _text_edit(one, '"kdf":"argon2id"', '"kdf":"argon2id\\ud800"'),
        ),
        ("header_not_object", "header is a JSON array", _reframe_bytes(one, b"[]")),
        ("header_too_deep", "stanza args nested to depth 9", _reframe(one, _st("args", nest(6)))),
        (
            "header_int_too_large",
            "an args integer of 2**53",
            _reframe(one, _st("args", {"t": 2**53})),
        ),
        (
            "header_unknown_key",
            "an unknown top-level key",
            _reframe(one, lambda h: h.update(x="1")),
        ),
        ("context_unknown_key", "an unknown context key", _reframe(one, _ctx("x", "1"))),
        ("stanza_unknown_key", "an unknown stanza key", _reframe(one, _st("x", "1"))),
        (
            "context_missing_key_epoch",
            "context without key_epoch",
            _reframe(one, _del("context", "key_epoch")),
        ),
        (
            "stanza_missing_ephemeral",
            "method stanza without ephemeral",
            _reframe(one, _del("stanza", "ephemeral")),
        ),
        ("header_missing_stanzas", "header without stanzas", _reframe(one, _del("", "stanzas"))),
        (
            "envelope_id_31_bytes",
            "envelope_id of 31 bytes",
            _reframe(one, lambda h: h.update(envelope_id=_b64(31))),
        ),
        (
            "envelope_id_33_bytes",
            "envelope_id of 33 bytes",
            _reframe(one, lambda h: h.update(envelope_id=_b64(33))),
        ),
        (
            "envelope_id_padded",
            "envelope_id with '=' padding",
            _reframe(one, lambda h: h.update(envelope_id=h["envelope_id"] + "=")),
        ),
        (
            "envelope_id_standard_alphabet",
            "envelope_id using '+' and '/'",
            _reframe(
                one,
                lambda h: h.update(envelope_id=_b64(32, 0xFB).replace("-", "+").replace("_", "/")),
            ),
        ),
        (
            "envelope_id_stray_bits",
            "envelope_id whose last character carries non-zero spare bits",
            _reframe(one, lambda h: h.update(envelope_id=_b64(32)[:-1] + "B")),
        ),
        (
            "backup_set_id_15_bytes",
            "backup_set_id of 15 bytes",
            _reframe(one, _ctx("backup_set_id", _b64(15))),
        ),
        (
            "backup_set_id_17_bytes",
            "backup_set_id of 17 bytes",
            _reframe(one, _ctx("backup_set_id", _b64(17))),
        ),
        ("stanza_id_15_bytes", "stanza id of 15 bytes", _reframe(one, _st("id", _b64(15)))),
        ("recipient_31_bytes", "recipient of 31 bytes", _reframe(one, _st("recipient", _b64(31)))),
        ("recipient_33_bytes", "recipient of 33 bytes", _reframe(one, _st("recipient", _b64(33)))),
        ("ephemeral_31_bytes", "ephemeral of 31 bytes", _reframe(one, _st("ephemeral", _b64(31)))),
        ("ephemeral_33_bytes", "ephemeral of 33 bytes", _reframe(one, _st("ephemeral", _b64(33)))),
        (
            "wrapped_key_47_bytes",
            "method wrapped_key of 47 bytes",
            _reframe(one, _st("wrapped_key", _b64(47))),
        ),
        (
            "wrapped_key_49_bytes",
            "method wrapped_key of 49 bytes",
            _reframe(one, _st("wrapped_key", _b64(49))),
        ),
        ("key_epoch_negative", "key_epoch -1", _reframe(one, _ctx("key_epoch", -1))),
        ("key_epoch_2_pow_53", "key_epoch 2**53", _reframe(one, _ctx("key_epoch", 2**53))),
        ("key_epoch_string", 'key_epoch "0"', _reframe(one, _ctx("key_epoch", "0"))),
        ("share_role_unknown", 'share_role "server"', _reframe(one, _ctx("share_role", "server"))),
        (
            "share_role_uppercase",
            'share_role "Client"',
            _reframe(one, _ctx("share_role", "Client")),
        ),
        ("wallet_id_empty", 'wallet_id ""', _reframe(one, _ctx("wallet_id", ""))),
        (
            "wallet_id_129_bytes",
            "wallet_id of 129 UTF-8 bytes (65 characters)",
            _reframe(one, _ctx("wallet_id", "w" + "\u00e9" * 64)),
        ),
        (
            "wallet_id_control_char",
            "wallet_id with U+0007",
            _reframe(one, _ctx("wallet_id", "w\u0007")),
        ),
        (
            "wallet_id_delete_char",
            "wallet_id with U+007F (category Cc)",
            _reframe(one, _ctx("wallet_id", "w\u007f")),
        ),
        (
            "wallet_id_not_nfc",
            'wallet_id "e" + U+0301 (NFD)',
            _reframe(one, _ctx("wallet_id", "e\u0301")),
        ),
        ("wallet_id_not_string", "wallet_id 1", _reframe(one, _ctx("wallet_id", 1))),
        (
            "share_commitment_empty",
            "share_commitment of 0 bytes",
            _reframe(one, _ctx("share_commitment", "")),
        ),
        (
            "share_commitment_65_bytes",
            "share_commitment of 65 bytes",
            _reframe(one, _ctx("share_commitment", _b64(65))),
        ),
        ("stanzas_empty", "no stanzas", _reframe(one, _replace_stanzas([]))),
        ("stanzas_17", "17 stanzas (max 16)", _reframe(one, _stanza_copies(17))),
        ("stanzas_not_list", "stanzas is an object", _reframe(one, lambda h: h.update(stanzas={}))),
        ("stanza_not_object", "a stanza is a string", _reframe(one, _replace_stanzas(["x"]))),
        ("stanza_type_uppercase", 'type "Password"', _reframe(one, _st("type", "Password"))),
        ("stanza_type_leading_digit", 'type "1password"', _reframe(one, _st("type", "1password"))),
        ("stanza_type_33_chars", "type of 33 characters", _reframe(one, _st("type", "p" * 33))),
        ("stanza_type_empty", 'type ""', _reframe(one, _st("type", ""))),
        ("stanza_type_space", 'type "pass word"', _reframe(one, _st("type", "pass word"))),
        (
            "stanza_type_trailing_newline",
            'type "password\\n"',
            _reframe(one, _st("type", "password\n")),
        ),
        (
            "stanza_ids_duplicate",
            "two stanzas with one id",
            _reframe(three, _st("id", header_of(three.data)["stanzas"][0]["id"], 1)),
        ),
        ("args_not_object", "args is a list", _reframe(one, _st("args", []))),
        ("args_too_large", "args of 4097 bytes", _reframe(one, _st("args", args_of_size(4097)))),
        (
            "args_string_too_long",
            "a 1025-character string in args",
            _reframe(one, _st("args", {"a": "b" * 1025})),
        ),
        (
            "args_key_too_long",
            "a 1025-character key in args",
            _reframe(one, _st("args", {"b" * 1025: 1})),
        ),
        (
            "client_with_kms_stanza",
            "a client envelope holding a kms stanza too",
            _reframe(one, _add_stanza(kms_stanza)),
        ),
        (
            "client_only_kms_stanza",
            "a client envelope whose one stanza is kms",
            _reframe(one, _replace_stanzas([kms_stanza])),
        ),
        (
            "custodian_method_stanza",
            "a custodian envelope with a method stanza",
            _reframe(kms, _replace_stanzas([method])),
        ),
        (
            "custodian_two_stanzas",
            "a custodian envelope with a kms and a method stanza",
            _reframe(kms, _add_stanza(method)),
        ),
        (
            "custodian_two_kms_stanzas",
            "a custodian envelope with two kms stanzas",
            _reframe(kms, _add_stanza(dict(kms_stanza, id=_b64(16)))),
        ),
        (
            "kms_wrapped_key_empty",
            "kms wrapped_key of 0 bytes",
            _reframe(kms, _st("wrapped_key", "")),
        ),
        (
            "kms_wrapped_key_1025_bytes",
            "kms wrapped_key of 1025 bytes",
            _reframe(kms, _st("wrapped_key", _b64(1025))),
        ),
        (
            "kms_stanza_with_recipient",
            "kms stanza carrying a recipient key",
            _reframe(kms, _st("recipient", _b64(32))),
        ),
    ]

    secret = one.secrets[0]
    payload_at = hend + 36
    failing: list[tuple[str, str, bytes, Built, int]] = [
        ("wrong_secret", "a valid envelope opened with another method secret", data, one, -1),
        ("header_mac_bit_flip", "one bit of the header MAC flipped", _flip(data, hend), one, 0),
        (
            "payload_bit_flip",
            "one bit of the payload ciphertext flipped",
            _flip(data, payload_at),
            one,
            0,
        ),
        (
            "payload_tag_bit_flip",
            "one bit of the payload tag flipped",
            _flip(data, size - 1),
            one,
            0,
        ),
        (
            "header_bit_flip_in_args",
            "args changed; header MAC left as it was",
            data.replace(b'"t":3', b'"t":4'),
            one,
            0,
        ),
        (
            "wrapped_key_changed",
            "wrapped_key replaced; MAC and payload re-made under the key",
            _reframe(one, _st("wrapped_key", _b64(48))),
            one,
            0,
        ),
        (
            "ephemeral_replaced",
            "another valid ephemeral key; MAC re-made",
            _reframe(one, _st("ephemeral", transplant["ephemeral"])),
            one,
            0,
        ),
        (
            "ephemeral_all_zero",
            "low-order (all-zero) ephemeral key; MAC re-made",
            _reframe(one, _st("ephemeral", _b64(32, 0))),
            one,
            0,
        ),
        (
            "recipient_replaced",
            "recipient is not the secret's key; MAC re-made",
            _reframe(one, _st("recipient", header_of(three.data)["stanzas"][0]["recipient"])),
            one,
            0,
        ),
        (
            "stanza_id_changed",
            "stanza id changed (the secret gives another key); MAC re-made",
            _reframe(one, _st("id", _b64(16))),
            one,
            0,
        ),
        (
            "stanza_args_changed",
            "stanza args changed; MAC re-made",
            _reframe(one, _st("args", {"t": 1})),
            one,
            0,
        ),
        (
            "stanza_type_changed",
            "stanza type changed; MAC re-made",
            _reframe(one, _st("type", "passkey")),
            one,
            0,
        ),
        (
            "wallet_id_changed",
            "context.wallet_id changed; MAC re-made",
            _reframe(one, _ctx("wallet_id", "wallet-2")),
            one,
            0,
        ),
        (
            "backup_set_id_changed",
            "context.backup_set_id changed; MAC re-made",
            _reframe(one, _ctx("backup_set_id", _b64(16))),
            one,
            0,
        ),
        (
            "key_epoch_changed",
            "context.key_epoch changed; MAC re-made",
            _reframe(one, _ctx("key_epoch", 1)),
            one,
            0,
        ),
        (
            "share_commitment_added",
            "share_commitment added; MAC re-made",
            _reframe(one, _ctx("share_commitment", _b64(32))),
            one,
            0,
        ),
        (
            "envelope_id_changed",
            "envelope_id changed; MAC and payload re-made for the new id",
            _reframe_bytes(
                one, canon(dict(header_of(data), envelope_id=b64encode(other_id))), other_id
            ),
            one,
            0,
        ),
        (
            "stanza_transplanted",
            "the method's stanza from another envelope (same method, other id); MAC re-made",
            _reframe(one, _replace_stanzas([transplant])),
            one,
            0,
        ),
        (
            "stanza_rewrapped_to_other_key",
            "stanza wraps a second backup key with the right AAD; MAC re-made "
            "under the first key (invisible salamander): unwraps, then the header MAC fails",
            _reframe(one, _replace_stanzas([rewrapped])),
            one,
            0,
        ),
        (
            "payload_from_other_envelope",
            "payload_len and payload of another envelope under the same key",
            data[: hend + 32] + other_envelope[other_hend + 32 :],
            one,
            0,
        ),
        (
            "header_mac_from_other_envelope",
            "header MAC of another envelope",
            data[:hend] + other_envelope[other_hend : other_hend + 32] + data[hend + 32 :],
            one,
            0,
        ),
        (
            "custodian_wrong_kms_key",
            "custodian envelope opened with another KMS key",
            kms.data,
            kms,
            -1,
        ),
        (
            "custodian_wallet_id_changed",
            "custodian context.wallet_id changed; MAC re-made",
            _reframe(kms, _ctx("wallet_id", "wallet-2")),
            kms,
            0,
        ),
        (
            "custodian_kms_blob_flip",
            "one bit of the kms wrapped_key flipped; MAC re-made",
            _reframe(kms, _st("wrapped_key", b64encode(_flip(kms_blob, 20)))),
            kms,
            0,
        ),
    ]

    out = [
        {
            "name": name,
            "description": text,
            "envelope": blob.hex(),
            "secret": None,
            "kms_key": None,
            "expect": "malformed",
        }
        for name, text, blob in malformed
    ]
    wrong = hashlib.sha256(b"wrong").digest()
    for name, text, blob, base, which in failing:
        if base.kms_key is not None:
            key_hex = (wrong if which < 0 else base.kms_key).hex()
            out.append(
                {
                    "name": name,
                    "description": text,
                    "envelope": blob.hex(),
                    "secret": None,
                    "kms_key": key_hex,
                    "expect": "unlock_failed",
                }
            )
        else:
            out.append(
                {
                    "name": name,
                    "description": text,
                    "envelope": blob.hex(),
                    "secret": (wrong if which < 0 else secret).hex(),
                    "kms_key": None,
                    "expect": "unlock_failed",
                }
            )
    names = [v["name"] for v in out]
    assert len(names) == len(set(names)), "duplicate vector names"
    return out


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    valid = {
        "format": "walletbackup envelope v1 (docs/format.md)",
        "note": "hex unless noted; 'rng' is every byte seal() drew, in order (envelope_id, "
        "backup key, one ephemeral secret per method stanza); a kms recipient's test KMS blob is "
        "kms_nonce (12) || AES-256-GCM(kms_key, kms_nonce, backup key, aad = stanza AAD)",
        "vectors": [build(case).vector for case in CASES],
    }
    invalid = {
        "format": "walletbackup envelope v1 (docs/format.md)",
        "note": "expect 'malformed': parse raises MalformedBackup. expect 'unlock_failed': parse "
        "succeeds; opening stanza 0 with 'secret' (method secret) or 'kms_key' (test KMS of "
        "envelope_v1.json) and then the payload raises UnlockFailed",
        "vectors": invalid_vectors(),
    }
    INVALID_PATH.parent.mkdir(exist_ok=True)
    VALID_PATH.write_text(_dump(valid), encoding="utf-8")
    INVALID_PATH.write_text(_dump(invalid), encoding="utf-8")
    print(
        f"wrote {VALID_PATH} ({len(CASES)} vectors), {INVALID_PATH} "
        f"({len(invalid['vectors'])} vectors)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
