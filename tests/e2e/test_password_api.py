"""The Python API end to end with the password method: managed and self-managed."""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from pathlib import Path

import pytest
from e2e_support import FAST, OTHER_PASSWORD, PASSWORD

from walletbackup import (
    BackupNotFound,
    MalformedBackup,
    MethodUnavailable,
    PolicyViolation,
    StaleBackup,
    StorageError,
    UnlockFailed,
    WalletBackup,
    combine_shares,
    kdf,
    split_secret,
)
from walletbackup.kms import KmsKeyMissing, LocalKms

CLIENT = b"client-share:" + bytes(range(32))
CUSTODIAN = b"custodian-share:" + bytes(range(32, 64))


def backup(
    wb: WalletBackup,
    wallet: str = "wallet-1",
    password: str = PASSWORD,
    client: bytes = CLIENT,
    custodian: bytes = CUSTODIAN,
    **kw: object,
):
    return wb.backup_wallet(
        wallet,
        client,
        method="password",
        password=password,
        custodian_share=custodian,
        **FAST,
        **kw,
    )


# --- managed -------------------------------------------------------------------------------


def test_managed_backup_and_recover(wb: WalletBackup) -> None:
    result = backup(wb)
    assert result.status == "stored"
    assert result.methods == ("password",)
    recovered = wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    assert recovered.client_share == CLIENT
    assert recovered.custodian_share == CUSTODIAN
    assert recovered.backup_set_id == result.backup_set_id
    assert [s.status for s in wb.backup_status("wallet-1")] == ["stored"]
    assert wb.available_recovery_methods("wallet-1") == ["password"]


def test_split_secret_round_trip_through_backup(wb: WalletBackup) -> None:
    secret = secrets.token_bytes(32)
    client, custodian = split_secret(secret)
    wb.backup_wallet(
        "w", client, method="password", password=PASSWORD, custodian_share=custodian, **FAST
    )
    got = wb.recover_wallet("w", method="password", password=PASSWORD)
    assert combine_shares(got.client_share, got.custodian_share) == secret


def test_wrong_password_is_unlock_failed(wb: WalletBackup) -> None:
    backup(wb)
    with pytest.raises(UnlockFailed) as info:
        wb.recover_wallet("wallet-1", method="password", password=OTHER_PASSWORD)
    assert str(info.value) == UnlockFailed.MESSAGE


def test_verify_backup_returns_nothing_secret(wb: WalletBackup) -> None:
    result = backup(wb)
    report = wb.verify_backup("wallet-1", method="password", password=PASSWORD)
    assert report.envelope_id == result.envelope_id
    assert report.rewrap_advice == ()
    assert CLIENT.hex() not in repr(report) and PASSWORD not in repr(report)


def test_password_change_makes_old_password_useless(wb: WalletBackup, tmp_path: Path) -> None:
    first = backup(wb)
    wb.add_backup_method(
        "wallet-1",
        "password",
        password=OTHER_PASSWORD,
        **FAST,
        unlock_with={"method": "password", "password": PASSWORD},
    )
    with pytest.raises(UnlockFailed):
        wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    assert (
        wb.recover_wallet("wallet-1", method="password", password=OTHER_PASSWORD).client_share
        == CLIENT
    )
    # The old envelope is gone from the database file (secure_delete), not merely unreferenced.
    wb.close()
    with sqlite3.connect(tmp_path / "backups.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("backups.db*"))
    assert first.cipher_text.hex().encode() not in raw
    assert first.cipher_text[-64:].hex().encode() not in raw


def test_rebackup_replaces_password_and_starts_a_new_backup_set(wb: WalletBackup) -> None:
    first = backup(wb)
    second = backup(wb, password=OTHER_PASSWORD, client=b"new client", custodian=b"new custodian")
    assert second.backup_set_id != first.backup_set_id
    assert second.key_epoch == first.key_epoch + 1
    with pytest.raises(UnlockFailed):
        wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    got = wb.recover_wallet("wallet-1", method="password", password=OTHER_PASSWORD)
    assert (got.client_share, got.custodian_share) == (b"new client", b"new custodian")


def test_remove_last_method_is_refused(wb: WalletBackup) -> None:
    backup(wb)
    with pytest.raises(PolicyViolation, match="only method"):
        wb.remove_backup_method(
            "wallet-1", "password", unlock_with={"method": "password", "password": PASSWORD}
        )
    assert wb.recover_wallet("wallet-1", method="password", password=PASSWORD)


def test_rewrap_advice_when_costs_fall_below_policy(
    wb: WalletBackup, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup(wb)
    # Today's policy rises above what the stored stanza used: recovery reports it.
    raised = kdf.Argon2Params(time_cost=9, memory_kib=19456, parallelism=1)
    monkeypatch.setattr(kdf, "LOW_MEMORY_FLOOR", raised)
    recovered = wb.recover_wallet("wallet-1", method="password", password=PASSWORD, **FAST)
    assert recovered.rewrap_advice and "re-wrap" in recovered.rewrap_advice[0]
    assert wb.verify_backup("wallet-1", method="password", password=PASSWORD).rewrap_advice
    monkeypatch.undo()
    wb.rewrap_backup("wallet-1", "password", password=PASSWORD, **FAST)
    assert wb.recover_wallet("wallet-1", method="password", password=PASSWORD).client_share


# --- self-managed --------------------------------------------------------------------------


def test_self_managed_pending_until_confirmed(wb_self: WalletBackup) -> None:
    result = backup(wb_self)
    assert result.status == "pending"
    assert [s.status for s in wb_self.backup_status("wallet-1")] == ["pending"]
    wb_self.stored_client_backup_share("wallet-1", "password", success=True)
    assert [s.status for s in wb_self.backup_status("wallet-1")] == ["stored"]
    got = wb_self.recover_wallet(
        "wallet-1", method="password", password=PASSWORD, cipher_text=result.cipher_text_armored
    )
    assert (got.client_share, got.custodian_share) == (CLIENT, CUSTODIAN)


def test_self_managed_store_never_holds_the_client_envelope(
    wb_self: WalletBackup, tmp_path: Path
) -> None:
    result = backup(wb_self)
    wb_self.stored_client_backup_share("wallet-1", "password", success=True)
    wb_self.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("backups.db*"))
    assert result.cipher_text[-48:] not in raw
    assert result.cipher_text[-48:].hex().encode() not in raw


def test_self_managed_failure_keeps_previous_backup(wb_self: WalletBackup) -> None:
    first = backup(wb_self)
    wb_self.stored_client_backup_share("wallet-1", "password", success=True)
    second = backup(
        wb_self,
        password=OTHER_PASSWORD,
        client=b"c2",
        custodian=b"k2",
        cipher_text=first.cipher_text,
    )
    wb_self.stored_client_backup_share("wallet-1", "password", success=False)
    assert "failed" in {s.status for s in wb_self.backup_status("wallet-1")}
    got = wb_self.recover_wallet(
        "wallet-1", method="password", password=PASSWORD, cipher_text=first.cipher_text
    )
    assert got.client_share == CLIENT
    with pytest.raises(StaleBackup, match="abandoned"):
        wb_self.recover_wallet(
            "wallet-1", method="password", password=OTHER_PASSWORD, cipher_text=second.cipher_text
        )


def test_self_managed_confirmation_makes_old_cipher_text_useless(wb_self: WalletBackup) -> None:
    first = backup(wb_self)
    wb_self.stored_client_backup_share("wallet-1", "password", success=True)
    second = backup(
        wb_self,
        password=OTHER_PASSWORD,
        client=b"c2",
        custodian=b"k2",
        cipher_text=first.cipher_text,
    )
    # Before confirmation the previous backup is still the recovery path.
    assert (
        wb_self.recover_wallet(
            "wallet-1", method="password", password=PASSWORD, cipher_text=first.cipher_text
        ).client_share
        == CLIENT
    )
    wb_self.stored_client_backup_share("wallet-1", "password", success=True)
    with pytest.raises(StaleBackup, match="earlier backup"):  # its revision is not current
        wb_self.recover_wallet(
            "wallet-1", method="password", password=PASSWORD, cipher_text=first.cipher_text
        )
    assert (
        wb_self.recover_wallet(
            "wallet-1", method="password", password=OTHER_PASSWORD, cipher_text=second.cipher_text
        ).client_share
        == b"c2"
    )


def test_confirm_without_pending_backup(wb_self: WalletBackup) -> None:
    with pytest.raises(BackupNotFound):
        wb_self.stored_client_backup_share("wallet-1", "password", success=True)


def test_confirm_in_managed_mode_is_refused(wb: WalletBackup) -> None:
    backup(wb)
    with pytest.raises(PolicyViolation, match="self-managed"):
        wb.stored_client_backup_share("wallet-1", "password", success=True)


def test_mode_mismatch_is_refused(wb: WalletBackup, urls: dict[str, str]) -> None:
    backup(wb)
    with (
        WalletBackup(store=urls["store"], kms=urls["kms"], mode="self-managed") as other,
        pytest.raises(PolicyViolation, match="managed mode"),
    ):
        backup(other)


# --- bad input -----------------------------------------------------------------------------


def test_unknown_method_names_the_distribution(wb: WalletBackup) -> None:
    with pytest.raises(MethodUnavailable, match="pip install walletbackup-carrierpigeon"):
        wb.backup_wallet("w", CLIENT, method="carrierpigeon", custodian_share=CUSTODIAN)


def test_no_backup_for_wallet(wb: WalletBackup) -> None:
    with pytest.raises(BackupNotFound, match="nobody"):
        wb.recover_wallet("nobody", method="password", password=PASSWORD)


def test_method_not_on_wallet(wb: WalletBackup) -> None:
    backup(wb)
    with pytest.raises(BackupNotFound, match="password"):
        wb.verify_backup("wallet-1", method="someother")


@pytest.mark.parametrize("cut", [0, 1, 13, 100, -33, -1])
def test_truncated_cipher_text(wb_self: WalletBackup, cut: int) -> None:
    result = backup(wb_self)
    with pytest.raises(MalformedBackup):
        wb_self.recover_wallet(
            "wallet-1", method="password", password=PASSWORD, cipher_text=result.cipher_text[:cut]
        )


def test_corrupted_cipher_text(wb_self: WalletBackup) -> None:
    result = backup(wb_self)
    data = bytearray(result.cipher_text)
    data[-5] ^= 0x40
    with pytest.raises(UnlockFailed):
        wb_self.recover_wallet(
            "wallet-1", method="password", password=PASSWORD, cipher_text=bytes(data)
        )
    # Nothing stored changed: the genuine cipher text still recovers.
    assert (
        wb_self.recover_wallet(
            "wallet-1", method="password", password=PASSWORD, cipher_text=result.cipher_text
        ).client_share
        == CLIENT
    )


def test_cipher_text_for_another_wallet(wb_self: WalletBackup) -> None:
    other = backup(wb_self, wallet="wallet-2")
    backup(wb_self, wallet="wallet-1")
    with pytest.raises(MalformedBackup, match="wallet-2"):
        wb_self.recover_wallet(
            "wallet-1", method="password", password=PASSWORD, cipher_text=other.cipher_text
        )


def test_store_path_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="a-file"):
        WalletBackup(store=f"sqlite:///{blocker}/backups.db", kms=f"local:///{tmp_path}/k.key")


def test_kms_key_file_with_loose_permissions(
    wb: WalletBackup, tmp_path: Path, urls: dict[str, str]
) -> None:
    backup(wb)
    os.chmod(tmp_path / "custodian.key", 0o644)
    with (
        WalletBackup(store=urls["store"], kms=urls["kms"]) as again,
        pytest.raises(PolicyViolation, match="chmod 600"),
    ):
        again.recover_wallet("wallet-1", method="password", password=PASSWORD)


def test_missing_kms_key_file(wb: WalletBackup, tmp_path: Path, urls: dict[str, str]) -> None:
    backup(wb)
    (tmp_path / "custodian.key").rename(tmp_path / "moved.key")
    with pytest.raises(KmsKeyMissing, match=r"custodian\.key does not exist"):
        wb.recover_wallet("wallet-1", method="password", password=PASSWORD)


def test_lost_kms_key_is_not_replaced_by_the_next_backup(wb: WalletBackup, tmp_path: Path) -> None:
    backup(wb)
    (tmp_path / "custodian.key").rename(tmp_path / "moved.key")
    # The store holds a wallet, so the key was lost: a new one would orphan wallet-1's share.
    with pytest.raises(KmsKeyMissing, match=r"custodian\.key does not exist"):
        backup(wb, wallet="wallet-2")
    assert not (tmp_path / "custodian.key").exists()
    (tmp_path / "moved.key").rename(tmp_path / "custodian.key")  # restored from its backup
    recovered = wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    assert recovered.custodian_share == CUSTODIAN


def test_other_kms_key_cannot_open_custodian_share(
    wb: WalletBackup, tmp_path: Path, urls: dict[str, str]
) -> None:
    backup(wb)
    other = LocalKms(f"local://{tmp_path / 'other.key'}")
    other.create_key()
    with (
        WalletBackup(store=urls["store"], kms=other) as again,
        pytest.raises(UnlockFailed, match="key"),
    ):
        again.recover_wallet("wallet-1", method="password", password=PASSWORD)


@pytest.mark.parametrize("wallet_id", ["", "x" * 129, "tab\there", b"bytes"])
def test_bad_wallet_id(wb: WalletBackup, wallet_id: object) -> None:
    with pytest.raises(PolicyViolation, match="wallet_id"):
        wb.backup_wallet(
            wallet_id,
            CLIENT,
            method="password",  # type: ignore[arg-type]
            password=PASSWORD,
            custodian_share=CUSTODIAN,
            **FAST,
        )


@pytest.mark.parametrize("share", [b"", b"x" * 65537, "text"])
def test_bad_share(wb: WalletBackup, share: object) -> None:
    with pytest.raises(PolicyViolation, match="client_share"):
        wb.backup_wallet(
            "w",
            share,
            method="password",  # type: ignore[arg-type]
            password=PASSWORD,
            custodian_share=CUSTODIAN,
            **FAST,
        )


def test_weak_password_refused_and_nothing_stored(wb: WalletBackup) -> None:
    with pytest.raises(PolicyViolation):
        backup(wb, password="short")
    assert wb.wallets() == []


def test_weak_new_password_keeps_old_backup(wb: WalletBackup) -> None:
    backup(wb)
    with pytest.raises(PolicyViolation):
        backup(wb, password="123")
    assert wb.recover_wallet("wallet-1", method="password", password=PASSWORD).client_share


# --- audit ---------------------------------------------------------------------------------


def test_audit_events_cover_every_operation_and_hold_no_secret(
    wb: WalletBackup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backup(wb)
    wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    with pytest.raises(UnlockFailed):
        wb.recover_wallet("wallet-1", method="password", password=OTHER_PASSWORD)
    wb.verify_backup("wallet-1", method="password", password=PASSWORD)
    wb.add_backup_method(
        "wallet-1",
        "password",
        password=OTHER_PASSWORD,
        **FAST,
        unlock_with={"method": "password", "password": PASSWORD},
    )
    events = wb.audit_log("wallet-1")
    assert [(e["type"], e["outcome"]) for e in events] == [
        ("backup", "ok"),
        ("recover", "ok"),
        ("recover", "failed"),
        ("verify", "ok"),
        ("add_method", "ok"),
    ]
    assert events[2]["error"] == "UnlockFailed"
    text = repr(events) + caplog.text
    for secret in (PASSWORD, OTHER_PASSWORD, CLIENT.hex(), CUSTODIAN.hex(), "client-share"):
        assert secret not in text


def test_no_secret_in_reprs(wb: WalletBackup) -> None:
    result = backup(wb)
    recovered = wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    text = repr(result) + repr(recovered) + repr(wb)
    assert "client-share" not in text and "custodian-share" not in text
    assert result.cipher_text.hex()[:40] not in text


def test_failed_statuses_are_kept_but_bounded(wb_self: WalletBackup) -> None:
    from walletbackup.state import FAILED_KEPT

    first = backup(wb_self)
    wb_self.stored_client_backup_share("wallet-1", "password", success=True)
    for _ in range(FAILED_KEPT + 3):
        backup(
            wb_self,
            password=OTHER_PASSWORD,
            client=b"c",
            custodian=b"k",
            cipher_text=first.cipher_text,
        )
        wb_self.stored_client_backup_share("wallet-1", "password", success=False)
    statuses = [s.status for s in wb_self.backup_status("wallet-1")]
    assert statuses.count("failed") == FAILED_KEPT
    assert statuses.count("stored") == 1
