"""The committed vectors: known answers (byte-exact) and named invalid envelopes.

The vectors are made by tests/vectors/generate.py; these tests never regenerate them, they check
the library against the committed bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import generate as gen
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from walletbackup import envelope
from walletbackup.canonical import b64encode
from walletbackup.errors import MalformedBackup, UnlockFailed

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

VALID = json.loads((VECTORS / "envelope_v1.json").read_text(encoding="utf-8"))["vectors"]
INVALID = json.loads((VECTORS / "invalid" / "envelope_v1.json").read_text(encoding="utf-8"))[
    "vectors"
]


def _context(vector: dict[str, Any]) -> envelope.Context:
    ctx = vector["context"]
    commitment = ctx["share_commitment"]
    return envelope.Context(
        wallet_id=ctx["wallet_id"],
        backup_set_id=bytes.fromhex(ctx["backup_set_id"]),
        share_role=ctx["share_role"],
        key_epoch=ctx["key_epoch"],
        share_commitment=None if commitment is None else bytes.fromhex(commitment),
    )


def _recipients(vector: dict[str, Any]) -> list[envelope.Recipient | envelope.KmsRecipient]:
    out: list[envelope.Recipient | envelope.KmsRecipient] = []
    for r in vector["recipients"]:
        if r["type"] == "kms":
            kms = gen.FixedKeyKms(
                bytes.fromhex(r["kms_key"]), gen.Replay(bytes.fromhex(r["kms_nonce"]))
            )
            out.append(envelope.KmsRecipient(bytes.fromhex(r["id"]), r["args"], kms))
        else:
            out.append(
                envelope.Recipient(
                    r["type"], bytes.fromhex(r["id"]), r["args"], bytes.fromhex(r["recipient"])
                )
            )
    return out


def test_vector_files_cover_the_required_cases() -> None:
    names = {v["name"] for v in VALID}
    assert {
        "client_one_stanza",
        "client_three_stanzas",
        "client_share_commitment",
        "custodian_kms",
    } <= names
    assert [len(v["recipients"]) for v in VALID if v["name"] == "client_three_stanzas"] == [3]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_seal_reproduces_vector_byte_exact(vector: dict[str, Any]) -> None:
    rng = gen.Replay(bytes.fromhex(vector["rng"]))
    data, backup_key = envelope.seal(
        _context(vector), bytes.fromhex(vector["share"]), _recipients(vector), rng=rng
    )
    assert rng.left == 0
    expected = vector["expected"]
    assert backup_key.hex() == expected["backup_key"]
    assert data.hex() == expected["envelope"]
    assert envelope.armor(data) == expected["armored"]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_vector_parts_match_envelope(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    data = bytes.fromhex(expected["envelope"])
    header = expected["header"].encode("utf-8")
    assert data[14 : 14 + len(header)] == header
    assert data[14 + len(header) : 46 + len(header)].hex() == expected["header_mac"]
    assert envelope.dearmor(expected["armored"]) == data
    env = envelope.parse(data)
    assert env.envelope_id.hex() == expected["envelope_id"]
    assert env.context == _context(vector)


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_recipient_keys_match_vector(vector: dict[str, Any]) -> None:
    for r in vector["recipients"]:
        if r["type"] != "kms":
            key = envelope.recipient_public_key(
                bytes.fromhex(r["method_secret"]), bytes.fromhex(r["id"])
            )
            assert key.hex() == r["recipient"]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_vector_opens_to_share_with_every_stanza(vector: dict[str, Any]) -> None:
    env = envelope.parse(bytes.fromhex(vector["expected"]["envelope"]))
    assert len(env.stanzas) == len(vector["recipients"])
    for stanza, r in zip(env.stanzas, vector["recipients"], strict=True):
        if r["type"] == "kms":
            key = envelope.unwrap_key_kms(
                env, stanza, gen.FixedKeyKms(bytes.fromhex(r["kms_key"]), gen.Replay(b""))
            )
        else:
            key = envelope.unwrap_key(env, stanza, bytes.fromhex(r["method_secret"]))
        assert key.hex() == vector["expected"]["backup_key"]
        assert envelope.open_with_key(env, key).hex() == vector["share"]


def test_invalid_vectors_cover_both_outcomes() -> None:
    assert {v["expect"] for v in INVALID} == {"malformed", "unlock_failed"}
    assert len({v["name"] for v in INVALID}) == len(INVALID)


@pytest.mark.parametrize(
    "vector", [v for v in INVALID if v["expect"] == "malformed"], ids=lambda v: v["name"]
)
def test_invalid_vector_is_malformed(vector: dict[str, Any]) -> None:
    with pytest.raises(MalformedBackup):
        envelope.parse(bytes.fromhex(vector["envelope"]))


@pytest.mark.parametrize(
    "vector", [v for v in INVALID if v["expect"] == "unlock_failed"], ids=lambda v: v["name"]
)
def test_invalid_vector_fails_to_unlock(vector: dict[str, Any]) -> None:
    env = envelope.parse(bytes.fromhex(vector["envelope"]))
    with pytest.raises(UnlockFailed) as failure:
        _unlock_and_open(env, vector)
    assert str(failure.value) == UnlockFailed.MESSAGE


def _unlock_and_open(env: envelope.Envelope, vector: dict[str, Any]) -> bytes:
    stanza = env.stanzas[0]
    if vector["kms_key"] is not None:
        kms = gen.FixedKeyKms(bytes.fromhex(vector["kms_key"]), gen.Replay(b""))
        key = envelope.unwrap_key_kms(env, stanza, kms)
    else:
        key = envelope.unwrap_key(env, stanza, bytes.fromhex(vector["secret"]))
    return envelope.open_with_key(env, key)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


@pytest.mark.parametrize(
    "vector", [v for v in VALID if v["context"]["share_role"] == "client"], ids=lambda v: v["name"]
)
def test_vector_follows_the_spec_independently(vector: dict[str, Any]) -> None:
    """Re-derive every stanza, the header MAC and the payload from docs/format.md alone."""
    expected = vector["expected"]
    backup_key = bytes.fromhex(expected["backup_key"])
    envelope_id = bytes.fromhex(expected["envelope_id"])
    header = json.loads(expected["header"])
    assert gen.canon(header) == expected["header"].encode()
    ephemerals = bytes.fromhex(vector["rng"])[64:]
    for index, (stanza, r) in enumerate(zip(header["stanzas"], vector["recipients"], strict=True)):
        sk = _hkdf(
            bytes.fromhex(r["method_secret"]), bytes.fromhex(r["id"]), b"walletbackup/v1/stanza-key"
        )
        recipient = X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()
        assert b64encode(recipient) == stanza["recipient"]
        e = X25519PrivateKey.from_private_bytes(ephemerals[32 * index : 32 * index + 32])
        ephemeral = e.public_key().public_bytes_raw()
        assert b64encode(ephemeral) == stanza["ephemeral"]
        shared = e.exchange(X25519PublicKey.from_public_bytes(recipient))
        wrap_key = _hkdf(shared, ephemeral + recipient, b"walletbackup/v1/wrap")
        bare = {k: v for k, v in stanza.items() if k != "wrapped_key"}
        aad = b"walletbackup/v1/stanza\x00" + gen.canon(
            {"context": header["context"], "envelope_id": header["envelope_id"], "stanza": bare}
        )
        wrapped = AESGCM(wrap_key).encrypt(bytes(12), backup_key, aad)
        assert b64encode(wrapped) == stanza["wrapped_key"]
    share = bytes.fromhex(vector["share"])
    framed = gen.frame(expected["header"].encode(), backup_key, envelope_id, share)
    assert framed.hex() == expected["envelope"]
