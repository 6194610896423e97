"""``walletbackup check``, the verification columns of ``status``, and the operator's commands
(``kms-info``, ``rotate-kms``, ``rewrap-custodian``, ``retire-kms``, ``forget``)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import PASSPHRASE, WRONG_PASSPHRASE, Cli, isolate, restore

from walletbackup.cli import operator, output
from walletbackup.cli.exits import (
    EXIT_NOT_FOUND,
    EXIT_POLICY,
    EXIT_UNHEALTHY,
    EXIT_UNLOCK_FAILED,
    EXIT_USAGE,
)
from walletbackup.state import WalletRecord
from walletbackup.stores.sqlite import SqliteStore

OLD = "2000-01-01T00:00:00+00:00"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    isolate(monkeypatch, tmp_path)
    yield Cli(tmp_path)
    restore()


def json_of(run: Cli, *args: str, input: str | None = None) -> tuple[int, dict[str, Any]]:
    result = run(*args, "--json", input=input)
    return result.exit_code, json.loads(result.stdout)


def age_verifications(run: Cli, wallet: str = "w1") -> None:
    """Make the wallet's stanzas look last verified long ago (behind the CLI's back)."""
    store = SqliteStore(run.store)
    try:
        record = WalletRecord.from_bytes(store.load(wallet) or b"", wallet)
        for status in record.statuses:
            status.verified_at = OLD
        store.save(wallet, record.to_bytes())
    finally:
        store.close()


# --- check ----------------------------------------------------------------------------------


def test_check_lists_every_wallet_and_method_and_exits_0(run: Cli) -> None:
    run.backup("w1")
    run.backup("w2")
    result = run("check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["WALLET", "METHOD", "STANZA", "STATUS", "REMOTE", "VERIFIED", "DUE"]
    assert [line.split()[:2] for line in lines[1:3]] == [
        ["w1", "examplepassphrase"],
        ["w2", "examplepassphrase"],
    ]
    assert lines[-1] == "checked 2 wallet(s): 0 with problems"


def test_check_finds_a_damaged_record_and_exits_11(run: Cli) -> None:
    run.backup("w1")
    run.backup("w2")
    store = SqliteStore(run.store)
    store.save("w2", b"{")
    store.close()
    result = run("check", "--quiet")
    assert result.exit_code == EXIT_UNHEALTHY
    assert "WALLET" not in result.stdout
    assert "  w2: record: the stored record of wallet 'w2' is corrupt" in result.stdout
    assert result.stdout.splitlines()[-1] == "checked 2 wallet(s): 1 with problems"
    code, document = json_of(run, "check")
    assert code == EXIT_UNHEALTHY
    assert (document["checked"], document["with_problems"], document["unlock"]) == (2, 1, None)
    wallets = document["wallets"]
    assert [w["ok"] for w in wallets] == [True, False]
    assert wallets[1]["problems"][0]["kind"] == "record"
    assert wallets[1]["mode"] is None


def test_check_says_which_verifications_are_due(run: Cli) -> None:
    run.backup("w1")
    age_verifications(run)
    result = run("check", "w1")
    assert result.exit_code == 0  # due is a reminder, not a problem
    assert OLD in result.stdout and " yes" in result.stdout
    assert "1 method(s) due for verification" in result.stdout
    code, document = json_of(run, "check", "w1")
    assert code == 0
    assert document["due"] == 1


def test_check_unlock_verifies_the_wallet_first(run: Cli) -> None:
    run.backup("w1")
    age_verifications(run)
    result = run("check", "--unlock", "w1", input=f"{PASSPHRASE}\n")
    assert result.exit_code == 0, result.output
    assert "passphrase: " in result.stderr
    assert "ok: wallet w1's backup opens with examplepassphrase" in result.stdout
    assert OLD not in result.stdout  # the check shows the verification it just made
    assert PASSPHRASE not in result.output


def test_check_unlock_with_the_wrong_secret_exits_3(run: Cli) -> None:
    run.backup("w1")
    code, document = json_of(run, "check", "--unlock", "w1", input=f"{WRONG_PASSPHRASE}\n")
    assert code == EXIT_UNLOCK_FAILED
    assert document["unlock"] == {
        "ok": False,
        "error": "UnlockFailed",
        "message": "the backup could not be opened: wrong secret, or the backup was altered",
    }
    assert document["with_problems"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unlock"], "--unlock opens one wallet"),
        (["--unlock", "w1", "w2"], "--unlock opens one wallet"),
        (["--method", "examplepassphrase"], "go with --unlock"),
        (["--option", "x=1"], "go with --unlock"),
    ],
)
def test_check_usage_errors(run: Cli, args: list[str], message: str) -> None:
    result = run("check", *args)
    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr


def test_check_of_an_unknown_wallet_is_not_found(run: Cli) -> None:
    assert run("check", "nope").exit_code == EXIT_NOT_FOUND


# --- status and the policy ------------------------------------------------------------------


def test_status_shows_when_each_method_was_verified_and_if_it_is_due(run: Cli) -> None:
    run.backup("w1")
    result = run("status", "w1")
    assert result.stdout.splitlines()[0].split()[-3:] == ["VERIFIED", "DUE", "DETAIL"]
    age_verifications(run)
    code, document = json_of(run, "status", "w1")
    assert code == 0
    methods = document["methods"]
    assert (methods[0]["verified_at"], methods[0]["due"]) == (OLD, True)


@pytest.mark.parametrize(("days", "due"), [(0, False), (36_500, False), (1, True)])
def test_the_config_file_sets_the_verification_policy(run: Cli, days: int, due: bool) -> None:
    run.backup("w1")
    age_verifications(run)
    config = run.tmp / "config.toml"
    config.write_text(f"verify_every_days = {days}\n")
    methods = json.loads(run("--config", str(config), "status", "w1", "--json").stdout)["methods"]
    assert methods[0]["due"] is due


@pytest.mark.parametrize("value", ["-1", "36501", '"90"', "1.5", "true"])
def test_an_invalid_verification_policy_is_a_usage_error(run: Cli, value: str) -> None:
    config = run.tmp / "config.toml"
    config.write_text(f"verify_every_days = {value}\n")
    result = run("--config", str(config), "wallets")
    assert result.exit_code == EXIT_USAGE
    assert "verify_every_days must be a whole number of days" in result.stderr


# --- the KMS key ----------------------------------------------------------------------------


def test_kms_info_shows_the_key_without_opening_the_store(run: Cli) -> None:
    run.backup("w1")
    code, info = json_of(run, "kms-info")
    assert code == 0
    assert (info["provider"], info["current"], info["versions"]) == ("local", 1, [1])
    assert len(str(info["fingerprint"])) == 32
    text = run("kms-info").stdout
    assert f"fingerprint: {info['fingerprint']} (of version 1)" in text
    missing = run.bare(
        "--store",
        f"sqlite://{run.tmp / 'other.db'}",
        "--kms",
        f"local://{run.tmp / 'none.key'}",
        "kms-info",
    )
    assert missing.exit_code == 8 and "does not exist" in missing.stderr
    assert not (run.tmp / "other.db").exists()


def test_rotate_rewrap_retire(run: Cli) -> None:
    for wallet in ("w1", "w2", "w3"):
        run.backup(wallet)
    code, rotated = json_of(run, "rotate-kms")
    assert (code, rotated["current"], rotated["versions"]) == (0, 2, [1, 2])
    retire = run("retire-kms", "--below", "2")
    assert retire.exit_code == EXIT_POLICY
    assert "3 wallet(s) still use a KMS key version below 2" in retire.stderr
    # A run stopped after one wallet: the next run skips it.
    code, first = json_of(run, "rewrap-custodian", "w2")
    assert (code, first["rewrapped"], first["skipped"]) == (0, 1, 0)
    result = run("rewrap-custodian")
    assert result.exit_code == 0
    assert result.stdout == "re-sealed 2 wallet(s) under KMS key version 2; 1 already were\n"
    code, retired = json_of(run, "retire-kms", "--below", "2")
    assert (code, retired["retired"], retired["versions"]) == (0, [1], [2])
    assert "no version below 2" in run("retire-kms", "--below", "2").stdout
    assert run("verify", "w1", input=f"{PASSPHRASE}\n").exit_code == 0
    events = [e["type"] for e in run_audit(run)]
    assert events.count("rewrap_custodian") == 3
    assert events.count("rotate_kms") == 1 and events.count("retire_kms") == 3


def test_rewrap_custodian_reports_a_wallet_that_fails_and_goes_on(run: Cli) -> None:
    run.backup("w1")
    run.backup("w2")
    assert run("rotate-kms").exit_code == 0
    store = SqliteStore(run.store)
    store.save("w1", b"{")
    store.close()
    code, document = json_of(run, "rewrap-custodian")
    assert code == 6  # MalformedBackup, the first failure's
    assert document["rewrapped"] == 1
    assert document["failed"][0]["wallet_id"] == "w1"


def run_audit(run: Cli) -> list[dict[str, Any]]:
    store = SqliteStore(run.store)
    try:
        return [json.loads(entry.record) for entry in store.audit_records()]
    finally:
        store.close()


# --- forget ---------------------------------------------------------------------------------


def test_forget_asks_first(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    run.backup("w1")
    monkeypatch.setattr(operator, "can_ask", lambda: True)
    kept = run("forget", "w1", input="n\n")
    assert kept.exit_code == 1 and "Forget wallet w1?" in kept.stderr
    assert run("wallets").stdout == "w1\n"
    gone = run("forget", "w1", input="y\n")
    assert gone.exit_code == 0 and "forgot wallet w1" in gone.stdout
    assert run("wallets").stdout == ""
    assert run_audit(run)[-1]["type"] == "forget"


def test_forget_without_a_terminal_needs_yes(run: Cli) -> None:
    run.backup("w1")
    refused = run("forget", "w1")
    assert refused.exit_code == EXIT_USAGE and "--yes" in refused.stderr
    code, document = json_of(run, "forget", "w1", "--yes")
    assert (code, document) == (0, {"wallet_id": "w1", "forgotten": True})
    assert run("forget", "w1", "--yes").exit_code == EXIT_NOT_FOUND


# --- the progress bar -------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_bulk_work_shows_a_progress_bar_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    with output.progress_bar(3, "re-sealing") as step:
        for _ in range(3):
            step()
    shown = stderr.getvalue()
    if terminal:
        assert "re-sealing" in shown and "100%" in shown
    else:
        assert shown == ""
