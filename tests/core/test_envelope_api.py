"""The envelope API: sealing, re-wrapping with auth keys, opening, and seal's own input checks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import vector_support as gen
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from vector_cases import built

from walletbackup import envelope
from walletbackup.envelope import Context, KmsRecipient, Opened, Recipient
from walletbackup.errors import BackupNotFound, MalformedBackup, UnlockFailed

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


CLIENT = Context("wallet-1", bytes(range(16)), "client", 3, revision=4)
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
    return envelope.open_with_key(env, envelope.unlock(env, env.stanzas[index], secret)).share


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
    assert env.version == envelope.VERSION == 2
    assert envelope.unlock(env, env.stanzas[0], secret) == key
    assert envelope.open_with_key(env, key).share == SHARE


def test_open_returns_every_method_auth_key_in_stanza_order() -> None:
    methods = [_method(i) for i in range(3)]
    data, key = envelope.seal(CLIENT, SHARE, [r for r, _ in methods])
    opened = envelope.open_with_key(envelope.parse(data), key)
    assert list(opened.auth_keys) == [r.id for r, _ in methods]
    for recipient, secret in methods:
        assert opened.auth_keys[recipient.id] == recipient.auth_key
        assert recipient.auth_key == envelope.stanza_auth_key(secret, recipient.id)
    with pytest.raises(TypeError):
        opened.auth_keys[bytes(16)] = bytes(32)  # type: ignore[index]


def test_auth_key_is_not_the_recipient_key_or_the_secret() -> None:
    recipient, secret = _method(1)
    assert len(recipient.auth_key) == 32
    assert recipient.auth_key not in (secret, recipient.recipient)
    assert recipient.auth_key != envelope.stanza_auth_key(secret, bytes(16))


def test_context_revision_round_trips_and_defaults_to_zero() -> None:
    recipient, _ = _method(1)
    for context in (
        CLIENT,
        Context("w", bytes(16), "client", 0),
        Context(
            wallet_id="w",
            backup_set_id=bytes(16),
            share_role="client",
            key_epoch=1,
            revision=2**53 - 1,
            share_commitment=b"c",
        ),
    ):
        env = envelope.parse(envelope.seal(context, SHARE, [recipient])[0])
        assert env.context == context
    assert Context("w", bytes(16), "client", 0).revision == 0


def test_each_seal_uses_fresh_randomness() -> None:
    recipient, _ = _method(1)
    first, key1 = envelope.seal(CLIENT, SHARE, [recipient])
    second, key2 = envelope.seal(CLIENT, SHARE, [recipient])
    assert key1 != key2
    assert envelope.parse(first).envelope_id != envelope.parse(second).envelope_id
    assert envelope.parse(first).stanzas[0].ephemeral != envelope.parse(second).stanzas[0].ephemeral


def test_rewrap_fresh_key_to_existing_methods_with_one_unlock() -> None:
    methods = [_method(i, kind) for i, kind in enumerate(["password", "passkey", "gdrive"])]
    old, old_key = envelope.seal(CLIENT, SHARE, [r for r, _ in methods])
    old_env = envelope.parse(old)
    # Unlock with one method only, then wrap a fresh key to all of them plus a new one.
    opened = envelope.open_with_key(
        old_env, envelope.unlock(old_env, old_env.stanzas[0], methods[0][1])
    )
    added, added_secret = _method(9, "icloud")
    recipients = [Recipient.from_stanza(s, opened.auth_keys[s.id]) for s in old_env.stanzas]
    recipients.append(added)
    share = opened.share
    new, new_key = envelope.seal(CLIENT, share, recipients)
    assert new_key != old_key
    for index, secret in enumerate([s for _, s in methods] + [added_secret]):
        assert _open(new, secret, index) == SHARE


def test_recipient_from_kms_stanza_is_refused() -> None:
    recipient, _ = _kms()
    data, _ = envelope.seal(CUSTODIAN, SHARE, [recipient])
    with pytest.raises(ValueError, match="kms stanza"):
        Recipient.from_stanza(envelope.parse(data).stanzas[0], bytes(32))


def test_rewrap_with_a_wrong_auth_key_does_not_open() -> None:
    # Whoever re-wraps without the real auth key makes an envelope the method refuses.
    recipient, secret = _method(1)
    env = envelope.parse(envelope.seal(CLIENT, SHARE, [recipient])[0])
    forged, _ = envelope.seal(CLIENT, b"forged", [Recipient.from_stanza(env.stanzas[0], bytes(32))])
    with pytest.raises(UnlockFailed):
        _open(forged, secret)


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
    opened = envelope.open_with_key(env, key)
    assert (opened.share, dict(opened.auth_keys)) == (SHARE, {})
    assert env.stanzas[0].tag is None


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
        assert envelope.open_with_key(env, key).share == SHARE


@pytest.mark.parametrize("size", [1, envelope.MAX_SHARE])
def test_share_size_limits_accepted(size: int) -> None:
    recipient, secret = _method(1)
    share = bytes([size % 251]) * size
    data, _ = envelope.seal(CLIENT, share, [recipient])
    assert _open(data, secret) == share


def test_sixteen_methods_and_commitment() -> None:
    methods = [_method(i) for i in range(envelope.MAX_STANZAS)]
    context = Context(
        "w", bytes(16), "client", 0, revision=9, share_commitment=hashlib.sha512(SHARE).digest()
    )
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
    opened = envelope.open_with_key(env, key)
    text = repr(env) + repr(recipient) + repr(env.stanzas) + repr(opened)
    for value in (secret, key, SHARE, data[-16:], recipient.auth_key):
        assert value.hex() not in text
        assert repr(value) not in text
    assert "raw" not in repr(env)
    assert "auth_key" not in repr(recipient)
    assert repr(opened) == "Opened()"


def test_opened_is_a_frozen_dataclass() -> None:
    opened = Opened(b"share", {})
    with pytest.raises(AttributeError):
        opened.share = b"other"  # type: ignore[misc]


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


def test_tags_are_deterministic() -> None:
    # Sealing draws no randomness for the tags: the same inputs give the same envelope.
    methods = [r for r, _ in (_method(i) for i in range(2))]
    drawn = gen.SeededStream(b"tags")(32 * 4)
    first, _ = envelope.seal(CLIENT, SHARE, methods, rng=gen.Replay(drawn))
    second, _ = envelope.seal(CLIENT, SHARE, methods, rng=gen.Replay(drawn))
    assert first == second


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
        (Context("w", bytes(16), "client", 0, share_commitment=b""), "share_commitment"),
        (Context("w", bytes(16), "client", 0, share_commitment=bytes(65)), "share_commitment"),
        (Context("w", bytes(16), "client", 0, revision=-1), "revision"),
        (Context("w", bytes(16), "client", 0, revision=2**53), "revision"),
        (Context("w", bytes(16), "client", 0, revision=True), "revision"),
        (Context("w", bytes(16), "client", 0, revision="1"), "revision"),  # type: ignore[arg-type]
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
        envelope.seal(
            CLIENT,
            SHARE,
            [Recipient(kind, recipient.id, {}, recipient.recipient, recipient.auth_key)],
        )


def test_seal_refuses_oversized_args() -> None:
    recipient, _ = _method(1)
    big = Recipient(
        "password", recipient.id, gen.args_of_size(4097), recipient.recipient, recipient.auth_key
    )
    with pytest.raises(MalformedBackup, match="4096"):
        envelope.seal(CLIENT, SHARE, [big])


def test_seal_refuses_float_in_args() -> None:
    recipient, _ = _method(1)
    with pytest.raises(MalformedBackup, match="floating-point"):
        envelope.seal(
            CLIENT,
            SHARE,
            [Recipient("password", recipient.id, {"t": 1.5}, recipient.recipient, bytes(32))],
        )


def test_seal_refuses_header_over_limit() -> None:
    recipients = [
        Recipient(
            "password", bytes([i]) * 16, gen.args_of_size(4096), _method(i)[0].recipient, bytes(32)
        )
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
        Recipient("kms", bytes(16), {}, bytes(32), bytes(32))


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


@pytest.mark.parametrize("size", [0, 31, 33])
def test_seal_refuses_auth_key_of_wrong_length(size: int) -> None:
    recipient, _ = _method(1)
    short = Recipient("password", recipient.id, {}, recipient.recipient, bytes(size))
    with pytest.raises(ValueError, match="auth key"):
        envelope.seal(CLIENT, SHARE, [short])


def test_seal_refuses_low_order_recipient() -> None:
    with pytest.raises(ValueError, match="shared key"):
        envelope.seal(CLIENT, SHARE, [Recipient("password", bytes(16), {}, bytes(32), bytes(32))])


@pytest.mark.parametrize(("secret", "stanza_id"), [(bytes(31), bytes(16)), (bytes(32), bytes(15))])
def test_recipient_public_key_refuses_wrong_lengths(secret: bytes, stanza_id: bytes) -> None:
    with pytest.raises(ValueError, match="exactly"):
        envelope.recipient_public_key(secret, stanza_id)
    with pytest.raises(ValueError, match="exactly"):
        envelope.stanza_auth_key(secret, stanza_id)


# --- opening: misuse ----------------------------------------------------------------------------


def test_unlock_refuses_kms_stanza() -> None:
    recipient, _ = _kms()
    env = envelope.parse(envelope.seal(CUSTODIAN, SHARE, [recipient])[0])
    with pytest.raises(ValueError, match="unwrap_key_kms"):
        envelope.unlock(env, env.stanzas[0], bytes(32))


def test_unwrap_key_kms_refuses_method_stanza() -> None:
    _, provider = _kms()
    env = envelope.parse(envelope.seal(CLIENT, SHARE, [_method(1)[0]])[0])
    with pytest.raises(ValueError, match="unlock for methods"):
        envelope.unwrap_key_kms(env, env.stanzas[0], provider)  # type: ignore[arg-type]


def test_unlock_refuses_short_secret() -> None:
    for version in (1, 2):
        env = envelope.parse(built("client_one_stanza", version).data)
        with pytest.raises(ValueError, match="method secret"):
            envelope.unlock(env, env.stanzas[0], bytes(16))


def test_stanza_of_other_envelope_does_not_unwrap_here() -> None:
    recipient, secret = _method(1)
    first = envelope.parse(envelope.seal(CLIENT, SHARE, [recipient])[0])
    second = envelope.parse(envelope.seal(CLIENT, SHARE, [recipient])[0])
    with pytest.raises(UnlockFailed):
        envelope.unlock(first, second.stanzas[0], secret)


def test_kms_provider_returning_wrong_length_fails() -> None:
    class ShortKms(gen.FixedKeyKms):  # type: ignore[misc, name-defined]
        def unwrap(self, blob: bytes, aad: bytes, args: object) -> bytes:
            return bytes(16)

    recipient, _ = _kms()
    env = envelope.parse(envelope.seal(CUSTODIAN, SHARE, [recipient])[0])
    with pytest.raises(UnlockFailed):
        envelope.unwrap_key_kms(env, env.stanzas[0], ShortKms(bytes(32), os.urandom))


def test_stanza_with_a_valid_tag_but_other_fields_does_not_unlock() -> None:
    # A caller handing unlock a stanza that is not the envelope's own (same id and tag, other
    # recipient) gets UnlockFailed, not a key for the other stanza's fields.
    recipient, secret = _method(1)
    other, other_secret = _method(2)
    env = envelope.parse(envelope.seal(CLIENT, SHARE, [recipient])[0])
    mixed = envelope.Stanza(
        env.stanzas[0].type,
        env.stanzas[0].id,
        env.stanzas[0].args,
        env.stanzas[0].wrapped_key,
        recipient=other.recipient,
        ephemeral=env.stanzas[0].ephemeral,
        tag=env.stanzas[0].tag,
    )
    with pytest.raises(UnlockFailed):
        envelope.unlock(env, mixed, other_secret)
    assert envelope.unlock(env, env.stanzas[0], secret)


# --- version 1 is still read ---------------------------------------------------------------------


def test_v1_envelope_opens_with_empty_auth_keys() -> None:
    sample = built("client_three_stanzas", 1)
    env = envelope.parse(sample.data)
    assert env.version == 1
    assert env.context.revision == 0
    assert all(s.tag is None for s in env.stanzas)
    for stanza, secret in zip(env.stanzas, sample.secrets, strict=True):
        opened = envelope.open_with_key(env, envelope.unlock(env, stanza, secret))
        assert (opened.share, dict(opened.auth_keys)) == (sample.share, {})


def test_v1_stanza_rewraps_into_v2_with_the_unlocking_secret() -> None:
    # Moving a v1 backup to v2: the unlocking method's auth key comes from its secret.
    sample = built("client_one_stanza", 1)
    env = envelope.parse(sample.data)
    (secret,) = sample.secrets
    stanza = env.stanzas[0]
    share = envelope.open_with_key(env, envelope.unlock(env, stanza, secret)).share
    auth_key = envelope.stanza_auth_key(secret, stanza.id)
    data, _ = envelope.seal(env.context, share, [Recipient.from_stanza(stanza, auth_key)])
    assert envelope.parse(data).version == 2
    assert _open(data, secret) == sample.share


# --- imports -----------------------------------------------------------------------------------


def test_parsing_does_not_import_cryptography() -> None:
    code = (
        "import sys, walletbackup\n"
        "from walletbackup import envelope\n"
        f"env = envelope.parse(bytes.fromhex({built('client_one_stanza').data.hex()!r}))\n"
        "envelope.dearmor(envelope.armor(env.raw))\n"
        "assert 'cryptography' not in sys.modules, 'cryptography was imported'\n"
        "envelope.seal\n"
        "assert 'cryptography' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_public_names_are_importable() -> None:
    for name in envelope.__all__:
        assert getattr(envelope, name) is not None
    with pytest.raises(AttributeError):
        envelope.unwrap_key  # type: ignore[attr-defined]  # noqa: B018
