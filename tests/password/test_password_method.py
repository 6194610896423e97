"""PasswordMethod: enrollment, unlock, strict args, floors, calibration cache, re-wrap advice."""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from walletbackup import kdf
from walletbackup.errors import MalformedBackup, PolicyViolation
from walletbackup.kdf import LOW_MEMORY_FLOOR, RFC9106_FLOOR, Argon2Params
from walletbackup.methods import MethodContext
from walletbackup_password import PasswordMethod, PasswordPolicy
from walletbackup_password import method as method_module

CONTEXT = MethodContext("aa" * 16, "bb" * 16, "cc" * 32, "dd" * 8)
PASSWORD = "kx7mq2vz9tpa-river"
# The cheapest costs policy allows: the flagged low-memory profile's floor keeps the suite fast.
CHEAP: dict[str, Any] = {"low_memory": True, "params": LOW_MEMORY_FLOOR}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def valid_args(**change: Any) -> dict[str, Any]:
    args = {
        "kdf": "argon2id",
        "v": 19,
        "salt": _b64(bytes(range(16))),
        "t": 2,
        "m": 19456,
        "p": 1,
        "profile": "low-memory",
        "kind": "password",
    }
    return args | change


# --- enroll and unlock ----------------------------------------------------------------------------


def test_round_trip_with_the_low_memory_profile() -> None:
    enrollment = PasswordMethod(password=PASSWORD, **CHEAP).enroll(CONTEXT)
    assert dict(enrollment.args) == valid_args(salt=enrollment.args["salt"])
    assert PasswordMethod(password=PASSWORD).unlock(enrollment.args, CONTEXT) == enrollment.secret


def test_round_trip_at_the_rfc9106_floor() -> None:
    enrollment = PasswordMethod(password=PASSWORD, params=RFC9106_FLOOR).enroll(CONTEXT)
    args = enrollment.args
    assert (args["t"], args["m"], args["p"], args["profile"]) == (3, 65536, 4, "rfc9106")
    assert PasswordMethod(password=PASSWORD).unlock(args, CONTEXT) == enrollment.secret


def test_the_secret_is_argon2id_of_the_utf8_nfc_password() -> None:
    password = "Crème brûlée, s'il vous plaît"
    enrollment = PasswordMethod(password=password, **CHEAP).enroll(CONTEXT)
    salt = base64.urlsafe_b64decode(str(enrollment.args["salt"]) + "==")
    expected = Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19456).derive(
        unicodedata.normalize("NFC", password).encode()
    )
    assert enrollment.secret == expected


def test_nfc_and_nfd_spellings_of_a_password_give_the_same_secret() -> None:
    nfc = unicodedata.normalize("NFC", "Ångström café naïve 42")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    enrollment = PasswordMethod(password=nfd, **CHEAP).enroll(CONTEXT)
    assert PasswordMethod(password=nfc).unlock(enrollment.args, CONTEXT) == enrollment.secret


def test_a_wrong_password_gives_a_different_secret_without_raising() -> None:
    enrollment = PasswordMethod(password=PASSWORD, **CHEAP).enroll(CONTEXT)
    other = PasswordMethod(password=PASSWORD + "!").unlock(enrollment.args, CONTEXT)
    assert len(other) == 32
    assert other != enrollment.secret


def test_unlock_derives_even_from_text_policy_would_refuse() -> None:
    enrollment = PasswordMethod(password=PASSWORD, **CHEAP).enroll(CONTEXT)
    odd = PasswordMethod(password="\ud800").unlock(enrollment.args, CONTEXT)
    assert len(odd) == 32
    assert odd != enrollment.secret


def test_each_enrollment_has_its_own_salt_and_secret() -> None:
    method = PasswordMethod(password=PASSWORD, **CHEAP)
    first, second = method.enroll(CONTEXT), method.enroll(CONTEXT)
    assert first.args["salt"] != second.args["salt"]
    assert first.secret != second.secret
    assert len(base64.urlsafe_b64decode(str(first.args["salt"]) + "==")) == 16


@pytest.mark.parametrize("kind", ["pin", "passphrase"])
def test_the_policy_kind_is_recorded(kind: str) -> None:
    password = {"pin": "583920", "passphrase": "orbit lantern copper meadow"}[kind]
    enrollment = PasswordMethod(password=password, policy=kind, **CHEAP).enroll(CONTEXT)
    assert enrollment.args["kind"] == kind


def test_enroll_checks_the_policy() -> None:
    with pytest.raises(PolicyViolation, match="too short: 5 characters, at least 12 required"):
        PasswordMethod(password="short", **CHEAP).enroll(CONTEXT)


def test_enroll_uses_a_custom_policy_object() -> None:
    policy = PasswordPolicy(min_length=24)
    with pytest.raises(PolicyViolation, match="at least 24 required"):
        PasswordMethod(password=PASSWORD, policy=policy, **CHEAP).enroll(CONTEXT)


def test_unlock_does_not_apply_the_policy() -> None:
    # Policies tighten over time; an old, now too short password must still open its backup.
    method = PasswordMethod(password="orbit lantern", policy=PasswordPolicy(min_length=8), **CHEAP)
    enrollment = method.enroll(CONTEXT)
    assert PasswordMethod(password="orbit lantern").unlock(enrollment.args, CONTEXT) == (
        enrollment.secret
    )


@pytest.mark.parametrize("call", ["enroll", "unlock"])
def test_a_missing_password_is_a_type_error(call: str) -> None:
    method = PasswordMethod(**CHEAP)
    with pytest.raises(TypeError, match="'password' option is required"):
        method.enroll(CONTEXT) if call == "enroll" else method.unlock(valid_args(), CONTEXT)


def test_a_password_that_is_not_text_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        PasswordMethod(password=PASSWORD.encode(), **CHEAP).enroll(CONTEXT)


# --- floors and profiles --------------------------------------------------------------------------


def test_costs_below_the_rfc9106_floor_are_refused_at_enroll() -> None:
    method = PasswordMethod(password=PASSWORD, params=Argon2Params(3, 32768, 4))
    with pytest.raises(PolicyViolation, match=r"memory m=32768 KiB \(32 MiB\) is below the floor"):
        method.enroll(CONTEXT)


def test_the_low_memory_profile_is_refused_unless_flagged() -> None:
    method = PasswordMethod(password=PASSWORD, params=LOW_MEMORY_FLOOR)
    with pytest.raises(PolicyViolation, match="flag the low-memory profile"):
        method.enroll(CONTEXT)


def test_costs_below_the_low_memory_floor_are_refused_even_when_flagged() -> None:
    method = PasswordMethod(password=PASSWORD, low_memory=True, params=Argon2Params(1, 19456, 1))
    with pytest.raises(PolicyViolation, match="t=1 is below the floor t=2"):
        method.enroll(CONTEXT)


def test_a_memory_cap_below_the_floor_is_refused_at_enroll() -> None:
    method = PasswordMethod(password=PASSWORD, max_memory_mib=32)
    with pytest.raises(PolicyViolation, match="memory cap 32 MiB is below the Argon2id floor"):
        method.enroll(CONTEXT)


def test_calibration_runs_once_per_process_for_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, ...]] = []
    real = kdf.calibrate

    def counting(*args: Any, **kwargs: Any) -> Argon2Params:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(kdf, "calibrate", counting)
    # A target no machine meets: calibration settles on the floor after one run.
    options = {"target_seconds": 1e-7, "max_memory_mib": 64, "low_memory": True}
    first = PasswordMethod(password=PASSWORD, **options).enroll(CONTEXT)
    second = PasswordMethod(password=PASSWORD, **options).enroll(CONTEXT)
    other = PasswordMethod(password=PASSWORD, **(options | {"max_memory_mib": 65})).enroll(CONTEXT)
    assert calls == [(1e-7, 64 * 1024), (1e-7, 65 * 1024)]
    assert {(e.args["t"], e.args["m"]) for e in (first, second, other)} == {(2, 19456)}


# --- strict args, before any KDF ------------------------------------------------------------------


MISSING = object()
BAD_ARGS: list[tuple[str, Any, str]] = [
    *[(key, MISSING, key) for key in ("kdf", "v", "salt", "t", "m", "p", "profile", "kind")],
    ("kdf", "argon2i", "'kdf'"),
    ("kdf", "ARGON2ID", "'kdf'"),
    ("v", 16, "'v'"),
    ("v", True, "'v'"),
    ("v", "19", "'v'"),
    ("t", 0, "'t'"),
    ("t", 65, "'t'"),
    ("t", True, "'t'"),
    ("t", 2.0, "'t'"),
    ("m", 7, "'m'"),
    ("m", 4194305, "'m'"),
    ("m", "19456", "'m'"),
    ("p", 0, "'p'"),
    ("p", 17, "'p'"),
    ("p", None, "'p'"),
    ("profile", "fast", "'profile'"),
    ("profile", 1, "'profile'"),
    ("kind", "pattern", "'kind'"),
    ("salt", _b64(bytes(15)), "'salt'"),
    ("salt", _b64(bytes(65)), "'salt'"),
    ("salt", _b64(bytes(16)) + "==", "'salt'"),
    ("salt", base64.b64encode(b"\xfb\xff" * 8).decode().rstrip("="), "'salt'"),
    ("salt", _b64(bytes(16))[:-1] + "B", "'salt'"),  # non-zero padding bits: a second spelling
    ("salt", "A" * 21 + "!", "'salt'"),
    ("salt", "A" * 25, "'salt'"),  # length 1 mod 4 is never base64
    ("salt", "A" * 10_000, "'salt'"),
    ("salt", bytes(16), "'salt'"),
    ("salt", ["AAAA"], "'salt'"),
    ("extra", "x", "unknown password stanza argument"),
]


def _bad(key: str, value: Any) -> dict[str, Any]:
    args = valid_args()
    if value is MISSING:
        del args[key]
    else:
        args[key] = value
    return args


@pytest.mark.usefixtures("kdf_forbidden")
@pytest.mark.parametrize(("key", "value", "named"), BAD_ARGS)
def test_validate_args_rejects_before_any_kdf(key: str, value: Any, named: str) -> None:
    with pytest.raises(MalformedBackup, match=named):
        PasswordMethod.validate_args(_bad(key, value))


@pytest.mark.usefixtures("kdf_forbidden")
@pytest.mark.parametrize(("key", "value", "named"), BAD_ARGS)
def test_unlock_rejects_bad_args_before_any_kdf(key: str, value: Any, named: str) -> None:
    with pytest.raises(MalformedBackup, match=named):
        PasswordMethod(password=PASSWORD).unlock(_bad(key, value), CONTEXT)


@pytest.mark.usefixtures("kdf_forbidden")
def test_validate_args_rejects_args_that_are_not_a_mapping() -> None:
    with pytest.raises(MalformedBackup, match="must be an object"):
        PasswordMethod.validate_args([("kdf", "argon2id")])  # type: ignore[arg-type]


@pytest.mark.usefixtures("kdf_forbidden")
def test_the_forbidden_kdf_is_really_the_one_unlock_reaches() -> None:
    # The control for the two tests above: with valid args, unlock does reach the patched KDF.
    with pytest.raises(AssertionError, match="the KDF ran"):
        PasswordMethod(password=PASSWORD).unlock(valid_args(), CONTEXT)


@pytest.mark.usefixtures("kdf_forbidden")
@pytest.mark.parametrize(
    "change",
    [
        {},
        {"salt": _b64(bytes(64))},
        {"salt": _b64(bytes(17))},
        {"t": 16, "m": 1048576, "p": 16, "profile": "rfc9106"},  # at the default ceiling
        {"t": 1, "m": 8, "p": 1},
        {"kind": "pin"},
        {"kind": "passphrase"},
    ],
)
def test_validate_args_accepts_every_well_formed_stanza(change: dict[str, Any]) -> None:
    PasswordMethod.validate_args(valid_args(**change))


# --- re-wrap advice -------------------------------------------------------------------------------


def test_no_advice_for_costs_at_todays_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    # No calibration made earlier in this process (another test's backup) may count here.
    monkeypatch.setattr(method_module, "_calibrated", {})
    method = PasswordMethod(password=PASSWORD)
    assert method.rewrap_advice(valid_args()) is None
    assert method.rewrap_advice(valid_args(t=3, m=65536, p=4, profile="rfc9106")) is None


def test_advice_for_stored_costs_below_the_floor_of_their_profile() -> None:
    advice = PasswordMethod(password=PASSWORD).rewrap_advice(valid_args(profile="rfc9106"))
    assert advice == (
        "stored Argon2 costs t=2, m=19456 KiB are below today's policy (today's rfc9106 floor "
        "(t=3, m=65536 KiB (64 MiB), p=4)); re-wrap with t=3, m=65536 KiB or more "
        "(enroll the password again)"
    )


def test_advice_for_stored_memory_below_the_low_memory_floor() -> None:
    advice = PasswordMethod(password=PASSWORD).rewrap_advice(valid_args(m=8192))
    assert advice is not None
    assert "t=2, m=8192 KiB are below today's policy" in advice
    assert "re-wrap with t=2, m=19456 KiB or more" in advice


def test_advice_for_stored_costs_far_below_this_machines_costs() -> None:
    method = PasswordMethod(password=PASSWORD, params=Argon2Params(3, 512 * 1024, 4))
    advice = method.rewrap_advice(valid_args(t=3, m=65536, p=4, profile="rfc9106"))
    assert advice is not None
    assert "the costs this machine uses today" in advice
    assert "re-wrap with t=3, m=524288 KiB or more" in advice


def test_advice_compares_with_this_process_calibration_for_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stand in for an earlier calibration: calibrating for real would make the costs vary.
    key = (0.75, 512, False, kdf.DEFAULT_CEILING)
    monkeypatch.setitem(method_module._calibrated, key, Argon2Params(3, 524288, 4))
    stored = valid_args(t=3, m=65536, p=4, profile="rfc9106")
    calibrated_here = PasswordMethod(password=PASSWORD, target_seconds=0.75, max_memory_mib=512)
    advice = calibrated_here.rewrap_advice(stored)
    assert advice is not None
    assert "re-wrap with t=3, m=524288 KiB or more" in advice
    assert PasswordMethod(password=PASSWORD, target_seconds=0.75).rewrap_advice(stored) is None


@pytest.mark.usefixtures("kdf_forbidden")
def test_advice_never_runs_a_kdf() -> None:
    method = PasswordMethod(password=PASSWORD, target_seconds=0.125)
    assert method.rewrap_advice(valid_args(t=3, m=65536, p=4, profile="rfc9106")) is None


def test_no_advice_for_costs_near_this_machines_costs() -> None:
    method = PasswordMethod(password=PASSWORD, params=Argon2Params(3, 256 * 1024, 4))
    assert method.rewrap_advice(valid_args(t=3, m=65536, p=4, profile="rfc9106")) is None


def test_no_advice_right_after_enrolling() -> None:
    method = PasswordMethod(password=PASSWORD, **CHEAP)
    assert method.rewrap_advice(method.enroll(CONTEXT).args) is None


@pytest.mark.usefixtures("kdf_forbidden")
def test_advice_checks_the_args_first() -> None:
    with pytest.raises(MalformedBackup, match="'t'"):
        PasswordMethod(password=PASSWORD).rewrap_advice(valid_args(t=1000))


# --- options, repr, availability ------------------------------------------------------------------


def test_options_are_declared_for_front_ends() -> None:
    options = {option.name: option for option in PasswordMethod.options}
    assert list(options) == [
        "password",
        "policy",
        "target_seconds",
        "max_memory_mib",
        "low_memory",
        "params",
    ]
    password = options.pop("password")
    assert (password.secret, password.confirm, password.required, password.for_unlock) == (
        True,
        True,
        True,
        True,
    )
    for option in options.values():
        assert (option.secret, option.required, option.for_unlock) == (False, False, False)
        assert option.help


def test_the_method_is_named_password_and_single() -> None:
    assert PasswordMethod.name == "password"
    assert PasswordMethod.multiple is False


def test_repr_and_str_never_show_the_password() -> None:
    method = PasswordMethod(password=PASSWORD, **CHEAP)
    assert PASSWORD not in repr(method)
    assert PASSWORD not in str(method)
    assert repr(method) == "<PasswordMethod method='password'>"


def test_the_method_is_always_available() -> None:
    assert PasswordMethod().availability().available


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"policy": "pattern"}, ValueError, "unknown password policy"),
        ({"target_seconds": 0}, ValueError, "target_seconds"),
        ({"target_seconds": "0.5"}, ValueError, "target_seconds"),
        ({"max_memory_mib": 256.0}, TypeError, "max_memory_mib"),
        ({"max_memory_mib": True}, TypeError, "max_memory_mib"),
        ({"low_memory": "yes"}, TypeError, "low_memory"),
        ({"params": {"t": 3}}, TypeError, "params"),
        ({"pasword": PASSWORD}, TypeError, "unknown option"),
    ],
)
def test_bad_options_are_refused_when_the_method_is_made(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        PasswordMethod(**options)
    assert PASSWORD not in str(caught.value)
