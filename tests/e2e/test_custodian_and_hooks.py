"""KMS key rotation, hostile stanza costs through the API, and the audit_event hook."""

from __future__ import annotations

import struct

import pytest
from e2e_support import FAST, PASSWORD

from walletbackup import (
    MalformedBackup,
    MethodContext,
    UnlockFailed,
    WalletBackup,
    envelope,
    plugins,
)
from walletbackup.kms import LocalKms
from walletbackup.state import WalletRecord

CLIENT, CUSTODIAN = b"client share", b"custodian share"


def test_kms_rotation_and_custodian_rewrap(wb: WalletBackup, urls: dict[str, str]) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    assert wb.rotate_kms_key() == 2
    # Old custodian envelopes still open with version 1 after the rotation...
    assert wb.recover_wallet("w", method="password", password=PASSWORD).custodian_share == (
        CUSTODIAN
    )
    wb.rewrap_custodian("w")
    # ...and after the rewrap the custodian envelope uses version 2.
    assert b'"version":2' in _custodian_header(wb)
    assert wb.recover_wallet("w", method="password", password=PASSWORD).custodian_share == (
        CUSTODIAN
    )
    assert [e["type"] for e in wb.audit_log("w")][-2] == "rewrap_custodian"


def _custodian_header(wb: WalletBackup) -> bytes:
    document = wb.custodian.store.load("w")
    assert document is not None
    state = WalletRecord.from_bytes(document, "w")
    assert state.current is not None
    raw = state.current.custodian_envelope
    (length,) = struct.unpack(">I", raw[10:14])
    return raw[14 : 14 + length]


def test_new_backups_use_the_rotated_key(urls: dict[str, str]) -> None:
    kms = LocalKms(urls["kms"])
    kms.create_key()
    kms.rotate()
    with WalletBackup(store=urls["store"], kms=kms) as wb:
        wb.backup_wallet(
            "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
        )
        assert b'"version":2' in _custodian_header(wb)


def _with_password_cost(cipher_text: bytes, memory_kib: int) -> bytes:
    """The same envelope with the password stanza's memory cost edited (header re-framed)."""
    (length,) = struct.unpack(">I", cipher_text[10:14])
    header = cipher_text[14 : 14 + length]
    edited = header.replace(b'"m":19456', b'"m":%d' % memory_kib)
    assert edited != header
    rest = cipher_text[14 + length :]
    return cipher_text[:10] + struct.pack(">I", len(edited)) + edited + rest


def test_hostile_argon2_costs_are_refused_before_any_kdf_runs(
    wb_self: WalletBackup, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = wb_self.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    hostile = _with_password_cost(result.cipher_text, 2**40)
    envelope.parse(hostile)  # structurally fine: only the method can judge its costs

    def no_kdf(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the KDF ran on hostile costs")

    monkeypatch.setattr("argon2.low_level.hash_secret_raw", no_kdf)
    with pytest.raises(MalformedBackup, match="m"):
        wb_self.recover_wallet("w", method="password", password=PASSWORD, cipher_text=hostile)


@pytest.mark.usefixtures("vault_installed")
def test_audit_event_hook_receives_every_operation_without_secrets(wb: WalletBackup) -> None:
    import e2e_vault

    e2e_vault.RECEIVED.clear()
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    wb.verify_backup("w", method="password", password=PASSWORD)
    received = [(e["type"], e["outcome"]) for e in e2e_vault.RECEIVED]
    assert received == [("backup", "ok"), ("verify", "ok")]
    kept = wb.audit_log("w")
    assert [{k: v for k, v in e.items() if k != "seq"} for e in kept] == e2e_vault.RECEIVED
    assert [e["seq"] for e in kept] == sorted({e["seq"] for e in kept})  # the log's own order
    assert PASSWORD not in repr(e2e_vault.RECEIVED)


def test_a_forged_client_envelope_is_refused_on_recovery(wb_self: WalletBackup) -> None:
    """A forger who can write where the application keeps its cipher text re-seals a share of
    their choice to the wallet's real recipient keys, copying the context (wallet, backup set,
    epoch, commitment) from the public header. Without the method's auth key they cannot tag the
    stanza, so the password refuses it before unwrapping anything."""
    real = wb_self.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    genuine = envelope.parse(real.cipher_text)
    recipients = [envelope.Recipient.from_stanza(s, bytes(32)) for s in genuine.stanzas]
    forged, _ = envelope.seal(genuine.context, b"attacker's share", recipients)
    with pytest.raises(UnlockFailed):
        wb_self.recover_wallet("w", method="password", password=PASSWORD, cipher_text=forged)
    with pytest.raises(UnlockFailed):
        wb_self.verify_backup("w", method="password", password=PASSWORD, cipher_text=forged)
    got = wb_self.recover_wallet(
        "w", method="password", password=PASSWORD, cipher_text=real.cipher_text
    )
    assert got.client_share == CLIENT


def test_a_client_envelope_forged_with_the_auth_keys_fails_the_share_commitment(
    wb_self: WalletBackup,
) -> None:
    """Whoever held a method's secret (a removed method's former holder) can tag a forged
    envelope; the share commitment, keyed from the custodian share they cannot read, still
    refuses the forged share on recovery."""
    real = wb_self.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    genuine = envelope.parse(real.cipher_text)
    (stanza,) = genuine.stanzas
    ctx = MethodContext("w", genuine.context.backup_set_id.hex(), genuine.envelope_id.hex(), "")
    secret = plugins.get_method("password")(password=PASSWORD).unlock(stanza.args, ctx)
    auth_key = envelope.stanza_auth_key(secret, stanza.id)
    forged, _ = envelope.seal(
        genuine.context,
        b"attacker's share",
        [envelope.Recipient.from_stanza(stanza, auth_key)],
        envelope_id=genuine.envelope_id,  # as the custodian's record names it
    )
    env = envelope.parse(forged)  # a well-tagged envelope: the password opens it...
    assert envelope.open_with_key(env, envelope.unlock(env, env.stanzas[0], secret)).share == (
        b"attacker's share"
    )
    # ...and recovery, which knows both shares, refuses it.
    with pytest.raises(UnlockFailed):
        wb_self.recover_wallet("w", method="password", password=PASSWORD, cipher_text=forged)
    with pytest.raises(UnlockFailed):
        wb_self.verify_backup("w", method="password", password=PASSWORD, cipher_text=forged)


def test_share_commitment_reveals_nothing_without_the_custodian_share() -> None:
    a = envelope.share_commitment(CLIENT, CUSTODIAN)
    assert len(a) == 32
    assert a != envelope.share_commitment(CLIENT, b"other custodian share")
    assert a != envelope.share_commitment(b"other client share", CUSTODIAN)
