"""The ``icloud`` backup method: the method secret is a random key in a file in iCloud Drive.

The key is made here (``secrets``), uploaded through pyicloud, read back and compared before
enrollment returns. The stanza args say which iCloud Drive item holds it.
"""

from __future__ import annotations

import importlib.util
import math
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from walletbackup.methods import (
    SECRET_SIZE,
    Availability,
    BackupMethod,
    Enrollment,
    MethodContext,
    Option,
)

from . import accounts
from .accounts import LOGIN_COMMAND, SignInNeeded
from .connect import Settings, connect
from .drive import KeyDrive
from .keyfile import KeyFileRef, key_file_name

DEFAULT_ATTEMPTS = 4
MAX_ATTEMPTS = 10
DEFAULT_TIMEOUT = 30.0


class ICloudMethod(BackupMethod):
    """A random 32-byte key in a file in the user's iCloud Drive, through pyicloud.

    Options (all optional): ``apple_id`` (which saved sign-in to use, when several are saved),
    ``service`` (a signed-in ``pyicloud.PyiCloudService`` to use instead of a saved sign-in),
    ``attempts`` (4: tries per request on transient failures), ``timeout`` (30 s per request,
    saved sign-ins only) and ``sleep`` (how to wait between tries; ``time.sleep``).
    """

    name = "icloud"
    options = (
        Option(
            "apple_id",
            f"the Apple ID whose saved sign-in to use (default: the only one saved; sign in with "
            f"`{LOGIN_COMMAND}`)",
        ),
        Option(
            "service",
            "a signed-in pyicloud PyiCloudService to use instead of a saved sign-in (Python API)",
            secret=True,
            python_only=True,
        ),
        Option("attempts", f"tries per iCloud request that fails transiently ({DEFAULT_ATTEMPTS})"),
        Option("timeout", f"seconds to wait for each iCloud answer ({DEFAULT_TIMEOUT:g})"),
        Option(
            "sleep",
            "how to wait between tries: a function of seconds (time.sleep)",
            python_only=True,
        ),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        apple_id = self.option("apple_id")
        if apple_id is not None and not isinstance(apple_id, str):
            raise TypeError("icloud: apple_id must be a str")
        self._apple_id = None if apple_id is None else accounts.normalize_apple_id(apple_id)
        attempts = self.option("attempts", DEFAULT_ATTEMPTS)
        if type(attempts) is not int or not 1 <= attempts <= MAX_ATTEMPTS:
            raise ValueError(f"icloud: attempts must be an int from 1 to {MAX_ATTEMPTS}")
        timeout = self.option("timeout", DEFAULT_TIMEOUT)
        if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise ValueError("icloud: timeout must be a positive number of seconds")
        sleep = self.option("sleep", time.sleep)
        if not callable(sleep):
            raise TypeError("icloud: sleep must be a function taking seconds")
        self._settings = Settings(attempts, float(timeout), sleep)
        self._service = self.option("service")
        self._keys: KeyDrive | None = None
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        """pyicloud importable, and a sign-in to use (checked offline: no request is made)."""
        if importlib.util.find_spec("pyicloud") is None:
            return Availability(
                False, "pyicloud is not installed", "pip install walletbackup-icloud"
            )
        if self._service is not None:
            if getattr(self._service, "requires_2fa", False) or getattr(
                self._service, "requires_2sa", False
            ):
                return Availability(
                    False,
                    "the PyiCloudService passed as service= has not finished signing in",
                    "complete two-factor sign-in and trust_session() before passing it",
                )
            return Availability(True)
        try:
            accounts.choose(self._apple_id)
        except SignInNeeded as exc:
            return Availability(False, exc.reason, exc.remedy)
        return Availability(True)

    def enroll(self, context: MethodContext) -> Enrollment:
        secret = secrets.token_bytes(SECRET_SIZE)
        ref = self._key_drive().create(key_file_name(context), secret)
        return Enrollment(secret, ref.to_args())

    def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
        return self._key_drive().read(KeyFileRef.from_args(args))

    def discard(self, args: Mapping[str, Any], context: MethodContext) -> None:
        self._key_drive().delete(KeyFileRef.from_args(args))

    def check_presence(self, args: Mapping[str, Any], context: MethodContext) -> bool:
        """Whether the key file is still in its iCloud Drive folder (one folder listing)."""
        ref = KeyFileRef.from_args(args)  # before iCloud is reached at all
        return self._key_drive().exists(ref)

    @classmethod
    def validate_args(cls, args: Mapping[str, Any]) -> None:
        KeyFileRef.from_args(args)

    # --- reaching iCloud Drive ----------------------------------------------------------

    def _key_drive(self) -> KeyDrive:
        with self._lock:
            if self._keys is None:
                self._keys = connect(self._service, self._apple_id, self._settings)
            return self._keys


__all__ = ["ICloudMethod"]
