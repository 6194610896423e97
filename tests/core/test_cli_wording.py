"""The CLI shows the core's messages in its own words: ``--replace``, not ``replace=True``.

The mapping is ``walletbackup.cli.wording.CLI_WORDS``. One test reads every message the core
raises and checks that, once translated, no Python spelling is left (a keyword argument, an API
method or parameter name), so a new message cannot slip through; the others run commands whose
errors come from the core.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import PASSPHRASE, Cli, isolate, restore

import walletbackup
from walletbackup import Custodian, WalletBackup
from walletbackup.cli.exits import EXIT_POLICY
from walletbackup.cli.wording import CLI_WORDS, for_cli, method_options

CORE = Path(walletbackup.__file__).parent
#: Messages no command line can provoke, with why; (module, a fragment of the message).
API_ONLY = {
    # Every command names the method it unlocks with.
    ("device/opening.py", "needs a 'method' naming the method to unlock with"),
    # Retiring KMS versions is the operator's, from Python only.
    ("custodian.py", "rewrap them first (Custodian.rewrap)"),
    # A constructor argument; the CLI reads verify_every_days from its config file, checked there.
    ("api.py", "verify_every must be a positive timedelta"),
    # Constructor arguments for a custodian service; the CLI's --custodian checks its own.
    ("api.py", "store= and kms= configure the embedded custodian"),
    ("api.py", "the user token the application's backend minted: token="),
    ("api.py", "token= is the user token for a custodian service"),
    ("api.py", "token= goes with a custodian service URL"),
    ("remote.py", "pass the user token as token="),
    # Eject is Python only (prepare_eject / eject_wallet): no command ejects.
    ("api.py", "eject is for a custodian service"),
}
KEYWORD = re.compile(r"(?<![\w-])([a-z][a-z0-9_]*)=")


def _api_names() -> tuple[set[str], set[str]]:
    """Python names a message could tell a caller to use: the parameters of the public methods
    (spelt ``name=``), and the methods and parameters in snake_case (as words: ``method`` or
    ``close`` are English too)."""
    parameters: set[str] = set()
    methods: set[str] = set()
    for cls in (WalletBackup, Custodian):
        for name, member in vars(cls).items():
            if name.startswith("_") or not callable(member):
                continue
            methods.add(name)
            parameters.update(inspect.signature(member).parameters)
        parameters.update(inspect.signature(cls).parameters)
    parameters -= {"self", "options"}
    return parameters, {name for name in parameters | methods if "_" in name}


def _messages() -> Iterator[tuple[str, str]]:
    """(module, text) of every message the core raises; interpolated values become 'x'."""
    for path in sorted(CORE.rglob("*.py")):
        module = path.relative_to(CORE).as_posix()
        if module.startswith(("cli/", "testing/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                for argument in node.exc.args:
                    text = _text(argument)
                    if text is not None:
                        yield module, text


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                parts.append("'x'" if getattr(value, "conversion", -1) == ord("r") else "x")
        return "".join(parts)
    return None


def test_every_python_spelling_in_a_core_message_has_cli_words() -> None:
    parameters, words = _api_names()
    left: list[str] = []
    for module, text in _messages():
        if any(module == where and fragment in text for where, fragment in API_ONLY):
            continue
        shown = for_cli(text)
        python = {m[1] for m in KEYWORD.finditer(shown) if m[1] in parameters} | {
            word for word in re.findall(r"[A-Za-z_][\w.]*", shown) if word in words
        }
        if python:
            left.append(f"{module}: {shown!r} still says {sorted(python)}")
    assert left == []


def test_the_core_messages_are_scanned_and_every_exception_is_one_of_them() -> None:
    messages = list(_messages())
    assert len(messages) > 100
    assert any("replace=True" in text for _, text in messages)
    for where, fragment in API_ONLY:
        assert any(module == where and fragment in text for module, text in messages), fragment


@pytest.mark.parametrize(("python", "cli"), CLI_WORDS)
def test_each_mapping_applies_within_a_sentence(python: str, cli: str) -> None:
    sample = {
        r"WalletBackup\(mode='([a-z-]+)'\)": ("WalletBackup(mode='managed')", "--mode managed"),
    }.get(python, (python.replace("\\", ""), cli))
    assert for_cli(f"do this ({sample[0]}), then") == f"do this ({sample[1]}), then"


def test_words_that_only_contain_a_spelling_are_left_alone() -> None:
    for text in ("my_wallet_id", "wallet_ids", "client_shares", "prekms= x"):
        assert for_cli(text) == text


def test_an_option_with_a_value_becomes_option_for_options_the_cli_takes() -> None:
    def options() -> set[str]:
        return {"transport"}

    assert (
        for_cli("or use transport='browser' instead", options)
        == "or use --option transport=browser instead"
    )
    assert for_cli("set colour='blue'", options) == "set colour='blue'"


def test_the_options_the_cli_takes_leave_out_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate(monkeypatch, tmp_path)
    try:
        assert method_options() == {"directory"}  # examplepassphrase's passphrase is secret
    finally:
        restore()


# --- through the commands --------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    isolate(monkeypatch, tmp_path)
    yield Cli(tmp_path)
    restore()


def _no_python(stderr: str) -> None:
    assert not KEYWORD.search(stderr.replace("--option ", "")), stderr


def test_keeping_other_methods_says_unlock_with_and_replace(run: Cli) -> None:
    run.backup()
    client, custodian = run.share_files()
    result = run(
        "backup",
        "w1",
        "--method",
        "examplefile",
        "--option",
        f"directory={run.tmp}",
        "--client-share-file",
        client,
        "--custodian-share-file",
        custodian,
    )
    assert result.exit_code == EXIT_POLICY, result.output
    assert "unlock it once to keep them (--unlock-with METHOD)" in result.stderr
    assert "replace the backup with examplefile only (--replace)" in result.stderr
    _no_python(result.stderr)


def test_self_managed_recovery_without_the_cipher_text_names_the_option(run: Cli) -> None:
    run.global_args = ("--mode", "self-managed")
    out = run.tmp / "ct.txt"
    run.backup("w1", "--cipher-text-out", str(out))
    assert run("confirm", "w1", "examplepassphrase").exit_code == 0
    result = run("recover", "w1", "--stdout", input=f"{PASSPHRASE}\n")
    assert result.exit_code == EXIT_POLICY, result.output
    assert "pass the wallet's current cipher text (--cipher-text-file PATH)" in result.stderr
    _no_python(result.stderr)


def test_the_wrong_mode_names_the_mode_option(run: Cli) -> None:
    run.backup()
    run.global_args = ("--mode", "self-managed")
    result = run.bare(
        *run_args(run),
        "--mode",
        "self-managed",
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--replace",
        "--cipher-text-out",
        str(run.tmp / "ct.txt"),
        *shares(run),
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_POLICY, result.output
    assert "is backed up in managed mode; open it with --mode managed" in result.stderr
    _no_python(result.stderr)


def test_an_empty_share_file_names_the_option(run: Cli) -> None:
    empty = run.tmp / "empty.share"
    empty.write_bytes(b"")
    empty.chmod(0o600)
    _, custodian = run.share_files()
    result = run(
        "backup",
        "w1",
        "--method",
        "examplepassphrase",
        "--client-share-file",
        str(empty),
        "--custodian-share-file",
        custodian,
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
    )
    assert result.exit_code == EXIT_POLICY, result.output
    assert "the client share (--client-share-file) must be 1 to" in result.stderr
    _no_python(result.stderr)


def run_args(run: Cli) -> list[str]:
    return ["--store", run.store, "--kms", run.kms]


def shares(run: Cli) -> list[str]:
    client, custodian = run.share_files()
    return ["--client-share-file", client, "--custodian-share-file", custodian]


def test_json_output_is_not_translated(run: Cli) -> None:
    # Translation is for error lines only: machine-readable output keeps its keys.
    document = json.loads(run.backup("w1", "--json").stdout)
    assert "wallet_id" in document
