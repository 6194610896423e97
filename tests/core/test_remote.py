"""The device through a custodian service: every operation, both modes, two users, two processes.

These tests take an :class:`service_fake.Endpoint` (a URL and ``token_for(user)``) and nothing
else of the service, so the same tests run against the real one: override ``endpoint``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
import service_fake
from quick_methods import PASS, TOKEN
from service_fake import Endpoint

from walletbackup import BackupNotFound, StaleBackup, WalletBackup, envelope
from walletbackup.remote import RemoteCustodian

CLIENT, CUSTODIAN = b"client share", b"custodian share"
SECRET = {"passphrase": "correct horse battery"}
UNLOCK = {"method": PASS, **SECRET}


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    with service_fake.running(tmp_path / "service") as fake:
        yield fake.endpoint()


def device(endpoint: Endpoint, user: str = "alice", mode: str = "managed") -> WalletBackup:
    return WalletBackup(custodian=endpoint.url, token=endpoint.token_for(user), mode=mode)


def test_managed_backup_recover_verify_and_status(endpoint: Endpoint) -> None:
    with device(endpoint) as wb:
        assert isinstance(wb.custodian, RemoteCustodian)
        result = wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, **SECRET)
        assert (result.status, result.revision, result.methods) == ("stored", 1, (PASS,))

        recovered = wb.recover_wallet("w", method=PASS, **SECRET)
        assert recovered.client_share == CLIENT
        assert recovered.custodian_share is None  # the service keeps it from a device
        assert recovered.revision == 1
        # Whoever receives the custodian share checks it against the commitment.
        assert envelope.share_commitment_matches(CLIENT, CUSTODIAN, recovered.share_commitment)
        assert not envelope.share_commitment_matches(CLIENT, b"forged", recovered.share_commitment)

        report = wb.verify_backup("w", method=PASS, **SECRET)
        assert (report.revision, report.envelope_id) == (1, result.envelope_id)
        (status,) = wb.backup_status("w")
        assert (status.method, status.status) == (PASS, "stored")
        assert status.backup_set_id == result.backup_set_id
        assert status.verified_at  # recorded through the service
        assert wb.available_recovery_methods("w") == [PASS]
        assert wb.wallets() == ["w"]


def test_methods_are_added_changed_and_removed(endpoint: Endpoint) -> None:
    with device(endpoint) as wb:
        wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, **SECRET)
        added = wb.add_backup_method("w", TOKEN, unlock_with=UNLOCK, token="t-1")
        assert added.methods == (PASS, TOKEN)
        assert wb.recover_wallet("w", method=TOKEN, token="t-1").client_share == CLIENT

        changed = wb.add_backup_method("w", PASS, unlock_with=UNLOCK, passphrase="new one")
        assert changed.revision == 3
        assert wb.recover_wallet("w", method=PASS, passphrase="new one").client_share == CLIENT

        removed = wb.remove_backup_method("w", PASS, unlock_with={"method": TOKEN, "token": "t-1"})
        assert removed.methods == (TOKEN,)
        with pytest.raises(BackupNotFound):
            wb.recover_wallet("w", method=PASS, passphrase="new one")
        assert {s.method for s in wb.backup_status("w")} == {TOKEN}


def test_self_managed_backups_are_confirmed_through_the_service(endpoint: Endpoint) -> None:
    with device(endpoint, mode="self-managed") as wb:
        first = wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, **SECRET)
        assert first.status == "pending"
        wb.stored_client_backup_share("w", PASS, True)
        assert [s.status for s in wb.backup_status("w")] == ["stored"]

        second = wb.add_backup_method(
            "w", PASS, unlock_with=UNLOCK, cipher_text=first.cipher_text, passphrase="new one"
        )
        wb.stored_client_backup_share("w", PASS, False)  # the application could not keep it
        assert sorted(s.status for s in wb.backup_status("w")) == ["failed", "stored"]
        recovered = wb.recover_wallet("w", method=PASS, cipher_text=first.cipher_text, **SECRET)
        assert (recovered.client_share, recovered.custodian_share) == (CLIENT, None)
        with pytest.raises(StaleBackup):  # the denied revision
            wb.recover_wallet(
                "w", method=PASS, cipher_text=second.cipher_text, passphrase="new one"
            )


def test_a_replaced_backup_never_recovers(endpoint: Endpoint) -> None:
    with device(endpoint, mode="self-managed") as wb:
        old = wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, **SECRET)
        wb.stored_client_backup_share("w", PASS, True)
        wb.add_backup_method(
            "w", PASS, unlock_with=UNLOCK, cipher_text=old.cipher_text, passphrase="new one"
        )
        wb.stored_client_backup_share("w", PASS, True)
        with pytest.raises(StaleBackup):
            wb.recover_wallet("w", method=PASS, cipher_text=old.cipher_text, **SECRET)


def test_another_user_reaches_nothing(endpoint: Endpoint) -> None:
    with device(endpoint) as alice:
        alice.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, **SECRET)
    with device(endpoint, user="bob") as bob:
        assert bob.wallets() == []
        with pytest.raises(BackupNotFound):
            bob.recover_wallet("w", method=PASS, **SECRET)
        # Bob's own wallet of the same name is another wallet.
        bob.backup_wallet("w", b"bob's share", method=PASS, custodian_share=CUSTODIAN, **SECRET)
        assert bob.recover_wallet("w", method=PASS, **SECRET).client_share == b"bob's share"
    with device(endpoint) as alice:
        assert alice.recover_wallet("w", method=PASS, **SECRET).client_share == CLIENT


DEVICE = """
import json, sys
import quick_methods
from walletbackup import WalletBackup

url, token, action = sys.argv[1:]
with quick_methods.installed(), WalletBackup(custodian=url, token=token) as wb:
    if action == "backup":
        result = wb.backup_wallet(
            "w", b"client share", method="quickpass", custodian_share=b"custodian share",
            passphrase="p",
        )
        print(json.dumps({"revision": result.revision}))
    else:
        recovered = wb.recover_wallet("w", method="quickpass", passphrase="p")
        print(json.dumps({
            "client": recovered.client_share.hex(),
            "custodian": recovered.custodian_share,
            "revision": recovered.revision,
        }))
"""


def test_one_process_backs_up_and_another_recovers(endpoint: Endpoint, tmp_path: Path) -> None:
    fixtures = Path(quick_methods.__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fixtures), str(tmp_path)])}
    token = endpoint.token_for("alice")

    def run(action: str, home: str) -> dict[str, object]:
        child = subprocess.run(
            [sys.executable, "-c", DEVICE, endpoint.url, token, action],
            capture_output=True,
            text=True,
            env={**env, "HOME": str(tmp_path / home), "XDG_DATA_HOME": str(tmp_path / home)},
            timeout=120,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        assert token not in child.stdout + child.stderr
        answer = json.loads(child.stdout)
        assert isinstance(answer, dict)
        return answer

    assert run("backup", "phone") == {"revision": 1}
    # Another device (another home, no memory of the wallet) recovers the client share.
    assert run("recover", "laptop") == {"client": CLIENT.hex(), "custodian": None, "revision": 1}


def test_the_cli_report_copes_without_a_custodian_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from walletbackup.cli.report import KEPT, report_recovered
    from walletbackup.results import Recovered

    recovered = Recovered("w", PASS, "00" * 16, 1, CLIENT, None)
    report_recovered(recovered, None, None, True, True)
    assert json.loads(capsys.readouterr().out)["custodian_share"] is None
    report_recovered(recovered, None, None, True, False)
    assert f"custodian_share: {KEPT}" in capsys.readouterr().out
    report_recovered(recovered, "client.bin", None, False, False)
    assert f"custodian share {KEPT}" in capsys.readouterr().out
