"""The strength estimator: each pattern it knows, and what it never reveals."""

from __future__ import annotations

import math

import pytest

from walletbackup_password import estimate
from walletbackup_password.strength import COMMON_PASSWORDS


def test_random_text_costs_its_full_character_bits() -> None:
    found = estimate("kx7mq2vz9tpa")  # lowercase and digits: 36 symbols
    assert found.patterns == ()
    assert found.bits == pytest.approx(12 * math.log2(36))


def test_the_empty_string_has_no_bits() -> None:
    assert estimate("").bits == 0


@pytest.mark.parametrize(
    ("password", "pattern"),
    [
        ("zq8password", "a common password"),
        ("zq8P@ssw0rd", "a common password"),
        ("zq8TRUSTNO1", "a common password"),
        ("zq8qwertyu", "a keyboard run"),
        ("zq8!@#$%^", "a keyboard run"),
        ("zq81qaz", "a keyboard run"),
        ("zq8lkjhg", "a keyboard run"),
        ("zq8mnopqrs", "a sequence"),
        ("zq8765432", "a sequence"),
        ("zq8xxxxxxx", "a repeated character"),
        ("zq8kv9zq8kv9", "a repeated part"),
        ("zq8tm1987", "a year"),
    ],
)
def test_each_pattern_is_found(password: str, pattern: str) -> None:
    # A pattern is reported only when it is on the cheapest description: cheaper than its letters.
    found = estimate(password)
    assert pattern in found.patterns


def test_patterns_are_named_never_quoted() -> None:
    found = estimate("monkey1987qwerty")
    assert all("monkey" not in p and "qwerty" not in p and "1987" not in p for p in found.patterns)


def test_the_common_list_is_lowercase_and_unique() -> None:
    assert len(set(COMMON_PASSWORDS)) == len(COMMON_PASSWORDS)
    assert all(word == word.lower() and len(word) >= 3 for word in COMMON_PASSWORDS)


def test_adding_random_characters_adds_bits() -> None:
    assert estimate("kx7mq2vz9tpaw").bits > estimate("kx7mq2vz9tpa").bits


def test_only_the_first_128_characters_are_analysed() -> None:
    assert estimate("ab" * 512).bits == estimate("ab" * 64).bits


def test_characters_outside_ascii_widen_the_alphabet() -> None:
    assert estimate("zq8kv9é").bits > estimate("zq8kv9e").bits
