"""Audit retention: ``Custodian.prune_audit`` (with an archive) and ``walletbackup prune-audit``."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import PASSPHRASE, Cli, isolate, restore

from walletbackup import Custodian
from walletbackup.cli.exits import EXIT_USAGE
from walletbackup.errors import StorageError
from walletbackup.stores import MemoryStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def custodian(tmp_path: Path) -> Iterator[Custodian]:
    custodian = Custodian(store=MemoryStore("memory:"), kms=f"local://{tmp_path / 'k.key'}")
    for n in range(6):
        at = (T0 + timedelta(days=n)).isoformat()
        custodian.audit({"type": "verify", "wallet_id": f"w{n % 2}", "outcome": "ok", "at": at})
    yield custodian
    custodian.close()


def test_prune_keeps_the_seq_of_what_stays(custodian: Custodian) -> None:
    page = custodian.audit_log("w1", limit=1)
    assert custodian.prune_audit(T0 + timedelta(days=3)) == 3
    assert [e["seq"] for e in custodian.audit_log()] == [4, 5, 6]
    assert [e["seq"] for e in custodian.audit_log("w1", after=page[-1]["seq"])] == [4, 6]


def test_the_archive_holds_exactly_what_was_pruned(custodian: Custodian) -> None:
    archive = io.BytesIO()
    before = custodian.audit_log()
    assert custodian.prune_audit(T0 + timedelta(days=2), archive=archive) == 2
    lines = archive.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == before[:2]
    assert custodian.audit_log() == before[2:]


def test_nothing_to_prune(custodian: Custodian) -> None:
    archive = io.BytesIO()
    assert custodian.prune_audit(T0, archive=archive) == 0
    assert archive.getvalue() == b""
    assert len(custodian.audit_log()) == 6


def test_a_naive_time_is_refused(custodian: Custodian) -> None:
    with pytest.raises(StorageError, match="timezone"):
        custodian.prune_audit(datetime(2026, 1, 3))


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    isolate(monkeypatch, tmp_path)
    yield Cli(tmp_path)
    restore()


def test_the_command_prunes_and_archives(run: Cli) -> None:
    run.backup("w1")
    verified = run("verify", "w1", input=f"{PASSPHRASE}\n")
    assert verified.exit_code == 0, verified.output
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    archive = run.tmp / "audit.jsonl"
    result = run("prune-audit", "--before", tomorrow, "--archive", str(archive), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "pruned": 2,
        "before": f"{tomorrow}T00:00:00+00:00",
        "archive": str(archive),
    }
    events = [json.loads(line) for line in archive.read_bytes().splitlines()]
    assert [(e["type"], e["wallet_id"], e["seq"]) for e in events] == [
        ("backup", "w1", 1),
        ("verify", "w1", 2),
    ]
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    again = run("prune-audit", "--before", tomorrow)
    assert (again.exit_code, again.output) == (
        0,
        f"pruned 0 audit events recorded before {tomorrow}T00:00:00+00:00\n",
    )


def test_the_command_refuses_an_existing_archive_and_a_bad_time(run: Cli) -> None:
    (run.tmp / "taken.jsonl").write_text("mine")
    taken = run("prune-audit", "--before", "2026-01-01", "--archive", str(run.tmp / "taken.jsonl"))
    assert taken.exit_code == EXIT_USAGE
    assert "exists" in taken.output
    assert (run.tmp / "taken.jsonl").read_text() == "mine"
    bad = run("prune-audit", "--before", "last tuesday")
    assert bad.exit_code == EXIT_USAGE
    assert "ISO 8601" in bad.output
