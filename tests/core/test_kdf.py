"""walletbackup.kdf: Argon2id derivation, cost bounds, the unlock ceiling, floors, calibration."""

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
from walletbackup.kdf import (
    DEFAULT_CEILING,
    LOW_MEMORY_FLOOR,
    MEMORY_KIB_MAX,
    RFC9106_FLOOR,
    TIME_COST_MAX,
    Argon2Params,
    Ceiling,
)

SALT = bytes(range(16))
MIB = 1024
GIB = 1024 * MIB
#: A ceiling as wide as the bounds: everything the format allows.
WIDEST = Ceiling(MEMORY_KIB_MAX, TIME_COST_MAX * MEMORY_KIB_MAX)


@pytest.fixture(autouse=True)
def _default_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests see the default unlock ceiling unless they set one, whatever the developer's shell has.
    monkeypatch.delenv(kdf.CEILING_ENV, raising=False)


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
    assert Argon2Params.from_args(args, WIDEST).to_args() == args


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


# --- the unlock ceiling ---------------------------------------------------------------------------


@pytest.fixture
def kdf_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any Argon2 run fail loudly, to prove a check happened before it."""

    def boom(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the KDF ran")

    monkeypatch.setattr(kdf, "hash_secret_raw", boom)


def test_the_default_ceiling_is_4x_the_default_cap_and_64_passes_of_it() -> None:
    assert kdf.DEFAULT_MEMORY_CAP_KIB == 256 * MIB
    assert Ceiling(memory_kib=GIB, work=16 * GIB) == DEFAULT_CEILING
    assert DEFAULT_CEILING.memory_kib == 4 * kdf.DEFAULT_MEMORY_CAP_KIB
    assert DEFAULT_CEILING.work == TIME_COST_MAX * kdf.DEFAULT_MEMORY_CAP_KIB
    assert str(DEFAULT_CEILING) == "memory 1 GiB, work (t x m) 16 GiB"
    assert DEFAULT_CEILING.to_text() == "memory=1GiB,work=16GiB"
    assert Ceiling.current() == DEFAULT_CEILING


@pytest.mark.usefixtures("kdf_forbidden")
def test_a_stanza_at_the_old_bounds_is_refused_before_any_kdf() -> None:
    with pytest.raises(PolicyViolation) as caught:
        Argon2Params.from_args({"t": 64, "m": MEMORY_KIB_MAX, "p": 16})
    assert str(caught.value) == (
        "Argon2id costs t=64, m=4194304 KiB (4096 MiB), p=16 exceed this device's unlock "
        "ceiling: memory 4 GiB > 1 GiB and work (t x m) 256 GiB > 16 GiB. Refused before running "
        "them; if the backup is genuine and its costs were chosen deliberately, allow them on "
        'every device that opens it: WALLETBACKUP_KDF_CEILING="memory=4GiB,work=256GiB" '
        "(see docs/methods/password.md)"
    )


@pytest.mark.parametrize(
    ("args", "limit", "remedy"),
    [
        (
            {"t": 1, "m": GIB + 1024, "p": 4},
            "memory 1025 MiB > 1 GiB",
            "memory=1025MiB,work=16GiB",
        ),
        ({"t": 17, "m": GIB, "p": 4}, "work (t x m) 17 GiB > 16 GiB", "memory=1GiB,work=17GiB"),
        ({"t": 64, "m": 257 * MIB, "p": 4}, "work (t x m) 16448 MiB > 16 GiB", "work=16448MiB"),
    ],
)
def test_from_args_names_the_limit_passed_and_the_setting_that_allows_it(
    args: dict[str, int], limit: str, remedy: str
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        Argon2Params.from_args(args)
    message = str(caught.value)
    assert f"ceiling: {limit}. Refused" in message
    assert remedy in message
    assert " and " not in message.split("ceiling: ")[1].split(".")[0]  # only the limit passed


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(RFC9106_FLOOR, id="rfc9106-second-option"),
        pytest.param(LOW_MEMORY_FLOOR, id="low-memory-owasp"),
        # The most the default calibration (cap 256 MiB) can choose on any machine: 64 passes.
        pytest.param(Argon2Params(64, 256 * MIB, 4), id="default-calibration-at-most"),
        # The strongest documented option, max_memory_mib=1024, at most: 16 passes of 1 GiB.
        pytest.param(Argon2Params(16, GIB, 4), id="max-memory-1024-at-most"),
        pytest.param(Argon2Params(1, GIB, 16), id="all-memory-one-pass"),
    ],
)
def test_every_profile_the_method_offers_opens_under_the_default_ceiling(
    params: Argon2Params,
) -> None:
    DEFAULT_CEILING.check(params)
    assert Argon2Params.from_args(params.to_args()) == params


def test_the_ceiling_is_read_from_the_environment_at_each_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_the_bounds = {"t": 64, "m": MEMORY_KIB_MAX, "p": 16}
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=4GiB,work=256GiB")
    assert Argon2Params.from_args(at_the_bounds).to_args() == at_the_bounds
    # RFC 9106's first option (t=1, 2 GiB) needs only the memory raised; work keeps its default.
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=2GiB")
    assert Ceiling.current() == Ceiling(2 * GIB, 16 * GIB)
    Argon2Params.from_args({"t": 1, "m": 2 * GIB, "p": 4})
    # Lowering it works too: a server that will not spend 256 MiB on one unlock.
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=128MiB")
    with pytest.raises(PolicyViolation, match="memory 256 MiB > 128 MiB"):
        Argon2Params.from_args({"t": 3, "m": 256 * MIB, "p": 4})


def test_an_explicit_ceiling_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=64MiB")
    Argon2Params.from_args({"t": 3, "m": 256 * MIB, "p": 4}, DEFAULT_CEILING)


@pytest.mark.parametrize(
    ("text", "ceiling"),
    [
        ("", DEFAULT_CEILING),
        ("  ", DEFAULT_CEILING),
        ("memory=2GiB", Ceiling(2 * GIB, 16 * GIB)),
        ("work=32GiB", Ceiling(GIB, 32 * GIB)),
        (" Work = 32 gib , MEMORY=2048MiB ".lower(), Ceiling(2 * GIB, 32 * GIB)),
        ("memory=2048MiB,work=33554432KiB,", Ceiling(2 * GIB, 32 * GIB)),
        ("memory=4GiB,work=256GiB", WIDEST),
        ("memory=19MiB,work=38MiB", Ceiling(19 * MIB, 38 * MIB)),
    ],
)
def test_ceiling_parse_accepts(text: str, ceiling: Ceiling) -> None:
    assert Ceiling.parse(text) == ceiling


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "memory=2GB",
            "memory= needs a whole number with a unit KiB, MiB or GiB, like memory=2GiB",
        ),
        ("memory=2", "memory= needs a whole number with a unit"),
        ("work=1.5GiB", "work= needs a whole number with a unit"),
        ("memory=-1GiB", "memory= needs a whole number with a unit"),
        ("memory", "memory= needs a whole number with a unit"),
        ("memory=99999999999GiB", "memory= needs a whole number with a unit"),
        ("mem=2GiB", "unknown key 'mem' (use memory= and work=)"),
        ("memory=1GiB,memory=2GiB", "memory= is given twice"),
        ("memory=8GiB", "beyond the format's bounds (memory up to 4 GiB and work up to 256 GiB)"),
        ("work=512GiB", "beyond the format's bounds"),
        ("memory=0KiB", "beyond the format's bounds"),
    ],
)
def test_ceiling_parse_refuses_with_a_clear_message(text: str, problem: str) -> None:
    with pytest.raises(PolicyViolation) as caught:
        Ceiling.parse(text)
    message = str(caught.value)
    assert message.startswith(f"WALLETBACKUP_KDF_CEILING={text!r} is not understood: {problem}")
    assert message.endswith(
        'write it like "memory=2GiB,work=32GiB", or unset it for the default '
        "(memory=1GiB,work=16GiB)"
    )


def test_a_long_bad_ceiling_is_shown_cut_short() -> None:
    with pytest.raises(PolicyViolation) as caught:
        Ceiling.parse("memory=" + "9" * 500)
    assert len(str(caught.value)) < 400


@pytest.mark.usefixtures("kdf_forbidden")
def test_a_bad_ceiling_in_the_environment_refuses_every_stanza_before_any_kdf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=lots")
    with pytest.raises(PolicyViolation, match="WALLETBACKUP_KDF_CEILING='memory=lots' is not"):
        Argon2Params.from_args(RFC9106_FLOOR.to_args())


def test_the_bounds_are_checked_before_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    # A structurally bad stanza is malformed whatever this device allows.
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=lots")
    with pytest.raises(MalformedBackup, match="'t'"):
        Argon2Params.from_args({"t": 65, "m": 64, "p": 1})


@pytest.mark.parametrize(
    ("memory", "work", "error"),
    [
        (0, 1, ValueError),
        (MEMORY_KIB_MAX + 1, 1, ValueError),
        (1, TIME_COST_MAX * MEMORY_KIB_MAX + 1, ValueError),
        (True, 1, TypeError),
        (1, 2.0, TypeError),
    ],
)
def test_a_ceiling_cannot_be_built_outside_the_bounds(
    memory: object, work: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="Ceiling"):
        Ceiling(memory, work)  # type: ignore[arg-type]


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
    proposal = kdf._propose(
        RFC9106_FLOOR, 0.1, 0.4, 1024 * 1024, RFC9106_FLOOR, max_work=DEFAULT_CEILING.work
    )
    assert proposal == Argon2Params(3, 4 * 65536, 4)


def test_proposal_adds_passes_once_memory_is_at_the_cap() -> None:
    cap = 128 * 1024
    proposal = kdf._propose(
        Argon2Params(3, cap, 4), 0.1, 0.4, cap, RFC9106_FLOOR, max_work=DEFAULT_CEILING.work
    )
    assert proposal == Argon2Params(12, cap, 4)


def test_proposal_adds_passes_only_up_to_the_ceilings_work() -> None:
    cap = 128 * 1024
    proposal = kdf._propose(
        Argon2Params(3, cap, 4), 0.1, 0.4, cap, RFC9106_FLOOR, max_work=10 * cap
    )
    assert proposal == Argon2Params(10, cap, 4)


def test_proposal_backs_off_after_an_overshoot() -> None:
    proposal = kdf._propose(
        Argon2Params(3, 262144, 4), 1.0, 0.5, 262144, RFC9106_FLOOR, max_work=DEFAULT_CEILING.work
    )
    assert proposal == Argon2Params(3, 131072, 4)


@given(
    time_cost=st.integers(1, 64),
    memory_mib=st.integers(1, 4096),
    elapsed=st.floats(1e-6, 100),
    target=st.floats(1e-3, 10),
    cap_mib=st.integers(64, 8192),
    low_memory=st.booleans(),
    max_passes=st.integers(3, 64),
)
def test_proposals_stay_between_the_floor_and_the_bounds(
    time_cost: int,
    memory_mib: int,
    elapsed: float,
    target: float,
    cap_mib: int,
    low_memory: bool,
    max_passes: int,
) -> None:
    floor = kdf.floor_for(low_memory)
    max_work = max_passes * 64 * 1024  # at least the floor's passes on 64 MiB: both floors fit
    # calibrate() holds the cap to the memory on which the floor's passes fit the work.
    cap = min(cap_mib * 1024, kdf.MEMORY_KIB_MAX, max_work // floor.time_cost)
    proposal = kdf._propose(
        Argon2Params(time_cost, memory_mib * 1024, 4),
        elapsed,
        target,
        cap,
        floor,
        max_work=max_work,
    )
    kdf.check_floor(proposal, low_memory)
    assert proposal.memory_kib <= cap
    assert proposal.time_cost <= kdf.TIME_COST_MAX
    assert proposal.time_cost * proposal.memory_kib <= max_work
    assert proposal.parallelism == floor.parallelism
    # Passes rise only once memory is at the cap (to within the whole-MiB rounding).
    if proposal.time_cost > floor.time_cost:
        assert proposal.memory_kib > cap - 1024


# Calibration against a simulated machine: derive() costs work / speed seconds on a fake clock, so
# every machine speed, from far slower than any phone to far faster than any server, is covered.


class FakeMachine:
    """A clock and an Argon2id whose run time is proportional to t x m, with some jitter."""

    def __init__(self, kib_passes_per_second: float, jitter: list[float]) -> None:
        self.speed = kib_passes_per_second
        self.jitter = jitter or [1.0]
        self.now = 0.0
        self.runs: list[Argon2Params] = []

    def perf_counter(self) -> float:
        return self.now

    def derive(self, secret: bytes, salt: bytes, params: Argon2Params) -> bytes:
        factor = self.jitter[len(self.runs) % len(self.jitter)]
        self.runs.append(params)
        self.now += params.time_cost * params.memory_kib / self.speed * factor
        return bytes(32)


def _calibrate_on(machine: FakeMachine, *args: object, **kwargs: object) -> Argon2Params:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kdf, "derive", machine.derive)
        patch.setattr(kdf, "time", machine)
        return kdf.calibrate(*args, **kwargs)  # type: ignore[arg-type]


def _ceilings(low_memory: bool) -> st.SearchStrategy[Ceiling]:
    floor = kdf.floor_for(low_memory)
    return st.builds(
        Ceiling,
        memory_kib=st.integers(floor.memory_kib, MEMORY_KIB_MAX),
        work=st.integers(floor.time_cost * floor.memory_kib, TIME_COST_MAX * MEMORY_KIB_MAX),
    )


@given(
    speed=st.floats(1e3, 1e15),  # KiB-passes per second: from 1/1000 of a phone to no limit
    jitter=st.lists(st.floats(0.6, 1.4), max_size=5),  # ±40 %, as on a shared machine
    target=st.floats(1e-3, 10),
    cap_mib=st.integers(64, 8192),
    low_memory=st.booleans(),
    data=st.data(),
)
def test_calibration_output_always_fits_under_the_ceiling(
    speed: float,
    jitter: list[float],
    target: float,
    cap_mib: int,
    low_memory: bool,
    data: st.DataObject,
) -> None:
    ceiling = data.draw(st.none() | _ceilings(low_memory), label="ceiling")
    machine = FakeMachine(speed, jitter)
    params = _calibrate_on(machine, target, cap_mib * 1024, low_memory=low_memory, ceiling=ceiling)
    (ceiling or DEFAULT_CEILING).check(params)  # None: the environment's, here the default
    for tried in machine.runs:  # not one trial run above it either
        (ceiling or DEFAULT_CEILING).check(tried)
    kdf.check_floor(params, low_memory)
    assert params.memory_kib <= cap_mib * 1024


@given(speed=st.floats(1e3, 1e15), target=st.floats(1e-3, 10), low_memory=st.booleans())
def test_default_calibration_on_any_machine_opens_under_the_default_ceiling(
    speed: float, target: float, low_memory: bool
) -> None:
    # The widest ceiling: what the default settings choose, unhindered, must still fit the default.
    params = _calibrate_on(
        FakeMachine(speed, []),
        target,
        kdf.DEFAULT_MEMORY_CAP_KIB,
        low_memory=low_memory,
        ceiling=WIDEST,
    )
    DEFAULT_CEILING.check(params)


def test_on_an_unboundedly_fast_machine_the_default_calibration_meets_the_ceiling_exactly() -> None:
    params = _calibrate_on(FakeMachine(1e18, []), 0.5, kdf.DEFAULT_MEMORY_CAP_KIB)
    assert params == Argon2Params(64, 256 * MIB, 4)
    assert params.time_cost * params.memory_kib == DEFAULT_CEILING.work


def test_a_cap_above_the_ceiling_calibrates_up_to_the_ceiling() -> None:
    # max_memory_mib=2048 under the default ceiling: 1 GiB, and passes only up to its work.
    params = _calibrate_on(FakeMachine(1e18, []), 0.5, 2 * GIB)
    assert params == Argon2Params(16, GIB, 4)


def test_calibration_refuses_a_ceiling_below_the_floor() -> None:
    with pytest.raises(PolicyViolation, match="memory 64 MiB > 32 MiB"):
        kdf.calibrate(0.5, 256 * MIB, ceiling=Ceiling(32 * MIB, 16 * GIB))


def test_calibration_follows_the_ceiling_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=128MiB,work=1GiB")
    params = _calibrate_on(FakeMachine(1e18, []), 0.5, kdf.DEFAULT_MEMORY_CAP_KIB)
    assert params == Argon2Params(8, 128 * MIB, 4)
