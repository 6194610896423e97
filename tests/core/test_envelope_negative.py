"""Negative tests: every way an envelope can be malformed or tampered with is refused.

Structural defects raise MalformedBackup from parse(); everything else raises UnlockFailed with
its one message. Edited headers are re-framed with a *valid* header MAC and payload under the
real backup key (tests/vectors/generate.py:frame), so the only defect is the one named.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import generate as gen
import pytest

from walletbackup import envelope
from walletbackup.canonical import b64encode
from walletbackup.errors import MalformedBackup, UnlockFailed

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

ONE = gen.built("client_one_stanza")
THREE = gen.built("client_three_stanzas")
KMS = gen.built("custodian_kms")
SECRET = ONE.secrets[0]
ENVELOPE_ID = bytes.fromhex(ONE.vector["expected"]["envelope_id"])


def _open(data: bytes, secret: bytes = SECRET, index: int = 0) -> bytes:
    env = envelope.parse(data)
    return envelope.open_with_key(env, envelope.unwrap_key(env, env.stanzas[index], secret))


def _open_kms(data: bytes) -> bytes:
    env = envelope.parse(data)
    provider = gen.FixedKeyKms(KMS.kms_key, gen.Replay(b""))
    return envelope.open_with_key(env, envelope.unwrap_key_kms(env, env.stanzas[0], provider))


def _reframe(sample: Any, edit: Callable[[dict[str, Any]], None]) -> bytes:
    header = gen.header_of(sample.data)
    edit(header)
    return _frame(sample, gen.canon(header))


def _frame(sample: Any, header: bytes, envelope_id: bytes | None = None) -> bytes:
    eid = envelope_id or bytes.fromhex(sample.vector["expected"]["envelope_id"])
    return gen.frame(header, sample.backup_key, eid, sample.share)


def _text(sample: Any = ONE) -> str:
    return gen.canon(gen.header_of(sample.data)).decode()


def _set_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + value.to_bytes(4, "big") + data[offset + 4 :]


def _header_end(data: bytes) -> int:
    return 14 + int.from_bytes(data[10:14], "big")


def _malformed(data: bytes, match: str | None = None) -> None:
    with pytest.raises(MalformedBackup, match=match):
        envelope.parse(data)


def _unlock_fails(open_: Callable[[], bytes]) -> None:
    with pytest.raises(UnlockFailed) as failure:
        open_()
    assert str(failure.value) == UnlockFailed.MESSAGE


def test_reframed_sample_still_opens() -> None:
    # The re-framing helper itself is sound: an unedited header re-framed opens.
    assert _open(_reframe(ONE, lambda h: None)) == ONE.share


# --- prefix and framing -------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0x88, 0x00, ord("W")])
def test_wrong_magic(first: int) -> None:
    _malformed(bytes([first]) + ONE.data[1:], "wrong magic")


def test_magic_mangled_by_text_mode() -> None:
    _malformed(ONE.data.replace(b"\r\n", b"\n", 1), "wrong magic")


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version(version: int) -> None:
    _malformed(ONE.data[:8] + bytes([version]) + ONE.data[9:], f"version {version}")


@pytest.mark.parametrize("suite", [0, 2, 255])
def test_unknown_suite(suite: int) -> None:
    _malformed(ONE.data[:9] + bytes([suite]) + ONE.data[10:], f"suite {suite}")


def test_truncation_at_every_offset() -> None:
    survivors = []
    for end in range(len(ONE.data)):
        try:
            envelope.parse(ONE.data[:end])
        except MalformedBackup:
            continue
        survivors.append(end)
    assert survivors == []


@pytest.mark.parametrize("extra", [b"\x00", b"\n", ONE.data[-1:]])
def test_one_trailing_byte(extra: bytes) -> None:
    _malformed(ONE.data + extra, "trailing bytes")


@pytest.mark.parametrize("length", [0, 1, 65537, 2**32 - 1])
def test_header_len_out_of_range(length: int) -> None:
    _malformed(_set_u32(ONE.data, 10, length), "header length")


def test_header_over_65536_bytes() -> None:
    header = gen.header_of(ONE.data)
    header["stanzas"][0]["args"] = {"pad": "x"}
    padded = gen.canon(header)
    big = padded.replace(b'"pad":"x"', b'"pad":"x"' + b" " * (65537 - len(padded)))
    assert len(big) == 65537
    _malformed(_frame(ONE, big), "header length 65537")


def test_header_of_exactly_65536_bytes_parses() -> None:
    header = gen.header_of(ONE.data)
    _copies(16)(header)
    for stanza in header["stanzas"]:
        stanza["args"] = {}
    room = envelope.MAX_HEADER - len(gen.canon(header))
    for stanza in header["stanzas"]:
        size = min(envelope.MAX_ARGS, room + 2)
        stanza["args"] = gen.args_of_size(size)
        room -= size - 2
    data = _frame(ONE, gen.canon(header))
    assert int.from_bytes(data[10:14], "big") == envelope.MAX_HEADER
    assert len(envelope.parse(data).stanzas) == 16


@pytest.mark.parametrize("length", [0, 16, 65553, 2**32 - 1])
def test_payload_len_out_of_range(length: int) -> None:
    _malformed(_set_u32(ONE.data, _header_end(ONE.data) + 32, length), "payload length")


@pytest.mark.parametrize(("delta", "match"), [(1, "truncated"), (-1, "trailing")])
def test_payload_len_disagrees_with_data(delta: int, match: str) -> None:
    at = _header_end(ONE.data) + 32
    actual = len(ONE.data) - at - 4
    _malformed(_set_u32(ONE.data, at, actual + delta), match)


def test_parse_refuses_text() -> None:
    with pytest.raises(MalformedBackup, match="dearmor"):
        envelope.parse(envelope.armor(ONE.data))  # type: ignore[arg-type]


# --- non-canonical headers ----------------------------------------------------------------------


NON_CANONICAL = {
    "duplicate_key": lambda t: t.replace('"key_epoch":0', '"key_epoch":0,"key_epoch":0'),
    "duplicate_key_same_value_in_stanza": lambda t: t.replace('"t":3', '"t":3,"t":3'),
    "whitespace_after_colon": lambda t: t.replace('"key_epoch":0', '"key_epoch": 0'),
    "leading_space": lambda t: " " + t,
    "trailing_newline": lambda t: t + "\n",
    "keys_reordered": lambda t: t.replace(
        '"share_role":"client","wallet_id":"wallet-1"',
        '"wallet_id":"wallet-1","share_role":"client"',
    ),
    "float": lambda t: t.replace('"key_epoch":0', '"key_epoch":0.0'),
    "exponent": lambda t: t.replace('"m":65536', '"m":65536e0'),
    "bool": lambda t: t.replace('"key_epoch":0', '"key_epoch":false'),
    "null": lambda t: t.replace('"key_epoch":0', '"key_epoch":null'),
    "padded_base64": lambda t: t.replace('","key_epoch"', '=","key_epoch"'),
    "escaped_ascii_letter": lambda t: t.replace('"wallet-1"', '"\\u0077allet-1"'),
    "escaped_key": lambda t: t.replace('"wallet_id"', '"wallet\\u005fid"'),
    "escaped_slash": lambda t: t.replace('"argon2id"', '"argon2\\/id"'),
    "escaped_non_ascii": lambda t: t.replace('"wallet-1"', '"wallet-\\u00fc"'),
    "uppercase_hex_escape": lambda t: t.replace('"argon2id"', '"argon2id\\u001F"'),
    "negative_zero": lambda t: t.replace('"key_epoch":0', '"key_epoch":-0'),
    "leading_zero": lambda t: t.replace('"key_epoch":0', '"key_epoch":00'),
}


@pytest.mark.parametrize("name", sorted(NON_CANONICAL))
def test_non_canonical_header(name: str) -> None:
    text = _text()
    edited = NON_CANONICAL[name](text)
    assert edited != text
    _malformed(_frame(ONE, edited.encode()), "envelope header|base64url")


def test_header_not_utf8() -> None:
    _malformed(
        _frame(
            ONE, _text().replace("wallet-1", "wallet-\udcff").encode("utf-8", "surrogateescape")
        ),
        "UTF-8",
    )


def test_header_too_deep() -> None:
    _malformed(_reframe(ONE, lambda h: h["stanzas"][0].update(args=gen.nest(6))), "deeper than 8")


def test_header_depth_8_is_accepted() -> None:
    env = envelope.parse(_reframe(ONE, lambda h: h["stanzas"][0].update(args=gen.nest(5))))
    assert env.stanzas[0].args == gen.nest(5)


# --- fields and limits --------------------------------------------------------------------------


def _set_field(where: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        target = {"header": h, "context": h["context"], "stanza": h["stanzas"][0]}[where]
        target[key] = value

    return edit


@pytest.mark.parametrize(
    ("where", "key", "size"),
    [
        ("header", "envelope_id", 31),
        ("header", "envelope_id", 33),
        ("context", "backup_set_id", 15),
        ("context", "backup_set_id", 17),
        ("stanza", "id", 15),
        ("stanza", "id", 17),
        ("stanza", "recipient", 31),
        ("stanza", "recipient", 33),
        ("stanza", "ephemeral", 31),
        ("stanza", "ephemeral", 33),
        ("stanza", "wrapped_key", 47),
        ("stanza", "wrapped_key", 49),
    ],
)
def test_wrong_fixed_length(where: str, key: str, size: int) -> None:
    _malformed(
        _reframe(ONE, _set_field(where, key, b64encode(bytes(size)))), f"expected .* got {size}"
    )


@pytest.mark.parametrize(
    ("where", "key"), [("header", "x"), ("context", "x"), ("stanza", "x"), ("stanza", "kdf")]
)
def test_unknown_key(where: str, key: str) -> None:
    _malformed(_reframe(ONE, _set_field(where, key, "1")), "unknown key")


def test_unknown_key_in_kms_stanza() -> None:
    _malformed(
        _reframe(KMS, _set_field("stanza", "ephemeral", b64encode(bytes(32)))), "unknown key"
    )


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("header", "context"),
        ("header", "envelope_id"),
        ("header", "stanzas"),
        ("context", "wallet_id"),
        ("context", "backup_set_id"),
        ("context", "share_role"),
        ("context", "key_epoch"),
        ("stanza", "args"),
        ("stanza", "ephemeral"),
        ("stanza", "id"),
        ("stanza", "recipient"),
        ("stanza", "type"),
        ("stanza", "wrapped_key"),
    ],
)
def test_missing_key(where: str, key: str) -> None:
    def edit(h: dict[str, Any]) -> None:
        del {"header": h, "context": h["context"], "stanza": h["stanzas"][0]}[where][key]

    _malformed(_reframe(ONE, edit), "missing|type must match")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("wallet_id", "", "wallet_id"),
        ("wallet_id", "w" + "é" * 64, "wallet_id"),
        ("wallet_id", "w\n", "control"),
        ("wallet_id", "w\x7f", "control"),
        ("wallet_id", "w\x85", "control"),
        ("wallet_id", "e\u0301", "NFC"),
        ("wallet_id", 7, "wallet_id"),
        ("key_epoch", -1, "key_epoch"),
        ("key_epoch", "1", "key_epoch"),
        ("key_epoch", [1], "key_epoch"),
        ("share_role", "server", "share_role"),
        ("share_role", "Client", "share_role"),
        ("share_commitment", "", "share_commitment"),
        ("share_commitment", b64encode(bytes(65)), "share_commitment"),
        ("backup_set_id", 5, "backup_set_id"),
    ],
)
def test_bad_context_field(key: str, value: Any, match: str) -> None:
    _malformed(_reframe(ONE, _set_field("context", key, value)), match)


@pytest.mark.parametrize("wallet_id", ["w" * 128, "é" * 64, "wallet with spaces", "ü"])
def test_context_wallet_id_limits_accepted(wallet_id: str) -> None:
    data = _reframe(ONE, _set_field("context", "wallet_id", wallet_id))
    assert envelope.parse(data).context.wallet_id == wallet_id


def test_zero_stanzas() -> None:
    _malformed(_reframe(ONE, _set_field("header", "stanzas", [])), "1..16")


def _copies(n: int) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        h["stanzas"] = [dict(h["stanzas"][0], id=b64encode(bytes([i]) * 16)) for i in range(n)]

    return edit


def test_17_stanzas() -> None:
    _malformed(_reframe(ONE, _copies(17)), "1..16")


def test_16_stanzas_parse() -> None:
    assert len(envelope.parse(_reframe(ONE, _copies(16))).stanzas) == 16


@pytest.mark.parametrize(
    "kind",
    [
        "Password",
        "1pass",
        "p" * 33,
        "",
        "pass word",
        "password\n",
        "pässword",
        "-x",
        "pass.word",
        5,
    ],
)
def test_bad_stanza_type(kind: Any) -> None:
    _malformed(_reframe(ONE, _set_field("stanza", "type", kind)), "type must match")


@pytest.mark.parametrize("kind", ["a", "p" * 32, "my-method_2", "x9"])
def test_good_stanza_type_parses(kind: str) -> None:
    assert envelope.parse(_reframe(ONE, _set_field("stanza", "type", kind))).stanzas[0].type == kind


def test_duplicate_stanza_ids() -> None:
    first_id = gen.header_of(THREE.data)["stanzas"][0]["id"]
    _malformed(_reframe(THREE, lambda h: h["stanzas"][2].update(id=first_id)), "same id")


def test_args_not_object() -> None:
    _malformed(_reframe(ONE, _set_field("stanza", "args", ["x"])), "args must be an object")


def test_args_over_4096_bytes() -> None:
    _malformed(_reframe(ONE, _set_field("stanza", "args", gen.args_of_size(4097))), "4096")


def test_args_of_4096_bytes_parse() -> None:
    assert envelope.parse(_reframe(ONE, _set_field("stanza", "args", gen.args_of_size(4096))))


@pytest.mark.parametrize("args", [{"a": "x" * 1025}, {"x" * 1025: 1}, {"a": [{"b": "x" * 1025}]}])
def test_args_string_over_1024(args: dict[str, Any]) -> None:
    _malformed(_reframe(ONE, _set_field("stanza", "args", args)), "1024")


def test_args_string_of_1024_parse() -> None:
    assert envelope.parse(_reframe(ONE, _set_field("stanza", "args", {"x" * 1024: "y" * 1024})))


def _kms_stanza() -> dict[str, Any]:
    stanza: dict[str, Any] = gen.header_of(KMS.data)["stanzas"][0]
    return stanza


def _method_stanza() -> dict[str, Any]:
    stanza: dict[str, Any] = gen.header_of(ONE.data)["stanzas"][0]
    return stanza


def test_client_envelope_with_kms_stanza() -> None:
    _malformed(_reframe(ONE, lambda h: h["stanzas"].append(_kms_stanza())), "client envelope")


def test_client_envelope_with_only_kms_stanza() -> None:
    _malformed(_reframe(ONE, _set_field("header", "stanzas", [_kms_stanza()])), "client envelope")


def test_custodian_envelope_with_method_stanza() -> None:
    _malformed(_reframe(KMS, _set_field("header", "stanzas", [_method_stanza()])), "custodian")


def test_custodian_envelope_with_two_stanzas() -> None:
    _malformed(_reframe(KMS, lambda h: h["stanzas"].append(_method_stanza())), "custodian")


def test_custodian_envelope_with_two_kms_stanzas() -> None:
    second = dict(_kms_stanza(), id=b64encode(bytes(16)))
    _malformed(_reframe(KMS, lambda h: h["stanzas"].append(second)), "custodian")


@pytest.mark.parametrize("size", [0, 1025])
def test_kms_wrapped_key_size(size: int) -> None:
    _malformed(
        _reframe(KMS, _set_field("stanza", "wrapped_key", b64encode(bytes(size)))), "1..1024"
    )


# --- tampering ----------------------------------------------------------------------------------


def test_bit_flip_at_every_byte_never_opens() -> None:
    outcomes: dict[str, int] = {}
    for offset in range(len(ONE.data)):
        for bit in (0x01, 0x80):
            flipped = ONE.data[:offset] + bytes([ONE.data[offset] ^ bit]) + ONE.data[offset + 1 :]
            try:
                _open(flipped)
            except (MalformedBackup, UnlockFailed) as exc:
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
            else:
                pytest.fail(f"flipping bit {bit:#x} of byte {offset} still opens")
    assert set(outcomes) == {"MalformedBackup", "UnlockFailed"}


def test_bit_flip_at_every_byte_of_custodian_envelope_never_opens() -> None:
    for offset in range(len(KMS.data)):
        flipped = KMS.data[:offset] + bytes([KMS.data[offset] ^ 0x01]) + KMS.data[offset + 1 :]
        with pytest.raises((MalformedBackup, UnlockFailed)):
            _open_kms(flipped)


def test_wrong_secret_and_tampering_fail_identically() -> None:
    wrong = bytes(32)
    with pytest.raises(UnlockFailed) as by_secret:
        _open(ONE.data, wrong)
    tampered = _flip_last(ONE.data)
    with pytest.raises(UnlockFailed) as by_tamper:
        _open(tampered)
    with pytest.raises(UnlockFailed) as by_header:
        _open(_reframe(ONE, _set_field("context", "key_epoch", 1)))
    errors = [by_secret.value, by_tamper.value, by_header.value]
    assert {type(e) for e in errors} == {UnlockFailed}
    assert {str(e) for e in errors} == {UnlockFailed.MESSAGE}
    assert {e.args for e in errors} == {(UnlockFailed.MESSAGE,)}
    assert all(e.__cause__ is None and e.__suppress_context__ for e in errors[1:])


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _sealed_like(envelope_id: bytes, backup_key: bytes) -> bytes:
    data: bytes = gen.sealed_like(
        ONE, envelope_id=envelope_id, backup_key=backup_key, ephemeral=bytes(range(32))
    )
    return data


def test_stanza_transplanted_from_other_envelope_fails() -> None:
    other = _sealed_like(bytes([7]) * 32, ONE.backup_key)
    stanza = gen.header_of(other)["stanzas"][0]
    assert stanza["recipient"] == _method_stanza()["recipient"]
    _unlock_fails(lambda: _open(_reframe(ONE, _set_field("header", "stanzas", [stanza]))))


def test_stanza_rewrapped_to_second_key_fails_at_header_mac() -> None:
    second_key = bytes([9]) * 32
    data = _salamander(second_key)
    env = envelope.parse(data)
    assert env.stanzas[0].id == bytes.fromhex(THREE.vector["recipients"][0]["id"])
    # The first method opens the edited envelope normally: it is valid under the first key.
    assert (
        envelope.open_with_key(env, envelope.unwrap_key(env, env.stanzas[0], THREE.secrets[0]))
        == THREE.share
    )
    # The second method's stanza unwraps (its AAD is right) and yields the second key ...
    key = envelope.unwrap_key(env, env.stanzas[1], THREE.secrets[1])
    assert key == second_key
    # ... and the header MAC, which commits to the first key, refuses it.
    _unlock_fails(lambda: envelope.open_with_key(env, key))


def _salamander(second_key: bytes) -> bytes:
    """THREE, its second stanza re-wrapped to ``second_key``; MAC and payload under the first."""
    vector = THREE.vector
    ctx = vector["context"]
    context = envelope.Context(
        ctx["wallet_id"], bytes.fromhex(ctx["backup_set_id"]), ctx["share_role"], ctx["key_epoch"]
    )
    r = vector["recipients"][1]
    recipient = envelope.Recipient(
        r["type"], bytes.fromhex(r["id"]), r["args"], bytes.fromhex(r["recipient"])
    )
    eid = bytes.fromhex(vector["expected"]["envelope_id"])
    other, _ = envelope.seal(
        context,
        b"evil share",
        [recipient],
        envelope_id=eid,
        backup_key=second_key,
        rng=gen.Replay(bytes(range(32))),
    )
    header = gen.header_of(THREE.data)
    header["stanzas"][1] = gen.header_of(other)["stanzas"][0]
    return _frame(THREE, gen.canon(header))


def test_payload_swapped_between_envelopes_fails() -> None:
    other = _sealed_like(bytes([7]) * 32, ONE.backup_key)
    end, other_end = _header_end(ONE.data), _header_end(other)
    swapped = ONE.data[: end + 32] + other[other_end + 32 :]
    _unlock_fails(lambda: _open(swapped))


def test_header_mac_swapped_between_envelopes_fails() -> None:
    other = _sealed_like(bytes([7]) * 32, ONE.backup_key)
    end, other_end = _header_end(ONE.data), _header_end(other)
    swapped = ONE.data[:end] + other[other_end : other_end + 32] + ONE.data[end + 32 :]
    _unlock_fails(lambda: _open(swapped))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("wallet_id", "wallet-2"),
        ("backup_set_id", b64encode(bytes(16))),
        ("key_epoch", 1),
        ("share_commitment", b64encode(bytes(32))),
    ],
)
def test_context_field_changed_fails(key: str, value: Any) -> None:
    _unlock_fails(lambda: _open(_reframe(ONE, _set_field("context", key, value))))


def test_context_field_changed_in_custodian_envelope_fails() -> None:
    _unlock_fails(lambda: _open_kms(_reframe(KMS, _set_field("context", "wallet_id", "wallet-2"))))


def test_share_role_changed_to_custodian_is_malformed() -> None:
    _malformed(_reframe(ONE, _set_field("context", "share_role", "custodian")), "custodian")


def test_share_role_changed_to_client_is_malformed() -> None:
    _malformed(_reframe(KMS, _set_field("context", "share_role", "client")), "client envelope")


def test_envelope_id_changed_fails() -> None:
    new_id = bytes([5]) * 32
    header = dict(gen.header_of(ONE.data), envelope_id=b64encode(new_id))
    _unlock_fails(lambda: _open(_frame(ONE, gen.canon(header), new_id)))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("args", {"t": 1}),
        ("type", "passkey"),
        ("id", b64encode(bytes(16))),
        ("ephemeral", b64encode(bytes(32))),
        ("ephemeral", b64encode(bytes([9]) * 32)),
        ("recipient", b64encode(bytes([9]) * 32)),
        ("wrapped_key", b64encode(bytes(48))),
    ],
)
def test_stanza_field_changed_fails(key: str, value: Any) -> None:
    _unlock_fails(lambda: _open(_reframe(ONE, _set_field("stanza", key, value))))


def test_wrong_backup_key_fails() -> None:
    _unlock_fails(lambda: envelope.open_with_key(envelope.parse(ONE.data), bytes(32)))


def test_wrong_kms_key_fails() -> None:
    env = envelope.parse(KMS.data)
    provider = gen.FixedKeyKms(bytes(32), gen.Replay(b""))
    _unlock_fails(lambda: envelope.unwrap_key_kms(env, env.stanzas[0], provider))


# --- armor --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 47, 48, 49, 96, 500])
def test_armor_round_trip(size: int) -> None:
    data = bytes(range(256)) * 2
    data = data[:size]
    text = envelope.armor(data)
    lines = text.split("\n")
    assert lines[0] == envelope.ARMOR_BEGIN
    assert lines[-2:] == [envelope.ARMOR_END, ""]
    assert all(len(line) == 64 for line in lines[1:-3])
    assert 0 < len(lines[-3]) <= 64
    assert envelope.dearmor(text) == data


def test_armor_without_final_newline_is_accepted() -> None:
    assert envelope.dearmor(envelope.armor(ONE.data).rstrip("\n")) == ONE.data


def _armored() -> str:
    return envelope.armor(ONE.data)


def _rewrap(text: str, width: int) -> str:
    body = "".join(text.split("\n")[1:-2])
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return "\n".join([envelope.ARMOR_BEGIN, *lines, envelope.ARMOR_END]) + "\n"


def _stray_bits(text: str) -> str:
    # ONE.data's length leaves padding; bump the last data character so a spare bit is set.
    lines = text.split("\n")
    last = lines[-3]
    stem = last.rstrip("=")
    assert stem != last
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    lines[-3] = stem[:-1] + alphabet[alphabet.index(stem[-1]) + 1] + last[len(stem) :]
    return "\n".join(lines)


def _mid_padding(text: str) -> str:
    lines = text.split("\n")
    lines[1] = lines[1][:-4] + "AA=="
    return "\n".join(lines)


ARMOR_EDITS = {
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "crlf_final_only": lambda t: t[:-1] + "\r\n",
    "double_final_newline": lambda t: t + "\n",
    "leading_blank_line": lambda t: "\n" + t,
    "leading_space": lambda t: " " + t,
    "trailing_space": lambda t: t[:-1] + " \n",
    "lowercase_begin": lambda t: t.replace("BEGIN WALLETBACKUP", "begin walletbackup"),
    "other_label": lambda t: t.replace("WALLETBACKUP ENVELOPE", "AGE ENCRYPTED FILE"),
    "missing_end": lambda t: t.replace(envelope.ARMOR_END + "\n", ""),
    "text_after_end": lambda t: t + "garbage\n",
    "short_line": lambda t: t.replace(t.split("\n")[1], t.split("\n")[1][:-1], 1),
    "long_first_line": lambda t: _rewrap(t, 76),
    "short_lines": lambda t: _rewrap(t, 60),
    "blank_line_in_body": lambda t: t.replace("\n", "\n\n", 2).replace("\n\n", "\n", 1),
    "missing_padding": lambda t: t.replace("=", ""),
    "url_alphabet": lambda t: t.replace("+", "-").replace("/", "_"),
    "stray_bits": _stray_bits,
    "tab_in_body": lambda t: t.replace("\n", "\n\t", 2).replace("\n\t", "\n", 1),
    "empty_body": lambda t: envelope.ARMOR_BEGIN + "\n" + envelope.ARMOR_END + "\n",
    "padding_mid_body": _mid_padding,
}


def test_sample_armor_has_padding_and_several_lines() -> None:
    text = _armored()
    assert text.count("\n") > 4
    assert "=" in text


@pytest.mark.parametrize("name", sorted(ARMOR_EDITS))
def test_dearmor_rejects(name: str) -> None:
    text = _armored()
    edited = ARMOR_EDITS[name](text)
    assert edited != text
    with pytest.raises(MalformedBackup):
        envelope.dearmor(edited)


def test_dearmor_rejects_huge_input_before_decoding() -> None:
    with pytest.raises(MalformedBackup, match="longer than any envelope"):
        envelope.dearmor("A" * (envelope.MAX_ARMOR + 1))


def test_dearmor_rejects_bytes() -> None:
    with pytest.raises(MalformedBackup, match="str"):
        envelope.dearmor(_armored().encode())  # type: ignore[arg-type]


def test_sample_is_the_committed_vector() -> None:
    # The text edits above rely on the sample being exactly the committed vector.
    committed = json.loads((VECTORS / "envelope_v1.json").read_text(encoding="utf-8"))
    assert committed["vectors"][0]["expected"]["envelope"] == ONE.data.hex()
