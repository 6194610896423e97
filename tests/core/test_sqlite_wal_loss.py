"""A SQLite store that loses its non-empty ``-wal`` file loses the commits in it (SQLite's
behaviour, docs/security.md): a confirmed password change is silently reverted. The device that
made the change remembers its revision and refuses the reverted store (``StaleBackup``); a
device that never saw the change cannot tell.

The change's pages are kept in the WAL by a reader holding a snapshot from before it (SQLite
cannot checkpoint past a reader). The store file copied then, without its ``-wal``, and put back
in place once every connection is closed, is the store as it is after a crash whose ``-wal`` file
was then deleted, or a backup copy that left the ``-wal`` file out.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import quick_methods
from quick_methods import PASS

from walletbackup import StaleBackup, WalletBackup
from walletbackup.errors import UnlockFailed

CLIENT, CUSTODIAN = b"c" * 32, b"k" * 32


def test_a_lost_wal_reverts_a_password_change_and_the_same_device_refuses_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "b.db"
    wal, shm = (db.with_name(db.name + suffix) for suffix in ("-wal", "-shm"))
    place = {"store": f"sqlite://{db}", "kms": f"local://{tmp_path / 'k.key'}"}
    state = tmp_path / "device.json"
    with quick_methods.installed():
        with WalletBackup(**place, device_state=state) as wb:
            wb.backup_wallet(
                "w", CLIENT, method=PASS, passphrase="alpha", custodian_share=CUSTODIAN
            )
        reader = sqlite3.connect(db, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM documents").fetchall()
        with WalletBackup(**place, device_state=state) as wb:
            unlock = {"method": PASS, "passphrase": "alpha"}
            changed = wb.add_backup_method("w", PASS, unlock_with=unlock, passphrase="bravo")
        assert changed.status == "stored"
        assert wal.stat().st_size > 0
        shutil.copyfile(db, tmp_path / "without-wal.db")
        reader.execute("ROLLBACK")
        reader.close()
        # The last connection closed: SQLite checkpointed the change into the file. Now the
        # file loses it again, as a lost -wal file would have.
        (tmp_path / "without-wal.db").replace(db)
        for path in (wal, shm):
            path.unlink(missing_ok=True)

        with WalletBackup(**place, device_state=state) as wb:
            with pytest.raises(StaleBackup, match="this device has seen revision 2"):
                wb.recover_wallet("w", method=PASS, passphrase="alpha")
            with pytest.raises(UnlockFailed):
                wb.recover_wallet("w", method=PASS, passphrase="bravo")
        # A device that never saw revision 2 takes the reverted store for the real one.
        with WalletBackup(**place, device_state=None) as new_device:
            reverted = new_device.recover_wallet("w", method=PASS, passphrase="alpha")
        assert reverted.revision == changed.revision - 1
