"""Method options for automation: --option, --options-file, --options-stdin (and their refusals)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from cli_support import CLIENT_SHARE, PASSPHRASE, WRONG_PASSPHRASE, Cli, isolate, restore

from walletbackup.cli.exits import EXIT_POLICY, EXIT_USAGE
from walletbackup.cli.options import _check_names, parse_value
from walletbackup.methods import Option


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    isolate(monkeypatch, tmp_path)
    yield Cli(tmp_path)
    restore()


def options_file(run: Cli, document: Any, mode: int = 0o600, name: str = "options.json") -> str:
    path = run.tmp / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    path.chmod(mode)
    return str(path)


def backup_args(run: Cli, method: str = "examplepassphrase") -> list[str]:
    client, custodian = run.share_files()
    return [
        "backup",
        "w1",
        "--method",
        method,
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
    ]


def test_options_file_gives_the_secret_without_prompting(run: Cli) -> None:
    path = options_file(run, {"passphrase": PASSPHRASE})
    result = run(*backup_args(run), "--options-file", path)
    assert result.exit_code == 0, result.output
    assert "passphrase:" not in result.stderr
    verify = run("verify", "w1", "--options-file", path)
    assert verify.exit_code == 0, verify.output


def test_options_stdin_gives_the_secret_without_prompting(run: Cli) -> None:
    document = json.dumps({"passphrase": PASSPHRASE})
    result = run(*backup_args(run), "--options-stdin", input=document)
    assert result.exit_code == 0, result.output
    assert "passphrase:" not in result.stderr
    recovered = run("recover", "w1", "--stdout", "--options-stdin", input=document)
    assert f"client_share: {CLIENT_SHARE.hex()}" in recovered.stdout


def test_options_stdin_never_prompts_for_what_is_missing(run: Cli) -> None:
    result = run(*backup_args(run), "--options-stdin", input="{}")
    assert result.exit_code == EXIT_USAGE
    assert "'passphrase'" in result.stderr
    assert "not given on standard input" in result.stderr


def test_an_options_file_with_a_secret_readable_by_others_is_refused(run: Cli) -> None:
    path = options_file(run, {"passphrase": PASSPHRASE}, mode=0o644)
    result = run(*backup_args(run), "--options-file", path)
    assert result.exit_code == EXIT_POLICY
    assert "chmod 600" in result.stderr
    assert PASSPHRASE not in result.output


def test_an_options_file_without_secrets_may_be_readable(run: Cli) -> None:
    run(*backup_args(run), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    path = options_file(run, {"directory": str(run.tmp)}, mode=0o644)
    result = run("add-method", "w1", "examplefile", "--options-file", path, input=f"{PASSPHRASE}\n")
    assert result.exit_code == 0, result.output


def test_the_options_file_holds_the_unlocking_method_under_unlock_with(run: Cli) -> None:
    run(*backup_args(run), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    path = options_file(run, {"directory": str(run.tmp), "unlock_with": {"passphrase": PASSPHRASE}})
    result = run("add-method", "w1", "examplefile", "--options-file", path)
    assert result.exit_code == 0, result.output
    assert "to unlock" not in result.stderr


def test_a_wrong_unlock_secret_in_the_options_file_exits_3(run: Cli) -> None:
    run(*backup_args(run), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    path = options_file(
        run, {"directory": str(run.tmp), "unlock_with": {"passphrase": WRONG_PASSPHRASE}}
    )
    assert run("add-method", "w1", "examplefile", "--options-file", path).exit_code == 3


def test_unlock_with_is_refused_where_nothing_unlocks_with_another_method(run: Cli) -> None:
    path = options_file(run, {"passphrase": PASSPHRASE, "unlock_with": {}})
    result = run(*backup_args(run), "--options-file", path)
    assert result.exit_code == EXIT_USAGE
    assert "'unlock_with' is only for add-method and remove-method" in result.stderr


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"passphrase": "secret-in-broken-json"', "not valid JSON (line 1)"),
        ('["passphrase"]', "must be a JSON object"),
        ('{"passphrase": "x", "colour": "blue"}', "has no option(s) 'colour'"),
    ],
    ids=["not-json", "not-an-object", "unknown-option"],
)
def test_a_bad_options_file_is_a_usage_error(run: Cli, document: str, message: str) -> None:
    result = run(*backup_args(run), "--options-file", options_file(run, document))
    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr
    assert "secret-in-broken-json" not in result.output


def test_an_options_file_that_cannot_be_read_is_a_usage_error(run: Cli) -> None:
    result = run(*backup_args(run), "--options-file", str(run.tmp / "missing.json"))
    assert result.exit_code == EXIT_USAGE
    assert "cannot read options file" in result.stderr


def test_options_file_and_stdin_exclude_each_other(run: Cli) -> None:
    path = options_file(run, {"passphrase": PASSPHRASE})
    result = run(*backup_args(run), "--options-file", path, "--options-stdin", input="{}")
    assert result.exit_code == EXIT_USAGE


def test_options_stdin_and_a_share_on_stdin_exclude_each_other(run: Cli) -> None:
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
        "--options-stdin",
        input="{}",
    )
    assert result.exit_code == EXIT_USAGE


def test_a_secret_option_is_refused_on_the_command_line(run: Cli) -> None:
    result = run(*backup_args(run), "--option", f"passphrase={PASSPHRASE}")
    assert result.exit_code == EXIT_USAGE
    assert "'passphrase' is secret: it is never read from the command line" in result.stderr
    assert PASSPHRASE not in result.output


def test_a_secret_unlock_option_is_refused_on_the_command_line(run: Cli) -> None:
    run(*backup_args(run), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    result = run(
        "add-method",
        "w1",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        "--unlock-option",
        f"passphrase={PASSPHRASE}",
    )
    assert result.exit_code == EXIT_USAGE
    assert "is secret" in result.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("colour=blue", "has no option(s) 'colour'; its options: directory"),
        ("directory", "--option takes NAME=VALUE"),
        ("=x", "--option takes NAME=VALUE"),
    ],
    ids=["unknown", "no-equals", "no-name"],
)
def test_a_bad_option_is_a_usage_error(run: Cli, option: str, message: str) -> None:
    run(*backup_args(run), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    result = run("add-method", "w1", "examplefile", "--option", option, input=f"{PASSPHRASE}\n")
    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr


def test_an_option_given_twice_is_a_usage_error(run: Cli) -> None:
    run(*backup_args(run), input=f"{PASSPHRASE}\n{PASSPHRASE}\n")
    path = options_file(run, {"directory": str(run.tmp)})
    result = run(
        "add-method",
        "w1",
        "examplefile",
        "--options-file",
        path,
        "--option",
        f"directory={run.tmp}",
        input=f"{PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_USAGE
    assert "given twice" in result.stderr


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("0.001", 0.001),
        ("64", 64),
        ("-3", -3),
        ('"123"', "123"),
        ("/tmp/keys", "/tmp/keys"),
        ("a=b", "a=b"),
        ("", ""),
        ("null", "null"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ('["a", 1]', ["a", 1]),
    ],
)
def test_option_values_are_typed_like_json_scalars(raw: str, value: Any) -> None:
    parsed = parse_value(raw)
    assert parsed == value
    assert type(parsed) is type(value)


def test_python_only_options_are_neither_listed_nor_accepted() -> None:
    declared = {"device": Option("device", "a Python object", python_only=True)}
    with pytest.raises(click.UsageError, match="only be given from the Python API"):
        _check_names({"device": "x"}, declared, "example", "--option")
