"""Argon2id: the password KDF, its cost bounds, its policy floors and its calibration.

Password-style backup methods never call argon2 themselves: they call :func:`derive` here, so the
KDF, its parameters and its limits are the core's business (DESIGN §4).

Two kinds of limit apply to the costs, on purpose different:

- *bounds* (safety): what :meth:`Argon2Params.from_args` accepts from an envelope. They are wide,
  so old or unusual backups still open, but they stop a hostile envelope from making unlock run a
  KDF of many GiB or hours (the KDF equivalent of a decompression bomb).
- *floors* (policy): what a new enrollment may use. :func:`check_floor` enforces them; they rise
  over time, and backups below today's floor get re-wrap advice instead of being refused.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from argon2.exceptions import HashingError
from argon2.low_level import ARGON2_VERSION, Type, hash_secret_raw

from .errors import MalformedBackup, MethodUnavailable, PolicyViolation

KEY_SIZE = 32
SALT_MIN = 16
SALT_MAX = 64
TIME_COST_MAX = 64
#: 4 GiB, in KiB.
MEMORY_KIB_MAX = 4 * 1024 * 1024
PARALLELISM_MAX = 16

_MIB = 1024


def _mib(kib: int) -> str:
    return f"{kib // _MIB} MiB" if kib % _MIB == 0 else f"{kib / _MIB:.1f} MiB"


def _bounds_problem(time_cost: int, memory_kib: int, parallelism: int) -> str | None:
    # Parallelism first: the memory bound depends on it (Argon2 needs 8 KiB blocks per lane).
    if not 1 <= parallelism <= PARALLELISM_MAX:
        return f"'p' (parallelism) must be from 1 to {PARALLELISM_MAX}, got {_show(parallelism)}"
    if not 1 <= time_cost <= TIME_COST_MAX:
        return f"'t' (passes) must be from 1 to {TIME_COST_MAX}, got {_show(time_cost)}"
    low = 8 * parallelism
    if not low <= memory_kib <= MEMORY_KIB_MAX:
        return (
            f"'m' (memory in KiB) must be from 8*p = {low} to {MEMORY_KIB_MAX}, "
            f"got {_show(memory_kib)}"
        )
    return None


def _show(value: int) -> str:
    # Envelope values are public, but a hostile one may be too long to print usefully.
    return str(value) if value.bit_length() <= 64 else "a number too large to show"


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id costs: passes, memory in KiB, lanes. Always within the safety bounds."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def __post_init__(self) -> None:
        for name in ("time_cost", "memory_kib", "parallelism"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Argon2Params.{name} must be an int")
        problem = _bounds_problem(self.time_cost, self.memory_kib, self.parallelism)
        if problem:
            raise ValueError(f"Argon2Params: {problem}")

    def __str__(self) -> str:
        memory = f"{self.memory_kib} KiB ({_mib(self.memory_kib)})"
        return f"t={self.time_cost}, m={memory}, p={self.parallelism}"

    def to_args(self) -> dict[str, int]:
        """The stanza-args form: ``{"t": passes, "m": KiB, "p": lanes}``."""
        return {"t": self.time_cost, "m": self.memory_kib, "p": self.parallelism}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Argon2Params:
        """Read ``t``, ``m``, ``p`` from stanza args; :class:`MalformedBackup` unless in bounds.

        Nothing is derived here: this is the check that runs before any KDF does.
        """
        if not isinstance(args, Mapping):
            raise MalformedBackup("Argon2 stanza arguments must be an object")
        values = [_int_arg(args, key) for key in ("t", "m", "p")]
        problem = _bounds_problem(*values)
        if problem:
            raise MalformedBackup(f"Argon2 stanza argument {problem}")
        return cls(*values)


def _int_arg(args: Mapping[str, Any], key: str) -> int:
    value = args.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        found = "missing" if key not in args else f"a {type(value).__name__}"
        raise MalformedBackup(f"Argon2 stanza argument {key!r} must be an integer, found {found}")
    return value


#: RFC 9106 §4, second recommended option: the floor for new enrollments.
RFC9106_FLOOR = Argon2Params(time_cost=3, memory_kib=64 * _MIB, parallelism=4)
#: OWASP Password Storage Cheat Sheet minimum: the floor of the flagged low-memory profile only.
LOW_MEMORY_FLOOR = Argon2Params(time_cost=2, memory_kib=19 * _MIB, parallelism=1)


def floor_for(low_memory: bool) -> Argon2Params:
    """The floor of the low-memory profile (OWASP) when flagged, else RFC 9106's."""
    return LOW_MEMORY_FLOOR if low_memory else RFC9106_FLOOR


def check_floor(params: Argon2Params, low_memory: bool) -> None:
    """Raise :class:`PolicyViolation` when a cost of ``params`` is below the profile's floor.

    Only passes and memory are floors: lanes change how the work is spread over cores, not how
    much of it an attacker must do.
    """
    floor = floor_for(low_memory)
    profile = "the low-memory (OWASP) profile" if low_memory else "RFC 9106"
    shortfalls = []
    if params.time_cost < floor.time_cost:
        shortfalls.append(f"time cost t={params.time_cost} is below the floor t={floor.time_cost}")
    if params.memory_kib < floor.memory_kib:
        shortfalls.append(
            f"memory m={params.memory_kib} KiB ({_mib(params.memory_kib)}) is below the floor "
            f"m={floor.memory_kib} KiB ({_mib(floor.memory_kib)})"
        )
    if shortfalls:
        remedy = "" if low_memory else "; raise it, or flag the low-memory profile"
        raise PolicyViolation(f"Argon2id {' and '.join(shortfalls)} of {profile}{remedy}")


def derive(secret: bytes, salt: bytes, params: Argon2Params) -> bytes:
    """Argon2id (version 19) of ``secret`` under ``salt`` (16 to 64 bytes): 32 bytes."""
    if not isinstance(secret, bytes):
        raise TypeError("derive: secret must be bytes")
    if not isinstance(salt, bytes) or not SALT_MIN <= len(salt) <= SALT_MAX:
        raise ValueError(f"derive: salt must be {SALT_MIN} to {SALT_MAX} bytes")
    if not isinstance(params, Argon2Params):
        raise TypeError("derive: params must be Argon2Params")
    try:
        return hash_secret_raw(
            secret,
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=KEY_SIZE,
            type=Type.ID,
            version=ARGON2_VERSION,
        )
    except HashingError as exc:  # libargon2's own message: no input in it
        raise MethodUnavailable(
            f"Argon2id could not run with {params} here ({exc}); "
            "use a machine with enough free memory"
        ) from exc


_TOLERANCE = 0.1
_MAX_ROUNDS = 4


def calibrate(
    target_seconds: float,
    max_memory_kib: int,
    *,
    low_memory: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Argon2Params:
    """The costs that make :func:`derive` take about ``target_seconds`` here (LUKS2 style).

    The algorithm, measured with real :func:`derive` calls on a throw-away salt:

    1. Time the profile's floor. If it already takes the target or longer, return the floor:
       costs never go below it, whatever the machine.
    2. Argon2's time is close to proportional to passes * memory, so the last measurement gives
       the work (passes * KiB) that fits in the target. Spend it on memory first (memory is what
       makes GPU and ASIC attacks costly), up to ``max_memory_kib`` at the floor's passes and
       whole MiB; only once memory is at the cap, add passes. Lanes stay the floor's.
    3. Time that proposal and repeat from step 2, at most four times, stopping early when a run
       lands within 10 % of the target or the proposal stops changing. A proposal that ran more
       than 10 % over the target is never returned; of those that did not, the one with the most
       work is (the floor, when none did).

    That is two to five KDF runs. ``max_memory_kib`` below the floor's memory is a
    :class:`PolicyViolation` (the floor cannot be met within the cap); choosing the cap (say,
    256 MiB) is the caller's business. ``progress`` receives one line per run.
    """
    if not (isinstance(target_seconds, int | float) and 0 < target_seconds < math.inf):
        raise ValueError("calibrate: target_seconds must be a positive number")
    floor = floor_for(low_memory)
    cap = min(max_memory_kib, MEMORY_KIB_MAX)
    if cap < floor.memory_kib:
        raise PolicyViolation(
            f"memory cap {_mib(cap)} is below the Argon2id floor of {_mib(floor.memory_kib)}"
            + ("" if low_memory else "; raise the cap, or flag the low-memory profile")
        )
    salt = secrets.token_bytes(SALT_MIN)

    def measure(params: Argon2Params) -> float:
        start = time.perf_counter()
        derive(b"walletbackup calibration", salt, params)
        elapsed = time.perf_counter() - start
        if progress is not None:
            progress(f"Argon2id {params}: {elapsed:.2f} s (target {target_seconds:.2f} s)")
        return elapsed

    params, elapsed = floor, measure(floor)
    best = floor
    for _ in range(_MAX_ROUNDS):
        if abs(elapsed - target_seconds) <= _TOLERANCE * target_seconds:
            break
        proposal = _propose(params, elapsed, target_seconds, cap, floor)
        if proposal == params:
            break
        params, elapsed = proposal, measure(proposal)
        if elapsed <= target_seconds * (1 + _TOLERANCE) and _work(params) > _work(best):
            best = params
    return best


def _work(params: Argon2Params) -> int:
    return params.time_cost * params.memory_kib


def _propose(
    measured: Argon2Params, elapsed: float, target: float, cap: int, floor: Argon2Params
) -> Argon2Params:
    """The next costs to try: the work that fits in ``target``, memory first, never below floor."""
    work = _work(measured) * target / max(elapsed, 1e-9)
    memory = min(cap, int(work / floor.time_cost)) // _MIB * _MIB
    memory = max(floor.memory_kib, memory)
    time_cost = min(TIME_COST_MAX, max(floor.time_cost, int(work / memory)))
    return Argon2Params(time_cost, memory, floor.parallelism)


__all__ = [
    "KEY_SIZE",
    "LOW_MEMORY_FLOOR",
    "MEMORY_KIB_MAX",
    "PARALLELISM_MAX",
    "RFC9106_FLOOR",
    "SALT_MAX",
    "SALT_MIN",
    "TIME_COST_MAX",
    "Argon2Params",
    "calibrate",
    "check_floor",
    "derive",
    "floor_for",
]
