"""Backup health without a secret (``check_backups``), verification times and the due policy,
forgetting a wallet, and the KMS operator operations' audit events."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from example_method import EXAMPLE_DIST

from walletbackup import (
    BackupNotFound,
    Custodian,
    PolicyViolation,
    StorageError,
    WalletBackup,
    WalletHealth,
    plugins,
)
from walletbackup.audit import EVENT_TYPES, audited
from walletbackup.state import WalletRecord

CLIENT, CUSTODIAN = b"client share", b"custodian share"
PASSPHRASE = "correct-koala-passphrase"
PASS, FILE = "examplepassphrase", "examplefile"
OLD = "2000-01-01T00:00:00+00:00"


@pytest.fixture(autouse=True)
def _example_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(EXAMPLE_DIST))
    monkeypatch.setenv(plugins.ENV_VAR, "example")
    plugins.reset_plugins()
    yield
    plugins.reset_plugins()


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """The directory of the examplefile method's key files: its "remote" material."""
    directory = tmp_path / "keys"
    directory.mkdir()
    return directory


@pytest.fixture
def files(keys: Path) -> dict[str, dict[str, str]]:
    return {FILE: {"directory": str(keys)}}


def back_up(wb: WalletBackup, wallet: str = "w", **extra: Any) -> None:
    wb.backup_wallet(
        wallet, CLIENT, method=PASS, passphrase=PASSPHRASE, custodian_share=CUSTODIAN, **extra
    )


def add_file(wb: WalletBackup, keys: Path, wallet: str = "w", **extra: Any) -> None:
    unlock = {"method": PASS, "passphrase": PASSPHRASE}
    wb.add_backup_method(wallet, FILE, unlock_with=unlock, directory=str(keys), **extra)


def edit_record(custodian: Custodian, wallet: str, change: Callable[[WalletRecord], None]) -> None:
    document = custodian.store.load(wallet)
    assert document is not None
    record = WalletRecord.from_bytes(document, wallet)
    change(record)
    custodian.store.save(wallet, record.to_bytes())


def only(results: list[WalletHealth], wallet: str) -> WalletHealth:
    (result,) = [r for r in results if r.wallet_id == wallet]
    return result


def embedded(wb: WalletBackup) -> Custodian:
    assert isinstance(wb.custodian, Custodian)
    return wb.custodian


# --- a healthy store -------------------------------------------------------------------------


def test_healthy_wallets_check_clean(
    wb: WalletBackup, keys: Path, files: dict[str, dict[str, str]]
) -> None:
    back_up(wb, "a")
    back_up(wb, "b")
    add_file(wb, keys, "b")
    seen: list[str] = []
    results = wb.check_backups(method_options=files, progress=lambda r: seen.append(r.wallet_id))
    assert [r.wallet_id for r in results] == seen == ["a", "b"]
    assert all(r.ok and r.mode == "managed" for r in results)
    b = only(results, "b")
    assert b.revision == 2
    assert [(m.method, m.present, m.due) for m in b.methods] == [
        (FILE, True, False),
        (PASS, None, False),
    ]
    assert all(m.status == "stored" and m.verified_at for m in b.methods)
    assert not [e for e in wb.audit_log() if e["type"] in ("material_missing", "verification_due")]


def test_one_wallet_is_checked_alone_and_an_unknown_one_is_not_found(wb: WalletBackup) -> None:
    back_up(wb, "a")
    back_up(wb, "b")
    assert [r.wallet_id for r in wb.check_backups("b")] == ["b"]
    with pytest.raises(BackupNotFound):
        wb.check_backups("nope")


def test_a_self_managed_wallet_is_checked_with_what_the_device_remembers(
    wb_self: WalletBackup, keys: Path, files: dict[str, dict[str, str]]
) -> None:
    result = wb_self.backup_wallet(
        "w", CLIENT, method=FILE, directory=str(keys), custodian_share=CUSTODIAN
    )
    wb_self.stored_client_backup_share("w", FILE, success=True)
    (healthy,) = wb_self.check_backups(method_options=files)
    assert healthy.ok and healthy.methods[0].present is True
    for key in keys.iterdir():
        key.unlink()
    (gone,) = wb_self.check_backups(method_options=files)
    assert [p.kind for p in gone.problems] == ["material"]
    # Another device has not seen this revision: it cannot tell, and says why.
    with WalletBackup(custodian=wb_self.custodian, mode="self-managed", device_state=None) as other:
        (unknown,) = other.check_backups(method_options=files)
    assert unknown.ok and unknown.methods[0].present is None
    assert "self-managed" in unknown.methods[0].detail
    assert result.cipher_text  # the application keeps it; the check never needed it


# --- damage the custodian can see --------------------------------------------------------------


def test_a_record_that_does_not_read_is_a_record_problem(wb: WalletBackup) -> None:
    back_up(wb, "a")
    back_up(wb, "b")
    embedded(wb).store.save("a", b"{not json")
    results = wb.check_backups()
    a = only(results, "a")
    assert (a.mode, a.revision, a.methods) == (None, None, ())
    assert [p.kind for p in a.problems] == ["record"]
    assert "corrupt" in a.problems[0].message
    assert only(results, "b").ok


def test_an_envelope_that_does_not_parse_is_an_envelope_problem(wb: WalletBackup) -> None:
    back_up(wb)

    def garble(record: WalletRecord) -> None:
        assert record.current is not None and record.current.client_envelope is not None
        record.current.client_envelope = b"WBK" + record.current.client_envelope[3:9]

    edit_record(embedded(wb), "w", garble)
    (result,) = wb.check_backups()
    assert [p.kind for p in result.problems] == ["envelope"]
    assert "client envelope of revision 1 does not parse" in result.problems[0].message


def test_envelopes_of_another_wallet_do_not_pair(wb: WalletBackup) -> None:
    back_up(wb, "a")
    back_up(wb, "b")
    custodian = embedded(wb)
    other = WalletRecord.from_bytes(custodian.store.load("b") or b"", "b")

    def swap(record: WalletRecord) -> None:
        assert record.current is not None and other.current is not None
        record.current.custodian_envelope = other.current.custodian_envelope

    edit_record(custodian, "a", swap)
    a = only(wb.check_backups(), "a")
    kinds = sorted(p.kind for p in a.problems)
    assert kinds == ["custodian", "pairing"]
    pairing = next(p for p in a.problems if p.kind == "pairing")
    # Both wallets hold the same test shares, so their commitments agree.
    assert pairing.message.endswith("their wallet, backup set differ")


def test_a_record_whose_stanzas_disagree_with_its_envelope_is_a_pairing_problem(
    wb: WalletBackup,
) -> None:
    back_up(wb)

    def relabel(record: WalletRecord) -> None:
        assert record.current is not None
        ref = record.current.stanzas[0]
        record.current.stanzas = [type(ref)(ref.id, "gdrive")]

    edit_record(embedded(wb), "w", relabel)
    (result,) = wb.check_backups()
    assert [p.kind for p in result.problems] == ["pairing"]
    assert result.problems[0].message.endswith("its stanzas")


def test_a_retired_kms_version_is_a_custodian_problem(wb: WalletBackup) -> None:
    back_up(wb)
    custodian = embedded(wb)
    custodian.rotate_kms_key()
    custodian.kms.retire(2)  # behind the custodian's back: its own retire refuses
    (result,) = wb.check_backups()
    assert [p.kind for p in result.problems] == ["custodian"]
    assert "UnlockFailed" in result.problems[0].message
    assert "retired" in result.problems[0].message


def test_a_lost_kms_key_is_a_custodian_problem_on_every_wallet(
    wb: WalletBackup, urls: dict[str, str]
) -> None:
    back_up(wb, "a")
    back_up(wb, "b")
    Path(urls["kms"].removeprefix("local://")).unlink()
    results = wb.check_backups()
    assert [[p.kind for p in r.problems] for r in results] == [["custodian"], ["custodian"]]
    assert "KmsKeyMissing" in results[0].problems[0].message


# --- remote material ------------------------------------------------------------------------


def test_gone_material_is_a_problem_and_an_audit_event(
    wb: WalletBackup, keys: Path, files: dict[str, dict[str, str]]
) -> None:
    back_up(wb)
    add_file(wb, keys)
    (key,) = keys.iterdir()
    key.unlink()
    (result,) = wb.check_backups(method_options=files)
    (problem,) = result.problems
    file_stanza = next(m for m in result.methods if m.method == FILE)
    assert (problem.kind, problem.method, problem.stanza_id) == (
        "material",
        FILE,
        file_stanza.stanza_id,
    )
    assert file_stanza.present is False
    event = wb.audit_log("w")[-1]
    assert event["type"] == "material_missing"
    assert (event["method"], event["stanza_id"], event["outcome"]) == (
        FILE,
        file_stanza.stanza_id,
        "failed",
    )


def test_presence_is_not_asked_when_told_not_to(
    wb: WalletBackup, keys: Path, files: dict[str, dict[str, str]]
) -> None:
    back_up(wb)
    add_file(wb, keys)
    for key in keys.iterdir():
        key.unlink()
    (result,) = wb.check_backups(presence=False, method_options=files)
    assert result.ok
    assert {m.present for m in result.methods} == {None}


def test_a_method_that_cannot_be_asked_is_a_note_not_a_problem(
    wb: WalletBackup, keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    back_up(wb)
    add_file(wb, keys)
    monkeypatch.setenv(plugins.ENV_VAR, "")  # the plugin is gone from this machine
    plugins.reset_plugins()
    (result,) = wb.check_backups()
    assert result.ok
    stanza = next(m for m in result.methods if m.method == FILE)
    assert stanza.present is None
    assert "examplefile" in stanza.detail


def test_a_method_that_fails_to_answer_is_a_presence_problem(
    wb: WalletBackup, keys: Path, files: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    back_up(wb)
    add_file(wb, keys)

    def refuse(*_: object) -> bool:
        raise StorageError("the drive said 500")

    monkeypatch.setattr(plugins.get_method(FILE), "check_presence", refuse)
    (result,) = wb.check_backups(method_options=files)
    (problem,) = result.problems
    assert problem.kind == "presence"
    assert problem.message == "could not ask examplefile: the drive said 500"


# --- verified, and due -----------------------------------------------------------------------


def test_verify_and_recover_record_when_the_stanza_opened(wb: WalletBackup) -> None:
    back_up(wb)

    def age(record: WalletRecord) -> None:
        for status in record.statuses:
            status.verified_at = OLD

    custodian = embedded(wb)
    edit_record(custodian, "w", age)
    assert wb.verification_due(wb.backup_status("w")[0])
    wb.verify_backup("w", method=PASS, passphrase=PASSPHRASE)
    (status,) = wb.backup_status("w")
    assert status.verified_at is not None and status.verified_at > OLD
    assert not wb.verification_due(status)
    edit_record(custodian, "w", age)
    wb.recover_wallet("w", method=PASS, passphrase=PASSPHRASE)
    assert wb.backup_status("w")[0].verified_at != OLD


def test_a_kept_stanza_keeps_its_verification_and_a_new_one_is_verified_when_stored(
    wb: WalletBackup, keys: Path
) -> None:
    back_up(wb)

    def age(record: WalletRecord) -> None:
        record.statuses[0].verified_at = OLD

    edit_record(embedded(wb), "w", age)
    add_file(wb, keys)
    by_method = {s.method: s for s in wb.backup_status("w")}
    assert by_method[PASS].verified_at == OLD
    assert by_method[FILE].verified_at == by_method[FILE].updated_at


def test_overdue_verifications_are_due_and_audited(urls: dict[str, str]) -> None:
    with WalletBackup(**urls, verify_every=timedelta(days=30)) as wb:
        back_up(wb)
        (fresh,) = wb.check_backups()
        assert fresh.due == ()

        def age(record: WalletRecord) -> None:
            record.statuses[0].verified_at = OLD

        edit_record(embedded(wb), "w", age)
        (result,) = wb.check_backups()
        assert result.ok  # due is not a problem
        (due,) = result.due
        assert (due.method, due.verified_at) == (PASS, OLD)
        event = wb.audit_log("w")[-1]
        assert event["type"] == "verification_due"
        assert (event["method"], event["verified_at"]) == (PASS, OLD)


def test_the_policy_counts_from_the_last_change_when_never_verified(wb: WalletBackup) -> None:
    back_up(wb)
    (status,) = wb.backup_status("w")
    status.verified_at = None
    stored = datetime.fromisoformat(status.updated_at)
    assert not wb.verification_due(status, now=stored + timedelta(days=89))
    assert wb.verification_due(status, now=stored + timedelta(days=90))
    with WalletBackup(custodian=wb.custodian, verify_every=None) as never:
        assert not never.verification_due(status, now=stored + timedelta(days=10_000))


@pytest.mark.parametrize("written", ["yesterday", "", "2026-13-45T00:00:00"])
def test_a_time_walletbackup_did_not_write_counts_as_due(wb: WalletBackup, written: str) -> None:
    back_up(wb)

    def scribble(record: WalletRecord) -> None:
        record.statuses[0].verified_at = written or None
        record.statuses[0].updated_at = written

    edit_record(embedded(wb), "w", scribble)
    (result,) = wb.check_backups()
    assert [m.due for m in result.methods] == [True]


def test_a_time_without_a_zone_is_utc(wb: WalletBackup) -> None:
    back_up(wb)
    (status,) = wb.backup_status("w")
    status.verified_at = "2026-01-01T00:00:00"
    assert not wb.verification_due(status, now=datetime.fromisoformat("2026-03-01T00:00:00+00:00"))
    assert wb.verification_due(status, now=datetime.fromisoformat("2026-04-01T00:00:00+00:00"))


def test_verify_every_must_be_positive(urls: dict[str, str]) -> None:
    with pytest.raises(PolicyViolation, match="verify_every"):
        WalletBackup(**urls, verify_every=timedelta(0))


def test_a_record_of_schema_2_reads_with_verified_at_unknown(wb: WalletBackup) -> None:
    back_up(wb)
    custodian = embedded(wb)
    body = json.loads(custodian.store.load("w") or b"")
    body["schema"] = 2
    for status in body["statuses"]:
        del status["verified_at"]
    custodian.store.save("w", json.dumps(body).encode())
    (status,) = wb.backup_status("w")
    assert status.verified_at is None
    assert wb.check_backups()[0].ok
    wb.verify_backup("w", method=PASS, passphrase=PASSPHRASE)
    assert wb.backup_status("w")[0].verified_at is not None


def test_a_store_that_cannot_record_the_verification_still_verifies(
    wb: WalletBackup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    back_up(wb)

    def read_only(*_: object) -> None:
        raise StorageError("attempt to write a readonly database")

    monkeypatch.setattr(Custodian, "record_verified", read_only)
    wb.verify_backup("w", method=PASS, passphrase=PASSPHRASE)
    assert "could not record when wallet 'w' was verified" in caplog.text


def test_check_backups_is_the_embedded_custodians(urls: dict[str, str]) -> None:
    class Remote:
        """A custodian that is not this process's (only the attribute the check looks at)."""

        location = None

        def close(self) -> None:
            """Nothing to release."""

    with pytest.raises(PolicyViolation, match="operator"):
        WalletBackup(custodian=Remote()).check_backups()  # type: ignore[arg-type]


# --- forget ---------------------------------------------------------------------------------


def test_forget_deletes_the_record_and_the_devices_memory(urls: dict[str, str]) -> None:
    device = Path(urls["store"].removeprefix("sqlite://")).with_name("device.json")
    with WalletBackup(**urls, device_state=device) as wb:
        back_up(wb, "a")
        back_up(wb, "b")
        wb.forget_wallet("a")
        assert wb.wallets() == ["b"]
        with pytest.raises(BackupNotFound):
            wb.recover_wallet("a", method=PASS, passphrase=PASSPHRASE)
        assert set(json.loads(device.read_text())["locations"][wb.custodian.location]) == {"b"}
        assert [e["type"] for e in wb.audit_log("a")][-2:] == ["forget", "recover"]
        # A new wallet of the same name starts afresh on this device.
        back_up(wb, "a")
        wb.recover_wallet("a", method=PASS, passphrase=PASSPHRASE)


def test_forget_a_record_that_does_not_read(wb: WalletBackup) -> None:
    back_up(wb)
    embedded(wb).store.save("w", b"garbage")
    wb.forget_wallet("w")
    assert wb.wallets() == []


def test_forget_an_unknown_wallet_is_not_found(wb: WalletBackup) -> None:
    with pytest.raises(BackupNotFound):
        wb.forget_wallet("nope")
    assert wb.audit_log("nope")[-1]["outcome"] == "failed"


# --- the KMS operator's operations -----------------------------------------------------------


def test_kms_versions_follow_rotation_and_rewrap(wb: WalletBackup) -> None:
    back_up(wb)
    custodian = embedded(wb)
    assert custodian.kms_versions("w") == (1,)
    assert custodian.rotate_kms_key() == 2
    assert custodian.kms_versions("w") == (1,)
    custodian.rewrap("w")
    assert custodian.kms_versions("w") == (2,)
    with pytest.raises(BackupNotFound):
        custodian.kms_versions("nope")


def test_rotate_and_retire_are_audited(wb: WalletBackup) -> None:
    back_up(wb)
    custodian = embedded(wb)
    custodian.rotate_kms_key()
    with pytest.raises(PolicyViolation):
        custodian.retire_kms_versions(2)
    custodian.rewrap("w")
    assert custodian.retire_kms_versions(2) == (1,)
    events = [e for e in wb.audit_log() if e["type"] in ("rotate_kms", "retire_kms")]
    assert [(e["type"], e["outcome"]) for e in events] == [
        ("rotate_kms", "ok"),
        ("retire_kms", "failed"),
        ("retire_kms", "ok"),
    ]
    assert (events[0]["version"], events[2]["below"], events[2]["retired"]) == (2, 2, 1)
    assert "wallet_id" not in events[0]


def test_an_undocumented_event_type_is_refused(wb: WalletBackup) -> None:
    assert "verification_due" in EVENT_TYPES
    with (
        pytest.raises(ValueError, match="unknown audit event type"),
        audited(wb.custodian, "surprise", "w"),
    ):
        pass


def test_health_events_never_hold_a_secret(
    wb: WalletBackup, keys: Path, files: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    back_up(wb)
    add_file(wb, keys)
    for key in keys.iterdir():
        key.unlink()
    wb.check_backups(method_options=files)
    text = json.dumps(wb.audit_log()) + caplog.text + repr(wb.check_backups(method_options=files))
    assert PASSPHRASE not in text
    assert CLIENT.hex() not in text and CUSTODIAN.hex() not in text
