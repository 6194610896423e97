"""Files the CLI reads and writes: shares in, shares and cipher texts out.

Shares are secrets: output files are created with mode 0600 and never overwrite an existing file
unless asked (``--force``, then replaced atomically, still 0600). Input share files readable by
others get a warning. ``-`` means standard input (hex) for a share, standard output for a cipher
text.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from walletbackup import files

STDIO = "-"
# Larger than any share or envelope the core accepts; refused before it is read into memory.
MAX_INPUT_BYTES = 16 * 1024 * 1024


class OutputError(click.ClickException):
    """An output file that cannot be written (exit 1)."""


def read_share(path: str, what: str) -> bytes:
    """A share: the raw bytes of a file, or one line of hex on standard input (``-``)."""
    if path == STDIO:
        text = sys.stdin.readline(4 * MAX_INPUT_BYTES).strip()
        try:
            share = bytes.fromhex(text)
        except ValueError:
            # Never echo the input: it is a secret.
            raise click.UsageError(f"the {what} on standard input must be hex") from None
        if not share:
            raise click.UsageError(f"no {what} on standard input (one line of hex expected)")
        return share
    contents = _read_file(path, what)
    if contents.loose_mode is not None:
        click.echo(
            f"warning: {what} file {path} is readable by others (mode "
            f"{contents.loose_mode:04o}); chmod 600 it",
            err=True,
        )
    return contents.data


def read_cipher_text(path: str) -> bytes | str:
    """A client cipher text from a file: ASCII armor (as text) or the binary envelope (bytes).

    A binary envelope starts with a non-ASCII magic byte, so text that decodes as ASCII is armor.
    """
    data = _read_file(path, "cipher text").data
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return data


def _read_file(path: str, what: str) -> files.FileContents:
    try:
        return files.read_limited(path, MAX_INPUT_BYTES)
    except files.FileTooLarge:
        raise click.UsageError(
            f"{what} file {path} is larger than {MAX_INPUT_BYTES} bytes"
        ) from None
    except OSError as exc:
        raise click.UsageError(f"cannot read {what} file {path}: {exc.strerror}") from None


def check_writable(path: str, force: bool) -> None:
    """Refuse an existing output file before any work is done (unless ``force``)."""
    if path != STDIO and not force and os.path.lexists(path):
        raise click.UsageError(f"{path} already exists; pass --force to replace it")


def write_private(path: str, data: bytes, force: bool) -> None:
    """Write ``data`` to a new file of mode 0600; with ``force``, atomically replace an old one.

    Without ``force`` an existing file or symlink is refused, never followed or truncated.
    """
    try:
        files.write_private(path, data, replace=force)
    except FileExistsError:
        raise OutputError(f"{path} already exists; pass --force to replace it") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None


def remove_quietly(path: str) -> None:
    """Remove a file this command created, when a later step failed."""
    with contextlib.suppress(OSError):
        os.unlink(path)
