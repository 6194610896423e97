"""walletbackup.kdf: Argon2id derivation, cost bounds, policy floors, calibration."""

from __future__ import annotations

import base64
import math
import subprocess
import sys
import textwrap

import pytest
from argon2 import PasswordHasher, profiles
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from hypothesis import given
from hypothesis import strategies as st

from walletbackup import kdf
from walletbackup.errors import MalformedBackup, PolicyViolation
from walletbackup.kdf import LOW_MEMORY_FLOOR, RFC9106_FLOOR, Argon2Params

SALT = bytes(range(16))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).rstrip(b"=").decode()


# --- derive ---------------------------------------------------------------------------------


def test_rfc9106_vector_checks_the_reference_implementation() -> None:
    # RFC 9106 §5.3 (Argon2id). It needs a secret and associated data, which hash_secret_raw does
    # not take, so it vouches for cryptography's Argon2id; derive() is then checked against that.
    tag = Argon2id(
        salt=b"\x02" * 16,
        length=32,
        iterations=3,
        lanes=4,
        memory_cost=32,
        ad=b"\x04" * 12,
        secret=b"\x03" * 8,
    ).derive(b"\x01" * 32)
    assert tag.hex() == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"


@pytest.mark.parametrize(
    ("secret", "salt", "params"),
    [
        (b"\x01" * 32, b"\x02" * 16, Argon2Params(3, 32, 4)),
        (b"", bytes(range(64)), Argon2Params(1, 8, 1)),
        ("pässwörd".encode(), SALT, LOW_MEMORY_FLOOR),
        (b"correct horse battery staple", b"s" * 32, Argon2Params(2, 1024, 3)),
    ],
)
def test_derive_matches_cryptography_argon2id(
    secret: bytes, salt: bytes, params: Argon2Params
) -> None:
    expected = Argon2id(
        salt=salt,
        length=32,
        iterations=params.time_cost,
        lanes=params.parallelism,
        memory_cost=params.memory_kib,
    ).derive(secret)
    assert kdf.derive(secret, salt, params) == expected


def test_derive_output_verifies_as_an_argon2id_v19_hash() -> None:
    params = Argon2Params(2, 4096, 2)
    key = kdf.derive(b"hunter2", SALT, params)
    encoded = f"$argon2id$v=19$m=4096,t=2,p=2${_b64(SALT)}${_b64(key)}"
    assert PasswordHasher().verify(encoded, b"hunter2")


def test_derive_returns_32_bytes_that_depend_on_secret_salt_and_costs() -> None:
    params = Argon2Params(1, 64, 1)
    base = kdf.derive(b"a", SALT, params)
    assert len(base) == 32
    assert kdf.derive(b"b", SALT, params) != base
    assert kdf.derive(b"a", SALT[::-1], params) != base
    assert kdf.derive(b"a", SALT, Argon2Params(2, 64, 1)) != base
    assert kdf.derive(b"a", SALT, Argon2Params(1, 128, 1)) != base


@pytest.mark.parametrize("salt", [b"", b"x" * 15, b"x" * 65])
def test_derive_refuses_a_salt_outside_16_to_64_bytes(salt: bytes) -> None:
    with pytest.raises(ValueError, match="salt must be 16 to 64 bytes"):
        kdf.derive(b"pw", salt, LOW_MEMORY_FLOOR)


def test_derive_refuses_a_text_salt() -> None:
    with pytest.raises(ValueError, match="salt"):
        kdf.derive(b"pw", "s" * 16, LOW_MEMORY_FLOOR)  # type: ignore[arg-type]


def test_derive_refuses_a_text_secret() -> None:
    with pytest.raises(TypeError, match="secret must be bytes"):
        kdf.derive("pw", SALT, LOW_MEMORY_FLOOR)  # type: ignore[arg-type]


def test_derive_refuses_costs_that_are_not_argon2params() -> None:
    with pytest.raises(TypeError, match="Argon2Params"):
        kdf.derive(b"pw", SALT, {"t": 1, "m": 8, "p": 1})  # type: ignore[arg-type]


def test_derive_reports_a_failed_allocation_as_method_unavailable() -> None:
    # A real allocation failure: a child process capped at 512 MiB of address space asks for 1 GiB.
    child = textwrap.dedent(
        """
        import resource
        from walletbackup import kdf
        from walletbackup.errors import MethodUnavailable
        limit = 512 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            kdf.derive(b"pw", bytes(16), kdf.Argon2Params(1, 1024 * 1024, 1))
        except MethodUnavailable as exc:
            print("MethodUnavailable:", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith("MethodUnavailable: Argon2id could not run with t=1, ")
    assert "enough free memory" in result.stdout


# --- Argon2Params and its bounds ------------------------------------------------------------------


def test_params_round_trip_through_args() -> None:
    params = Argon2Params(4, 131072, 2)
    assert params.to_args() == {"t": 4, "m": 131072, "p": 2}
    assert Argon2Params.from_args(params.to_args()) == params


def test_params_str_names_every_cost() -> None:
    assert str(RFC9106_FLOOR) == "t=3, m=65536 KiB (64 MiB), p=4"


@pytest.mark.parametrize(
    "args",
    [{"t": 1, "m": 8, "p": 1}, {"t": 64, "m": 4194304, "p": 16}, {"t": 1, "m": 128, "p": 16}],
)
def test_from_args_accepts_the_bounds_themselves(args: dict[str, int]) -> None:
    assert Argon2Params.from_args(args).to_args() == args


GOOD = {"t": 3, "m": 65536, "p": 4}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"t": None}, "'t'"),
        ({"m": None}, "'m'"),
        ({"p": None}, "'p'"),
        ({"t": 0}, "'t'"),
        ({"t": 65}, "'t'"),
        ({"t": -1}, "'t'"),
        ({"m": 31}, "'m'"),  # below 8 * p = 32
        ({"m": 4194305}, "'m'"),
        ({"m": 0}, "'m'"),
        ({"p": 0}, "'p'"),
        ({"p": 17}, "'p'"),
        ({"t": True}, "'t'"),
        ({"p": False}, "'p'"),
        ({"t": 3.0}, "'t'"),
        ({"m": "65536"}, "'m'"),
        ({"p": [4]}, "'p'"),
        ({"m": 10**400}, "'m'"),
    ],
)
def test_from_args_rejects_each_bad_field(change: dict[str, object], field: str) -> None:
    args = {key: value for key, value in (GOOD | change).items() if value is not None}
    with pytest.raises(MalformedBackup, match=field):
        Argon2Params.from_args(args)


def test_from_args_says_when_a_field_is_missing() -> None:
    with pytest.raises(MalformedBackup, match="'m' must be an integer, found missing"):
        Argon2Params.from_args({"t": 3, "p": 4})


def test_from_args_does_not_print_a_huge_number() -> None:
    with pytest.raises(MalformedBackup, match="too large to show") as caught:
        Argon2Params.from_args({"t": 3, "m": 10**400, "p": 4})
    assert len(str(caught.value)) < 200


def test_from_args_rejects_something_that_is_not_a_mapping() -> None:
    with pytest.raises(MalformedBackup, match="must be an object"):
        Argon2Params.from_args([3, 65536, 4])  # type: ignore[arg-type]


@pytest.mark.parametrize(("t", "m", "p"), [(0, 64, 1), (65, 64, 1), (1, 7, 1), (1, 64, 17)])
def test_params_cannot_be_built_out_of_bounds(t: int, m: int, p: int) -> None:
    with pytest.raises(ValueError, match="must be from"):
        Argon2Params(t, m, p)


def test_params_cannot_be_built_from_bools() -> None:
    with pytest.raises(TypeError, match="time_cost must be an int"):
        Argon2Params(True, 64, 1)


# --- floors ---------------------------------------------------------------------------------------


def test_floors_are_rfc9106_second_profile_and_owasp_minimum() -> None:
    rfc = profiles.RFC_9106_LOW_MEMORY  # argon2-cffi's name for RFC 9106's second option
    assert (rfc.time_cost, rfc.memory_cost, rfc.parallelism) == (3, 65536, 4)
    assert Argon2Params(3, 65536, 4) == RFC9106_FLOOR
    assert Argon2Params(2, 19456, 1) == LOW_MEMORY_FLOOR
    assert kdf.floor_for(False) == RFC9106_FLOOR
    assert kdf.floor_for(True) == LOW_MEMORY_FLOOR


@pytest.mark.parametrize(
    ("params", "low_memory"),
    [
        (RFC9106_FLOOR, False),
        (Argon2Params(3, 65536, 1), False),  # lanes are not a floor
        (Argon2Params(10, 1048576, 4), False),
        (LOW_MEMORY_FLOOR, True),
        (RFC9106_FLOOR, True),
    ],
)
def test_check_floor_accepts_costs_at_or_above_the_floor(
    params: Argon2Params, low_memory: bool
) -> None:
    kdf.check_floor(params, low_memory)


def test_check_floor_names_a_time_cost_below_the_floor() -> None:
    with pytest.raises(PolicyViolation, match="time cost t=2 is below the floor t=3 of RFC 9106"):
        kdf.check_floor(Argon2Params(2, 65536, 4), low_memory=False)


def test_check_floor_names_memory_below_the_floor() -> None:
    with pytest.raises(PolicyViolation, match=r"memory m=32768 KiB \(32 MiB\) is below the floor"):
        kdf.check_floor(Argon2Params(3, 32768, 4), low_memory=False)


def test_check_floor_names_both_shortfalls_and_the_way_out() -> None:
    with pytest.raises(PolicyViolation) as caught:
        kdf.check_floor(LOW_MEMORY_FLOOR, low_memory=False)
    message = str(caught.value)
    assert "t=2 is below the floor t=3" in message
    assert "m=19456 KiB (19 MiB) is below the floor m=65536 KiB (64 MiB)" in message
    assert "flag the low-memory profile" in message


def test_check_floor_of_the_low_memory_profile() -> None:
    with pytest.raises(PolicyViolation, match="t=1 is below the floor t=2 of the low-memory"):
        kdf.check_floor(Argon2Params(1, 19456, 1), low_memory=True)


# --- calibration ----------------------------------------------------------------------------------


@pytest.mark.parametrize("low_memory", [False, True])
def test_calibrate_returns_the_floor_when_the_floor_exceeds_the_target(low_memory: bool) -> None:
    floor = kdf.floor_for(low_memory)
    assert kdf.calibrate(1e-6, 256 * 1024, low_memory=low_memory) == floor


def test_calibrate_honours_the_memory_cap_and_spends_the_rest_on_passes() -> None:
    lines: list[str] = []
    params = kdf.calibrate(0.2, LOW_MEMORY_FLOOR.memory_kib, low_memory=True, progress=lines.append)
    assert params.memory_kib == LOW_MEMORY_FLOOR.memory_kib
    assert params.time_cost >= LOW_MEMORY_FLOOR.time_cost
    assert params.parallelism == LOW_MEMORY_FLOOR.parallelism
    assert 1 <= len(lines) <= 5
    assert all(line.startswith("Argon2id t=") and "target 0.20 s" in line for line in lines)


def test_calibrate_never_goes_below_the_rfc9106_floor_or_above_the_cap() -> None:
    cap = 80 * 1024
    params = kdf.calibrate(0.3, cap)
    assert RFC9106_FLOOR.memory_kib <= params.memory_kib <= cap
    assert params.time_cost >= RFC9106_FLOOR.time_cost
    assert params.parallelism == RFC9106_FLOOR.parallelism


def test_calibrate_refuses_a_cap_below_the_floor() -> None:
    with pytest.raises(PolicyViolation, match="memory cap 32 MiB is below the Argon2id floor"):
        kdf.calibrate(0.5, 32 * 1024)


@pytest.mark.parametrize("target", [0, -1.0, math.nan, math.inf, "0.5"])
def test_calibrate_refuses_a_target_that_is_not_a_positive_number(target: object) -> None:
    with pytest.raises(ValueError, match="target_seconds"):
        kdf.calibrate(target, 256 * 1024)  # type: ignore[arg-type]


# The proposal step is pure arithmetic, so the algorithm is checked without a clock.


def test_proposal_spends_spare_time_on_memory_first() -> None:
    proposal = kdf._propose(RFC9106_FLOOR, 0.1, 0.4, 1024 * 1024, RFC9106_FLOOR)
    assert proposal == Argon2Params(3, 4 * 65536, 4)


def test_proposal_adds_passes_once_memory_is_at_the_cap() -> None:
    cap = 128 * 1024
    proposal = kdf._propose(Argon2Params(3, cap, 4), 0.1, 0.4, cap, RFC9106_FLOOR)
    assert proposal == Argon2Params(12, cap, 4)


def test_proposal_backs_off_after_an_overshoot() -> None:
    proposal = kdf._propose(Argon2Params(3, 262144, 4), 1.0, 0.5, 262144, RFC9106_FLOOR)
    assert proposal == Argon2Params(3, 131072, 4)


@given(
    time_cost=st.integers(1, 64),
    memory_mib=st.integers(1, 4096),
    elapsed=st.floats(1e-6, 100),
    target=st.floats(1e-3, 10),
    cap_mib=st.integers(64, 8192),
    low_memory=st.booleans(),
)
def test_proposals_stay_between_the_floor_and_the_bounds(
    time_cost: int,
    memory_mib: int,
    elapsed: float,
    target: float,
    cap_mib: int,
    low_memory: bool,
) -> None:
    floor = kdf.floor_for(low_memory)
    cap = min(cap_mib * 1024, kdf.MEMORY_KIB_MAX)
    proposal = kdf._propose(
        Argon2Params(time_cost, memory_mib * 1024, 4), elapsed, target, cap, floor
    )
    kdf.check_floor(proposal, low_memory)
    assert proposal.memory_kib <= cap
    assert proposal.time_cost <= kdf.TIME_COST_MAX
    assert proposal.parallelism == floor.parallelism
    # Passes rise only once memory is at the cap (to within the whole-MiB rounding).
    if proposal.time_cost > floor.time_cost:
        assert proposal.memory_kib > cap - 1024
