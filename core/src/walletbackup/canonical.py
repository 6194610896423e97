"""Canonical JSON and strict base64url: the encodings of the envelope header (docs/format.md).

A value has exactly one encoding, and :func:`loads` accepts only that encoding, so the header
bytes that are authenticated are the bytes every reader interprets; there is no second reading
of the same bytes (duplicate keys, whitespace, escapes) for an attacker to exploit.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .errors import MalformedBackup

MAX_DEPTH = 8
MAX_INT = 2**53 - 1
MIN_INT = -MAX_INT

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_JSON_NAMES = {bool: "true/false", type(None): "null", float: "a floating-point number"}


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` (dicts, lists, str and int only) as canonical JSON bytes."""
    _check(obj, 1)
    try:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBackup("canonical JSON: a string is not valid Unicode") from None


def loads(data: bytes) -> Any:
    """Decode canonical JSON bytes; anything not byte-for-byte canonical raises MalformedBackup."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBackup("canonical JSON: not valid UTF-8") from None
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
    except RecursionError:
        raise MalformedBackup(f"canonical JSON: nested deeper than {MAX_DEPTH} levels") from None
    except MalformedBackup:
        raise
    except ValueError as exc:
        raise MalformedBackup(f"canonical JSON: not valid JSON ({_first_line(exc)})") from None
    if dumps(obj) != data:
        raise MalformedBackup(
            "canonical JSON: not in canonical form (keys sorted, no whitespace, "
            "no escapes where a raw character is allowed)"
        )
    return obj


def b64encode(data: bytes) -> str:
    """Encode as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: object, length: int | range | None = None) -> bytes:
    """Decode strict base64url without padding (one spelling per value); not text is malformed.

    ``length``, when given, is the size in bytes: exactly (an int) or within a range. The size is
    checked from the text's length, before anything is decoded.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedBackup("base64url: not unpadded base64url text")
    sizes = range(length, length + 1) if isinstance(length, int) else length
    # Unpadded base64url of n bytes is exactly ceil(4n / 3) characters, so this is the size.
    size = len(text) * 3 // 4
    if sizes is not None and size not in sizes:
        raise MalformedBackup(f"base64url: expected {size_text(sizes)} bytes, got {size}")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise MalformedBackup("base64url: not unpadded base64url text") from None
    if b64encode(data) != text:
        raise MalformedBackup(
            "base64url: non-canonical encoding (stray bits in the last character)"
        )
    return data


def size_text(sizes: range) -> str:
    """``32`` or ``16 to 1023``: a size in bytes, for a message."""
    return str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"


def _check(obj: Any, depth: int) -> None:
    if isinstance(obj, dict | list) and depth > MAX_DEPTH:
        raise MalformedBackup(f"canonical JSON: nested deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise MalformedBackup("canonical JSON: object keys must be strings")
            _check(value, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _check(value, depth + 1)
    elif isinstance(obj, bool) or not isinstance(obj, str | int):
        name = _JSON_NAMES.get(type(obj), type(obj).__name__)
        raise MalformedBackup(
            f"canonical JSON: {name} is not allowed (only objects, arrays, strings and integers)"
        )
    elif isinstance(obj, int) and not MIN_INT <= obj <= MAX_INT:
        raise MalformedBackup("canonical JSON: integer outside the range ±(2**53 - 1)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedBackup("canonical JSON: duplicate key in an object")
    return obj


def _no_float(_text: str) -> Any:
    raise MalformedBackup("canonical JSON: floating-point numbers are not allowed")


def _first_line(exc: ValueError) -> str:
    return str(exc).splitlines()[0][:120]


__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MIN_INT",
    "b64decode",
    "b64encode",
    "dumps",
    "loads",
    "size_text",
]
