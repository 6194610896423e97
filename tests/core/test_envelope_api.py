"""The envelope API: sealing, re-wrapping without secrets, opening, and seal's own input checks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import generate as gen
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from walletbackup import envelope
from walletbackup.envelope import Context, KmsRecipient, Recipient
from walletbackup.errors import BackupNotFound, MalformedBackup, UnlockFailed

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


CLIENT = Context("wallet-1", bytes(range(16)), "client", 3)
CUSTODIAN = Context("wallet-1", bytes(range(16)), "custodian", 3)
SHARE = b"client share \x00\xff" * 3


def _method(n: int, kind: str = "password") -> tuple[Recipient, bytes]:
    secret = hashlib.sha256(b"secret %d" % n).digest()
    stanza_id = hashlib.sha256(b"id %d" % n).digest()[:16]
    return Recipient.from_secret(kind, stanza_id, {"n": n}, secret), secret


def _kms(seed: bytes = b"kms") -> tuple[KmsRecipient, object]:
    provider = gen.FixedKeyKms(hashlib.sha256(seed).digest(), os.urandom)
    return KmsRecipient(bytes(16), provider.stanza_args(), provider), provider


def _open(data: bytes, secret: bytes, index: int = 0) -> bytes:
    env = envelope.parse(data)
    return envelope.open_with_key(env, envelope.unwrap_key(env, env.stanzas[index], secret))


# --- round trips --------------------------------------------------------------------------------


def test_every_method_opens_the_share() -> None:
    methods = [_method(i) for i in range(5)]
    data, _ = envelope.seal(CLIENT, SHARE, [r for r, _ in methods])
    for index, (_, secret) in enumerate(methods):
        assert _open(data, secret, index) == SHARE


def test_seal_returns_the_key_that_opens() -> None:
    recipient, secret = _method(1)
    data, key = envelope.seal(CLIENT, SHARE, [recipient])
    env = envelope.parse(data)
    assert envelope.unwrap_key(env, env.stanzas[0], secret) == key
    assert envelope.open_with_key(env, key) == SHARE


def test_each_seal_uses_fresh_randomness() -> None:
    recipient, _ = _method(1)
    first, key1 = envelope.seal(CLIENT, SHARE, [recipient])
    second, key2 = envelope.seal(CLIENT, SHARE, [recipient])
    assert key1 != key2
    assert envelope.parse(first).envelope_id != envelope.parse(second).envelope_id
    assert envelope.parse(first).stanzas[0].ephemeral != envelope.parse(second).stanzas[0].ephemeral


def test_rewrap_fresh_key_to_existing_methods_without_their_secrets() -> None:
    methods = [_method(i, kind) for i, kind in enumerate(["password", "passkey", "gdrive"])]
    old, old_key = envelope.seal(CLIENT, SHARE, [r for r, _ in methods])
    old_env = envelope.parse(old)
    # Unlock with one method only, then wrap a fresh key to all of them plus a new one.
    share = envelope.open_with_key(
        old_env, envelope.unwrap_key(old_env, old_env.stanzas[0], methods[0][1])
    )
    added, added_secret = _method(9, "icloud")
    recipients = [Recipient.from_stanza(s) for s in old_env.stanzas] + [added]
    new, new_key = envelope.seal(CLIENT, share, recipients)
    assert new_key != old_key
    for index, secret in enumerate([s for _, s in methods] + [added_secret]):
        assert _open(new, secret, index) == SHARE


def test_recipient_from_kms_stanza_is_refused() -> None:
    recipient, _ = _kms()
    data, _ = envelope.seal(CUSTODIAN, SHARE, [recipient])
    with pytest.raises(ValueError, match="kms stanza"):
        Recipient.from_stanza(envelope.parse(data).stanzas[0])


def test_recipient_public_key_is_the_stanza_recipient() -> None:
    recipient, secret = _method(4)
    data, _ = envelope.seal(CLIENT, SHARE, [recipient])
    stanza = envelope.parse(data).stanzas[0]
    assert stanza.recipient == envelope.recipient_public_key(secret, stanza.id)
    assert stanza.recipient != envelope.recipient_public_key(secret, bytes(16))


def test_custodian_envelope_opens_with_kms() -> None:
    recipient, provider = _kms()
    data, key = envelope.seal(CUSTODIAN, SHARE, [recipient])
    env = envelope.parse(data)
    assert env.stanzas[0].is_kms
    assert envelope.unwrap_key_kms(env, env.stanzas[0], provider) == key  # type: ignore[arg-type]
    assert envelope.open_with_key(env, key) == SHARE


def test_kms_rotation_keeps_old_envelopes_open() -> None:
    recipient, provider = _kms()
    old, _ = envelope.seal(CUSTODIAN, SHARE, [recipient])
    assert provider.rotate() == 2  # type: ignore[attr-defined]
    new_recipient = KmsRecipient(bytes(16), provider.stanza_args(), provider)  # type: ignore[attr-defined]
    new, _ = envelope.seal(CUSTODIAN, SHARE, [new_recipient])
    for data, version in ((old, 1), (new, 2)):
        env = envelope.parse(data)
        assert env.stanzas[0].args["version"] == version
        key = envelope.unwrap_key_kms(env, env.stanzas[0], provider)  # type: ignore[arg-type]
        assert envelope.open_with_key(env, key) == SHARE


@pytest.mark.parametrize("size", [1, envelope.MAX_SHARE])
def test_share_size_limits_accepted(size: int) -> None:
    recipient, secret = _method(1)
    share = bytes([size % 251]) * size
    data, _ = envelope.seal(CLIENT, share, [recipient])
    assert _open(data, secret) == share


def test_sixteen_methods_and_commitment() -> None:
    methods = [_method(i) for i in range(envelope.MAX_STANZAS)]
    context = Context("w", bytes(16), "client", 0, share_commitment=hashlib.sha512(SHARE).digest())
    data, _ = envelope.seal(context, SHARE, [r for r, _ in methods])
    env = envelope.parse(data)
    assert env.context == context
    assert _open(data, methods[-1][1], 15) == SHARE


def test_find_stanza() -> None:
    methods = [_method(i) for i in range(3)]
    env = envelope.parse(envelope.seal(CLIENT, SHARE, [r for r, _ in methods])[0])
    assert env.find_stanza(methods[1][0].id) is env.stanzas[1]
    with pytest.raises(BackupNotFound, match="no stanza with id 0000"):
        env.find_stanza(bytes(16))


def test_reprs_hold_no_secrets_or_ciphertext() -> None:
    recipient, secret = _method(1)
    data, key = envelope.seal(CLIENT, SHARE, [recipient])
    env = envelope.parse(data)
    text = repr(env) + repr(recipient) + repr(env.stanzas)
    for value in (secret, key, SHARE, data[-16:]):
        assert value.hex() not in text
        assert repr(value) not in text
    assert "raw" not in repr(env)


# --- randomness ---------------------------------------------------------------------------------


def test_rng_order_envelope_id_then_key_then_ephemerals() -> None:
    methods = [_method(i) for i in range(2)]
    drawn = gen.SeededStream(b"order")(32 * 4)
    rng = gen.Replay(drawn)
    data, key = envelope.seal(CLIENT, SHARE, [r for r, _ in methods], rng=rng)
    env = envelope.parse(data)
    assert rng.left == 0
    assert env.envelope_id == drawn[:32]
    assert key == drawn[32:64]
    for index, stanza in enumerate(env.stanzas):
        own = X25519PrivateKey.from_private_bytes(drawn[64 + 32 * index : 96 + 32 * index])
        assert stanza.ephemeral == own.public_key().public_bytes_raw()


def test_given_envelope_id_and_key_draw_only_ephemerals() -> None:
    recipient, secret = _method(1)
    rng = gen.Replay(bytes([1]) * 32)
    data, key = envelope.seal(
        CLIENT, SHARE, [recipient], envelope_id=bytes([2]) * 32, backup_key=bytes([3]) * 32, rng=rng
    )
    assert rng.left == 0
    assert key == bytes([3]) * 32
    assert envelope.parse(data).envelope_id == bytes([2]) * 32
    assert _open(data, secret) == SHARE


def test_kms_recipient_draws_no_randomness_from_seal() -> None:
    recipient, _ = _kms()
    rng = gen.Replay(bytes(64))
    envelope.seal(CUSTODIAN, SHARE, [recipient], rng=rng)
    assert rng.left == 0


# --- seal refuses what parse would refuse -------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "match"),
    [
        (Context("", bytes(16), "client", 0), "wallet_id"),
        (Context("w\x00", bytes(16), "client", 0), "control"),
        (Context("e\u0301", bytes(16), "client", 0), "NFC"),
        (Context("w" * 129, bytes(16), "client", 0), "wallet_id"),
        (Context("w", bytes(15), "client", 0), "backup_set_id"),
        (Context("w", bytes(16), "server", 0), "share_role"),
        (Context("w", bytes(16), "client", -1), "key_epoch"),
        (Context("w", bytes(16), "client", 2**53), "key_epoch"),
        (Context("w", bytes(16), "client", True), "key_epoch"),
        (Context("w", bytes(16), "client", 0, b""), "share_commitment"),
        (Context("w", bytes(16), "client", 0, bytes(65)), "share_commitment"),
    ],
)
def test_seal_refuses_bad_context(context: Context, match: str) -> None:
    recipient, _ = _method(1)
    with pytest.raises(MalformedBackup, match=match):
        envelope.seal(context, SHARE, [recipient])


@pytest.mark.parametrize("share", [b"", bytes(envelope.MAX_SHARE + 1)])
def test_seal_refuses_share_size(share: bytes) -> None:
    recipient, _ = _method(1)
    with pytest.raises(MalformedBackup, match="share"):
        envelope.seal(CLIENT, share, [recipient])


def test_seal_refuses_no_recipients() -> None:
    with pytest.raises(MalformedBackup, match=r"1\.\.16"):
        envelope.seal(CLIENT, SHARE, [])


def test_seal_refuses_17_recipients() -> None:
    with pytest.raises(MalformedBackup, match=r"1\.\.16"):
        envelope.seal(CLIENT, SHARE, [_method(i)[0] for i in range(17)])


def test_seal_refuses_duplicate_stanza_ids() -> None:
    recipient, _ = _method(1)
    with pytest.raises(MalformedBackup, match="same id"):
        envelope.seal(CLIENT, SHARE, [recipient, recipient])


@pytest.mark.parametrize("kind", ["Password", "", "x" * 33])
def test_seal_refuses_bad_type(kind: str) -> None:
    recipient, _ = _method(1)
    with pytest.raises(MalformedBackup, match="type must match"):
        envelope.seal(CLIENT, SHARE, [Recipient(kind, recipient.id, {}, recipient.recipient)])


def test_seal_refuses_oversized_args() -> None:
    recipient, _ = _method(1)
    big = Recipient("password", recipient.id, gen.args_of_size(4097), recipient.recipient)
    with pytest.raises(MalformedBackup, match="4096"):
        envelope.seal(CLIENT, SHARE, [big])


def test_seal_refuses_float_in_args() -> None:
    recipient, _ = _method(1)
    with pytest.raises(MalformedBackup, match="floating-point"):
        envelope.seal(
            CLIENT, SHARE, [Recipient("password", recipient.id, {"t": 1.5}, recipient.recipient)]
        )


def test_seal_refuses_header_over_limit() -> None:
    recipients = [
        Recipient("password", bytes([i]) * 16, gen.args_of_size(4096), _method(i)[0].recipient)
        for i in range(16)
    ]
    with pytest.raises(MalformedBackup, match="header would be"):
        envelope.seal(CLIENT, SHARE, recipients)


def test_seal_refuses_kms_in_client_envelope_before_calling_the_kms() -> None:
    calls: list[bytes] = []

    class CountingKms(gen.FixedKeyKms):  # type: ignore[misc, name-defined]
        def wrap(self, key: bytes, aad: bytes, args: object) -> bytes:
            calls.append(aad)
            return bytes(28)

    provider = CountingKms(bytes(32), os.urandom)
    recipient = KmsRecipient(bytes(16), provider.stanza_args(), provider)
    with pytest.raises(MalformedBackup, match="client envelope"):
        envelope.seal(CLIENT, SHARE, [_method(1)[0], recipient])
    assert calls == []


def test_seal_refuses_method_in_custodian_envelope() -> None:
    with pytest.raises(MalformedBackup, match="custodian"):
        envelope.seal(CUSTODIAN, SHARE, [_method(1)[0]])


def test_seal_refuses_two_kms_in_custodian_envelope() -> None:
    recipient, provider = _kms()
    second = KmsRecipient(bytes([1]) * 16, recipient.args, provider)  # type: ignore[arg-type]
    with pytest.raises(MalformedBackup, match="custodian"):
        envelope.seal(CUSTODIAN, SHARE, [recipient, second])


def test_recipient_type_kms_is_reserved() -> None:
    with pytest.raises(ValueError, match="reserved"):
        Recipient("kms", bytes(16), {}, bytes(32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backup_key": bytes(31)}, "backup key"),
        ({"envelope_id": bytes(16)}, "envelope id"),
        ({"rng": lambda n: bytes(n - 1)}, "rng output"),
    ],
)
def test_seal_refuses_wrong_lengths(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        envelope.seal(CLIENT, SHARE, [_method(1)[0]], **kwargs)  # type: ignore[arg-type]


def test_seal_refuses_low_order_recipient() -> None:
    with pytest.raises(ValueError, match="shared key"):
        envelope.seal(CLIENT, SHARE, [Recipient("password", bytes(16), {}, bytes(32))])


@pytest.mark.parametrize(("secret", "stanza_id"), [(bytes(31), bytes(16)), (bytes(32), bytes(15))])
def test_recipient_public_key_refuses_wrong_lengths(secret: bytes, stanza_id: bytes) -> None:
    with pytest.raises(ValueError, match="exactly"):
        envelope.recipient_public_key(secret, stanza_id)


# --- opening: misuse ----------------------------------------------------------------------------


def test_unwrap_key_refuses_kms_stanza() -> None:
    recipient, _ = _kms()
    env = envelope.parse(envelope.seal(CUSTODIAN, SHARE, [recipient])[0])
    with pytest.raises(ValueError, match="unwrap_key_kms"):
        envelope.unwrap_key(env, env.stanzas[0], bytes(32))


def test_unwrap_key_kms_refuses_method_stanza() -> None:
    _, provider = _kms()
    env = envelope.parse(envelope.seal(CLIENT, SHARE, [_method(1)[0]])[0])
    with pytest.raises(ValueError, match="unwrap_key for methods"):
        envelope.unwrap_key_kms(env, env.stanzas[0], provider)  # type: ignore[arg-type]


def test_unwrap_key_refuses_short_secret() -> None:
    env = envelope.parse(envelope.seal(CLIENT, SHARE, [_method(1)[0]])[0])
    with pytest.raises(ValueError, match="method secret"):
        envelope.unwrap_key(env, env.stanzas[0], bytes(16))


def test_stanza_of_other_envelope_does_not_unwrap_here() -> None:
    recipient, secret = _method(1)
    first = envelope.parse(envelope.seal(CLIENT, SHARE, [recipient])[0])
    second = envelope.parse(envelope.seal(CLIENT, SHARE, [recipient])[0])
    with pytest.raises(UnlockFailed):
        envelope.unwrap_key(first, second.stanzas[0], secret)


def test_kms_provider_returning_wrong_length_fails() -> None:
    class ShortKms(gen.FixedKeyKms):  # type: ignore[misc, name-defined]
        def unwrap(self, blob: bytes, aad: bytes, args: object) -> bytes:
            return bytes(16)

    recipient, _ = _kms()
    env = envelope.parse(envelope.seal(CUSTODIAN, SHARE, [recipient])[0])
    with pytest.raises(UnlockFailed):
        envelope.unwrap_key_kms(env, env.stanzas[0], ShortKms(bytes(32), os.urandom))
