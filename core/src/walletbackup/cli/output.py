"""How the CLI shows things: JSON or text on stdout, progress and warnings on stderr."""

from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from walletbackup.methods import BackupMethod

#: Seconds of silence before the progress line appears: quick work shows nothing.
PROGRESS_DELAY = 0.5
_FRAMES = "|/-\\"


def emit_json(data: Any) -> None:
    """One JSON document on stdout: sorted keys, so the output is stable."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns (the last column is not padded)."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@contextmanager
def progress(
    text: str,
    stream: TextIO | None = None,
    delay: float = PROGRESS_DELAY,
    *,
    methods: tuple[type[BackupMethod], ...] = (),
) -> Iterator[None]:
    """A spinner line on stderr while the block runs, only when stderr is a terminal.

    Shown after ``delay`` seconds (quick work shows nothing) and erased when the block ends, so
    prompts and output are never mixed with it. When one of ``methods`` is interactive (it
    prompts the person itself), one static line is printed instead of the spinner.
    """
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield
        return
    if any(method.interactive for method in methods):
        out.write(f"{text}...\n")
        out.flush()
        yield
        return
    done = threading.Event()
    shown = threading.Event()
    start = time.monotonic()

    def spin() -> None:
        if done.wait(delay):
            return
        for frame in itertools.cycle(_FRAMES):
            out.write(f"\r{frame} {text}... {time.monotonic() - start:.0f}s")
            out.flush()
            shown.set()
            if done.wait(0.1):
                return

    thread = threading.Thread(target=spin, name="walletbackup-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if shown.is_set():
            out.write("\r\x1b[K")
            out.flush()


@contextmanager
def progress_bar(length: int, label: str) -> Iterator[Callable[[], None]]:
    """A bar on stderr, only when stderr is a terminal; the block calls what it is given once
    per item done."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield lambda: bar.update(1)


class _OneLineFormatter(logging.Formatter):
    """``walletbackup: warning: message`` on one line: no traceback, no stack."""

    def __init__(self) -> None:
        super().__init__("walletbackup: %(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # A copy: other handlers see the record unchanged.
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        record.exc_text = None
        return " ".join(super().format(record).splitlines())

    def formatException(self, ei: Any) -> str:
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""


def configure_logging() -> None:
    """Warnings (a broken plugin, a failed audit write) as one line each on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
