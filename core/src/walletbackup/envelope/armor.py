"""The envelope's text form (docs/format.md §8): PEM-like lines of standard base64."""

from __future__ import annotations

import base64
import binascii
import re

from walletbackup.errors import MalformedBackup

from .format import MAX_ENVELOPE

ARMOR_BEGIN = "-----BEGIN WALLETBACKUP ENVELOPE-----"
ARMOR_END = "-----END WALLETBACKUP ENVELOPE-----"
ARMOR_LINE = 64
_ARMOR_CHARS = 4 * -(-MAX_ENVELOPE // 3)
MAX_ARMOR = len(ARMOR_BEGIN) + len(ARMOR_END) + 2 + _ARMOR_CHARS + -(-_ARMOR_CHARS // ARMOR_LINE)

_ARMOR_BODY = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def armor(data: bytes) -> str:
    """The text form: PEM-like lines of standard base64 (64 characters each)."""
    if not data:
        raise ValueError("nothing to armor")
    body = base64.b64encode(data).decode("ascii")
    lines = [body[i : i + ARMOR_LINE] for i in range(0, len(body), ARMOR_LINE)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


def dearmor(text: str) -> bytes:
    """Decode the text form exactly as :func:`armor` writes it (final newline optional)."""
    if not isinstance(text, str):
        raise MalformedBackup("armored text must be a str")
    if len(text) > MAX_ARMOR:
        raise MalformedBackup("the armored text is longer than any envelope")
    lines = (text if text.endswith("\n") else text + "\n").split("\n")
    if len(lines) < 4 or lines[0] != ARMOR_BEGIN or lines[-2:] != [ARMOR_END, ""]:
        raise MalformedBackup(
            f"the armored text must start with {ARMOR_BEGIN!r} and end with {ARMOR_END!r}"
        )
    body = lines[1:-2]
    for number, line in enumerate(body, start=2):
        last = number == len(body) + 1
        if not (0 < len(line) <= ARMOR_LINE if last else len(line) == ARMOR_LINE):
            raise MalformedBackup(
                f"armored text line {number} has {len(line)} characters; every line but the "
                f"last has exactly {ARMOR_LINE}"
            )
    joined = "".join(body)
    if not _ARMOR_BODY.fullmatch(joined):
        raise MalformedBackup("the armored text holds characters outside standard base64")
    try:
        data = base64.b64decode(joined, validate=True)
    except binascii.Error:
        raise MalformedBackup("the armored text is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != joined:
        raise MalformedBackup("the armored text is not canonical base64 (padding or stray bits)")
    return data
