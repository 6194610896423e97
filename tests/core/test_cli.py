"""The ``walletbackup`` commands in-process (click's CliRunner), with the example plugin only."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import (
    CLIENT_SHARE,
    CUSTODIAN_SHARE,
    PASSPHRASE,
    WRONG_PASSPHRASE,
    Cli,
    isolate,
    restore,
)

from walletbackup.cli.exits import (
    EXIT_MALFORMED,
    EXIT_NOT_FOUND,
    EXIT_PLUGIN,
    EXIT_POLICY,
    EXIT_STALE,
    EXIT_UNAVAILABLE,
    EXIT_UNLOCK_FAILED,
    EXIT_USAGE,
)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    isolate(monkeypatch, tmp_path)
    yield Cli(tmp_path)
    restore()


def outs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "client.out", tmp_path / "custodian.out"


def recover_to_files(run: Cli, *extra: str, passphrase: str = PASSPHRASE) -> tuple[int, str]:
    client, custodian = outs(run.tmp)
    result = run(
        "recover",
        "w1",
        "--client-out",
        str(client),
        "--custodian-out",
        str(custodian),
        *extra,
        input=f"{passphrase}\n",
    )
    return result.exit_code, result.output


# --- backup, recover, verify ------------------------------------------------------------------


def test_backup_prompts_for_the_secret_twice_without_echo(run: Cli) -> None:
    result = run.backup()
    assert "passphrase: " in result.stderr
    assert "passphrase (again): " in result.stderr
    assert PASSPHRASE not in result.output
    assert "backed up wallet w1 with examplepassphrase: stored" in result.stdout


def test_a_confirmation_mismatch_asks_again(run: Cli) -> None:
    client, custodian = run.share_files()
    result = run(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
        input=f"{PASSPHRASE}\n{WRONG_PASSPHRASE}\n{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.stderr
    assert result.stderr.count("passphrase (again): ") == 2
    assert run("verify", "w1", input=f"{PASSPHRASE}\n").exit_code == 0


def test_recover_writes_both_shares_to_new_files_of_mode_0600(run: Cli) -> None:
    run.backup()
    code, output = recover_to_files(run)
    assert code == 0, output
    client, custodian = outs(run.tmp)
    assert client.read_bytes() == CLIENT_SHARE
    assert custodian.read_bytes() == CUSTODIAN_SHARE
    assert stat.S_IMODE(client.stat().st_mode) == 0o600
    assert stat.S_IMODE(custodian.stat().st_mode) == 0o600
    assert PASSPHRASE not in output
    assert CLIENT_SHARE.hex() not in output


def test_recover_asks_for_the_secret_once(run: Cli) -> None:
    run.backup()
    client, custodian = outs(run.tmp)
    result = run(
        "recover",
        "w1",
        "--client-out",
        str(client),
        "--custodian-out",
        str(custodian),
        input=f"{PASSPHRASE}\n",
    )
    assert result.stderr.count("passphrase: ") == 1
    assert "again" not in result.stderr


@pytest.mark.parametrize("existing", ["client", "custodian"])
def test_recover_refuses_to_overwrite_a_file(run: Cli, existing: str) -> None:
    run.backup()
    client, custodian = outs(run.tmp)
    target = client if existing == "client" else custodian
    target.write_bytes(b"keep me")
    code, output = recover_to_files(run)
    assert code == EXIT_USAGE
    assert f"{target} already exists; pass --force" in output
    assert target.read_bytes() == b"keep me"
    assert "passphrase" not in output  # refused before anything was asked
    other = custodian if existing == "client" else client
    assert not other.exists()


def test_recover_refuses_a_symlink_in_place_of_an_output(run: Cli) -> None:
    run.backup()
    client, _ = outs(run.tmp)
    victim = run.tmp / "victim"
    victim.write_bytes(b"untouched")
    client.symlink_to(victim)
    code, _ = recover_to_files(run)
    assert code == EXIT_USAGE
    assert victim.read_bytes() == b"untouched"


def test_recover_force_replaces_files_and_makes_them_0600(run: Cli) -> None:
    run.backup()
    client, custodian = outs(run.tmp)
    for path in (client, custodian):
        path.write_bytes(b"old")
        path.chmod(0o644)
    code, output = recover_to_files(run, "--force")
    assert code == 0, output
    assert client.read_bytes() == CLIENT_SHARE
    assert custodian.read_bytes() == CUSTODIAN_SHARE
    assert stat.S_IMODE(client.stat().st_mode) == 0o600
    assert stat.S_IMODE(custodian.stat().st_mode) == 0o600
    assert sorted(p.name for p in run.tmp.iterdir() if p.name.startswith(".")) == []


def test_recover_to_stdout_prints_hex_only_when_asked(run: Cli) -> None:
    run.backup()
    result = run("recover", "w1", "--stdout", input=f"{PASSPHRASE}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"client_share: {CLIENT_SHARE.hex()}",
        f"custodian_share: {CUSTODIAN_SHARE.hex()}",
    ]


@pytest.mark.parametrize(
    "outputs",
    [
        [],
        ["--client-out", "a"],
        ["--custodian-out", "b"],
        ["--client-out", "a", "--custodian-out", "a"],
        ["--stdout", "--client-out", "a", "--custodian-out", "b"],
    ],
    ids=["none", "client-only", "custodian-only", "same-file", "stdout-and-files"],
)
def test_recover_needs_two_output_files_or_stdout(run: Cli, outputs: list[str]) -> None:
    run.backup()
    result = run("recover", "w1", *outputs, input=f"{PASSPHRASE}\n")
    assert result.exit_code == EXIT_USAGE


def test_a_wrong_secret_exits_3_with_one_message(run: Cli) -> None:
    run.backup()
    result = run("verify", "w1", input=f"{WRONG_PASSPHRASE}\n")
    assert result.exit_code == EXIT_UNLOCK_FAILED
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the backup could not be opened: wrong secret, or the backup was altered"
    )
    assert WRONG_PASSPHRASE not in result.output


def test_recover_with_a_wrong_secret_writes_no_file(run: Cli) -> None:
    run.backup()
    code, _ = recover_to_files(run, passphrase=WRONG_PASSPHRASE)
    assert code == EXIT_UNLOCK_FAILED
    assert not any(path.exists() for path in outs(run.tmp))


@pytest.mark.parametrize("command", ["status", "verify", "recover"])
def test_an_unknown_wallet_exits_4(run: Cli, command: str) -> None:
    extra = ["--stdout", "--method", "examplepassphrase"] if command == "recover" else []
    if command == "verify":
        extra = ["--method", "examplepassphrase"]
    result = run(command, "nobody", *extra, input=f"{PASSPHRASE}\n")
    assert result.exit_code == EXIT_NOT_FOUND
    assert "no backup for wallet 'nobody'" in result.stderr


def test_a_method_that_is_not_installed_exits_5_naming_the_distribution(run: Cli) -> None:
    client, custodian = run.share_files()
    result = run(
        "backup",
        "w1",
        "--method",
        "nosuchmethod",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
    )
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "pip install walletbackup-nosuchmethod" in result.stderr


def test_a_method_of_a_broken_plugin_exits_9(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate(monkeypatch, tmp_path, "importerror")
    try:
        run = Cli(tmp_path)
        client, custodian = run.share_files()
        result = run(
            "backup",
            "w1",
            "--method",
            "fakeimporterr",
            "--client-share-file",
            client,
            "--custodian-share-file",
            custodian,
        )
        assert result.exit_code == EXIT_PLUGIN
        assert "is broken" in result.stderr
    finally:
        restore()


@pytest.mark.parametrize(
    "args",
    [
        ["backup"],
        ["backup", "w1", "--method", "examplepassphrase"],
        ["recover"],
        ["no-such-command"],
        ["status", "w1", "--no-such-option"],
    ],
    ids=[
        "backup-no-wallet",
        "backup-no-shares",
        "recover-no-wallet",
        "unknown-command",
        "unknown-option",
    ],
)
def test_usage_errors_exit_2(run: Cli, args: list[str]) -> None:
    assert run(*args).exit_code == EXIT_USAGE


def test_verify_json_says_ok_and_holds_no_secret(run: Cli) -> None:
    run.backup()
    result = run("verify", "w1", "--json", input=f"{PASSPHRASE}\n")
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["wallet_id"] == "w1"
    assert document["method"] == "examplepassphrase"
    assert document["key_epoch"] == 1
    assert document["rewrap_advice"] == []
    assert set(document) == {
        "wallet_id",
        "method",
        "ok",
        "backup_set_id",
        "key_epoch",
        "envelope_id",
        "rewrap_advice",
    }


def test_backup_json_has_stable_keys(run: Cli) -> None:
    document = json.loads(run.backup("w1", "--json").stdout)
    assert set(document) == {
        "wallet_id",
        "method",
        "status",
        "backup_set_id",
        "key_epoch",
        "envelope_id",
        "methods",
        "cipher_text_out",
        "confirm_command",
    }
    assert document["status"] == "stored"
    assert document["methods"] == ["examplepassphrase"]
    assert document["confirm_command"] is None


def test_recover_json_leaves_the_shares_out_unless_stdout(run: Cli) -> None:
    run.backup()
    client, custodian = outs(run.tmp)
    to_files = run(
        "recover",
        "w1",
        "--client-out",
        str(client),
        "--custodian-out",
        str(custodian),
        "--json",
        input=f"{PASSPHRASE}\n",
    )
    document = json.loads(to_files.stdout)
    assert "client_share" not in document
    assert "custodian_share" not in document
    assert document["client_out"] == str(client)
    assert CLIENT_SHARE.hex() not in to_files.output
    to_stdout = json.loads(
        run("recover", "w1", "--stdout", "--json", input=f"{PASSPHRASE}\n").stdout
    )
    assert to_stdout["client_share"] == CLIENT_SHARE.hex()
    assert to_stdout["custodian_share"] == CUSTODIAN_SHARE.hex()


def test_a_share_can_come_from_stdin_as_hex(run: Cli) -> None:
    _, custodian = run.share_files()
    result = run(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        "-",
        "--custodian-share-file",
        custodian,
        input=f"{CLIENT_SHARE.hex()}\n{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    recovered = run("recover", "w1", "--stdout", input=f"{PASSPHRASE}\n")
    assert f"client_share: {CLIENT_SHARE.hex()}" in recovered.stdout


def test_a_share_on_stdin_that_is_not_hex_is_a_usage_error_without_echo(run: Cli) -> None:
    _, custodian = run.share_files()
    result = run(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        "-",
        "--custodian-share-file",
        custodian,
        input="zz-secret-zz\n",
    )
    assert result.exit_code == EXIT_USAGE
    assert "must be hex" in result.stderr
    assert "zz-secret-zz" not in result.output


def test_both_shares_cannot_come_from_stdin(run: Cli) -> None:
    result = run(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        "-",
        "--custodian-share-file",
        "-",
    )
    assert result.exit_code == EXIT_USAGE


def test_a_share_file_readable_by_others_is_warned_about(run: Cli) -> None:
    client, custodian = run.share_files()
    Path(client).chmod(0o644)
    result = run(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == 0
    assert f"warning: client share file {client} is readable by others" in result.stderr


# --- status, wallets, methods -----------------------------------------------------------------


def test_status_shows_a_row_per_method(run: Cli) -> None:
    run.backup()
    result = run("status", "w1")
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "METHOD",
        "STATUS",
        "UPDATED",
        "STANZA",
        "BACKUP",
        "SET",
        "EPOCH",
        "VERIFIED",
        "DUE",
        "DETAIL",
    ]
    assert lines[1].split()[:2] == ["examplepassphrase", "stored"]
    assert lines[-1] == "recovery methods: examplepassphrase"


def test_status_json(run: Cli) -> None:
    run.backup()
    document = json.loads(run("status", "w1", "--json").stdout)
    assert document["wallet_id"] == "w1"
    assert document["mode"] == "managed"
    assert document["recovery_methods"] == ["examplepassphrase"]
    (row,) = document["methods"]
    assert set(row) == {
        "method",
        "status",
        "updated_at",
        "stanza_id",
        "backup_set_id",
        "key_epoch",
        "envelope_id",
        "detail",
        "verified_at",
        "due",
    }
    assert (row["method"], row["status"], row["key_epoch"]) == ("examplepassphrase", "stored", 1)
    assert (row["verified_at"], row["due"]) == (row["updated_at"], False)


def test_wallets_lists_the_store(run: Cli) -> None:
    run.backup("w1")
    run.backup("w2")
    assert run("wallets").stdout.splitlines() == ["w1", "w2"]
    assert json.loads(run("wallets", "--json").stdout) == {"wallets": ["w1", "w2"]}


def test_methods_lists_each_method_with_its_distribution(run: Cli) -> None:
    result = run("methods")
    assert result.exit_code == 0
    assert "examplepassphrase  (walletbackup-example 0.1)  available" in result.stdout
    assert "passphrase (required, secret)" in result.stdout
    assert "broken plugins" not in result.stdout


def test_methods_json(run: Cli) -> None:
    document = json.loads(run("methods", "--json").stdout)
    assert document["broken_plugins"] == []
    by_name = {method["name"]: method for method in document["methods"]}
    assert sorted(by_name) == ["examplefile", "examplepassphrase"]
    passphrase = by_name["examplepassphrase"]
    assert passphrase["distribution"] == "walletbackup-example"
    assert passphrase["available"] is True
    assert passphrase["options"] == [
        {
            "name": "passphrase",
            "help": "The passphrase.",
            "secret": True,
            "confirm": True,
            "required": True,
            "for_unlock": True,
        }
    ]


@pytest.mark.parametrize("fake", ["importerror", "hookraises", "misspelt"])
def test_methods_lists_a_broken_plugin_with_its_error_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: str
) -> None:
    isolate(monkeypatch, tmp_path, fake)
    try:
        result = Cli(tmp_path)("methods")
        assert result.exit_code == 0
        assert "broken plugins (not loaded):" in result.stdout
        assert "Traceback" not in result.output
        assert "examplepassphrase" in result.stdout  # the others still load
        document = json.loads(Cli(tmp_path)("methods", "--json").stdout)
        (broken,) = document["broken_plugins"]
        assert broken["distribution"].startswith("walletbackup-fake")
        assert broken["error"]
    finally:
        restore()


# --- add-method, remove-method, rewrap ---------------------------------------------------------


def test_add_method_unlocks_with_the_only_method_then_enrolls(run: Cli) -> None:
    run.backup()
    keys = run.tmp / "keys"
    keys.mkdir()
    result = run("add-method", "w1", "examplefile", "--json", input=f"{PASSPHRASE}\n{keys}\n")
    assert result.exit_code == 0, result.output
    assert "passphrase (to unlock): " in result.stderr
    assert "directory: " in result.stderr
    document = json.loads(result.stdout)
    assert document["methods"] == ["examplefile", "examplepassphrase"]
    assert len(list(keys.iterdir())) == 1


def test_add_method_with_a_wrong_unlock_secret_exits_3(run: Cli) -> None:
    run.backup()
    result = run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        input=f"{WRONG_PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_UNLOCK_FAILED


def test_changing_the_secret_of_a_method_labels_old_and_new(run: Cli) -> None:
    run.backup()
    new = "brand-new-koala-passphrase"
    result = run("add-method", "w1", "examplepassphrase", input=f"{PASSPHRASE}\n{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert "passphrase (to unlock): " in result.stderr
    assert "passphrase (new): " in result.stderr
    assert "passphrase (new) (again): " in result.stderr
    assert run("verify", "w1", input=f"{new}\n").exit_code == 0
    assert run("verify", "w1", input=f"{PASSPHRASE}\n").exit_code == EXIT_UNLOCK_FAILED


def test_unlock_with_must_be_chosen_when_the_wallet_has_several_methods(run: Cli) -> None:
    run.backup()
    run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        input=f"{PASSPHRASE}\n",
    )
    result = run("add-method", "w1", "examplepassphrase", input=f"{PASSPHRASE}\n")
    assert result.exit_code == EXIT_USAGE
    assert "choose one with --unlock-with" in result.stderr


def test_backup_keeps_the_other_methods_after_one_unlock(run: Cli) -> None:
    run.backup()
    run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        input=f"{PASSPHRASE}\n",
    )
    client, custodian = run.share_files()
    args = ("backup", "w1", "--method", "examplepassphrase")
    shares = ("--client-share-file", client, "--custodian-share-file", custodian)
    new = "brand-new-koala-passphrase"
    refused = run(*args, *shares, input=f"{new}\n{new}\n")
    assert refused.exit_code == EXIT_POLICY
    assert "--unlock-with" in refused.stderr and "examplefile" in refused.stderr
    kept = run(
        *args,
        *shares,
        "--unlock-with",
        "examplefile",
        "--unlock-option",
        f"directory={run.tmp}",
        "--json",
        input=f"{new}\n{new}\n",
    )
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["methods"] == ["examplefile", "examplepassphrase"]
    assert run("verify", "w1", "--method", "examplepassphrase", input=f"{new}\n").exit_code == 0


def test_an_earlier_cipher_text_exits_10(self_managed: Cli) -> None:
    first = self_managed.tmp / "first.txt"
    self_managed.backup("w1", "--cipher-text-out", str(first))
    assert self_managed("confirm", "w1", "examplepassphrase").exit_code == 0
    second = self_managed.tmp / "second.txt"
    new = "brand-new-koala-passphrase"
    changed = self_managed(
        "add-method",
        "w1",
        "examplepassphrase",
        "--cipher-text-file",
        str(first),
        "--cipher-text-out",
        str(second),
        input=f"{PASSPHRASE}\n{new}\n{new}\n",
    )
    assert changed.exit_code == 0, changed.output
    assert self_managed("confirm", "w1", "examplepassphrase").exit_code == 0
    old = self_managed("verify", "w1", "--cipher-text-file", str(first), input=f"{PASSPHRASE}\n")
    assert old.exit_code == EXIT_STALE, old.output
    assert "earlier backup" in old.stderr


def test_remove_method_unlocks_with_the_other_method(run: Cli) -> None:
    run.backup()
    run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        input=f"{PASSPHRASE}\n",
    )
    result = run(
        "remove-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        "--json",
        input=f"{PASSPHRASE}\n",
    )
    assert result.exit_code == 0, result.output
    assert "passphrase (to unlock): " in result.stderr
    assert json.loads(result.stdout)["methods"] == ["examplepassphrase"]
    assert json.loads(run("status", "w1", "--json").stdout)["recovery_methods"] == [
        "examplepassphrase"
    ]


def test_remove_method_prompts_for_what_discarding_needs(run: Cli) -> None:
    run.backup()
    run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        input=f"{PASSPHRASE}\n",
    )
    result = run("remove-method", "w1", "examplefile", input=f"{PASSPHRASE}\n{run.tmp}\n")
    assert result.exit_code == 0, result.output
    assert "directory: " in result.stderr


def test_removing_the_last_method_exits_7(run: Cli) -> None:
    run.backup()
    result = run(
        "remove-method",
        "w1",
        "examplepassphrase",
        "--unlock-with",
        "examplepassphrase",
        input=f"{PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_POLICY
    assert "only method" in result.stderr
    assert "back up again with --replace" in result.stderr


def test_removing_the_only_method_says_so_and_what_to_do(run: Cli) -> None:
    run.backup()
    result = run("remove-method", "w1", "examplepassphrase")
    assert result.exit_code == EXIT_POLICY, result.output
    assert result.stderr.count("\n") == 1
    assert "examplepassphrase is the only method protecting wallet 'w1'" in result.stderr
    assert "walletbackup add-method w1 METHOD" in result.stderr
    assert "walletbackup backup w1 --method METHOD --replace" in result.stderr
    assert "no current backup" not in result.stderr
    # Nothing was prompted: there is nothing to unlock with.
    assert "passphrase" not in result.stderr.replace("examplepassphrase", "")
    assert run("verify", "w1", input=f"{PASSPHRASE}\n").exit_code == 0


@pytest.fixture
def with_quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    """The CLI with the test methods quickpass and quicktoken (several stanzas) installed too."""
    isolate(monkeypatch, tmp_path, "quick")
    yield Cli(tmp_path)
    restore()


def test_removing_one_of_several_stanzas_of_the_only_method_unlocks_with_another(
    with_quick: Cli,
) -> None:
    run = with_quick
    client, custodian = run.share_files()
    shares = ["--client-share-file", client, "--custodian-share-file", custodian]
    assert run("backup", "w1", "--method", "quicktoken", *shares, input="one\n").exit_code == 0
    added = run("add-method", "w1", "quicktoken", input="one\ntwo\n")
    assert added.exit_code == 0, added.output
    stanzas = _stanza_ids(run, "w1")
    assert len(stanzas) == 2
    result = run("remove-method", "w1", "quicktoken", "--stanza-id", stanzas[0], input="two\n")
    assert result.exit_code == 0, result.output
    assert "token (to unlock): " in result.stderr
    assert _stanza_ids(run, "w1") == stanzas[1:]


def _stanza_ids(run: Cli, wallet: str) -> list[str]:
    rows = json.loads(run("status", wallet, "--json").stdout)["methods"]
    return sorted(row["stanza_id"] for row in rows if row["status"] == "stored")


def test_rewrap_enrolls_the_method_again(run: Cli) -> None:
    first = json.loads(run.backup("w1", "--json").stdout)
    result = run("rewrap", "w1", "--json", input=f"{PASSPHRASE}\n")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["envelope_id"] != first["envelope_id"]
    assert run("verify", "w1", input=f"{PASSPHRASE}\n").exit_code == 0


# --- self-managed mode ---------------------------------------------------------------------------


@pytest.fixture
def self_managed(run: Cli) -> Cli:
    run.global_args = ("--mode", "self-managed")
    return run


def test_self_managed_backup_writes_the_cipher_text_and_prints_the_confirm_command(
    self_managed: Cli,
) -> None:
    run = self_managed
    out = run.tmp / "ct.txt"
    result = run.backup("w1", "--cipher-text-out", str(out))
    assert "pending" in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith("-----BEGIN WALLETBACKUP ENVELOPE-----")
    command = result.stdout.splitlines()[-1].strip()
    assert command.startswith("walletbackup --store ")
    assert command.endswith("--mode self-managed confirm w1 examplepassphrase")
    status = json.loads(run("status", "w1", "--json").stdout)
    assert [row["status"] for row in status["methods"]] == ["pending"]


def test_self_managed_round_trip(self_managed: Cli) -> None:
    run = self_managed
    first, second = run.tmp / "ct1", run.tmp / "ct2"
    run.backup("w1", "--cipher-text-out", str(first))
    confirmed = run("confirm", "w1", "examplepassphrase", "--json")
    assert json.loads(confirmed.stdout) == {
        "wallet_id": "w1",
        "method": "examplepassphrase",
        "confirmed": True,
    }
    added = run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        "--cipher-text-file",
        str(first),
        "--cipher-text-out",
        str(second),
        "--json",
        input=f"{PASSPHRASE}\n",
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["status"] == "pending"
    assert run("confirm", "w1", "examplefile").exit_code == 0
    recovered = run(
        "recover",
        "w1",
        "--method",
        "examplepassphrase",
        "--cipher-text-file",
        str(second),
        "--stdout",
        input=f"{PASSPHRASE}\n",
    )
    assert recovered.exit_code == 0, recovered.output
    assert f"client_share: {CLIENT_SHARE.hex()}" in recovered.stdout


def test_an_unconfirmed_cipher_text_can_be_recovered_from(self_managed: Cli) -> None:
    run = self_managed
    out = run.tmp / "ct.txt"
    run.backup("w1", "--cipher-text-out", str(out))
    result = run(
        "recover", "w1", "--cipher-text-file", str(out), "--stdout", input=f"{PASSPHRASE}\n"
    )
    assert result.exit_code == 0, result.output


def test_confirm_failed_keeps_the_previous_backup(self_managed: Cli) -> None:
    run = self_managed
    first = run.tmp / "ct1"
    run.backup("w1", "--cipher-text-out", str(first))
    run("confirm", "w1", "examplepassphrase")
    run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        "--cipher-text-file",
        str(first),
        "--cipher-text-out",
        str(run.tmp / "ct2"),
        input=f"{PASSPHRASE}\n",
    )
    result = run("confirm", "w1", "examplefile", "--failed")
    assert result.exit_code == 0
    assert "previous backup stays the recovery path" in result.stdout
    status = json.loads(run("status", "w1", "--json").stdout)
    assert status["recovery_methods"] == ["examplepassphrase"]


def test_self_managed_cipher_text_can_go_to_stdout(self_managed: Cli) -> None:
    result = self_managed.backup("w1", "--cipher-text-out", "-")
    assert result.stdout.startswith("-----BEGIN WALLETBACKUP ENVELOPE-----")
    assert "confirm w1 examplepassphrase" in result.stderr
    document = json.loads(self_managed.backup("w2", "--cipher-text-out", "-", "--json").stdout)
    assert document["cipher_text"].startswith("-----BEGIN WALLETBACKUP ENVELOPE-----")


@pytest.mark.parametrize(
    "args",
    [
        ["add-method", "w1", "examplefile", "--cipher-text-out", "x"],
        ["add-method", "w1", "examplefile", "--cipher-text-file", "x"],
        ["remove-method", "w1", "examplefile", "--cipher-text-out", "x"],
        ["rewrap", "w1", "--cipher-text-file", "x"],
    ],
    ids=["add-no-current", "add-no-out", "remove-no-current", "rewrap-no-out"],
)
def test_self_managed_changes_need_the_current_cipher_text_and_an_output(
    self_managed: Cli, args: list[str]
) -> None:
    self_managed.backup("w1", "--cipher-text-out", str(self_managed.tmp / "ct"))
    result = self_managed(*args, input=f"{PASSPHRASE}\n")
    assert result.exit_code == EXIT_USAGE
    assert "self-managed mode" in result.stderr


def test_self_managed_backup_needs_an_output(self_managed: Cli) -> None:
    client, custodian = self_managed.share_files()
    result = self_managed(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
    )
    assert result.exit_code == EXIT_USAGE
    assert "--cipher-text-out" in result.stderr


def test_a_cipher_text_file_that_is_not_an_envelope_exits_6(self_managed: Cli) -> None:
    self_managed.backup("w1", "--cipher-text-out", str(self_managed.tmp / "ct"))
    junk = self_managed.tmp / "junk"
    junk.write_bytes(b"\x89not an envelope at all")
    result = self_managed(
        "recover",
        "w1",
        "--method",
        "examplepassphrase",
        "--cipher-text-file",
        str(junk),
        "--stdout",
        input=f"{PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_MALFORMED


def test_the_cipher_text_out_file_is_not_overwritten(self_managed: Cli) -> None:
    out = self_managed.tmp / "ct"
    out.write_text("keep")
    client, custodian = self_managed.share_files()
    result = self_managed(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
        "--cipher-text-out",
        str(out),
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_USAGE
    assert out.read_text() == "keep"
