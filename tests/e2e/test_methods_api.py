"""Several methods on one wallet: add, remove, keep on re-backup, discard, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import FAST, OTHER_PASSWORD, PASSWORD

from walletbackup import BackupNotFound, PolicyViolation, StaleBackup, UnlockFailed, WalletBackup

UNLOCK = {"method": "password", "password": PASSWORD}
CLIENT, CUSTODIAN = b"client share", b"custodian share"
pytestmark = pytest.mark.usefixtures("vault_installed")


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    """The vault method's key directory (apart from the store and the KMS key file)."""
    directory = tmp_path / "vault"
    directory.mkdir()
    return directory


def keys(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*.key")}


def start(wb: WalletBackup, directory: Path) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    wb.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(directory))


def test_add_method_then_recover_with_either(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    assert wb.available_recovery_methods("w") == ["password", "vault"]
    by_vault = wb.recover_wallet("w", method="vault", directory=str(vault))
    by_password = wb.recover_wallet("w", method="password", password=PASSWORD)
    assert by_vault.client_share == by_password.client_share == CLIENT
    assert by_vault.custodian_share == CUSTODIAN
    assert {s.method: s.status for s in wb.backup_status("w")} == {
        "password": "stored",
        "vault": "stored",
    }


def test_add_method_needs_a_working_unlock(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    before = keys(vault)
    with pytest.raises(UnlockFailed):
        wb.add_backup_method(
            "w",
            "vault",
            directory=str(vault),
            unlock_with={"method": "password", "password": OTHER_PASSWORD},
        )
    assert keys(vault) == before  # nothing enrolled, nothing left behind


def test_several_stanzas_of_one_method(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    wb.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(vault))
    vaults = [s for s in wb.backup_status("w") if s.method == "vault"]
    assert len(vaults) == 2 and len(keys(vault)) == 2
    for status in vaults:
        assert wb.verify_backup(
            "w", method="vault", stanza_id=status.stanza_id, directory=str(vault)
        )


def test_rebackup_keeps_the_other_methods(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    with pytest.raises(PolicyViolation, match="unlock_with"):
        wb.backup_wallet(
            "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
        )
    wb.backup_wallet(
        "w",
        b"reshared client",
        method="password",
        password=OTHER_PASSWORD,
        custodian_share=b"reshared custodian",
        unlock_with=UNLOCK,
        **FAST,
    )
    assert wb.available_recovery_methods("w") == ["password", "vault"]
    got = wb.recover_wallet("w", method="vault", directory=str(vault))
    assert (got.client_share, got.custodian_share) == (b"reshared client", b"reshared custodian")


def test_rebackup_with_replace_keeps_only_that_method_and_discards_the_rest(
    wb: WalletBackup, vault: Path
) -> None:
    start(wb, vault)
    wb.backup_wallet(
        "w",
        CLIENT,
        method="password",
        password=PASSWORD,
        custodian_share=CUSTODIAN,
        replace=True,
        unlock_with=UNLOCK,
        **FAST,
    )
    assert wb.available_recovery_methods("w") == ["password"]
    assert keys(vault) == set()  # this WalletBackup still knew the vault's options


def test_replace_without_an_unlock_leaves_the_old_material(
    wb: WalletBackup, vault: Path, urls: dict[str, str]
) -> None:
    """Stanzas the device neither authenticated nor wrote never name what to delete."""
    start(wb, vault)
    old = keys(vault)
    with WalletBackup(store=urls["store"], kms=urls["kms"], device_state=None) as fresh:
        fresh.backup_wallet(
            "w",
            CLIENT,
            method="password",
            password=PASSWORD,
            custodian_share=CUSTODIAN,
            replace=True,
            **FAST,
        )
        assert fresh.available_recovery_methods("w") == ["password"]
    assert keys(vault) == old


def test_a_discard_that_cannot_run_stays_queued_and_is_retried(
    wb: WalletBackup, vault: Path, urls: dict[str, str]
) -> None:
    start(wb, vault)
    old = keys(vault)
    with WalletBackup(store=urls["store"], kms=urls["kms"]) as fresh:
        # A fresh WalletBackup does not know where the vault keeps its keys: the discard fails
        # (after the new backup is stored), and stays queued.
        fresh.backup_wallet(
            "w",
            CLIENT,
            method="password",
            password=PASSWORD,
            custodian_share=CUSTODIAN,
            replace=True,
            unlock_with={"method": "password", "password": PASSWORD},
            **FAST,
        )
        assert keys(vault) == old
        fresh.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(vault))
        new = keys(vault)
        assert len(new) == 1 and new.isdisjoint(old)  # the old file went, the new one came


def test_remove_method_discards_its_material_after_storing(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    assert len(keys(vault)) == 1
    wb.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(vault))
    assert keys(vault) == set()
    assert wb.available_recovery_methods("w") == ["password"]
    with pytest.raises(BackupNotFound, match="password"):
        wb.recover_wallet("w", method="vault", directory=str(vault))
    assert ("remove_method", "ok") in [(e["type"], e["outcome"]) for e in wb.audit_log("w")]


def test_remove_with_the_method_itself(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    wb.remove_backup_method(
        "w", "password", unlock_with={"method": "vault", "directory": str(vault)}
    )
    assert wb.available_recovery_methods("w") == ["vault"]


def test_remove_a_method_the_wallet_does_not_have(wb: WalletBackup, vault: Path) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    with pytest.raises(BackupNotFound, match="vault"):
        wb.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(vault))


def test_missing_remote_material_is_a_clear_error(wb: WalletBackup, vault: Path) -> None:
    start(wb, vault)
    for path in vault.glob("*.key"):
        path.unlink()
    with pytest.raises(BackupNotFound, match="gone"):
        wb.recover_wallet("w", method="vault", directory=str(vault))
    assert wb.recover_wallet("w", method="password", password=PASSWORD).client_share == CLIENT


def test_self_managed_rebackup_refuses_to_drop_methods_silently(
    wb_self: WalletBackup, vault: Path
) -> None:
    first = wb_self.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    wb_self.stored_client_backup_share("w", "password", success=True)
    added = wb_self.add_backup_method(
        "w", "vault", unlock_with=UNLOCK, directory=str(vault), cipher_text=first.cipher_text
    )
    wb_self.stored_client_backup_share("w", "vault", success=True)
    with pytest.raises(PolicyViolation, match="unlock_with=") as info:
        wb_self.backup_wallet(
            "w",
            CLIENT,
            method="password",
            password=OTHER_PASSWORD,
            custodian_share=CUSTODIAN,
            **FAST,
        )
    assert "vault" in str(info.value) and "replace=True" in str(info.value)
    kept = wb_self.backup_wallet(
        "w",
        CLIENT,
        method="password",
        password=OTHER_PASSWORD,
        custodian_share=CUSTODIAN,
        cipher_text=added.cipher_text,
        unlock_with=UNLOCK,
        **FAST,
    )
    assert kept.methods == ("password", "vault")


def test_self_managed_change_needs_the_current_cipher_text(
    wb_self: WalletBackup, vault: Path
) -> None:
    first = wb_self.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    wb_self.stored_client_backup_share("w", "password", success=True)
    second = wb_self.add_backup_method(
        "w", "vault", unlock_with=UNLOCK, directory=str(vault), cipher_text=first.cipher_text
    )
    wb_self.stored_client_backup_share("w", "vault", success=True)
    with pytest.raises(StaleBackup, match="earlier backup"):
        wb_self.remove_backup_method(
            "w", "vault", unlock_with=UNLOCK, directory=str(vault), cipher_text=first.cipher_text
        )
    wb_self.remove_backup_method(
        "w", "vault", unlock_with=UNLOCK, directory=str(vault), cipher_text=second.cipher_text
    )
    # Not yet confirmed: the vault's material stays until the application confirms.
    assert len(keys(vault)) == 1
    wb_self.stored_client_backup_share("w", "vault", success=True)
    assert keys(vault) == set()


def test_self_managed_failed_add_discards_the_new_material(
    wb_self: WalletBackup, vault: Path
) -> None:
    first = wb_self.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    wb_self.stored_client_backup_share("w", "password", success=True)
    wb_self.add_backup_method(
        "w", "vault", unlock_with=UNLOCK, directory=str(vault), cipher_text=first.cipher_text
    )
    assert len(keys(vault)) == 1
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
    wb: WalletBackup, urls: dict[str, str], vault: Path
) -> None:
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    rounds = 5
    job = json.dumps({**urls, "rounds": rounds, "unlock": UNLOCK, "dir": str(vault)})
    children = [
        subprocess.Popen([sys.executable, "-c", ADDER], stdin=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write(job + "\n")
        child.stdin.close()
        child.stdin = None
    for child in children:
        assert child.wait(timeout=120) == 0
    vaults = [s for s in wb.backup_status("w") if s.method == "vault"]
    assert len(vaults) == 2 * rounds
    assert len(keys(vault)) == 2 * rounds
    for status in vaults:
        wb.verify_backup("w", method="vault", stanza_id=status.stanza_id, directory=str(vault))


def test_a_methods_own_unlock_failure_reaches_the_caller(
    wb: WalletBackup, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Envelope failures all read alike; a method's reason (a rejected PIN) is passed on."""
    import e2e_vault

    start(wb, vault)

    def rejected(self: object, args: object, context: object) -> bytes:
        raise UnlockFailed("vault: PIN rejected (3 attempts left)")

    monkeypatch.setattr(e2e_vault.VaultMethod, "unlock", rejected)
    with pytest.raises(UnlockFailed, match="3 attempts left"):
        wb.recover_wallet("w", method="vault", directory=str(vault))
