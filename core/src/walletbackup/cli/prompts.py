"""Asking a person for an option: only where someone can answer.

A secret is read without echo (``getpass``: from the controlling terminal, else from standard
input when that is a terminal); any other answer is read from standard input, which must then be
a terminal. Without one, a prompt would print getpass's ``GetPassWarning``, read nothing and end
in ``Aborted!``; instead :func:`ask` stops with :class:`NoTerminal` (exit 2), whose message says
where the option can come from.
"""

from __future__ import annotations

import os
import sys

import click

from .interrupt import Interrupted


class NoTerminal(click.ClickException):
    """A prompt with no one to answer it: a usage error (exit 2)."""

    exit_code = 2


def can_ask(secret: bool) -> bool:
    """Whether a prompt for a secret (or for anything else) can be answered here."""
    stdin = sys.stdin
    if stdin is None:
        return False
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        # No file descriptor: a stream a host program supplies on purpose to answer prompts
        # (click's CliRunner does so), so it is the one to answer.
        return True
    if os.isatty(fd):
        return True
    return secret and _controlling_terminal()


def _controlling_terminal() -> bool:
    """Whether getpass can read from /dev/tty (a terminal while standard input is redirected)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def ask(text: str, *, secret: bool, confirm: str | None, unanswerable: str) -> str:
    """Prompt on standard error for ``text``; ``confirm`` asks again (a new secret).

    ``unanswerable`` is the message of :class:`NoTerminal` when no one can answer here.
    """
    if not can_ask(secret):
        raise NoTerminal(unanswerable)
    try:
        answer: str = click.prompt(
            text, hide_input=secret, confirmation_prompt=confirm or False, err=True
        )
    except Interrupted:
        # The prompt's line is still open: "interrupted" goes on a line of its own.
        click.echo(err=True)
        raise
    return answer


__all__ = ["NoTerminal", "ask", "can_ask"]
