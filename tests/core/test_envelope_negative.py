"""Negative tests: every way an envelope can be malformed or tampered with is refused.

Structural defects raise MalformedBackup from parse(); everything else raises UnlockFailed with
its one message. Edited headers are re-framed with a *valid* header MAC, payload and (v2) tags
under the real keys (tests/vectors/vector_cases.py:Built.reframe), so the only defect is the one
named. The samples are version 2; the framing and tampering sweeps run on version 1 too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import vector_support as gen
from invalid_cases import sealed_like
from vector_cases import Built, built, library_context

from walletbackup import envelope
from walletbackup.canonical import b64encode
from walletbackup.envelope import crypto
from walletbackup.errors import MalformedBackup, UnlockFailed

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

ONE = built("client_one_stanza")
THREE = built("client_three_stanzas")
KMS = built("custodian_kms")
SAMPLES_V1 = {name: built(name, 1) for name in ("client_one_stanza", "custodian_kms")}
SECRET = ONE.secrets[0]


def _open(data: bytes, secret: bytes = SECRET, index: int = 0) -> bytes:
    env = envelope.parse(data)
    return envelope.open_with_key(env, envelope.unlock(env, env.stanzas[index], secret)).share


def _open_kms(data: bytes, sample: Built = KMS) -> bytes:
    env = envelope.parse(data)
    assert sample.kms_key is not None
    provider = gen.FixedKeyKms(sample.kms_key, gen.Replay(b""))
    key = envelope.unwrap_key_kms(env, env.stanzas[0], provider)
    return envelope.open_with_key(env, key).share


def _open_sample(sample: Built, data: bytes) -> bytes:
    if sample.kms_key is not None:
        return _open_kms(data, sample)
    return _open(data, sample.secrets[0])


def _reframe(sample: Built, edit: Callable[[dict[str, Any]], None], **options: Any) -> bytes:
    return sample.edited(edit, **options)


def _frame(sample: Built, header: bytes) -> bytes:
    return sample.reframe_bytes(header)


def _text(sample: Built = ONE) -> str:
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
    # The re-framing helper itself is sound: an unedited header re-framed is the sample.
    assert _reframe(ONE, lambda h: None) == ONE.data
    assert _reframe(THREE, lambda h: None) == THREE.data
    assert _reframe(KMS, lambda h: None) == KMS.data


# --- prefix and framing -------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0x88, 0x00, ord("W")])
def test_wrong_magic(first: int) -> None:
    _malformed(bytes([first]) + ONE.data[1:], "wrong magic")


def test_magic_mangled_by_text_mode() -> None:
    _malformed(ONE.data.replace(b"\r\n", b"\n", 1), "wrong magic")


@pytest.mark.parametrize("version", [0, 3, 255])
def test_wrong_version(version: int) -> None:
    _malformed(ONE.data[:8] + bytes([version]) + ONE.data[9:], f"version {version}")


def test_version_byte_must_match_the_header() -> None:
    # A v2 header under version 1 has unknown keys; a v1 header under version 2 lacks some.
    _malformed(ONE.data[:8] + b"\x01" + ONE.data[9:], "unknown key")
    v1 = SAMPLES_V1["client_one_stanza"].data
    _malformed(v1[:8] + b"\x02" + v1[9:], "missing")


@pytest.mark.parametrize("suite", [0, 2, 255])
def test_unknown_suite(suite: int) -> None:
    _malformed(ONE.data[:9] + bytes([suite]) + ONE.data[10:], f"suite {suite}")


@pytest.mark.parametrize("sample", [ONE, SAMPLES_V1["client_one_stanza"]], ids=["v2", "v1"])
def test_truncation_at_every_offset(sample: Built) -> None:
    survivors = []
    for end in range(len(sample.data)):
        try:
            envelope.parse(sample.data[:end])
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
    data = ONE.reframe(header)
    assert int.from_bytes(data[10:14], "big") == envelope.MAX_HEADER
    assert len(envelope.parse(data).stanzas) == 16


@pytest.mark.parametrize(
    "length", [0, envelope.MIN_PAYLOAD - 1, envelope.MAX_PAYLOAD + 1, 2**32 - 1]
)
def test_payload_len_out_of_range(length: int) -> None:
    _malformed(_set_u32(ONE.data, _header_end(ONE.data) + 32, length), "payload length")


@pytest.mark.parametrize("length", [envelope.MIN_PAYLOAD_V1 - 1, envelope.MAX_PAYLOAD_V1 + 1])
def test_v1_payload_len_keeps_v1_bounds(length: int) -> None:
    v1 = SAMPLES_V1["client_one_stanza"].data
    _malformed(_set_u32(v1, _header_end(v1) + 32, length), "payload length")


def test_payload_limits_hold_a_full_auth_key_list_and_the_largest_share() -> None:
    assert envelope.MAX_PAYLOAD == 1 + 16 * 48 + envelope.MAX_SHARE + 16
    assert envelope.MAX_PAYLOAD - envelope.MAX_PAYLOAD_V1 == 1 + envelope.MAX_STANZAS * 48


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
        ("stanza", "tag", 31),
        ("stanza", "tag", 33),
    ],
)
def test_wrong_fixed_length(where: str, key: str, size: int) -> None:
    edit = _set_field(where, key, b64encode(bytes(size)))
    _malformed(_reframe(ONE, edit, retag=False), f"expected .* got {size}")


@pytest.mark.parametrize(
    ("where", "key"), [("header", "x"), ("context", "x"), ("stanza", "x"), ("stanza", "kdf")]
)
def test_unknown_key(where: str, key: str) -> None:
    _malformed(_reframe(ONE, _set_field(where, key, "1")), "unknown key")


@pytest.mark.parametrize("key", ["ephemeral", "tag"])
def test_unknown_key_in_kms_stanza(key: str) -> None:
    _malformed(_reframe(KMS, _set_field("stanza", key, b64encode(bytes(32)))), "unknown key")


@pytest.mark.parametrize(("where", "key"), [("context", "revision"), ("stanza", "tag")])
def test_v2_fields_are_unknown_in_v1(where: str, key: str) -> None:
    value = 1 if key == "revision" else b64encode(bytes(32))
    _malformed(_reframe(SAMPLES_V1["client_one_stanza"], _set_field(where, key, value)), "unknown")


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
        ("context", "revision"),
        ("stanza", "args"),
        ("stanza", "ephemeral"),
        ("stanza", "id"),
        ("stanza", "recipient"),
        ("stanza", "tag"),
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
        ("revision", -1, "revision"),
        ("revision", "1", "revision"),
        ("revision", [1], "revision"),
        ("share_role", "server", "share_role"),
        ("share_role", "Client", "share_role"),
        ("share_commitment", "", "share_commitment"),
        ("share_commitment", b64encode(bytes(65)), "share_commitment"),
        ("backup_set_id", 5, "backup_set_id"),
    ],
)
def test_bad_context_field(key: str, value: Any, match: str) -> None:
    _malformed(_reframe(ONE, _set_field("context", key, value)), match)


@pytest.mark.parametrize("revision", [0, 2**53 - 1])
def test_context_revision_limits_accepted(revision: int) -> None:
    data = _reframe(ONE, _set_field("context", "revision", revision))
    assert envelope.parse(data).context.revision == revision


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


@pytest.mark.parametrize("sample", [ONE, SAMPLES_V1["client_one_stanza"]], ids=["v2", "v1"])
def test_bit_flip_at_every_byte_never_opens(sample: Built) -> None:
    outcomes: dict[str, int] = {}
    for offset in range(len(sample.data)):
        for bit in (0x01, 0x80):
            flipped = gen.flip(sample.data, offset, bit)
            try:
                _open(flipped, sample.secrets[0])
            except (MalformedBackup, UnlockFailed) as exc:
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
            else:
                pytest.fail(f"flipping bit {bit:#x} of byte {offset} still opens")
    assert set(outcomes) == {"MalformedBackup", "UnlockFailed"}


@pytest.mark.parametrize("sample", [KMS, SAMPLES_V1["custodian_kms"]], ids=["v2", "v1"])
def test_bit_flip_at_every_byte_of_custodian_envelope_never_opens(sample: Built) -> None:
    for offset in range(len(sample.data)):
        with pytest.raises((MalformedBackup, UnlockFailed)):
            _open_kms(gen.flip(sample.data, offset), sample)


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
    # Nothing internal (an InvalidTag, which step failed) rides along on the error.
    assert all(
        e.__cause__ is None and (e.__context__ is None or e.__suppress_context__) for e in errors
    )


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _sealed_like(envelope_id: bytes, backup_key: bytes) -> bytes:
    return sealed_like(
        ONE, envelope_id=envelope_id, backup_key=backup_key, ephemeral=bytes(range(32))
    )


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
    assert _open(data, THREE.secrets[0]) == THREE.share
    # The second method's stanza unwraps (its tag and AAD are right) and yields the second key ...
    key = envelope.unlock(env, env.stanzas[1], THREE.secrets[1])
    assert key == second_key
    # ... and the header MAC, which commits to the first key, refuses it.
    _unlock_fails(lambda: envelope.open_with_key(env, key))


def _salamander(second_key: bytes) -> bytes:
    """THREE, its second stanza re-wrapped to ``second_key``; MAC, payload and tags under the
    first key (made by whoever holds every auth key and the first backup key)."""
    r = THREE.vector["recipients"][1]
    recipient = envelope.Recipient(
        r["type"],
        bytes.fromhex(r["id"]),
        r["args"],
        bytes.fromhex(r["recipient"]),
        bytes.fromhex(r["auth_key"]),
    )
    other, _ = envelope.seal(
        library_context(THREE.vector["context"]),
        b"evil share",
        [recipient],
        envelope_id=THREE.envelope_id,
        backup_key=second_key,
        rng=gen.Replay(bytes(range(32))),
    )
    header = gen.header_of(THREE.data)
    header["stanzas"][1] = gen.header_of(other)["stanzas"][0]
    return THREE.reframe(header)


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
        ("revision", 2),
        ("share_commitment", b64encode(bytes(32))),
    ],
)
@pytest.mark.parametrize("retag", [True, False], ids=["retagged", "tags_kept"])
def test_context_field_changed_fails(key: str, value: Any, retag: bool) -> None:
    # Kept tags fail at the tag; re-made tags (every auth key known) at the wrapped key's AAD.
    edited = _reframe(ONE, _set_field("context", key, value), retag=retag)
    _unlock_fails(
        lambda: envelope.unlock(envelope.parse(edited), envelope.parse(edited).stanzas[0], SECRET)
    )


def test_context_field_changed_in_custodian_envelope_fails() -> None:
    _unlock_fails(lambda: _open_kms(_reframe(KMS, _set_field("context", "wallet_id", "wallet-2"))))


def test_share_role_changed_to_custodian_is_malformed() -> None:
    _malformed(_reframe(ONE, _set_field("context", "share_role", "custodian")), "custodian")


def test_share_role_changed_to_client_is_malformed() -> None:
    _malformed(_reframe(KMS, _set_field("context", "share_role", "client")), "client envelope")


def test_envelope_id_changed_fails() -> None:
    new_id = bytes([5]) * 32
    header = dict(gen.header_of(ONE.data), envelope_id=b64encode(new_id))
    _unlock_fails(lambda: _open(ONE.reframe(header, envelope_id=new_id)))


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


# --- version 2: stanza tags and the auth-key list ------------------------------------------------


def _with_tag_flipped(sample: Built, index: int) -> bytes:
    tag = gen.unb64u(gen.header_of(sample.data)["stanzas"][index]["tag"])
    assert tag is not None
    return _reframe(
        sample, lambda h: h["stanzas"][index].update(tag=b64encode(gen.flip(tag, 5))), retag=False
    )


def _attacker(seed: bytes) -> tuple[envelope.Recipient, bytes]:
    secret = gen.sha256(b"attacker secret " + seed)
    stanza_id = gen.sha256(b"attacker stanza " + seed)[:16]
    return envelope.Recipient.from_secret("password", stanza_id, {}, secret), secret


def test_unlock_checks_the_tag_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    real_unwrap, real_private = crypto._unwrap, crypto._stanza_private_key

    def unwrap(*args: Any) -> bytes:
        used.append("unwrap")
        return real_unwrap(*args)

    def private(*args: Any) -> Any:
        used.append("recipient key")
        return real_private(*args)

    monkeypatch.setattr(crypto, "_unwrap", unwrap)
    monkeypatch.setattr(crypto, "_stanza_private_key", private)
    refused = [
        (_with_tag_flipped(ONE, 0), SECRET),
        (ONE.data, bytes(32)),
        (gen.flip(ONE.data, len(ONE.data) - 1), SECRET),
        (_reframe(ONE, _set_field("context", "wallet_id", "wallet-2"), retag=False), SECRET),
    ]
    for data, secret in refused:
        env = envelope.parse(data)
        _unlock_fails(lambda: envelope.unlock(env, env.stanzas[0], secret))  # noqa: B023
    assert used == []
    env = envelope.parse(ONE.data)
    assert envelope.unlock(env, env.stanzas[0], SECRET) == ONE.backup_key
    assert used == ["unwrap", "recipient key"]


@pytest.mark.parametrize("index", [1, 2])
def test_open_checks_every_stanza_tag(index: int) -> None:
    data = _with_tag_flipped(THREE, index)
    env = envelope.parse(data)
    key = envelope.unlock(env, env.stanzas[0], THREE.secrets[0])  # its own tag is intact
    _unlock_fails(lambda: envelope.open_with_key(env, key))
    _unlock_fails(lambda: envelope.unlock(env, env.stanzas[index], THREE.secrets[index]))


@pytest.mark.parametrize(
    "stanzas", [[0, 1], [0, 2], [1, 0, 2], [0, 2, 1], [2, 1, 0], [0, 1, 2, 0]], ids=str
)
def test_stanzas_removed_reordered_or_added_after_sealing_fail(stanzas: list[int]) -> None:
    original = gen.header_of(THREE.data)["stanzas"]
    attacker = gen.header_of(
        envelope.seal(library_context(THREE.vector["context"]), b"x", [_attacker(b"1")[0]])[0]
    )["stanzas"][0]

    def edit(h: dict[str, Any]) -> None:
        h["stanzas"] = [
            original[i] if position < 3 else attacker for position, i in enumerate(stanzas)
        ]

    env = envelope.parse(_reframe(THREE, edit, retag=False))
    for stanza in env.stanzas:
        if stanza.id in THREE.auth_keys:
            secret = THREE.secrets[list(THREE.auth_keys).index(stanza.id)]
            _unlock_fails(lambda: envelope.unlock(env, stanza, secret))  # noqa: B023


def test_forged_envelope_around_a_chosen_share_fails_the_tag() -> None:
    """The v1 attack: whoever writes the store seals a new envelope to the victim's public
    recipient key, under a backup key they choose (so the header MAC is theirs to make)."""
    genuine = envelope.parse(ONE.data)
    (stanza,) = genuine.stanzas
    for guess in (bytes(32), gen.sha256(b"guess"), gen.sha256(stanza.recipient or b"")):
        forged, _ = envelope.seal(
            genuine.context, b"chosen share", [envelope.Recipient.from_stanza(stanza, guess)]
        )
        _unlock_fails(lambda: _open(forged))  # noqa: B023


def test_forged_envelope_with_an_extra_recipient_fails_the_tag() -> None:
    genuine = envelope.parse(ONE.data)
    attacker, attacker_secret = _attacker(b"2")
    victim = envelope.Recipient.from_stanza(genuine.stanzas[0], bytes(32))
    forged, _ = envelope.seal(genuine.context, ONE.share, [victim, attacker])
    _unlock_fails(lambda: _open(forged))
    assert _open(forged, attacker_secret, 1) == ONE.share  # the attacker's own stanza is theirs


def test_payload_auth_key_list_must_name_the_method_stanzas() -> None:
    one_id = bytes.fromhex(ONE.vector["recipients"][0]["id"])
    entry = (one_id, ONE.auth_keys[one_id])
    for entries in ([], [entry, entry], [(bytes(16), entry[1])], [(one_id, bytes(32))]):
        data = ONE.reframe(gen.header_of(ONE.data), entries=entries)
        env = envelope.parse(data)
        key = envelope.unlock(env, env.stanzas[0], SECRET)
        _unlock_fails(lambda: envelope.open_with_key(env, key))  # noqa: B023


def test_payload_share_over_the_limit_fails() -> None:
    one_id = bytes.fromhex(ONE.vector["recipients"][0]["id"])
    share = bytes(envelope.MAX_SHARE + 1)
    data = ONE.reframe(gen.header_of(ONE.data), share=share)
    env = envelope.parse(data)  # the payload length is within bounds (fewer than 16 entries)
    assert len(env.payload) == 1 + 48 + len(share) + 16
    assert env.method_stanzas[0].id == one_id
    key = envelope.unlock(env, env.stanzas[0], SECRET)
    _unlock_fails(lambda: envelope.open_with_key(env, key))


def test_retagging_needs_only_the_auth_keys_not_the_secrets() -> None:
    # What makes add/remove after one unlock possible: the auth keys from the payload suffice.
    opened = envelope.open_with_key(envelope.parse(THREE.data), THREE.backup_key)
    env = envelope.parse(THREE.data)
    kept = [envelope.Recipient.from_stanza(s, opened.auth_keys[s.id]) for s in env.stanzas[1:]]
    data, _ = envelope.seal(env.context, opened.share, kept)
    for index, secret in enumerate(THREE.secrets[1:]):
        assert _open(data, secret, index) == THREE.share


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
    for version, sample in ((2, ONE), (1, SAMPLES_V1["client_one_stanza"])):
        path = VECTORS / f"envelope_v{version}.json"
        committed = json.loads(path.read_text(encoding="utf-8"))
        assert committed["vectors"][0]["expected"]["envelope"] == sample.data.hex()
