"""The ``password`` backup method: the method secret is Argon2id of the NFC password.

All cryptography is the core's (:mod:`walletbackup.kdf`); this module chooses costs, checks the
policy and the stanza args, and turns text into KDF input.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from walletbackup import canonical, kdf
from walletbackup.kdf import Argon2Params, Ceiling
from walletbackup.methods import (
    BackupMethod,
    Enrollment,
    JsonValue,
    MethodContext,
    Option,
    check_arg_names,
    require,
    require_bytes,
)

from .policy import KINDS, PasswordPolicy, encode

PROFILE_RFC9106 = "rfc9106"
PROFILE_LOW_MEMORY = "low-memory"
_PROFILES = (PROFILE_RFC9106, PROFILE_LOW_MEMORY)
_ARGS = frozenset({"kdf", "v", "salt", "t", "m", "p", "profile", "kind"})
_SALT_SIZE = 16
# Stored work (passes * memory) this many times below what this machine would use today is "far
# below": worth a re-wrap, while ordinary timing noise between machines is not.
_FAR_BELOW = 4

_DEFAULT_CAP_MIB = kdf.DEFAULT_MEMORY_CAP_KIB // 1024

# Calibration runs a handful of KDFs; once per process per (target, cap, profile, ceiling) is
# enough. The ceiling is part of the key: calibration stays under it, so a changed ceiling must
# calibrate again.
_calibrated: dict[tuple[float, int, bool, Ceiling], Argon2Params] = {}
_calibration_lock = threading.Lock()


class PasswordMethod(BackupMethod):
    """A password, PIN or passphrase, stretched with Argon2id.

    Options: ``password`` (required, secret, confirmed); for enrollment only: ``policy`` (a
    :class:`PasswordPolicy` or ``"password"`` / ``"pin"`` / ``"passphrase"``), ``target_seconds``
    (0.5), ``max_memory_mib`` (256), ``low_memory`` (False: the flagged OWASP profile) and
    ``params`` (explicit :class:`~walletbackup.kdf.Argon2Params` instead of calibration; still
    floor-checked).

    Enrollment never makes a backup this device would refuse to open: calibration stays under
    the unlock ceiling (:class:`~walletbackup.kdf.Ceiling`) and explicit ``params`` above it are
    a :class:`~walletbackup.errors.PolicyViolation`. Unlock checks the stanza's costs against the
    ceiling before any KDF runs.
    """

    name = "password"
    options = (
        Option(
            "password",
            "the password, PIN or passphrase (a forgotten one cannot be recovered)",
            secret=True,
            confirm=True,
            required=True,
        ),
        Option("policy", "password, pin or passphrase (default: password)", for_unlock=False),
        Option("target_seconds", "Argon2id time to aim for (default: 0.5)", for_unlock=False),
        Option(
            "max_memory_mib",
            f"Argon2id memory cap in MiB (default: {_DEFAULT_CAP_MIB})",
            for_unlock=False,
        ),
        Option(
            "low_memory",
            "allow the low-memory profile, 19 MiB and 2 passes (default: no)",
            for_unlock=False,
        ),
        Option("params", "explicit Argon2id costs instead of calibration", for_unlock=False),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        policy = self.option("policy", "password")
        self._policy = (
            policy if isinstance(policy, PasswordPolicy) else PasswordPolicy.named(policy)
        )
        self._target = self.option("target_seconds", 0.5)
        if not (isinstance(self._target, int | float) and 0 < self._target < math.inf):
            raise ValueError("password: target_seconds must be a positive number of seconds")
        self._cap_mib = self.option("max_memory_mib", _DEFAULT_CAP_MIB)
        if not isinstance(self._cap_mib, int) or isinstance(self._cap_mib, bool):
            raise TypeError("password: max_memory_mib must be an int")
        self._low_memory = self.option("low_memory", False)
        if not isinstance(self._low_memory, bool):
            raise TypeError("password: low_memory must be True or False")
        self._params = self.option("params")
        if not (self._params is None or isinstance(self._params, Argon2Params)):
            raise TypeError("password: params must be walletbackup.kdf.Argon2Params")

    def enroll(self, context: MethodContext) -> Enrollment:
        password = self._password()
        self._policy.check(password)
        ceiling = Ceiling.current()
        params = self._params if self._params is not None else self._calibration(ceiling)
        kdf.check_floor(params, self._low_memory)
        ceiling.check(params)
        salt = secrets.token_bytes(_SALT_SIZE)
        secret = kdf.derive(encode(password), salt, params)
        args: dict[str, JsonValue] = {
            "kdf": "argon2id",
            "v": 19,
            "salt": canonical.b64encode(salt),
            **params.to_args(),
            "profile": PROFILE_LOW_MEMORY if self._low_memory else PROFILE_RFC9106,
            "kind": self._policy.kind,
        }
        return Enrollment(secret, args)

    def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
        salt, params, _ = _parse(args)
        # A wrong password is not an error here: it derives another secret, which the core
        # rejects with its one UnlockFailed message.
        return kdf.derive(encode(self._password()), salt, params)

    @classmethod
    def validate_args(cls, args: Mapping[str, Any]) -> None:
        _parse(args)

    def rewrap_advice(self, args: Mapping[str, Any]) -> str | None:
        """Advice when stored costs are below today's floor, or far below this machine's costs.

        Runs no KDF: "this machine's costs" are the explicit ``params`` or a calibration this
        process already made for the same target, cap and profile.
        """
        _, stored, profile = _parse(args)
        floor = kdf.floor_for(profile == PROFILE_LOW_MEMORY)
        if stored.time_cost < floor.time_cost or stored.memory_kib < floor.memory_kib:
            reason, wanted = f"today's {profile} floor ({floor})", floor
        else:
            today = self._params or _calibrated.get(self._calibration_key(Ceiling.current()))
            if today is None or _work(stored) * _FAR_BELOW >= _work(today):
                return None
            reason, wanted = f"the costs this machine uses today ({today})", today
        return (
            f"stored Argon2 costs t={stored.time_cost}, m={stored.memory_kib} KiB are below "
            f"today's policy ({reason}); re-wrap with t={wanted.time_cost}, "
            f"m={wanted.memory_kib} KiB or more (enroll the password again)"
        )

    def _password(self) -> str:
        password = self.option("password")
        if password is None:
            raise TypeError("password: the 'password' option is required")
        if not isinstance(password, str):
            raise TypeError("password: the 'password' option must be a str")
        return password

    def _calibration_key(self, ceiling: Ceiling) -> tuple[float, int, bool, Ceiling]:
        return (float(self._target), self._cap_mib, self._low_memory, ceiling)

    def _calibration(self, ceiling: Ceiling) -> Argon2Params:
        key = self._calibration_key(ceiling)
        with _calibration_lock:
            if key not in _calibrated:
                _calibrated[key] = kdf.calibrate(
                    self._target,
                    self._cap_mib * 1024,
                    low_memory=self._low_memory,
                    ceiling=ceiling,
                )
            return _calibrated[key]


def _work(params: Argon2Params) -> int:
    return params.time_cost * params.memory_kib


def _parse(args: Mapping[str, Any]) -> tuple[bytes, Argon2Params, str]:
    """Check every stanza arg strictly, before any KDF: salt, costs and profile."""
    check_arg_names(args, _ARGS, method="password")
    require(args, "kdf", str, method="password", choices=("argon2id",))
    require(args, "v", int, method="password", choices=(19,))
    profile: str = require(args, "profile", str, method="password", choices=_PROFILES)
    require(args, "kind", str, method="password", choices=KINDS)
    params = Argon2Params.from_args(args)
    salt = require_bytes(args, "salt", range(kdf.SALT_MIN, kdf.SALT_MAX + 1), method="password")
    return salt, params, profile


__all__ = ["PROFILE_LOW_MEMORY", "PROFILE_RFC9106", "PasswordMethod"]
