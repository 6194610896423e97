"""docs/cli.md says what the command does: its help blocks are the real output, all commands and
exit codes are there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from walletbackup.cli import cli, exits

DOC = Path(__file__).parents[2] / "docs" / "cli.md"
HELP_BLOCK = re.compile(r"```console\n\$ (walletbackup[a-z -]*) --help\n(.*?)```", re.DOTALL)


def help_blocks() -> dict[str, str]:
    return dict(HELP_BLOCK.findall(DOC.read_text()))


def test_every_command_has_its_help_in_the_docs() -> None:
    documented = {command.removeprefix("walletbackup").strip() for command in help_blocks()}
    assert documented == {"", *cli.commands}


@pytest.mark.parametrize("command", sorted(help_blocks()))
def test_the_documented_help_is_the_real_help(command: str, tmp_path: Path) -> None:
    # 80 columns and no plugins: how docs/cli.md was generated.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "COLUMNS": "80",
        "WALLETBACKUP_PLUGINS": "",
    }
    args = command.split()[1:]
    result = subprocess.run(
        [sys.executable, "-m", "walletbackup", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == help_blocks()[command]


def test_the_exit_code_table_matches_the_code() -> None:
    rows = re.findall(r"^\| (\d+) \| ([a-z ]+?)[:|]", DOC.read_text(), re.MULTILINE)
    documented = {int(code) for code, _ in rows}
    constants = {value for name, value in vars(exits).items() if name.startswith("EXIT_")}
    assert documented == constants
    described = {int(code): meaning.strip() for code, meaning in rows}
    assert described[exits.EXIT_UNLOCK_FAILED].startswith("the backup did not open")
    assert described[exits.EXIT_NOT_FOUND] == "not found"
    assert described[exits.EXIT_POLICY] == "policy"
