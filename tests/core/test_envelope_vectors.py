"""The committed vectors: known answers (byte-exact) and named invalid envelopes, v1 and v2.

The vectors are made by tests/vectors/generate.py; these tests never regenerate them, they check
the library (and an independent implementation of docs/format.md) against the committed bytes.
Version 1 is read-only now: its vectors must still parse and open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
import vector_support as vs
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from vector_cases import CASES, build, header_context, library_context, library_recipients

from walletbackup import envelope
from walletbackup.errors import MalformedBackup, UnlockFailed

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _load(path: Path) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["vectors"]
    return vectors


VALID = {v: _load(VECTORS / f"envelope_v{v}.json") for v in (1, 2)}
INVALID = {v: _load(VECTORS / "invalid" / f"envelope_v{v}.json") for v in (1, 2)}
ALL_VALID = [(version, v) for version in (1, 2) for v in VALID[version]]
ALL_INVALID = [(version, v) for version in (1, 2) for v in INVALID[version]]


def _ids(cases: list[tuple[int, dict[str, Any]]]) -> list[str]:
    return [f"v{version}-{v['name']}" for version, v in cases]


def _kms(hex_key: str) -> vs.FixedKeyKms:
    return vs.FixedKeyKms(bytes.fromhex(hex_key), vs.Replay(b""))


def test_vector_files_cover_the_required_cases() -> None:
    for version in (1, 2):
        names = {v["name"] for v in VALID[version]}
        assert {
            "client_one_stanza",
            "client_three_stanzas",
            "client_share_commitment",
            "custodian_kms",
        } <= names
        three = [v for v in VALID[version] if v["name"] == "client_three_stanzas"]
        assert [len(v["recipients"]) for v in three] == [3]


def test_v1_vectors_are_what_the_library_wrote_when_it_wrote_v1() -> None:
    # The independent v1 sealer reproduces the committed v1 file, so the file is frozen: a
    # regeneration cannot quietly change what "v1" means.
    assert [build(case, 1).vector for case in CASES[1]] == VALID[1]


@pytest.mark.parametrize("vector", VALID[2], ids=lambda v: v["name"])
def test_seal_reproduces_v2_vector_byte_exact(vector: dict[str, Any]) -> None:
    rng = vs.Replay(bytes.fromhex(vector["rng"]))
    kms_nonces = vs.Replay(bytes.fromhex(vector["recipients"][0].get("kms_nonce", "")))
    data, backup_key = envelope.seal(
        library_context(vector["context"]),
        bytes.fromhex(vector["share"]),
        library_recipients(vector, kms_nonces),
        rng=rng,
    )
    assert rng.left == 0
    expected = vector["expected"]
    assert backup_key.hex() == expected["backup_key"]
    assert data.hex() == expected["envelope"]
    assert envelope.armor(data) == expected["armored"]


@pytest.mark.parametrize(("version", "vector"), ALL_VALID, ids=_ids(ALL_VALID))
def test_vector_parts_match_envelope(version: int, vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    data = bytes.fromhex(expected["envelope"])
    header = expected["header"].encode("utf-8")
    assert data[8] == version
    assert data[14 : 14 + len(header)] == header
    assert data[14 + len(header) : 46 + len(header)].hex() == expected["header_mac"]
    assert envelope.dearmor(expected["armored"]) == data
    env = envelope.parse(data)
    assert env.version == version
    assert env.envelope_id.hex() == expected["envelope_id"]
    assert env.context == library_context(vector["context"])
    if version == 2:
        assert [None if s.tag is None else s.tag.hex() for s in env.stanzas] == expected["tags"]


@pytest.mark.parametrize(("version", "vector"), ALL_VALID, ids=_ids(ALL_VALID))
def test_recipient_and_auth_keys_match_vector(version: int, vector: dict[str, Any]) -> None:
    for r in vector["recipients"]:
        if r["type"] == "kms":
            continue
        secret, stanza_id = bytes.fromhex(r["method_secret"]), bytes.fromhex(r["id"])
        assert envelope.recipient_public_key(secret, stanza_id).hex() == r["recipient"]
        if version == 2:
            assert envelope.stanza_auth_key(secret, stanza_id).hex() == r["auth_key"]


@pytest.mark.parametrize(("version", "vector"), ALL_VALID, ids=_ids(ALL_VALID))
def test_vector_opens_to_share_with_every_stanza(version: int, vector: dict[str, Any]) -> None:
    env = envelope.parse(bytes.fromhex(vector["expected"]["envelope"]))
    assert len(env.stanzas) == len(vector["recipients"])
    auth_keys = {
        bytes.fromhex(r["id"]): bytes.fromhex(r["auth_key"])
        for r in vector["recipients"]
        if "auth_key" in r
    }
    for stanza, r in zip(env.stanzas, vector["recipients"], strict=True):
        if r["type"] == "kms":
            key = envelope.unwrap_key_kms(env, stanza, _kms(r["kms_key"]))
        else:
            key = envelope.unlock(env, stanza, bytes.fromhex(r["method_secret"]))
        assert key.hex() == vector["expected"]["backup_key"]
        opened = envelope.open_with_key(env, key)
        assert opened.share.hex() == vector["share"]
        assert dict(opened.auth_keys) == auth_keys  # empty for v1 and for custodian envelopes


def test_invalid_vectors_cover_both_outcomes() -> None:
    for version in (1, 2):
        assert {v["expect"] for v in INVALID[version]} == {"malformed", "unlock_failed"}
        assert len({v["name"] for v in INVALID[version]}) == len(INVALID[version])
    assert {v["fails_at"] for v in INVALID[2] if v["expect"] == "unlock_failed"} == {
        "unlock",
        "open",
    }


def test_every_v2_check_has_a_named_vector() -> None:
    names = {v["name"] for v in INVALID[2]}
    assert {
        "tag_bit_flip",
        "tag_missing",
        "tag_on_kms_stanza",
        "revision_missing",
        "payload_count_too_high",
        "payload_count_too_low",
        "payload_id_mismatch",
        "payload_ids_reordered",
        "payload_auth_key_wrong",
        "stanza_added_after_sealing",
        "stanza_removed_after_sealing",
        "stanzas_reordered_after_sealing",
        "context_revision_changed_tags_kept",
        "context_wallet_id_changed_tags_kept",
        "forged_without_auth_key",
    } <= names
    assert {"context_with_revision", "stanza_with_tag"} <= {v["name"] for v in INVALID[1]}


_MALFORMED = [(version, v) for version, v in ALL_INVALID if v["expect"] == "malformed"]
_FAILING = [(version, v) for version, v in ALL_INVALID if v["expect"] == "unlock_failed"]


@pytest.mark.parametrize(("version", "vector"), _MALFORMED, ids=_ids(_MALFORMED))
def test_invalid_vector_is_malformed(version: int, vector: dict[str, Any]) -> None:
    with pytest.raises(MalformedBackup):
        envelope.parse(bytes.fromhex(vector["envelope"]))


@pytest.mark.parametrize(("version", "vector"), _FAILING, ids=_ids(_FAILING))
def test_invalid_vector_fails_to_unlock(version: int, vector: dict[str, Any]) -> None:
    env = envelope.parse(bytes.fromhex(vector["envelope"]))
    assert env.version == version
    fails_at = vector.get("fails_at")
    if fails_at == "open":
        key = _unlock(env, vector)  # the defect is past the stanza: unlocking succeeds
        with pytest.raises(UnlockFailed) as failure:
            envelope.open_with_key(env, key)
    elif fails_at == "unlock":
        with pytest.raises(UnlockFailed) as failure:
            _unlock(env, vector)
    else:  # version 1 does not say which step fails
        with pytest.raises(UnlockFailed) as failure:
            _unlock_and_open(env, vector)
    assert str(failure.value) == UnlockFailed.MESSAGE


def _unlock_and_open(env: envelope.Envelope, vector: dict[str, Any]) -> bytes:
    return envelope.open_with_key(env, _unlock(env, vector)).share


def _unlock(env: envelope.Envelope, vector: dict[str, Any]) -> bytes:
    stanza = env.stanzas[0]
    if vector["kms_key"] is not None:
        return envelope.unwrap_key_kms(env, stanza, _kms(vector["kms_key"]))
    return envelope.unlock(env, stanza, bytes.fromhex(vector["secret"]))


# --- the spec, independently ---------------------------------------------------------------


@pytest.mark.parametrize(("version", "vector"), ALL_VALID, ids=_ids(ALL_VALID))
def test_vector_follows_the_spec_independently(version: int, vector: dict[str, Any]) -> None:
    """Seal every vector again with vector_support.spec_seal (docs/format.md, no library)."""
    recipients = vector["recipients"]
    nonces = vs.Replay(bytes.fromhex(recipients[0].get("kms_nonce", "")))
    data, backup_key = vs.spec_seal(
        version,
        header_context(vector["context"], version),
        bytes.fromhex(vector["share"]),
        recipients,
        vs.Replay(bytes.fromhex(vector["rng"])),
        nonces,
    )
    assert backup_key.hex() == vector["expected"]["backup_key"]
    assert data.hex() == vector["expected"]["envelope"]


@pytest.mark.parametrize("vector", VALID[2], ids=lambda v: v["name"])
def test_v2_vector_follows_the_spec_step_by_step(vector: dict[str, Any]) -> None:
    """Each v2 derivation of docs/format.md §4, checked on the vector's own parts."""
    expected = vector["expected"]
    data = bytes.fromhex(expected["envelope"])
    backup_key = bytes.fromhex(expected["backup_key"])
    envelope_id = bytes.fromhex(expected["envelope_id"])
    header = json.loads(expected["header"])
    # §4.5 the header core: the header without any "tag", canonical.
    core = vs.canon(vs.strip_tags(header))
    assert core == expected["header_core"].encode("utf-8")
    # §4.6 the payload plaintext: count || (stanza id || auth key)* || share.
    methods = [r for r in vector["recipients"] if r["type"] != "kms"]
    entries = b""
    for r in methods:
        secret, stanza_id = bytes.fromhex(r["method_secret"]), bytes.fromhex(r["id"])
        derived = vs.hkdf(secret, stanza_id, b"walletbackup/v2/stanza-auth")
        assert derived.hex() == r["auth_key"]
        entries += stanza_id + derived
    plaintext = bytes([len(methods)]) + entries + bytes.fromhex(vector["share"])
    assert plaintext.hex() == expected["payload_plaintext"]
    # §4.6 the payload: AES-256-GCM, key from the backup key, AAD = H(label || core).
    hend = vs.header_end(data)
    payload = data[hend + 36 :]
    payload_key = vs.hkdf(backup_key, envelope_id, b"walletbackup/v2/payload")
    aad = hashlib.sha256(b"walletbackup/v2/payload-aad" + core).digest()
    assert AESGCM(payload_key).decrypt(bytes(12), payload, aad) == plaintext
    # §4.7 the tags: HMAC(auth key, label || H(core) || H(payload)); none on a kms stanza.
    tag_input = b"walletbackup/v2/stanza-tag" + vs.sha256(core) + vs.sha256(payload)
    for stanza, r in zip(header["stanzas"], vector["recipients"], strict=True):
        if r["type"] == "kms":
            assert "tag" not in stanza
        else:
            tag = hmac.new(bytes.fromhex(r["auth_key"]), tag_input, "sha256").digest()
            assert stanza["tag"] == vs.b64u(tag)
    # §4.8 the header MAC: over magic .. header, tags included.
    mac_key = vs.hkdf(backup_key, envelope_id, b"walletbackup/v2/header-mac")
    assert hmac.new(mac_key, data[:hend], "sha256").hexdigest() == expected["header_mac"]
    assert data[8:10] == b"\x02\x01"
