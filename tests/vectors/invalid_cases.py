"""Named invalid envelopes for both versions (docs/format.md §10).

Most are made by editing a valid header and re-framing it with a *valid* header MAC and payload
(and, in version 2, tags) under the real keys (:meth:`Built.reframe`), so the named defect is the
only one. Version-2 vectors that fail to open say where: ``"unlock"`` (the stanza's tag, its
recipient or its wrapped key) or ``"open"`` (the header MAC, the payload, the auth-key list, or
another stanza's tag).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from vector_cases import Built, built, header_context, library_context
from vector_support import (
    args_of_size,
    auth_key,
    b64u,
    canon,
    flip,
    header_end,
    header_of,
    nest,
    set_u32,
    spec_seal,
    unb64u,
)

from walletbackup import envelope

Edit = Callable[[dict[str, Any]], None]
WRONG = hashlib.sha256(b"wrong").digest()


def _b64(n: int, fill: int = 0x41) -> str:
    return b64u(bytes([fill]) * n)


def _ctx(key: str, value: Any) -> Edit:
    def edit(h: dict[str, Any]) -> None:
        h["context"][key] = value

    return edit


def _st(key: str, value: Any, index: int = 0) -> Edit:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"][index][key] = value

    return edit


def _del(where: str, key: str) -> Edit:
    def edit(h: dict[str, Any]) -> None:
        target = h["context"] if where == "context" else h["stanzas"][0] if where else h
        del target[key]

    return edit


def _stanza_copies(n: int) -> Edit:
    def edit(h: dict[str, Any]) -> None:
        first = h["stanzas"][0]
        h["stanzas"] = [dict(first, id=b64u(bytes([i]) * 16)) for i in range(n)]

    return edit


def _add_stanza(stanza: dict[str, Any]) -> Edit:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"].append(copy.deepcopy(stanza))

    return edit


def _replace_stanzas(stanzas: list[Any]) -> Edit:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"] = copy.deepcopy(stanzas)

    return edit


def _text_edit(b: Built, old: str, new: str) -> bytes:
    text = canon(header_of(b.data)).decode()
    if old not in text:
        raise AssertionError(f"{old!r} not in the sample header")
    return b.reframe_bytes(text.replace(old, new, 1).encode())


def sealed_like(b: Built, *, envelope_id: bytes, backup_key: bytes, ephemeral: bytes) -> bytes:
    """Seal b's share-less twin to b's first method, with chosen envelope id, key and ephemeral.

    Made from the spec with the method's real secret (so in version 2 its tags are valid).
    """
    rng = _Fixed(envelope_id + backup_key + ephemeral)
    data, _ = spec_seal(
        b.version,
        header_context(b.vector["context"], b.version),
        b"other share",
        b.vector["recipients"][:1],
        rng,
    )
    return data


class _Fixed:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, size: int) -> bytes:
        out, self._data = self._data[:size], self._data[size:]
        return out


# --- malformed: the same checks in both versions ---------------------------------------------


def _malformed_common(one: Built, three: Built, kms: Built) -> list[tuple[str, str, bytes]]:
    data = one.data
    hend = header_end(data)
    size = len(data)
    method = header_of(data)["stanzas"][0]
    kms_stanza = header_of(kms.data)["stanzas"][0]
    low, high = (
        (envelope.MIN_PAYLOAD_V1, envelope.MAX_PAYLOAD_V1)
        if one.version == 1
        else (envelope.MIN_PAYLOAD, envelope.MAX_PAYLOAD)
    )
    return [
        ("empty", "zero bytes", b""),
        ("truncated_magic", "five bytes of the magic", data[:5]),
        ("bad_magic", "first magic byte 0x88", b"\x88" + data[1:]),
        (
            "magic_crlf_mangled",
            "text-mode transfer turned the magic's CR LF into LF",
            data[:4] + b"\n" + data[6:],
        ),
        ("version_0", "version byte 0", data[:8] + b"\x00" + data[9:]),
        ("version_3", "version byte 3 (no negotiation)", data[:8] + b"\x03" + data[9:]),
        ("suite_0", "suite byte 0", data[:9] + b"\x00" + data[10:]),
        ("suite_2", "unknown suite 2", data[:9] + b"\x02" + data[10:]),
        ("truncated_prefix", "ends inside header_len", data[:13]),
        ("header_len_0", "header_len 0", set_u32(data, 10, 0)),
        ("header_len_1", "header_len 1 (minimum is 2)", set_u32(data, 10, 1)),
        ("header_len_65537", "header_len above 65536", set_u32(data, 10, 65537)),
        ("header_len_beyond_data", "header_len larger than the input", set_u32(data, 10, size)),
        ("truncated_header", "ends inside the header", data[: hend - 1]),
        ("truncated_header_mac", "ends inside the header MAC", data[: hend + 31]),
        ("truncated_payload_len", "ends inside payload_len", data[: hend + 34]),
        ("truncated_payload", "last payload byte missing", data[:-1]),
        ("trailing_byte", "one byte after the payload", data + b"\x00"),
        ("trailing_newline", "a newline after the payload", data + b"\n"),
        (
            f"payload_len_{low - 1}",
            f"payload_len {low - 1} (minimum is {low})",
            set_u32(data[: hend + 36 + low - 1], hend + 32, low - 1),
        ),
        (
            f"payload_len_{high + 1}",
            f"payload_len above {high}",
            set_u32(data, hend + 32, high + 1),
        ),
        (
            "payload_len_too_long",
            "payload_len one more than the data",
            set_u32(data, hend + 32, size - hend - 36 + 1),
        ),
        (
            "payload_len_too_short",
            "payload_len one less than the data",
            set_u32(data, hend + 32, size - hend - 36 - 1),
        ),
        (
            "header_not_utf8",
            "a 0xff byte inside a header string",
            one.reframe_bytes(canon(header_of(data)).replace(b"wallet-1", b"wallet-\xff")),
        ),
        (
            "header_utf8_bom",
            "header starts with a UTF-8 byte order mark",
            one.reframe_bytes(b"\xef\xbb\xbf" + canon(header_of(data))),
        ),
        (
            "header_whitespace",
            "header JSON with spaces after separators",
            one.reframe_bytes(json.dumps(header_of(data), sort_keys=True).encode()),
        ),
        (
            "header_trailing_newline",
            "header JSON followed by a newline",
            one.reframe_bytes(canon(header_of(data)) + b"\n"),
        ),
        (
            "header_keys_unsorted",
            "top-level keys in reverse order",
            one.reframe_bytes(
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
        ("header_bool", "key_epoch true", one.edited(_ctx("key_epoch", True))),
        ("header_null", "share_commitment null", one.edited(_ctx("share_commitment", None))),
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
        ("header_not_object", "header is a JSON array", one.reframe_bytes(b"[]")),
        ("header_too_deep", "stanza args nested to depth 9", one.edited(_st("args", nest(6)))),
        (
            "header_int_too_large",
            "an args integer of 2**53",
            one.edited(_st("args", {"t": 2**53})),
        ),
        (
            "header_unknown_key",
            "an unknown top-level key",
            one.edited(lambda h: h.update(x="1")),
        ),
        ("context_unknown_key", "an unknown context key", one.edited(_ctx("x", "1"))),
        ("stanza_unknown_key", "an unknown stanza key", one.edited(_st("x", "1"))),
        (
            "context_missing_key_epoch",
            "context without key_epoch",
            one.edited(_del("context", "key_epoch")),
        ),
        (
            "stanza_missing_ephemeral",
            "method stanza without ephemeral",
            one.edited(_del("stanza", "ephemeral")),
        ),
        ("header_missing_stanzas", "header without stanzas", one.edited(_del("", "stanzas"))),
        (
            "envelope_id_31_bytes",
            "envelope_id of 31 bytes",
            one.edited(lambda h: h.update(envelope_id=_b64(31))),
        ),
        (
            "envelope_id_33_bytes",
            "envelope_id of 33 bytes",
            one.edited(lambda h: h.update(envelope_id=_b64(33))),
        ),
        (
            "envelope_id_padded",
            "envelope_id with '=' padding",
            one.edited(lambda h: h.update(envelope_id=h["envelope_id"] + "=")),
        ),
        (
            "envelope_id_standard_alphabet",
            "envelope_id using '+' and '/'",
            one.edited(
                lambda h: h.update(envelope_id=_b64(32, 0xFB).replace("-", "+").replace("_", "/")),
            ),
        ),
        (
            "envelope_id_stray_bits",
            "envelope_id whose last character carries non-zero spare bits",
            one.edited(lambda h: h.update(envelope_id=_b64(32)[:-1] + "B")),
        ),
        (
            "backup_set_id_15_bytes",
            "backup_set_id of 15 bytes",
            one.edited(_ctx("backup_set_id", _b64(15))),
        ),
        (
            "backup_set_id_17_bytes",
            "backup_set_id of 17 bytes",
            one.edited(_ctx("backup_set_id", _b64(17))),
        ),
        ("stanza_id_15_bytes", "stanza id of 15 bytes", one.edited(_st("id", _b64(15)))),
        ("recipient_31_bytes", "recipient of 31 bytes", one.edited(_st("recipient", _b64(31)))),
        ("recipient_33_bytes", "recipient of 33 bytes", one.edited(_st("recipient", _b64(33)))),
        ("ephemeral_31_bytes", "ephemeral of 31 bytes", one.edited(_st("ephemeral", _b64(31)))),
        ("ephemeral_33_bytes", "ephemeral of 33 bytes", one.edited(_st("ephemeral", _b64(33)))),
        (
            "wrapped_key_47_bytes",
            "method wrapped_key of 47 bytes",
            one.edited(_st("wrapped_key", _b64(47))),
        ),
        (
            "wrapped_key_49_bytes",
            "method wrapped_key of 49 bytes",
            one.edited(_st("wrapped_key", _b64(49))),
        ),
        ("key_epoch_negative", "key_epoch -1", one.edited(_ctx("key_epoch", -1))),
        ("key_epoch_2_pow_53", "key_epoch 2**53", one.edited(_ctx("key_epoch", 2**53))),
        ("key_epoch_string", 'key_epoch "0"', one.edited(_ctx("key_epoch", "0"))),
        ("share_role_unknown", 'share_role "server"', one.edited(_ctx("share_role", "server"))),
        (
            "share_role_uppercase",
            'share_role "Client"',
            one.edited(_ctx("share_role", "Client")),
        ),
        ("wallet_id_empty", 'wallet_id ""', one.edited(_ctx("wallet_id", ""))),
        (
            "wallet_id_129_bytes",
            "wallet_id of 129 UTF-8 bytes (65 characters)",
            one.edited(_ctx("wallet_id", "w" + "\u00e9" * 64)),
        ),
        (
            "wallet_id_control_char",
            "wallet_id with U+0007",
            one.edited(_ctx("wallet_id", "w\u0007")),
        ),
        (
            "wallet_id_delete_char",
            "wallet_id with U+007F (category Cc)",
            one.edited(_ctx("wallet_id", "w\u007f")),
        ),
        (
            "wallet_id_not_nfc",
            'wallet_id "e" + U+0301 (NFD)',
            one.edited(_ctx("wallet_id", "e\u0301")),
        ),
        ("wallet_id_not_string", "wallet_id 1", one.edited(_ctx("wallet_id", 1))),
        (
            "share_commitment_empty",
            "share_commitment of 0 bytes",
            one.edited(_ctx("share_commitment", "")),
        ),
        (
            "share_commitment_65_bytes",
            "share_commitment of 65 bytes",
            one.edited(_ctx("share_commitment", _b64(65))),
        ),
        ("stanzas_empty", "no stanzas", one.edited(_replace_stanzas([]))),
        ("stanzas_17", "17 stanzas (max 16)", one.edited(_stanza_copies(17))),
        ("stanzas_not_list", "stanzas is an object", one.edited(lambda h: h.update(stanzas={}))),
        ("stanza_not_object", "a stanza is a string", one.edited(_replace_stanzas(["x"]))),
        ("stanza_type_uppercase", 'type "Password"', one.edited(_st("type", "Password"))),
        ("stanza_type_leading_digit", 'type "1password"', one.edited(_st("type", "1password"))),
        ("stanza_type_33_chars", "type of 33 characters", one.edited(_st("type", "p" * 33))),
        ("stanza_type_empty", 'type ""', one.edited(_st("type", ""))),
        ("stanza_type_space", 'type "pass word"', one.edited(_st("type", "pass word"))),
        (
            "stanza_type_trailing_newline",
            'type "password\\n"',
            one.edited(_st("type", "password\n")),
        ),
        (
            "stanza_ids_duplicate",
            "two stanzas with one id",
            three.edited(_st("id", header_of(three.data)["stanzas"][0]["id"], 1)),
        ),
        ("args_not_object", "args is a list", one.edited(_st("args", []))),
        ("args_too_large", "args of 4097 bytes", one.edited(_st("args", args_of_size(4097)))),
        (
            "args_string_too_long",
            "a 1025-character string in args",
            one.edited(_st("args", {"a": "b" * 1025})),
        ),
        (
            "args_key_too_long",
            "a 1025-character key in args",
            one.edited(_st("args", {"b" * 1025: 1})),
        ),
        (
            "client_with_kms_stanza",
            "a client envelope holding a kms stanza too",
            one.edited(_add_stanza(kms_stanza)),
        ),
        (
            "client_only_kms_stanza",
            "a client envelope whose one stanza is kms",
            one.edited(_replace_stanzas([kms_stanza])),
        ),
        (
            "custodian_method_stanza",
            "a custodian envelope with a method stanza",
            kms.edited(_replace_stanzas([method])),
        ),
        (
            "custodian_two_stanzas",
            "a custodian envelope with a kms and a method stanza",
            kms.edited(_add_stanza(method)),
        ),
        (
            "custodian_two_kms_stanzas",
            "a custodian envelope with two kms stanzas",
            kms.edited(_add_stanza(dict(kms_stanza, id=_b64(16)))),
        ),
        (
            "kms_wrapped_key_empty",
            "kms wrapped_key of 0 bytes",
            kms.edited(_st("wrapped_key", "")),
        ),
        (
            "kms_wrapped_key_1025_bytes",
            "kms wrapped_key of 1025 bytes",
            kms.edited(_st("wrapped_key", _b64(1025))),
        ),
        (
            "kms_stanza_with_recipient",
            "kms stanza carrying a recipient key",
            kms.edited(_st("recipient", _b64(32))),
        ),
    ]


def _malformed_v1(one: Built) -> list[tuple[str, str, bytes]]:
    data = one.data
    return [
        (
            "version_2_on_v1_header",
            "version byte 2 in front of a v1 header (no revision, no tags)",
            data[:8] + b"\x02" + data[9:],
        ),
        (
            "context_with_revision",
            "a v1 context carrying revision (a v2 field)",
            one.edited(_ctx("revision", 1)),
        ),
        (
            "stanza_with_tag",
            "a v1 method stanza carrying a tag (a v2 field)",
            one.edited(_st("tag", _b64(32))),
        ),
    ]


def _malformed_v2(one: Built, kms: Built) -> list[tuple[str, str, bytes]]:
    data = one.data
    return [
        (
            "version_1_on_v2_header",
            "version byte 1 in front of a v2 header (revision and tag are unknown in v1)",
            data[:8] + b"\x01" + data[9:],
        ),
        (
            "revision_missing",
            "a v2 context without revision",
            one.edited(_del("context", "revision")),
        ),
        ("revision_negative", "revision -1", one.edited(_ctx("revision", -1))),
        ("revision_2_pow_53", "revision 2**53", one.edited(_ctx("revision", 2**53))),
        ("revision_string", 'revision "1"', one.edited(_ctx("revision", "1"))),
        (
            "revision_float",
            "revision written 1.0",
            _text_edit(one, '"revision":1', '"revision":1.0'),
        ),
        (
            "tag_missing",
            "a v2 method stanza without tag",
            one.edited(_del("stanza", "tag"), retag=False),
        ),
        ("tag_31_bytes", "tag of 31 bytes", one.edited(_st("tag", _b64(31)), retag=False)),
        ("tag_33_bytes", "tag of 33 bytes", one.edited(_st("tag", _b64(33)), retag=False)),
        (
            "tag_padded",
            "tag with '=' padding",
            one.edited(
                lambda h: h["stanzas"][0].update(tag=h["stanzas"][0]["tag"] + "="), retag=False
            ),
        ),
        ("tag_not_string", "tag is an integer", one.edited(_st("tag", 1), retag=False)),
        (
            "tag_on_kms_stanza",
            "a kms stanza carrying a tag",
            kms.edited(_st("tag", _b64(32))),
        ),
    ]


# --- failing to open -------------------------------------------------------------------------

# (name, description, envelope, sample, secret, fails_at); secret None for a kms sample means
# its KMS key, WRONG means another key or secret.
Failing = tuple[str, str, bytes, Built, bytes | None, str]


def _failing_common(one: Built, three: Built, kms: Built) -> list[Failing]:
    """The checks of both versions; fails_at is what version 2 does (v1 leaves it out)."""
    data = one.data
    hend = header_end(data)
    secret = one.secrets[0]
    envelope_id = one.envelope_id
    kms_blob = unb64u(header_of(kms.data)["stanzas"][0]["wrapped_key"])
    assert kms_blob is not None
    other_id = hashlib.sha256(b"another envelope id").digest()
    other_key = hashlib.sha256(b"another backup key").digest()
    ephemeral = hashlib.sha256(b"another ephemeral").digest()
    other_envelope = sealed_like(
        one, envelope_id=other_id, backup_key=one.backup_key, ephemeral=ephemeral
    )
    other_hend = header_end(other_envelope)
    transplant = header_of(other_envelope)["stanzas"][0]
    rewrapped = header_of(
        sealed_like(one, envelope_id=envelope_id, backup_key=other_key, ephemeral=ephemeral)
    )["stanzas"][0]
    # In v2 the tag covers the payload's hash, so a payload edit fails at the stanza's tag.
    return [
        (
            "wrong_secret",
            "a valid envelope opened with another method secret",
            data,
            one,
            WRONG,
            "unlock",
        ),
        (
            "header_mac_bit_flip",
            "one bit of the header MAC flipped",
            flip(data, hend),
            one,
            secret,
            "open",
        ),
        (
            "payload_bit_flip",
            "one bit of the payload ciphertext flipped",
            flip(data, hend + 36),
            one,
            secret,
            "unlock",
        ),
        (
            "payload_tag_bit_flip",
            "one bit of the payload tag flipped",
            flip(data, len(data) - 1),
            one,
            secret,
            "unlock",
        ),
        (
            "header_bit_flip_in_args",
            "args changed; header MAC left as it was",
            data.replace(b'"t":3', b'"t":4'),
            one,
            secret,
            "unlock",
        ),
        (
            "wrapped_key_changed",
            "wrapped_key replaced; MAC and payload re-made under the key",
            one.edited(_st("wrapped_key", _b64(48))),
            one,
            secret,
            "unlock",
        ),
        (
            "ephemeral_replaced",
            "another valid ephemeral key; MAC re-made",
            one.edited(_st("ephemeral", transplant["ephemeral"])),
            one,
            secret,
            "unlock",
        ),
        (
            "ephemeral_all_zero",
            "low-order (all-zero) ephemeral key; MAC re-made",
            one.edited(_st("ephemeral", _b64(32, 0))),
            one,
            secret,
            "unlock",
        ),
        (
            "recipient_replaced",
            "recipient is not the secret's key; MAC re-made",
            one.edited(_st("recipient", header_of(three.data)["stanzas"][0]["recipient"])),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_id_changed",
            "stanza id changed (the secret gives another key); MAC re-made",
            one.edited(_st("id", _b64(16))),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_args_changed",
            "stanza args changed; MAC re-made",
            one.edited(_st("args", {"t": 1})),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_type_changed",
            "stanza type changed; MAC re-made",
            one.edited(_st("type", "passkey")),
            one,
            secret,
            "unlock",
        ),
        (
            "wallet_id_changed",
            "context.wallet_id changed; MAC re-made",
            one.edited(_ctx("wallet_id", "wallet-2")),
            one,
            secret,
            "unlock",
        ),
        (
            "backup_set_id_changed",
            "context.backup_set_id changed; MAC re-made",
            one.edited(_ctx("backup_set_id", _b64(16))),
            one,
            secret,
            "unlock",
        ),
        (
            "key_epoch_changed",
            "context.key_epoch changed; MAC re-made",
            one.edited(_ctx("key_epoch", 1)),
            one,
            secret,
            "unlock",
        ),
        (
            "share_commitment_added",
            "share_commitment added; MAC re-made",
            one.edited(_ctx("share_commitment", _b64(32))),
            one,
            secret,
            "unlock",
        ),
        (
            "envelope_id_changed",
            "envelope_id changed; MAC and payload re-made for the new id",
            one.reframe(dict(header_of(data), envelope_id=b64u(other_id)), envelope_id=other_id),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_transplanted",
            "the method's stanza from another envelope (same method, other id); MAC re-made",
            one.edited(_replace_stanzas([transplant])),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_rewrapped_to_other_key",
            "stanza wraps a second backup key with the right AAD; MAC re-made "
            "under the first key (invisible salamander): unwraps, then the header MAC fails",
            one.edited(_replace_stanzas([rewrapped])),
            one,
            secret,
            "open",
        ),
        (
            "payload_from_other_envelope",
            "payload_len and payload of another envelope under the same key",
            data[: hend + 32] + other_envelope[other_hend + 32 :],
            one,
            secret,
            "unlock",
        ),
        (
            "header_mac_from_other_envelope",
            "header MAC of another envelope",
            data[:hend] + other_envelope[other_hend : other_hend + 32] + data[hend + 32 :],
            one,
            secret,
            "open",
        ),
        (
            "custodian_wrong_kms_key",
            "custodian envelope opened with another KMS key",
            kms.data,
            kms,
            WRONG,
            "unlock",
        ),
        (
            "custodian_wallet_id_changed",
            "custodian context.wallet_id changed; MAC re-made",
            kms.edited(_ctx("wallet_id", "wallet-2")),
            kms,
            None,
            "unlock",
        ),
        (
            "custodian_kms_blob_flip",
            "one bit of the kms wrapped_key flipped; MAC re-made",
            kms.edited(_st("wrapped_key", b64u(flip(kms_blob, 20)))),
            kms,
            None,
            "unlock",
        ),
    ]


def _failing_v2(one: Built, three: Built, kms: Built) -> list[Failing]:
    """The v2 checks: stanza tags, and the auth-key list in the payload."""
    secret = one.secrets[0]
    ids = [bytes.fromhex(r["id"]) for r in three.vector["recipients"]]
    keys = [three.auth_keys[i] for i in ids]
    one_id = bytes.fromhex(one.vector["recipients"][0]["id"])
    one_entry = (one_id, one.auth_keys[one_id])
    stranger = (b"\x5a" * 16, hashlib.sha256(b"stranger auth key").digest())
    tag = unb64u(header_of(one.data)["stanzas"][0]["tag"])
    assert tag is not None
    other = sealed_like(
        one,
        envelope_id=hashlib.sha256(b"another envelope id").digest(),
        backup_key=hashlib.sha256(b"another backup key").digest(),
        ephemeral=hashlib.sha256(b"another ephemeral").digest(),
    )
    attacker = _attacker_stanza(one)
    forged = _forged_without_auth_key(one)
    three_stanzas = header_of(three.data)["stanzas"]
    hend = header_end(one.data)
    replaced_payload = one.reframe(header_of(one.data), share=b"another share")
    return [
        (
            "tag_bit_flip",
            "one bit of the stanza's tag flipped; header MAC re-made",
            one.edited(_st("tag", b64u(flip(tag, 0))), retag=False),
            one,
            secret,
            "unlock",
        ),
        (
            "other_stanza_tag_bit_flip",
            "one bit of the third stanza's tag flipped; MAC re-made: the first stanza unlocks, "
            "opening checks every tag",
            three.edited(
                _st("tag", b64u(flip(unb64u(three_stanzas[2]["tag"]) or b"", 0)), 2), retag=False
            ),
            three,
            three.secrets[0],
            "open",
        ),
        (
            "tag_of_other_envelope",
            "the stanza's tag taken from another envelope sealed to the same method; MAC re-made",
            one.edited(_st("tag", header_of(other)["stanzas"][0]["tag"]), retag=False),
            one,
            secret,
            "unlock",
        ),
        (
            "payload_replaced_header_kept",
            "payload re-encrypted around another share under the real key; header and header "
            "MAC unchanged (the tag covers the payload's hash)",
            one.data[: hend + 32] + replaced_payload[hend + 32 :],
            one,
            secret,
            "unlock",
        ),
        (
            "context_revision_changed_tags_kept",
            "context.revision changed; MAC re-made, tags kept",
            one.edited(_ctx("revision", 2), retag=False),
            one,
            secret,
            "unlock",
        ),
        (
            "context_revision_changed_retagged",
            "context.revision changed; MAC and every tag re-made (the wrapped key's AAD "
            "still binds the context)",
            one.edited(_ctx("revision", 2)),
            one,
            secret,
            "unlock",
        ),
        (
            "context_wallet_id_changed_tags_kept",
            "context.wallet_id changed; MAC re-made, tags kept",
            one.edited(_ctx("wallet_id", "wallet-2"), retag=False),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_added_after_sealing",
            "an attacker's own, self-tagged method stanza added; MAC re-made, the original "
            "tag kept (it covers every stanza)",
            one.edited(_add_stanza(attacker), retag=False),
            one,
            secret,
            "unlock",
        ),
        (
            "stanza_removed_after_sealing",
            "the third of three stanzas removed; MAC re-made, tags kept",
            three.edited(_replace_stanzas(three_stanzas[:2]), retag=False),
            three,
            three.secrets[0],
            "unlock",
        ),
        (
            "stanzas_reordered_after_sealing",
            "the first two of three stanzas swapped; MAC re-made, tags kept; opened with the "
            "method now first",
            three.edited(
                _replace_stanzas([three_stanzas[1], three_stanzas[0], three_stanzas[2]]),
                retag=False,
            ),
            three,
            three.secrets[1],
            "unlock",
        ),
        (
            "forged_without_auth_key",
            "a new envelope sealed by whoever writes the store: the wallet's context and the "
            "method's public recipient key, the forger's own backup key, a guessed auth key",
            forged,
            one,
            secret,
            "unlock",
        ),
        (
            "payload_count_too_high",
            "the payload lists one auth key more than there are method stanzas; tags and MAC "
            "re-made",
            one.reframe(header_of(one.data), entries=[one_entry, stranger]),
            one,
            secret,
            "open",
        ),
        (
            "payload_count_too_low",
            "the payload lists no auth key for the one method stanza; tags and MAC re-made",
            one.reframe(header_of(one.data), entries=[]),
            one,
            secret,
            "open",
        ),
        (
            "payload_count_on_custodian",
            "a custodian payload listing an auth key (count 1, no method stanza); MAC re-made",
            kms.reframe(header_of(kms.data), entries=[stranger]),
            kms,
            None,
            "open",
        ),
        (
            "payload_id_mismatch",
            "the payload's one entry names another stanza id; tags and MAC re-made",
            one.reframe(header_of(one.data), entries=[(stranger[0], one_entry[1])]),
            one,
            secret,
            "open",
        ),
        (
            "payload_ids_reordered",
            "the payload lists the first two auth keys in swapped order; tags and MAC re-made",
            three.reframe(
                header_of(three.data),
                entries=[(ids[1], keys[1]), (ids[0], keys[0]), (ids[2], keys[2])],
            ),
            three,
            three.secrets[0],
            "open",
        ),
        (
            "payload_auth_key_wrong",
            "the payload carries a wrong auth key for the second stanza (whose tag was made "
            "with the right one); MAC re-made",
            three.reframe(
                header_of(three.data),
                entries=[(ids[0], keys[0]), (ids[1], stranger[1]), (ids[2], keys[2])],
            ),
            three,
            three.secrets[0],
            "open",
        ),
        (
            "payload_share_empty",
            "the payload's auth-key list is right but no share follows; tags and MAC re-made",
            one.reframe(header_of(one.data), share=b""),
            one,
            secret,
            "open",
        ),
        (
            "custodian_payload_bit_flip",
            "one bit of the custodian payload flipped",
            flip(kms.data, len(kms.data) - 1),
            kms,
            None,
            "open",
        ),
    ]


def _attacker_stanza(b: Built) -> dict[str, Any]:
    """A method stanza the attacker made for their own secret (tag valid for their envelope)."""
    secret = hashlib.sha256(b"attacker's method secret").digest()
    recipient = {
        "type": "password",
        "id": hashlib.sha256(b"attacker's stanza id").digest()[:16].hex(),
        "args": {"kdf": "argon2id"},
        "method_secret": secret.hex(),
    }
    data, _ = spec_seal(
        b.version,
        header_context(b.vector["context"], b.version),
        b.share,
        [recipient],
        _Fixed(b.envelope_id + hashlib.sha256(b"attacker's key").digest() + bytes(range(32))),
    )
    stanza: dict[str, Any] = header_of(data)["stanzas"][0]
    return stanza


def _forged_without_auth_key(b: Built) -> bytes:
    first = b.vector["recipients"][0]
    guessed = hashlib.sha256(b"guessed auth key").digest()
    if guessed == auth_key(bytes.fromhex(first["method_secret"]), bytes.fromhex(first["id"])):
        raise AssertionError("the guess is the real auth key")
    recipient = envelope.Recipient(
        first["type"],
        bytes.fromhex(first["id"]),
        first["args"],
        bytes.fromhex(first["recipient"]),
        guessed,
    )
    data, _ = envelope.seal(
        library_context(b.vector["context"]),
        b"the forger's share",
        [recipient],
        rng=_Fixed(hashlib.sha256(b"forger's randomness").digest() * 3),
    )
    return data


def invalid_vectors(version: int) -> list[dict[str, Any]]:
    one = built("client_one_stanza", version)
    three = built("client_three_stanzas", version)
    kms = built("custodian_kms", version)
    malformed = _malformed_common(one, three, kms)
    failing = _failing_common(one, three, kms)
    if version == 1:
        malformed += _malformed_v1(one)
    else:
        malformed += _malformed_v2(one, kms)
        failing += _failing_v2(one, three, kms)
    out = [
        _vector(name, text, blob, "malformed", None, None, None, version)
        for name, text, blob in malformed
    ]
    for name, text, blob, base, secret, fails_at in failing:
        if base.kms_key is not None:
            kms_key = WRONG if secret == WRONG else base.kms_key
            out.append(_vector(name, text, blob, "unlock_failed", None, kms_key, fails_at, version))
        else:
            out.append(_vector(name, text, blob, "unlock_failed", secret, None, fails_at, version))
    names = [v["name"] for v in out]
    assert len(names) == len(set(names)), "duplicate vector names"
    return out


def _vector(
    name: str,
    description: str,
    blob: bytes,
    expect: str,
    secret: bytes | None,
    kms_key: bytes | None,
    fails_at: str | None,
    version: int,
) -> dict[str, Any]:
    vector = {
        "name": name,
        "description": description,
        "envelope": blob.hex(),
        "secret": None if secret is None else secret.hex(),
        "kms_key": None if kms_key is None else kms_key.hex(),
        "expect": expect,
    }
    if version == 2:
        vector["fails_at"] = fails_at
    return vector
