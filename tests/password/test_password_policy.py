"""PasswordPolicy: one test per rule, and no message ever contains the password."""

from __future__ import annotations

import unicodedata

import pytest

from walletbackup.errors import PolicyViolation
from walletbackup_password import PasswordPolicy

PASSWORD = PasswordPolicy.named("password")
PASSPHRASE = PasswordPolicy.named("passphrase")
PIN = PasswordPolicy.named("pin")


def refusal(policy: PasswordPolicy, password: str) -> str:
    with pytest.raises(PolicyViolation) as caught:
        policy.check(password)
    message = str(caught.value)
    assert password not in message
    return message


# --- the defaults ---------------------------------------------------------------------------------


def test_documented_defaults() -> None:
    assert PasswordPolicy("password", 12, 1024, 0, 50) == PASSWORD
    assert PasswordPolicy("passphrase", 20, 1024, 4, 50) == PASSPHRASE
    assert PasswordPolicy("pin", 6, 1024, 0, 0) == PIN


@pytest.mark.parametrize(
    ("policy", "password"),
    [
        (PASSWORD, "kx7mq2vz9tpa"),
        (PASSWORD, "Grüße aus Köln, lieber Freund"),
        (PASSPHRASE, "orbit lantern copper meadow"),
        (PASSPHRASE, "orbit-lantern-copper-meadow"),
        (PIN, "583920"),
        (PIN, "0719462"),
    ],
)
def test_good_secrets_pass(policy: PasswordPolicy, password: str) -> None:
    policy.check(password)


# --- every kind -----------------------------------------------------------------------------------


def test_password_too_short() -> None:
    message = refusal(PASSWORD, "kx7mq2vz")
    assert message == "password too short: 8 characters, at least 12 required"


def test_password_too_long() -> None:
    message = refusal(PASSWORD, "kx7mq2vz9tpa" * 90)
    assert message == "password too long: 1080 characters, at most 1024 allowed"


def test_length_is_counted_after_nfc() -> None:
    nfc = "kx7mq2vz9té"  # 11 characters; NFD spells the é with two code points
    nfd = unicodedata.normalize("NFD", nfc)
    assert len(nfd) == 12
    assert refusal(PASSWORD, nfd) == "password too short: 11 characters, at least 12 required"


@pytest.mark.parametrize("control", ["\n", "\t", "\x00", "\r", "\x7f"])
def test_control_characters_are_refused(control: str) -> None:
    message = refusal(PASSWORD, f"kx7mq2vz9tpa{control}")
    assert "contains control characters" in message


def test_unpaired_surrogates_are_refused() -> None:
    assert "unpaired surrogates" in refusal(PASSWORD, "kx7mq2vz9tpa\ud83d")


def test_password_too_predictable() -> None:
    message = refusal(PASSWORD, "Password1234!")
    assert message.startswith("password too predictable: estimated 17 bits, at least 50 required")
    assert "common password" in message
    assert message.endswith("use a longer passphrase, or a random password from a password manager")


def test_a_text_that_is_not_a_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        PASSWORD.check(b"kx7mq2vz9tpa")  # type: ignore[arg-type]


# --- passphrase -----------------------------------------------------------------------------------


def test_passphrase_too_few_words() -> None:
    message = refusal(PASSPHRASE, "orbitlantern coppermeadow")
    assert message == "passphrase has too few words: 2, at least 4 required"


def test_passphrase_too_short() -> None:
    message = refusal(PASSPHRASE, "orb lan cop mea")
    assert message == "passphrase too short: 15 characters, at least 20 required"


def test_passphrase_too_predictable() -> None:
    message = refusal(PASSPHRASE, "password password password password")
    assert message.startswith("passphrase too predictable: estimated")
    assert message.endswith("add more unrelated words")


# --- PIN ------------------------------------------------------------------------------------------


FULLWIDTH_PIN = "\uff15\uff18\uff13\uff19\uff12\uff10"


@pytest.mark.parametrize("pin", ["58392a", "583 920", FULLWIDTH_PIN, "-583920"])
def test_pin_digits_only(pin: str) -> None:
    assert refusal(PIN, pin) == "PIN must be digits only (0-9)"


def test_pin_too_short() -> None:
    assert refusal(PIN, "58392") == "PIN too short: 5 digits, at least 6 required"


def test_pin_all_the_same_digit() -> None:
    assert "all digits are the same" in refusal(PIN, "777777")


@pytest.mark.parametrize("pin", ["123456", "345678", "987654", "890123", "2109876"])
def test_pin_straight_sequence(pin: str) -> None:
    assert "one more, or one less, than the one before" in refusal(PIN, pin)


@pytest.mark.parametrize("pin", ["121212", "123123", "1231231", "58395839"])
def test_pin_repeated_group(pin: str) -> None:
    assert "repeats a shorter group of digits" in refusal(PIN, pin)


@pytest.mark.parametrize("pin", ["159753", "112233", "147258"])
def test_pin_most_common(pin: str) -> None:
    assert "one of the most common PINs" in refusal(PIN, pin)


# --- custom policies ------------------------------------------------------------------------------


def test_a_custom_minimum_length() -> None:
    policy = PasswordPolicy(min_length=16)
    assert "at least 16 required" in refusal(policy, "kx7mq2vz9tpa")


def test_min_bits_zero_turns_the_estimate_off() -> None:
    PasswordPolicy(min_bits=0).check("Password1234!")


def test_named_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="choose one of password, pin, passphrase"):
        PasswordPolicy.named("pattern")


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "pattern"},
        {"min_length": 0},
        {"min_length": 30, "max_length": 20},
        {"max_length": 1025},
        {"min_words": -1},
        {"min_bits": -1},
    ],
)
def test_inconsistent_policies_cannot_be_built(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="PasswordPolicy"):
        PasswordPolicy(**fields)  # type: ignore[arg-type]
