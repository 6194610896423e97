"""The config file: where it is, what wins over what, and errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Cli, isolate, restore

from walletbackup.cli.exits import EXIT_USAGE


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    isolate(monkeypatch, tmp_path)
    yield Cli(tmp_path)
    restore()


def write_config(path: Path, store: Path, *extra: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f'store = "sqlite:///{store}"', f'kms = "local:///{store.parent / "k.key"}"', *extra]
    path.write_text("\n".join(lines) + "\n")
    return path


def back_up_into(run: Cli, *global_args: str) -> None:
    """Back up wallet w1 using only the given global options (no --store / --kms)."""
    client, custodian = run.share_files()
    run.global_args = ()
    result = run.bare(
        *global_args,
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
        input="correct-koala-passphrase\n" * 2,
    )
    assert result.exit_code == 0, result.output


def wallets_in(run: Cli, store: Path) -> list[str]:
    result = run.bare("--store", f"sqlite:///{store}", "wallets", "--json")
    wallets: list[str] = json.loads(result.stdout)["wallets"]
    return wallets


def test_the_default_config_file_is_read(run: Cli) -> None:
    store = run.tmp / "from-default.db"
    write_config(run.tmp / "config" / "walletbackup" / "config.toml", store)
    back_up_into(run)
    assert wallets_in(run, store) == ["w1"]


def test_the_environment_names_the_config_file(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(run.tmp / "config" / "walletbackup" / "config.toml", run.tmp / "default.db")
    store = run.tmp / "from-env.db"
    monkeypatch.setenv("WALLETBACKUP_CONFIG", str(write_config(run.tmp / "env.toml", store)))
    back_up_into(run)
    assert wallets_in(run, store) == ["w1"]
    assert not (run.tmp / "default.db").exists()


def test_config_option_wins_over_the_environment(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "WALLETBACKUP_CONFIG", str(write_config(run.tmp / "env.toml", run.tmp / "env.db"))
    )
    store = run.tmp / "from-option.db"
    back_up_into(run, "--config", str(write_config(run.tmp / "option.toml", store)))
    assert wallets_in(run, store) == ["w1"]
    assert not (run.tmp / "env.db").exists()


def test_command_line_options_win_over_the_config_file(run: Cli) -> None:
    config = write_config(run.tmp / "c.toml", run.tmp / "config.db")
    store = run.tmp / "command-line.db"
    back_up_into(run, "--config", str(config), "--store", f"sqlite:///{store}")
    assert wallets_in(run, store) == ["w1"]
    assert not (run.tmp / "config.db").exists()


def test_the_config_file_sets_the_mode(run: Cli) -> None:
    config = write_config(run.tmp / "c.toml", run.tmp / "s.db", 'mode = "self-managed"')
    client, custodian = run.share_files()
    result = run.bare(
        "--config",
        str(config),
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
    assert "self-managed mode: give --cipher-text-out" in result.stderr


def test_a_config_file_that_does_not_parse_names_the_file_and_line(run: Cli) -> None:
    config = run.tmp / "broken.toml"
    config.write_text('store = "sqlite:"\nkms = \n')
    result = run.bare("--config", str(config), "wallets")
    assert result.exit_code == EXIT_USAGE
    assert f"config file {config} is not valid TOML" in result.stderr
    assert "line 2" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('colour = "blue"\n', "unknown key(s) colour; known keys: store, kms, mode"),
        ("store = 3\n", "store must be a non-empty string"),
        ('mode = "sometimes"\n', "mode must be one of managed, self-managed"),
        (b"\xff\xfe".decode("latin-1"), "is not UTF-8 text"),
    ],
    ids=["unknown-key", "not-a-string", "bad-mode", "not-utf8"],
)
def test_an_invalid_config_file_is_a_usage_error(run: Cli, text: str, message: str) -> None:
    config = run.tmp / "bad.toml"
    config.write_bytes(text.encode("latin-1"))
    result = run.bare("--config", str(config), "wallets")
    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr
    assert str(config) in result.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_named_config_file_must_exist(
    run: Cli, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    missing = run.tmp / "missing.toml"
    if how == "option":
        result = run.bare("--config", str(missing), "wallets")
    else:
        monkeypatch.setenv("WALLETBACKUP_CONFIG", str(missing))
        result = run.bare("wallets")
    assert result.exit_code == EXIT_USAGE
    assert f"config file {missing} does not exist" in result.stderr


def test_listing_methods_does_not_read_the_config_file(run: Cli) -> None:
    config = run.tmp / "broken.toml"
    config.write_text("not toml at all = = =\n")
    assert run.bare("--config", str(config), "methods").exit_code == 0


@pytest.mark.parametrize("option", ["--store", "--kms", "--custodian"])
def test_a_password_in_a_url_never_goes_on_the_command_line(run: Cli, option: str) -> None:
    result = run.bare(option, "postgresql://u:hunter2@127.0.0.1:1/db", "status", "w")
    assert result.exit_code == EXIT_USAGE
    assert "PGPASSFILE" in result.output
    assert "hunter2" not in result.output


def test_a_config_file_with_a_password_is_for_its_owner_only(run: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('store = "postgresql://u:hunter2@127.0.0.1:1/db"\n')
    config.chmod(0o640)
    result = run.bare("--config", str(config), "status", "w")
    assert result.exit_code == EXIT_USAGE
    assert f"chmod 600 {config}" in result.output
    assert "hunter2" not in result.output
