"""Canonical JSON and strict base64url (docs/format.md, "Canonical JSON")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from walletbackup import canonical
from walletbackup.errors import MalformedBackup


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# --- dumps ------------------------------------------------------------------------------------


def test_dumps_sorts_keys_without_whitespace() -> None:
    assert canonical.dumps({"b": 1, "a": [2, "x"], "c": {}}) == b'{"a":[2,"x"],"b":1,"c":{}}'


def test_dumps_sorts_keys_by_code_point_not_utf16() -> None:
    # U+FFFF < U+1F600 by code point; UTF-16 ordering (JCS) would put the emoji first.
    assert canonical.dumps({"\U0001f600": 1, "\uffff": 2}) == '{"\uffff":2,"\U0001f600":1}'.encode()


def test_dumps_writes_non_ascii_raw() -> None:
    assert canonical.dumps("é€😀") == '"é€😀"'.encode()


def test_dumps_escapes_only_quote_backslash_and_controls() -> None:
    text = '"\\/\b\f\n\r\t\x00\x1f\x7f'
    assert canonical.dumps(text) == b'"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\x7f"'


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53) + 1, 0])
def test_dumps_accepts_integer_bounds(value: int) -> None:
    assert canonical.dumps(value) == str(value).encode()


@pytest.mark.parametrize("value", [2**53, -(2**53)])
def test_dumps_rejects_integer_out_of_range(value: int) -> None:
    with pytest.raises(MalformedBackup, match="integer outside"):
        canonical.dumps(value)


@pytest.mark.parametrize(
    ("value", "name"),
    [(True, "true/false"), (None, "null"), (1.5, "floating-point"), (float("nan"), "floating")],
)
def test_dumps_rejects_non_canonical_types(value: Any, name: str) -> None:
    with pytest.raises(MalformedBackup, match=name):
        canonical.dumps({"a": [value]})


def test_dumps_rejects_bytes() -> None:
    with pytest.raises(MalformedBackup, match="bytes is not allowed"):
        canonical.dumps(b"x")


def test_dumps_rejects_non_string_keys() -> None:
    with pytest.raises(MalformedBackup, match="keys must be strings"):
        canonical.dumps({1: "a"})


def test_dumps_rejects_lone_surrogate() -> None:
    with pytest.raises(MalformedBackup, match="not valid Unicode"):
        canonical.dumps("\ud800")


def test_dumps_accepts_depth_8() -> None:
    assert canonical.dumps(_nested(8)) == b"[" * 8 + b"1" + b"]" * 8


def test_dumps_rejects_depth_9() -> None:
    with pytest.raises(MalformedBackup, match="deeper than 8"):
        canonical.dumps(_nested(9))


def test_dumps_rejects_cycles() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(MalformedBackup, match="deeper than 8"):
        canonical.dumps(loop)


# --- loads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{}, [], "", 0, -5, {"a": {"b": [1, "é", {"c": "\x00"}]}}, {"\uffff": 1, "\U0001f600": 2}],
)
def test_loads_round_trips(value: Any) -> None:
    assert canonical.loads(canonical.dumps(value)) == value


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1 }', "whitespace"),
        (b' {"a":1}', "leading whitespace"),
        (b'{"a":1}\n', "trailing newline"),
        (b'{"b":1,"a":2}', "keys out of order"),
        ('{"é":1,"z":2}'.encode(), "keys out of code-point order"),
        (b'"\\u0061"', "escape where a raw character is canonical"),
        (b'"\\u00e9"', "escaped non-ASCII"),
        (b'"\\/"', "escaped slash"),
        (b'"\\u001F"', "uppercase hex escape"),
        (b'"\\u0008"', "long form of \\b"),
        (b"-0", "negative zero"),
    ],
)
def test_loads_rejects_non_canonical(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedBackup, match="canonical form"):
        canonical.loads(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"a":1,"a":1}', "duplicate key"),
        (b'{"a":{"b":1,"b":2}}', "duplicate key"),
        (b"1.0", "floating-point"),
        (b"1e3", "floating-point"),
        (b"NaN", "floating-point"),
        (b"-Infinity", "floating-point"),
        (b"true", "true/false"),
        (b"null", "null"),
        (b"9007199254740992", "integer outside"),
        (b"1" * 5000, "not valid JSON"),
        (b"01", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"a":1}x', "not valid JSON"),
        (b"[1,]", "not valid JSON"),
        (b"\xff", "not valid UTF-8"),
        (b'"\xc3"', "not valid UTF-8"),
        ("\ufeff{}".encode(), "not valid JSON"),
        ('"x"'.encode("utf-16"), "not valid UTF-8"),
        (b'"\\ud800"', "not valid Unicode"),
        (b"[" * 9 + b"]" * 9, "deeper than 8"),
        (b"[" * 100_000, "deeper than 8"),
    ],
)
def test_loads_rejects_invalid(data: bytes, match: str) -> None:
    with pytest.raises(MalformedBackup, match=match):
        canonical.loads(data)


def test_loads_result_matches_python_json() -> None:
    data = '{"a":[1,-2,"\\n"],"b":{"c":"ü"}}'.encode()
    assert canonical.loads(data) == json.loads(data)


# --- base64url --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(34))
def test_b64_round_trips(size: int) -> None:
    data = bytes(range(256 - size, 256))
    text = canonical.b64encode(data)
    assert "=" not in text
    assert canonical.b64decode(text, size) == data


def test_b64_uses_url_alphabet() -> None:
    assert canonical.b64encode(b"\xfb\xff") == "-_8"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("QQ==", "not unpadded"),
        ("QQ=", "not unpadded"),
        ("+_8", "not unpadded"),
        ("-/8", "not unpadded"),
        ("QUFB QQ", "not unpadded"),
        ("QUFB\n", "not unpadded"),
        ("QUFBQ", "not unpadded"),
        ("QR", "stray bits"),
        ("QUF", "stray bits"),
    ],
)
def test_b64_rejects(text: str, match: str) -> None:
    with pytest.raises(MalformedBackup, match=match):
        canonical.b64decode(text)


def test_b64_rejects_wrong_length() -> None:
    with pytest.raises(MalformedBackup, match="expected 16 bytes, got 15"):
        canonical.b64decode(canonical.b64encode(bytes(15)), 16)


def test_b64_rejects_non_string() -> None:
    with pytest.raises(MalformedBackup):
        canonical.b64decode(12)  # type: ignore[arg-type]
