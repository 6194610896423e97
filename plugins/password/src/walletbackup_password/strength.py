"""A small, self-contained password strength estimator (zxcvbn's idea, in a page).

The estimate is the fewest bits needed to describe the password as a run of pieces, each either a
guessable pattern (a common password, a keyboard run, a sequence, a repeated character or part, a
year) or one character drawn from the character classes the password uses. It is a heuristic for
refusing the obviously weak, deliberately pessimistic about patterns, not a measure of real
entropy. Only the first 128 characters are analysed: that is far more than any minimum needs.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

_ANALYSED = 128
_MIN_PATTERN = 3

#: Most common first: the rank sets the bits. Pure digit runs, keyboard runs and repeats are left
#: out because the pattern matchers find them anyway.
COMMON_PASSWORDS: tuple[str, ...] = (
    "password", "iloveyou", "admin", "welcome", "monkey", "dragon", "letmein", "football",
    "baseball", "master", "sunshine", "shadow", "princess", "superman", "batman", "trustno",
    "abc", "starwars", "whatever", "freedom", "hello", "charlie", "michael", "jordan", "jennifer",
    "hunter", "ashley", "buster", "soccer", "hockey", "killer", "george", "thomas", "robert",
    "daniel", "andrew", "joshua", "harley", "ranger", "tigger", "pepper", "ginger", "summer",
    "winter", "spring", "autumn", "flower", "cookie", "cheese", "orange", "banana", "purple",
    "secret", "computer", "internet", "login", "access", "mustang", "maggie", "michelle",
    "jessica", "nicole", "love", "lovely", "loveme", "angel", "babygirl", "baby", "family",
    "forever", "friends", "jesus", "blessed", "matrix", "pokemon", "naruto", "minecraft",
    "google", "samsung", "apple", "test", "guest", "root", "default", "changeme",
    "administrator", "user", "private", "money", "silver", "golden", "diamond", "hannah",
    "chelsea", "liverpool", "arsenal", "london", "paris", "america", "canada", "bitcoin",
    "crypto", "wallet", "ethereum", "blockchain", "metamask", "ledger", "satoshi", "qazwsx",
    "zaq", "pass", "word", "secure", "backup",
)  # fmt: skip
_RANK = {word: rank for rank, word in enumerate(COMMON_PASSWORDS)}
_LONGEST_WORD = max(map(len, COMMON_PASSWORDS))
# "1" and "|" read as either i or l, so both readings are tried.
_LEET = tuple(
    str.maketrans("4@8(3690!$5+7" + ones, "aabceggoisstt" + letter * len(ones))
    for ones, letter in (("1|", "i"), ("1|", "l"))
)

# Unshifted US keyboard rows and columns; shifted symbols are folded onto their keys first.
_KEYBOARD_LINES = (
    "`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./",
    "1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm", "8ik,", "9ol.", "0p;/",
)  # fmt: skip
_KEYS = len(set("".join(_KEYBOARD_LINES)))
_UNSHIFT = str.maketrans('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./")
_NEIGHBOURS = {
    (line[i], line[i + step])
    for line in _KEYBOARD_LINES
    for step in (1, -1)
    for i in range(len(line))
    if 0 <= i + step < len(line)
}
_YEARS = range(1900, 2100)


@dataclass(frozen=True)
class Estimate:
    """An estimate: ``bits``, and the kinds of pattern found (never the characters themselves)."""

    bits: float
    patterns: tuple[str, ...]


def estimate(password: str) -> Estimate:
    """Estimate how many bits a guesser needs for ``password`` (see the module docstring)."""
    text = password[:_ANALYSED]
    char_bits = math.log2(_pool(password)) if password else 0.0
    # best[j]: fewest bits describing text[:j]; how[j]: the piece ending there (start, kind).
    best = [0.0] + [math.inf] * len(text)
    how: list[tuple[int, str | None]] = [(0, None)] * (len(text) + 1)
    ending: list[list[tuple[int, float, str]]] = [[] for _ in range(len(text) + 1)]
    for start, end, bits, kind in _patterns(text, char_bits):
        ending[end].append((start, bits, kind))
    for end in range(1, len(text) + 1):
        best[end], how[end] = best[end - 1] + char_bits, (end - 1, None)
        for start, bits, kind in ending[end]:
            if best[start] + bits < best[end]:
                best[end], how[end] = best[start] + bits, (start, kind)
    kinds: list[str] = []
    end = len(text)
    while end:
        end, piece = how[end]
        if piece is not None and piece not in kinds:
            kinds.append(piece)
    return Estimate(best[-1], tuple(reversed(kinds)))


def _pool(password: str) -> int:
    classes = (
        (string.ascii_lowercase, 26),
        (string.ascii_uppercase, 26),
        (string.digits, 10),
        (string.punctuation + " ", 33),
    )
    pool = sum(size for chars, size in classes if any(c in chars for c in password))
    # Anything else (accented letters, other scripts): a deliberately modest alphabet.
    return pool + (100 if any(not c.isascii() for c in password) else 0)


def _patterns(text: str, char_bits: float) -> list[tuple[int, int, float, str]]:
    found: list[tuple[int, int, float, str]] = []
    lower = text.lower()
    unshifted = lower.translate(_UNSHIFT)
    for start in range(len(text)):
        found += _words(text, lower, start)
        found += _runs(text, start, char_bits)
        found += _steps(lower, start)
        found += _keyboard(unshifted, start)
        found += _repeats(text, start)
        year = text[start : start + 4]
        if len(year) == 4 and year.isascii() and year.isdigit() and int(year) in _YEARS:
            found.append((start, start + 4, math.log2(len(_YEARS)), "a year"))
    return found


def _words(text: str, lower: str, start: int) -> list[tuple[int, int, float, str]]:
    found = []
    for end in range(start + _MIN_PATTERN, min(len(text), start + _LONGEST_WORD) + 1):
        piece = lower[start:end]
        readings = {piece, *(piece.translate(table) for table in _LEET)}
        ranks = [_RANK[word] for word in readings if word in _RANK]
        if ranks:
            bits = math.log2(min(ranks) + 2)
            bits += 1 if min(ranks) != _RANK.get(piece) else 0  # leet substitution used
            uppers = sum(c.isupper() for c in text[start:end])
            bits += math.log2(math.comb(end - start, uppers)) + (1 if uppers else 0)
            found.append((start, end, bits, "a common password"))
    return found


def _runs(text: str, start: int, char_bits: float) -> list[tuple[int, int, float, str]]:
    end = start + 1
    while end < len(text) and text[end] == text[start]:
        end += 1
    return [
        (start, stop, char_bits + math.log2(stop - start), "a repeated character")
        for stop in range(start + _MIN_PATTERN, end + 1)
    ]


def _steps(lower: str, start: int) -> list[tuple[int, int, float, str]]:
    """Alphabet and digit sequences, up or down: abcd, 4321."""
    for alphabet in (string.ascii_lowercase, string.digits):
        if lower[start] not in alphabet or start + 1 >= len(lower):
            continue
        step = ord(lower[start + 1]) - ord(lower[start])
        if step not in (1, -1):
            return []
        end = start + 1
        while (
            end < len(lower)
            and lower[end] in alphabet
            and ord(lower[end]) - ord(lower[end - 1]) == step
        ):
            end += 1
        return [
            (start, stop, math.log2(len(alphabet)) + 1 + math.log2(stop - start), "a sequence")
            for stop in range(start + _MIN_PATTERN, end + 1)
        ]
    return []


def _keyboard(unshifted: str, start: int) -> list[tuple[int, int, float, str]]:
    """Runs along a keyboard row or column in one direction: qwerty, 1qaz, poiu."""
    if start + 1 >= len(unshifted) or (unshifted[start], unshifted[start + 1]) not in _NEIGHBOURS:
        return []
    end = start + 2
    while end < len(unshifted):
        piece = unshifted[start : end + 1]
        if not any(piece in line or piece[::-1] in line for line in _KEYBOARD_LINES):
            break
        end += 1
    return [
        (start, stop, math.log2(_KEYS) + 1 + math.log2(stop - start), "a keyboard run")
        for stop in range(start + _MIN_PATTERN, end + 1)
    ]


def _repeats(text: str, start: int) -> list[tuple[int, int, float, str]]:
    """A part that already appeared earlier: costs a pointer back and a length."""
    found = []
    end = start + _MIN_PATTERN
    while end <= len(text) and text.find(text[start:end], 0, start) >= 0:
        bits = max(1.0, math.log2(start) + math.log2(end - start))
        found.append((start, end, bits, "a repeated part"))
        end += 1
    return found


__all__ = ["COMMON_PASSWORDS", "Estimate", "estimate"]
