"""Ctrl-C in the ``walletbackup`` command: one line on standard error, exit 130, wherever it lands.

Python turns SIGINT into ``KeyboardInterrupt``, which click turns into an empty line, ``Aborted!``
and exit 1, and which before click runs (plugin loading) ends in a traceback. The console script
installs its own handler instead, as its first step: it raises :class:`Interrupted`, which nothing
on the way catches (click catches ``KeyboardInterrupt``, plugin loading and discards catch
``Exception``), while every ``finally`` and ``except BaseException`` still runs its clean-up.

Nothing is lost: a change is written pending first and made current last, and the device's plans
are settled as for a killed process (docs/api.md, lifecycle), so an interrupted command leaves
the previous backup or the new one. This module runs before anything else of the command is
imported, so it imports only the standard library and ``exits`` (which imports the errors).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from .exits import EXIT_INTERRUPTED

MESSAGE = "interrupted"


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) in the ``walletbackup`` command; see the module docstring."""


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def run(command: Callable[[], object]) -> NoReturn:
    """Run ``command`` (which ends with ``sys.exit``) with Ctrl-C as :class:`Interrupted`."""
    signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        try:
            command()
        finally:
            # The command is over, one way or another: a late Ctrl-C changes nothing, and a
            # second one must not interrupt the report of the first.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except Interrupted:
        sys.stderr.write(f"{MESSAGE}\n")
        sys.stderr.flush()
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0)


__all__ = ["MESSAGE", "Interrupted", "run"]
