"""Ctrl-C and prompts with no terminal, in real ``walletbackup`` processes.

Ctrl-C anywhere is one line on standard error (``interrupted``) and exit 130: while plugins load
(before click runs) and at a prompt (where click would say ``Aborted!`` and exit 1). A prompt
with no terminal to ask on is a usage error (exit 2) that says where the option can come from,
never getpass's warning. The sweep over every moment of a backup with a real KDF is in
tests/password/test_password_interrupt.py.

Every child runs in a session of its own: no controlling terminal, whatever runs the tests.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli_support import child_env, share_args, store_args

SCRIPT = Path(sys.executable).parent / "walletbackup"
TIMEOUT = 60


def start(
    home: Path, *args: str, stdin: int, fakes: tuple[str, ...] = (), **env: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(SCRIPT), *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(home, *fakes) | env,
        cwd=home,
        start_new_session=True,
    )


def read_until(process: subprocess.Popen[bytes], text: bytes) -> bytes:
    """Standard error of ``process`` up to and including ``text`` (bounded in time)."""
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} on standard error; got {seen!r}"
        ready, _, _ = select.select([process.stderr], [], [], left)
        if ready:
            chunk = os.read(process.stderr.fileno(), 4096)
            assert chunk, f"standard error closed before {text!r}; got {seen!r}"
            seen += chunk
    return seen


def finish(process: subprocess.Popen[bytes], before: bytes = b"") -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out.decode(), (before + err).decode()


def test_ctrl_c_while_plugins_load_is_one_line_and_exit_130(tmp_path: Path) -> None:
    started = tmp_path / "plugin-import-started"
    process = start(
        tmp_path,
        "methods",
        stdin=subprocess.DEVNULL,
        fakes=("slowload",),
        WBFAKE_SLOWLOAD_STARTED=str(started),
    )
    deadline = time.monotonic() + TIMEOUT
    while not started.exists():
        assert time.monotonic() < deadline, "the slow plugin never started loading"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert (code, out, err) == (130, "", "interrupted\n")


def test_ctrl_c_at_a_prompt_is_one_line_and_exit_130(tmp_path: Path) -> None:
    terminal, answering = pty.openpty()
    try:
        process = start(
            tmp_path,
            *store_args(tmp_path),
            "backup",
            "w1",
            "--method",
            "examplepassphrase",
            *share_args(tmp_path),
            stdin=answering,
        )
        os.close(answering)
        prompt = read_until(process, b"passphrase: ")
        process.send_signal(signal.SIGINT)
        code, out, err = finish(process, prompt)
    finally:
        os.close(terminal)
    assert code == 130
    assert out == ""
    # The prompt, then the one line on a line of its own.
    assert err.splitlines() == ["passphrase: ", "interrupted"]
    assert not (tmp_path / "backups.db").exists() or "w1" not in _wallets(tmp_path)


def _wallets(home: Path) -> str:
    listing = subprocess.run(
        [str(SCRIPT), *store_args(home), "wallets"],
        capture_output=True,
        text=True,
        env=child_env(home),
        timeout=TIMEOUT,
        check=True,
    )
    return listing.stdout


def no_terminal(home: Path, *args: str) -> tuple[int, str, str]:
    process = start(home, *store_args(home), *args, stdin=subprocess.DEVNULL)
    return finish(process)


def test_a_secret_prompt_with_no_terminal_says_to_use_an_options_file(tmp_path: Path) -> None:
    code, out, err = no_terminal(
        tmp_path, "backup", "w1", "--method", "examplepassphrase", *share_args(tmp_path)
    )
    assert code == 2
    assert out == ""
    assert "GetPassWarning" not in err
    assert "Aborted!" not in err
    assert err.count("\n") == 1, err
    assert "examplepassphrase option 'passphrase'" in err
    assert "no terminal to ask for it on" in err
    assert "--options-file PATH or --options-stdin" in err
    # A secret is never taken from the command line: --option is not offered for it.
    assert "--option " not in err


def test_a_plain_prompt_with_no_terminal_also_offers_option(tmp_path: Path) -> None:
    code, _, err = no_terminal(
        tmp_path, "backup", "w1", "--method", "examplefile", *share_args(tmp_path)
    )
    assert code == 2
    assert "--options-file PATH or --options-stdin, or with --option directory=VALUE" in err
    assert "Aborted!" not in err


def test_an_unlock_prompt_with_no_terminal_names_the_unlock_with_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    backup = no_terminal(
        tmp_path,
        "backup",
        "w1",
        "--method",
        "examplefile",
        "--option",
        f"directory={keys}",
        *share_args(tmp_path),
    )
    assert backup[0] == 0, backup
    code, _, err = no_terminal(tmp_path, "add-method", "w1", "examplepassphrase")
    assert code == 2
    assert "examplefile option 'directory'" in err
    assert 'under "unlock_with" in a JSON object with --options-file PATH or --options-stdin' in err
    assert "or with --unlock-option directory=VALUE" in err
