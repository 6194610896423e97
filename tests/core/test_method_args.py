"""The stanza argument checks every method uses: check_arg_names, require, require_bytes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from walletbackup.canonical import b64decode, b64encode
from walletbackup.errors import MalformedBackup
from walletbackup.methods import check_arg_names, require, require_bytes

HEX = re.compile(r"[0-9a-f]{4}")


def test_check_arg_names_accepts_known_keys_only() -> None:
    check_arg_names({"a": 1}, {"a", "b"}, method="demo")
    with pytest.raises(MalformedBackup, match=r"^unknown demo stanza argument\(s\): 'c'$"):
        check_arg_names({"a": 1, "c": 2}, {"a", "b"}, method="demo")
    with pytest.raises(MalformedBackup, match=r"^demo stanza arguments must be an object$"):
        check_arg_names(["a"], {"a"}, method="demo")
    with pytest.raises(MalformedBackup, match=r"^stanza arguments must be an object$"):
        check_arg_names("a", {"a"})


def test_check_arg_names_shows_only_a_short_prefix_of_a_hostile_key() -> None:
    with pytest.raises(MalformedBackup) as raised:
        check_arg_names({"x" * 10_000: 1}, set())
    assert len(str(raised.value)) < 100


@pytest.mark.parametrize(
    ("args", "checks", "message"),
    [
        ({}, {}, "^demo stanza argument 'k' is missing$"),
        ({"k": 1}, {}, "^demo stanza argument 'k' must be a str$"),
        ({"k": "abcg"}, {"pattern": HEX, "what": "4 hex digits"}, "must be 4 hex digits$"),
        ({"k": "abcd0"}, {"pattern": HEX}, "must be a str$"),  # matched whole, not a prefix
        ({"k": "x"}, {"choices": ("a", "b")}, "^demo stanza argument 'k' must be 'a' or 'b'$"),
        ({"k": ["a"]}, {"choices": frozenset({"a"})}, "must be 'a'$"),  # unhashable: refused
        ({"k": "xy"}, {"check": lambda value: len(value) == 1, "what": "one letter"}, "letter"),
    ],
)
def test_require_refuses_with_a_message_naming_method_and_key(
    args: dict[str, Any], checks: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedBackup, match=message):
        require(args, "k", str, method="demo", **checks)


def test_require_returns_a_value_that_passes_every_check() -> None:
    checks: dict[str, Any] = {"pattern": HEX, "choices": ("abcd",), "check": str.islower}
    assert require({"k": "abcd"}, "k", str, method="demo", **checks) == "abcd"


def test_require_never_takes_a_bool_for_an_int() -> None:
    assert require({"v": 1}, "v", int, choices=(1,)) == 1
    with pytest.raises(MalformedBackup, match=r"^stanza argument 'v' must be 1$"):
        require({"v": True}, "v", int, choices=(1,))
    with pytest.raises(MalformedBackup, match="must be an int"):
        require({"v": False}, "v", int)
    with pytest.raises(MalformedBackup, match="must be 19"):
        require({"v": 19.0}, "v", int, choices=(19,))
    assert require({"v": True}, "v", bool) is True


def test_require_bytes_decodes_exact_and_ranged_sizes() -> None:
    assert require_bytes({"s": b64encode(bytes(32))}, "s", 32) == bytes(32)
    assert require_bytes({"s": b64encode(bytes(20))}, "s", range(16, 65)) == bytes(20)


@pytest.mark.parametrize(
    "value",
    [
        b64encode(bytes(15)),
        b64encode(bytes(65)),
        b64encode(bytes(16)) + "==",
        "A" * 25,
        "A" * 100_000,
        b64encode(bytes(16))[:-1] + "B",
        bytes(16),
        ["AAAA"],
    ],
    ids=["short", "long", "padded", "impossible-length", "huge", "stray-bits", "bytes", "list"],
)
def test_require_bytes_refuses_anything_else(value: object) -> None:
    expected = r"^demo stanza argument 's' must be unpadded base64url of 16 to 64 bytes$"
    with pytest.raises(MalformedBackup, match=expected):
        require_bytes({"s": value}, "s", range(16, 65), method="demo")


def test_b64decode_checks_a_size_range_from_the_length_of_the_text() -> None:
    assert b64decode(b64encode(bytes(17)), range(16, 18)) == bytes(17)
    with pytest.raises(MalformedBackup, match="expected 16 to 17 bytes, got 18"):
        b64decode(b64encode(bytes(18)), range(16, 18))
    with pytest.raises(MalformedBackup, match="not unpadded base64url text"):
        b64decode(None)
