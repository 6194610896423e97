"""How the CLI shows things: the progress line on a real terminal, tables, one-line warnings."""

from __future__ import annotations

import io
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from walletbackup.cli.output import _OneLineFormatter, progress, table
from walletbackup.methods import BackupMethod, Enrollment, MethodContext

DEADLINE = 10.0


def read_until(fd: int, wanted: bytes, deadline: float = DEADLINE) -> bytes:
    """Read from ``fd`` until ``wanted`` appears (bounded in time)."""
    seen = b""
    end = time.monotonic() + deadline
    while wanted not in seen:
        remaining = end - time.monotonic()
        assert remaining > 0, f"{wanted!r} never came; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            seen += os.read(fd, 4096)
    return seen


def test_progress_shows_a_line_on_a_terminal_and_erases_it() -> None:
    controller, terminal = os.openpty()
    try:
        with os.fdopen(terminal, "w", closefd=False) as stream:
            assert stream.isatty()
            with progress("backing up wallet w1", stream=stream, delay=0):
                shown = read_until(controller, b"backing up wallet w1...")
            erased = read_until(controller, b"\x1b[K")
        assert shown.startswith(b"\r")
        assert erased.endswith(b"\r\x1b[K")
    finally:
        os.close(controller)
        os.close(terminal)


def test_interactive_methods_get_one_static_line_not_a_spinner() -> None:
    """A method that prompts the person itself must not have its prompt overwritten."""

    class Talks(BackupMethod):
        name = "talks"
        interactive = True

        def enroll(self, context: MethodContext) -> Enrollment:
            raise NotImplementedError

        def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
            raise NotImplementedError

    controller, terminal = os.openpty()
    try:
        with os.fdopen(terminal, "w", closefd=False) as stream:
            with progress("recovering wallet w1", stream=stream, delay=0, methods=(Talks,)):
                shown = read_until(controller, b"recovering wallet w1...")
                threading.Event().wait(0.3)  # a spinner would redraw several times here
            ready, _, _ = select.select([controller], [], [], 0.2)
            rest = os.read(controller, 4096) if ready else b""
        assert b"\r" not in shown.replace(b"\r\n", b"\n")
        assert rest == b""
    finally:
        os.close(controller)
        os.close(terminal)


def test_progress_writes_nothing_when_not_a_terminal() -> None:
    stream = io.StringIO()
    done = threading.Event()
    with progress("working", stream=stream, delay=0):
        done.wait(0.3)  # long enough for a spinner to draw several frames
    assert stream.getvalue() == ""


def test_quick_work_shows_no_progress_line_even_on_a_terminal() -> None:
    controller, terminal = os.openpty()
    try:
        with (
            os.fdopen(terminal, "w", closefd=False) as stream,
            progress("quick", stream=stream, delay=DEADLINE),
        ):
            pass
        ready, _, _ = select.select([controller], [], [], 0.2)
        assert ready == []
    finally:
        os.close(controller)
        os.close(terminal)


def test_table_aligns_columns() -> None:
    assert table(("A", "LONGER"), [("xyz", "1"), ("q", "22")]).splitlines() == [
        "A    LONGER",
        "xyz  1",
        "q    22",
    ]


def test_warnings_are_one_line_without_traceback() -> None:
    record = logging.LogRecord(
        "walletbackup.plugins",
        logging.WARNING,
        __file__,
        1,
        "plugin %r is broken:\n%s",
        ("x", "second line"),
        None,
    )
    try:
        raise ValueError("inner")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = _OneLineFormatter().format(record)
    assert line == "walletbackup: warning: plugin 'x' is broken: second line"
    assert record.levelname == "WARNING"  # other handlers see the record unchanged
