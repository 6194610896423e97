"""Several methods on one wallet: add, remove, keep on re-backup, discard, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import FAST, OTHER_PASSWORD, PASSWORD

from walletbackup import BackupNotFound, PolicyViolation, UnlockFailed, WalletBackup

UNLOCK = {"method": "password", "password": PASSWORD}
CLIENT, CUSTODIAN = b"client share", b"custodian share"
pytestmark = pytest.mark.usefixtures("vault_installed")


def keys(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.key")}


def start(wb: WalletBackup, directory: Path) -> None:
    wb.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                     custodian_share=CUSTODIAN, **FAST)
    wb.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(directory))


def test_add_method_then_recover_with_either(wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    assert wb.available_recovery_methods("w") == ["password", "vault"]
    by_vault = wb.recover_wallet("w", method="vault", directory=str(tmp_path))
    by_password = wb.recover_wallet("w", method="password", password=PASSWORD)
    assert by_vault.client_share == by_password.client_share == CLIENT
    assert by_vault.custodian_share == CUSTODIAN
    assert {s.method: s.status for s in wb.backup_status("w")} == {
        "password": "stored", "vault": "stored"}


def test_add_method_needs_a_working_unlock(wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    before = keys(tmp_path)
    with pytest.raises(UnlockFailed):
        wb.add_backup_method("w", "vault", directory=str(tmp_path),
                             unlock_with={"method": "password", "password": OTHER_PASSWORD})
    assert keys(tmp_path) == before  # nothing enrolled, nothing left behind


def test_several_stanzas_of_one_method(wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    wb.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path))
    vaults = [s for s in wb.backup_status("w") if s.method == "vault"]
    assert len(vaults) == 2 and len(keys(tmp_path)) == 2
    for status in vaults:
        assert wb.verify_backup("w", method="vault", stanza_id=status.stanza_id,
                                directory=str(tmp_path))


def test_rebackup_keeps_the_other_methods(wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    wb.backup_wallet("w", b"reshared client", method="password", password=OTHER_PASSWORD,
                     custodian_share=b"reshared custodian", **FAST)
    assert wb.available_recovery_methods("w") == ["password", "vault"]
    got = wb.recover_wallet("w", method="vault", directory=str(tmp_path))
    assert (got.client_share, got.custodian_share) == (b"reshared client", b"reshared custodian")


def test_rebackup_with_replace_keeps_only_that_method_and_discards_the_rest(
        wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    wb.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                     custodian_share=CUSTODIAN, replace=True, **FAST)
    assert wb.available_recovery_methods("w") == ["password"]
    # The vault's key file could not be discarded without its directory option: it stays queued,
    # and the next operation that can reach the vault deletes it.
    assert len(keys(tmp_path)) == 1
    wb.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path))
    assert len(keys(tmp_path)) == 1  # the old file is gone, the new one is there


def test_remove_method_discards_its_material_after_storing(
        wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    assert len(keys(tmp_path)) == 1
    wb.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path))
    assert keys(tmp_path) == set()
    assert wb.available_recovery_methods("w") == ["password"]
    with pytest.raises(BackupNotFound, match="password"):
        wb.recover_wallet("w", method="vault", directory=str(tmp_path))
    assert [(e["type"], e["outcome"]) for e in wb.audit_log("w")][-1] == ("remove_method", "ok")


def test_remove_with_the_method_itself(wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    wb.remove_backup_method("w", "password", directory=str(tmp_path),
                            unlock_with={"method": "vault", "directory": str(tmp_path)})
    assert wb.available_recovery_methods("w") == ["vault"]


def test_remove_a_method_the_wallet_does_not_have(wb: WalletBackup, tmp_path: Path) -> None:
    wb.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                     custodian_share=CUSTODIAN, **FAST)
    with pytest.raises(BackupNotFound, match="vault"):
        wb.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path))


def test_missing_remote_material_is_a_clear_error(wb: WalletBackup, tmp_path: Path) -> None:
    start(wb, tmp_path)
    for path in tmp_path.glob("*.key"):
        path.unlink()
    with pytest.raises(BackupNotFound, match="gone"):
        wb.recover_wallet("w", method="vault", directory=str(tmp_path))
    assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == CLIENT


def test_self_managed_rebackup_refuses_to_drop_methods_silently(
        wb_self: WalletBackup, tmp_path: Path) -> None:
    first = wb_self.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                                  custodian_share=CUSTODIAN, **FAST)
    wb_self.stored_client_backup_share("w", "password", success=True)
    added = wb_self.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path),
                                      cipher_text=first.cipher_text)
    wb_self.stored_client_backup_share("w", "vault", success=True)
    with pytest.raises(PolicyViolation, match="cipher_text=") as info:
        wb_self.backup_wallet("w", CLIENT, method="password", password=OTHER_PASSWORD,
                              custodian_share=CUSTODIAN, **FAST)
    assert "vault" in str(info.value) and "replace=True" in str(info.value)
    kept = wb_self.backup_wallet("w", CLIENT, method="password", password=OTHER_PASSWORD,
                                 custodian_share=CUSTODIAN, cipher_text=added.cipher_text, **FAST)
    assert kept.methods == ("password", "vault")


def test_self_managed_change_needs_the_current_cipher_text(
        wb_self: WalletBackup, tmp_path: Path) -> None:
    first = wb_self.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                                  custodian_share=CUSTODIAN, **FAST)
    wb_self.stored_client_backup_share("w", "password", success=True)
    second = wb_self.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path),
                                       cipher_text=first.cipher_text)
    wb_self.stored_client_backup_share("w", "vault", success=True)
    with pytest.raises(PolicyViolation, match="not wallet 'w'.s current backup"):
        wb_self.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path),
                                     cipher_text=first.cipher_text)
    wb_self.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path),
                                 cipher_text=second.cipher_text)
    # Not yet confirmed: the vault's material stays until the application confirms.
    assert len(keys(tmp_path)) == 1
    wb_self.stored_client_backup_share("w", "vault", success=True)
    assert keys(tmp_path) == set()


def test_self_managed_failed_add_discards_the_new_material(
        wb_self: WalletBackup, tmp_path: Path) -> None:
    first = wb_self.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                                  custodian_share=CUSTODIAN, **FAST)
    wb_self.stored_client_backup_share("w", "password", success=True)
    wb_self.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(tmp_path),
                              cipher_text=first.cipher_text)
    assert len(keys(tmp_path)) == 1
    wb_self.stored_client_backup_share("w", "vault", success=False)
    statuses = {s.method: s.status for s in wb_self.backup_status("w")}
    assert statuses == {"password": "stored", "vault": "failed"}
    assert wb_self.available_recovery_methods("w") == ["password"]


# --- two processes at once -----------------------------------------------------------------

ADDER = """
import json, sys
from walletbackup import WalletBackup
job = json.loads(sys.stdin.readline())
with WalletBackup(store=job["store"], kms=job["kms"]) as wb:
    for _ in range(job["rounds"]):
        wb.add_backup_method("w", "vault", unlock_with=job["unlock"], directory=job["dir"])
"""


@pytest.mark.slow
def test_two_processes_adding_methods_lose_no_update(
        wb: WalletBackup, paths: dict[str, str], tmp_path: Path) -> None:
    wb.backup_wallet("w", CLIENT, method="password", password=PASSWORD,
                     custodian_share=CUSTODIAN, **FAST)
    rounds = 5
    job = json.dumps({**paths, "rounds": rounds, "unlock": UNLOCK, "dir": str(tmp_path)})
    children = [subprocess.Popen([sys.executable, "-c", ADDER], stdin=subprocess.PIPE, text=True)
                for _ in range(2)]
    for child in children:
        assert child.stdin is not None
        child.stdin.write(job + "\n")
        child.stdin.close()
    for child in children:
        assert child.wait(timeout=120) == 0
    vaults = [s for s in wb.backup_status("w") if s.method == "vault"]
    assert len(vaults) == 2 * rounds
    assert len(keys(tmp_path)) == 2 * rounds
    for status in vaults:
        wb.verify_backup("w", method="vault", stanza_id=status.stanza_id, directory=str(tmp_path))
