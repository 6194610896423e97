"""Ctrl-C at any moment of a real ``walletbackup backup``: one line, exit 130, nothing lost.

A wallet backed up with one password gets a new backup (new shares, a new password, unlocking
the old one to keep it current until the new one lands), in a real process whose standard input
is a terminal (a pty) answered the way a person would, a moment after each prompt. SIGINT is
sent at moments spread over the whole run: start-up, plugin loading (every installed plugin),
the three prompts, the unlock KDF, Argon2 calibration, the write and its read-back. Each time:

- the process exits 130 with one line, ``interrupted``, besides its prompts (or, sent before
  Python runs any code of ours, it dies of the signal saying nothing; or, sent after the
  command finished, it exits 0 having said it backed up);
- the wallet afterwards recovers with exactly one of the passwords, and gives that backup's
  shares: untouched, or fully backed up.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import home_env

from walletbackup import UnlockFailed, WalletBackup

SCRIPT = Path(sys.executable).parent / "walletbackup"
OLD, NEW = "old horse battery staple 1", "new horse battery staple 2"
OLD_SHARES = (b"old client share " * 2, b"old custodian share " * 2)
NEW_SHARES = (b"new client share " * 2, b"new custodian share " * 2)
#: Argon2 costs calibrated to this many seconds: long enough for SIGINT to land inside.
KDF_SECONDS = "0.3"
#: A person takes a moment to type: SIGINT also lands while a prompt waits.
TYPING = 0.15
MOMENTS = 32
RUN_TIMEOUT = 60.0
PROMPTS = (
    (b"password (to unlock): ", OLD),
    (b"password (new): ", NEW),
    (b"password (new) (again): ", NEW),
)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


class Home:
    """A home with one wallet: the store, KMS key and device memory all under ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def urls(self) -> list[str]:
        return ["--store", f"sqlite://{self.path / 'b.db'}", "--kms", f"local://{self.path / 'k'}"]

    @property
    def device_state(self) -> Path:
        return self.path / "data" / "walletbackup" / "device.json"

    def share_args(self, shares: tuple[bytes, bytes]) -> list[str]:
        args = []
        for name, share in zip(("client", "custodian"), shares, strict=True):
            path = self.path / f"{name}.share"
            path.write_bytes(share)
            path.chmod(0o600)
            args += [f"--{name}-share-file", str(path)]
        return args

    def back_up_old(self) -> None:
        options = self.path / "options.json"
        options.write_text(f'{{"password": "{OLD}"}}')
        options.chmod(0o600)
        argv = [str(SCRIPT), *self.urls, "backup", "w1", "--method", "password"]
        argv += [*self.share_args(OLD_SHARES), "--options-file", str(options)]
        result = subprocess.run(
            [*argv, "--option", f"target_seconds={KDF_SECONDS}"],
            env=home_env(self.path),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def change(self, interrupt_after: float | None) -> Outcome:
        """Back up the new shares under the new password; SIGINT after that many seconds."""
        argv = [str(SCRIPT), *self.urls, "backup", "w1", "--method", "password"]
        argv += [*self.share_args(NEW_SHARES), "--unlock-with", "password"]
        argv += ["--option", f"target_seconds={KDF_SECONDS}"]
        terminal, answering = pty.openpty()
        try:
            with subprocess.Popen(
                argv,
                stdin=answering,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=home_env(self.path),
                start_new_session=True,
            ) as process:
                os.close(answering)
                return _drive(process, terminal, interrupt_after)
        finally:
            os.close(terminal)

    def recovers_with(self, password: str) -> tuple[bytes, bytes] | None:
        with WalletBackup(
            store=self.urls[1], kms=self.urls[3], device_state=self.device_state
        ) as wb:
            try:
                recovered = wb.recover_wallet("w1", method="password", password=password)
            except UnlockFailed:
                return None
        return recovered.client_share, recovered.custodian_share


def _drive(
    process: subprocess.Popen[bytes], terminal: int, interrupt_after: float | None
) -> Outcome:
    """Answer each prompt a moment after it appears; send SIGINT when it is time."""
    assert process.stdout is not None
    assert process.stderr is not None
    start = time.monotonic()
    streams = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    err = streams[process.stderr.fileno()]
    open_fds = set(streams)
    answered, searched_from, answer_at = 0, 0, None
    while open_fds:
        now = time.monotonic()
        assert now - start < RUN_TIMEOUT, f"the run did not end: {bytes(err)!r}"
        if interrupt_after is not None and now - start >= interrupt_after:
            process.send_signal(signal.SIGINT)  # does nothing once the process is reaped
            interrupt_after = None
        if answered < len(PROMPTS) and answer_at is None:
            found = err.find(PROMPTS[answered][0], searched_from)
            if found >= 0:
                searched_from = found + len(PROMPTS[answered][0])
                answer_at = now + TYPING
        if answer_at is not None and now >= answer_at:
            with suppress(OSError):  # the process may be gone already
                os.write(terminal, PROMPTS[answered][1].encode() + b"\n")
            answered, answer_at = answered + 1, None
        wake = [0.05]
        if interrupt_after is not None:
            wake.append(max(0.0, start + interrupt_after - now))
        if answer_at is not None:
            wake.append(max(0.0, answer_at - now))
        ready, _, _ = select.select(list(open_fds), [], [], min(wake))
        for fd in ready:
            chunk = os.read(fd, 4096)
            if chunk:
                streams[fd] += chunk
            else:
                open_fds.discard(fd)
    code = process.wait(timeout=RUN_TIMEOUT)
    return Outcome(code, streams[process.stdout.fileno()].decode(), err.decode())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, Path, float]:
    """The home with the old backup, a copy of it to restore, and how long a change takes."""
    root = tmp_path_factory.mktemp("interrupt")
    home = Home(root / "home")
    home.path.mkdir()
    home.back_up_old()
    saved = root / "saved"
    shutil.copytree(home.path, saved)
    start = time.monotonic()
    whole = home.change(interrupt_after=None)
    took = time.monotonic() - start
    assert whole.code == 0, whole.stderr
    assert home.recovers_with(NEW) == NEW_SHARES
    return home, saved, took


def _restore(home: Home, saved: Path) -> None:
    # The same path each time: the device memory knows the store by its location.
    shutil.rmtree(home.path)
    shutil.copytree(saved, home.path)


def _check_output(outcome: Outcome) -> str:
    """What the run was stopped by: "signal" (silent death), "interrupt" or "finished"."""
    prompts = {text.decode().strip() for text, _ in PROMPTS}
    said = [line for line in outcome.stderr.splitlines() if line.strip() not in prompts]
    assert "Traceback" not in outcome.stderr
    assert "Aborted!" not in outcome.stderr
    if outcome.code == -signal.SIGINT:
        # Only before Python has run any code of ours: the default action, and nothing said.
        assert (outcome.stdout, outcome.stderr) == ("", "")
        return "signal"
    if outcome.code == 130:
        assert said == ["interrupted"], outcome.stderr
        return "interrupt"
    assert outcome.code == 0, outcome.stderr
    assert said == []
    assert outcome.stdout.startswith("backed up wallet w1 with password: stored")
    return "finished"


@pytest.mark.slow
def test_ctrl_c_at_any_moment_is_one_line_exit_130_and_loses_nothing(
    template: tuple[Home, Path, float],
) -> None:
    home, saved, took = template
    moments = [took * 1.1 * i / (MOMENTS - 1) for i in range(MOMENTS)]
    seen: dict[str, list[float]] = {}
    kept: dict[str, int] = {"old": 0, "new": 0}
    for moment in moments:
        _restore(home, saved)
        outcome = home.change(interrupt_after=moment)
        seen.setdefault(_check_output(outcome), []).append(moment)
        old, new = home.recovers_with(OLD), home.recovers_with(NEW)
        assert (old is None) != (new is None), f"at {moment:.3f} s: old {old}, new {new}"
        assert (old or new) == (OLD_SHARES if old else NEW_SHARES)
        kept["old" if old else "new"] += 1
    # The sweep reached inside the command, not only its start or its end; and once the
    # command's handler is in place, no Ctrl-C kills it silently any more.
    assert len(seen.get("interrupt", [])) >= MOMENTS // 2, seen
    assert max(seen.get("signal", [0.0])) < min(seen["interrupt"]), seen
    assert kept["old"] >= MOMENTS // 2, kept
