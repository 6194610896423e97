"""What a new password, PIN or passphrase must satisfy, and how its text becomes KDF input.

Defaults (see docs/methods/password.md for why):

- ``password``: at least 12 characters and an estimated 50 bits;
- ``passphrase``: at least 4 words and 20 characters, and an estimated 50 bits;
- ``pin``: at least 6 digits 0-9, not all one digit, not a straight sequence (123456, 987654,
  890123), not a repeated block (121212, 123123), not one of the most common PINs. A PIN is far
  weaker than a password against someone holding the envelope; it is offered because wallets do.

Every kind: at most 1024 characters, no control characters, valid Unicode. Messages say what is
wrong and what is required, and never contain the password or any part of it.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args

from walletbackup.errors import PolicyViolation

from .strength import estimate

Kind = Literal["password", "pin", "passphrase"]
KINDS: tuple[Kind, ...] = get_args(Kind)
MAX_LENGTH = 1024

_WORD = re.compile(r"[^\W_]+")
_COMMON_PINS = frozenset(
    {"112233", "123321", "147258", "147852", "159753", "258369", "456123", "789456", "102030",
     "010203", "111222", "121314", "000111", "101112", "246810"}
)  # fmt: skip


def normalize(password: str) -> str:
    """NFC, so the same password typed on any keyboard or OS gives the same bytes."""
    if not isinstance(password, str):
        raise TypeError("the password must be a str")
    return unicodedata.normalize("NFC", password)


def encode(password: str) -> bytes:
    """The KDF input: UTF-8 of the NFC form.

    ``surrogatepass`` keeps this total, so unlock never raises on odd text (such a password just
    derives a different secret); enrollment refuses unpaired surrogates before getting here.
    """
    return normalize(password).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class PasswordPolicy:
    """Rules for a new secret of one ``kind``. :meth:`named` gives the documented defaults."""

    kind: Kind = "password"
    min_length: int = 12
    max_length: int = MAX_LENGTH
    min_words: int = 0
    min_bits: int = 50

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"PasswordPolicy.kind must be one of {', '.join(KINDS)}")
        if not 1 <= self.min_length <= self.max_length <= MAX_LENGTH:
            raise ValueError(f"PasswordPolicy needs 1 <= min_length <= max_length <= {MAX_LENGTH}")
        if self.min_words < 0 or self.min_bits < 0:
            raise ValueError("PasswordPolicy.min_words and min_bits must not be negative")

    @classmethod
    def named(cls, kind: str) -> PasswordPolicy:
        """The default policy for ``"password"``, ``"pin"`` or ``"passphrase"``."""
        if kind == "password":
            return cls()
        if kind == "pin":
            return cls("pin", min_length=6, min_bits=0)
        if kind == "passphrase":
            return cls("passphrase", min_length=20, min_words=4)
        raise ValueError(f"unknown password policy; choose one of {', '.join(KINDS)}")

    def check(self, password: str) -> None:
        """Raise :class:`PolicyViolation` naming the first rule ``password`` breaks."""
        text = normalize(password)
        label = "PIN" if self.kind == "pin" else self.kind
        unit = "digits" if self.kind == "pin" else "characters"
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise PolicyViolation(f"{label} contains invalid characters (unpaired surrogates)")
        if any(unicodedata.category(c) == "Cc" for c in text):
            raise PolicyViolation(
                f"{label} contains control characters (such as a newline or tab); "
                "use printable characters only"
            )
        if len(text) > self.max_length:
            raise PolicyViolation(
                f"{label} too long: {len(text)} {unit}, at most {self.max_length} allowed"
            )
        if self.kind == "pin" and not (text.isascii() and text.isdigit()):
            raise PolicyViolation("PIN must be digits only (0-9)")
        if len(text) < self.min_length:
            raise PolicyViolation(
                f"{label} too short: {len(text)} {unit}, at least {self.min_length} required"
            )
        words = len(_WORD.findall(text))
        if words < self.min_words:
            raise PolicyViolation(
                f"{label} has too few words: {words}, at least {self.min_words} required"
            )
        if self.kind == "pin":
            _check_pin(text)
        if self.min_bits:
            self._check_strength(text, label)

    def _check_strength(self, text: str, label: str) -> None:
        found = estimate(text)
        if found.bits >= self.min_bits:
            return
        why = f" (it contains {', '.join(found.patterns)})" if found.patterns else ""
        advice = (
            "add more unrelated words"
            if self.kind == "passphrase"
            else "use a longer passphrase, or a random password from a password manager"
        )
        raise PolicyViolation(
            f"{label} too predictable: estimated {int(found.bits)} bits, at least "
            f"{self.min_bits} required{why}; {advice}"
        )


def _check_pin(pin: str) -> None:
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if len(set(pin)) == 1:
        problem = "all digits are the same"
    elif steps in ({1}, {9}):
        problem = "each digit is one more, or one less, than the one before"
    elif any((pin[:size] * len(pin))[: len(pin)] == pin for size in range(2, len(pin) // 2 + 1)):
        problem = "it repeats a shorter group of digits"
    elif pin in _COMMON_PINS:
        problem = "it is one of the most common PINs"
    else:
        return
    raise PolicyViolation(f"PIN too predictable: {problem}; choose digits without a pattern")


__all__ = ["KINDS", "MAX_LENGTH", "Kind", "PasswordPolicy", "encode", "normalize"]
