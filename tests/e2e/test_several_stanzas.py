"""What docs/plugins.md promises an author of a method with several stanzas (``multiple``).

Unlocking tries the next stanza only after ``UnlockFailed``; removing the method gives every
stanza's ``discard`` the one instance made from that call's options.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import FAST, PASSWORD

from walletbackup import BackupNotFound, MethodContext, WalletBackup

UNLOCK = {"method": "password", "password": PASSWORD}
CLIENT, CUSTODIAN = b"client share", b"custodian share"
pytestmark = pytest.mark.usefixtures("vault_installed")


@pytest.fixture
def key_files(wb: WalletBackup, tmp_path: Path) -> list[Path]:
    """Wallet w with a password and two stanzas of the several-stanza ``vault`` method."""
    directory = tmp_path / "vault"
    directory.mkdir()
    wb.backup_wallet(
        "w", CLIENT, method="password", password=PASSWORD, custodian_share=CUSTODIAN, **FAST
    )
    for _ in range(2):
        wb.add_backup_method("w", "vault", unlock_with=UNLOCK, directory=str(directory))
    files = sorted(directory.glob("*.key"))
    assert len(files) == 2
    return files


def recover_with_vault(wb: WalletBackup, files: list[Path]) -> bytes:
    return wb.recover_wallet("w", method="vault", directory=str(files[0].parent)).client_share


def test_unlock_failed_moves_on_to_the_next_stanza(wb: WalletBackup, key_files: list[Path]) -> None:
    # Whichever stanza is tried first, a key file of the wrong size (the method raises
    # UnlockFailed) or of the wrong key (the envelope does not open) leaves the other one.
    for damaged in key_files:
        original = damaged.read_bytes()
        for bad in (b"short", bytes(32)):
            damaged.write_bytes(bad)
            assert recover_with_vault(wb, key_files) == CLIENT
        damaged.write_bytes(original)


def test_any_other_error_stops_at_once(wb: WalletBackup, key_files: list[Path]) -> None:
    # A missing key file is BackupNotFound: when its stanza is tried first, the other stanza,
    # which would open, is never tried. When it is tried second, the first one opens.
    outcomes = []
    for missing in key_files:
        original = missing.read_bytes()
        missing.unlink()
        try:
            outcomes.append(recover_with_vault(wb, key_files) == CLIENT)
        except BackupNotFound:
            outcomes.append(False)
        missing.write_bytes(original)
    assert sorted(outcomes) == [False, True]


def test_removing_all_stanzas_discards_each_with_the_one_instance(
    wb: WalletBackup, key_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import e2e_vault

    calls: list[tuple[int, str]] = []
    discard = e2e_vault.VaultMethod.discard

    def recorded(self: e2e_vault.VaultMethod, args: dict[str, str], context: MethodContext) -> None:
        calls.append((id(self), self.option("directory")))
        discard(self, args, context)

    monkeypatch.setattr(e2e_vault.VaultMethod, "discard", recorded)
    directory = str(key_files[0].parent)
    wb.remove_backup_method("w", "vault", unlock_with=UNLOCK, directory=directory)
    assert len(calls) == 2
    assert len(set(calls)) == 1  # one instance, with this call's options
    assert calls[0][1] == directory
    assert not any(path.exists() for path in key_files)
