"""Argon2id: the password KDF, its cost bounds, its policy floors and its calibration.

Password-style backup methods never call argon2 themselves: they call :func:`derive` here, so the
KDF, its parameters and its limits are the core's business (DESIGN §4).

Three kinds of limit apply to the costs, on purpose different:

- *bounds* (format): what an envelope may say at all. They are wide (up to 64 passes and 4 GiB),
  so the format never has to change for unusual costs; :meth:`Argon2Params.from_args` refuses
  anything outside them as :class:`MalformedBackup`.
- *the unlock ceiling* (this device's safety limit, :class:`Ceiling`): what one unlock here may
  cost. At the bounds one stanza costs minutes of CPU and 4 GiB; the default ceiling holds a
  hostile envelope to the work the default calibration could ever choose, and four times its
  memory (see :class:`Ceiling`).
  :meth:`Argon2Params.from_args` checks it too, before any KDF runs; ``WALLETBACKUP_KDF_CEILING``
  raises it for backups whose costs were chosen deliberately higher.
- *floors* (policy): what a new enrollment may use. :func:`check_floor` enforces them; they rise
  over time, and backups below today's floor get re-wrap advice instead of being refused.
"""

from __future__ import annotations

import math
import os
import re
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
    def from_args(cls, args: Mapping[str, Any], ceiling: Ceiling | None = None) -> Argon2Params:
        """Read ``t``, ``m``, ``p`` from stanza args, checked before any KDF runs.

        :class:`MalformedBackup` unless within the bounds (the format's limits); then
        :class:`PolicyViolation` unless within ``ceiling`` (this device's limit; by default
        :meth:`Ceiling.current`). Nothing is derived here: this is the check that runs before any
        KDF does.
        """
        if not isinstance(args, Mapping):
            raise MalformedBackup("Argon2 stanza arguments must be an object")
        values = [_int_arg(args, key) for key in ("t", "m", "p")]
        problem = _bounds_problem(*values)
        if problem:
            raise MalformedBackup(f"Argon2 stanza argument {problem}")
        params = cls(*values)
        (Ceiling.current() if ceiling is None else ceiling).check(params)
        return params


def _int_arg(args: Mapping[str, Any], key: str) -> int:
    value = args.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        found = "missing" if key not in args else f"a {type(value).__name__}"
        raise MalformedBackup(f"Argon2 stanza argument {key!r} must be an integer, found {found}")
    return value


# --- the unlock ceiling ---------------------------------------------------------------------------

#: The memory cap calibration works under unless told otherwise (the password method's default
#: ``max_memory_mib``): 256 MiB, in KiB.
DEFAULT_MEMORY_CAP_KIB = 256 * _MIB
#: The environment variable that sets this device's unlock ceiling, e.g. ``memory=2GiB,work=32GiB``.
CEILING_ENV = "WALLETBACKUP_KDF_CEILING"
_WORK_MAX = TIME_COST_MAX * MEMORY_KIB_MAX
_UNITS = {"kib": 1, "mib": _MIB, "gib": _MIB * _MIB}
_SIZE = re.compile(r"([0-9]{1,10})\s*([a-z]+)", re.IGNORECASE)


def _size(kib: int, sep: str = " ") -> str:
    """``kib`` in the largest binary unit that shows it exactly: 1 GiB, 19 MiB, 1000 KiB."""
    for unit, scale in (("GiB", _MIB * _MIB), ("MiB", _MIB)):
        if kib % scale == 0:
            return f"{kib // scale}{sep}{unit}"
    return f"{kib}{sep}KiB"


@dataclass(frozen=True)
class Ceiling:
    """The most one Argon2id run may cost on this device before any KDF runs for an unlock.

    ``memory_kib`` bounds ``m``; ``work`` bounds ``t x m`` (passes times KiB): Argon2's running
    time is close to proportional to it, and it is the quantity calibration trades between
    memory and passes. Lanes are not limited beyond the bounds: they spread the same work over
    threads, they do not add to it.

    The default (:data:`DEFAULT_CEILING`) comes from the default calibration settings alone, so
    unlock never has to calibrate (or time anything) to know it:

    - work: 64 passes x 256 MiB = 16 GiB, the largest work the default calibration (memory cap
      256 MiB, any target) can choose on *any* machine. A target time cannot bound the work,
      since a faster machine fits more into it; calibration's own limits can: it never goes above
      the memory cap nor above 64 passes. So every backup made with the default settings opens,
      wherever it was made, and a hostile stanza costs at most as much work as the costliest
      default backup (about half a minute on a small 2-core machine, against about ten minutes
      at the bounds).
    - memory: four times the default cap, 1 GiB. Memory is the cost that makes guessing expensive
      on GPUs and ASICs, so users may spend up to four times the default on it (``max_memory_mib``
      up to 1024) without touching the ceiling; a hostile stanza gets a quarter of the 4 GiB bound.

    :func:`calibrate` never chooses costs above the ceiling it works under, so every backup this
    device calibrates also opens here. ``WALLETBACKUP_KDF_CEILING`` (:meth:`current`) raises the
    ceiling for backups whose costs were deliberately chosen higher (for example RFC 9106's first
    recommended option, t=1 and 2 GiB: ``memory=2GiB``), or lowers it.
    """

    memory_kib: int
    work: int

    def __post_init__(self) -> None:
        for name, most in (("memory_kib", MEMORY_KIB_MAX), ("work", _WORK_MAX)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Ceiling.{name} must be an int")
            if not 1 <= value <= most:
                raise ValueError(f"Ceiling.{name} must be from 1 to {most} KiB")

    def __str__(self) -> str:
        return f"memory {_size(self.memory_kib)}, work (t x m) {_size(self.work)}"

    def to_text(self) -> str:
        """The ``WALLETBACKUP_KDF_CEILING`` form, e.g. ``memory=1GiB,work=16GiB``."""
        return f"memory={_size(self.memory_kib, '')},work={_size(self.work, '')}"

    @classmethod
    def parse(cls, text: str) -> Ceiling:
        """Read the ``WALLETBACKUP_KDF_CEILING`` form; :class:`PolicyViolation` when it is wrong.

        Comma-separated ``memory=SIZE`` and ``work=SIZE``, each at most once, sizes in whole
        KiB, MiB or GiB (``work`` counts passes times memory: ``work=16GiB`` allows 64 passes of
        256 MiB or 16 of 1 GiB). A key left out keeps its default; empty text is the default.
        """
        values = {"memory": DEFAULT_CEILING.memory_kib, "work": DEFAULT_CEILING.work}
        seen: set[str] = set()
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, value = (side.strip() for side in item.partition("="))
            if key not in values:
                raise _bad_ceiling(text, f"unknown key {key[:20]!r} (use memory= and work=)")
            if key in seen:
                raise _bad_ceiling(text, f"{key}= is given twice")
            seen.add(key)
            values[key] = _parse_size(text, key, value)
        try:
            return cls(values["memory"], values["work"])
        except ValueError:
            bound = f"memory up to {_size(MEMORY_KIB_MAX)} and work up to {_size(_WORK_MAX)}"
            raise _bad_ceiling(text, f"beyond the format's bounds ({bound})") from None

    @classmethod
    def current(cls) -> Ceiling:
        """This device's ceiling: ``$WALLETBACKUP_KDF_CEILING`` if set, else the default."""
        return cls.parse(os.environ.get(CEILING_ENV, ""))

    def check(self, params: Argon2Params) -> None:
        """Raise :class:`PolicyViolation` when ``params`` cost more than this ceiling allows.

        The message names each limit passed, by how much, and the setting that would allow it.
        """
        work = _work(params)
        over = []
        if params.memory_kib > self.memory_kib:
            over.append(f"memory {_size(params.memory_kib)} > {_size(self.memory_kib)}")
        if work > self.work:
            over.append(f"work (t x m) {_size(work)} > {_size(self.work)}")
        if over:
            wanted = Ceiling(max(self.memory_kib, params.memory_kib), max(self.work, work))
            raise PolicyViolation(
                f"Argon2id costs {params} exceed this device's unlock ceiling: "
                f"{' and '.join(over)}. Refused before running them; if the backup is genuine "
                f"and its costs were chosen deliberately, allow them on every device that opens "
                f'it: {CEILING_ENV}="{wanted.to_text()}" (see docs/methods/password.md)'
            )


def _parse_size(text: str, key: str, value: str) -> int:
    match = _SIZE.fullmatch(value)
    if match is None or match[2].lower() not in _UNITS:
        raise _bad_ceiling(
            text, f"{key}= needs a whole number with a unit KiB, MiB or GiB, like {key}=2GiB"
        )
    return int(match[1]) * _UNITS[match[2].lower()]


def _bad_ceiling(text: str, problem: str) -> PolicyViolation:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return PolicyViolation(
        f"{CEILING_ENV}={shown!r} is not understood: {problem}; "
        'write it like "memory=2GiB,work=32GiB", or unset it for the default '
        f"({DEFAULT_CEILING.to_text()})"
    )


#: The default unlock ceiling: memory 1 GiB (4 x the default cap), work 16 GiB (64 passes x the
#: default cap); see :class:`Ceiling` for why.
DEFAULT_CEILING = Ceiling(
    memory_kib=4 * DEFAULT_MEMORY_CAP_KIB, work=TIME_COST_MAX * DEFAULT_MEMORY_CAP_KIB
)


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
    ceiling: Ceiling | None = None,
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
    :data:`DEFAULT_MEMORY_CAP_KIB`) is the caller's business. ``progress`` receives one line per
    run.

    No proposal goes above ``ceiling`` (by default :meth:`Ceiling.current`), so whatever this
    machine's speed, the costs returned open under it: memory stops at the ceiling's memory even
    when the cap is higher, and passes stop where the work would pass the ceiling's. A ceiling
    below the floor is a :class:`PolicyViolation`.
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
    if ceiling is None:
        ceiling = Ceiling.current()
    ceiling.check(floor)
    # The floor fits, so the floor's passes fit on this much memory: proposals stay under both.
    cap = min(cap, ceiling.memory_kib, ceiling.work // floor.time_cost)
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
        proposal = _propose(params, elapsed, target_seconds, cap, floor, max_work=ceiling.work)
        if proposal == params:
            break
        params, elapsed = proposal, measure(proposal)
        if elapsed <= target_seconds * (1 + _TOLERANCE) and _work(params) > _work(best):
            best = params
    return best


def _work(params: Argon2Params) -> int:
    return params.time_cost * params.memory_kib


def _propose(
    measured: Argon2Params,
    elapsed: float,
    target: float,
    cap: int,
    floor: Argon2Params,
    *,
    max_work: int,
) -> Argon2Params:
    """The next costs to try: the work that fits in ``target``, memory first, never below floor.

    Never above ``cap`` memory nor ``max_work`` work: the caller keeps ``cap`` low enough that the
    floor's passes fit within ``max_work`` on it.
    """
    work = _work(measured) * target / max(elapsed, 1e-9)
    memory = min(cap, int(work / floor.time_cost)) // _MIB * _MIB
    memory = max(floor.memory_kib, memory)
    wanted = max(floor.time_cost, int(work / memory))
    time_cost = min(TIME_COST_MAX, max_work // memory, wanted)
    return Argon2Params(time_cost, memory, floor.parallelism)


__all__ = [
    "CEILING_ENV",
    "DEFAULT_CEILING",
    "DEFAULT_MEMORY_CAP_KIB",
    "KEY_SIZE",
    "LOW_MEMORY_FLOOR",
    "MEMORY_KIB_MAX",
    "PARALLELISM_MAX",
    "RFC9106_FLOOR",
    "SALT_MAX",
    "SALT_MIN",
    "TIME_COST_MAX",
    "Argon2Params",
    "Ceiling",
    "calibrate",
    "check_floor",
    "derive",
    "floor_for",
]
