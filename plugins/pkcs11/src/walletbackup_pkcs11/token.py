"""The logged-in session on one PKCS#11 token, shared by every provider in the process.

PKCS#11 keeps the login state per application and token, not per session: the first session
logs in with the user PIN, and a second login fails (``CKR_USER_ALREADY_LOGGED_IN``). So there
is one :class:`Token` per (module, token label, serial) in a process, whatever the number of
providers, holding one session opened on first use.

python-pkcs11 initializes a module with ``C_Initialize(NULL)``: no locking functions, which in
PKCS#11 means the application promises never to call the module from two threads at once (and
SoftHSM2 does crash when it does). So every call into one module, for any token, runs under
one lock per module in this process: the provider is thread-safe, and calls are serialized.

The PIN is read from its source when a login is needed and dropped at once: it is never kept,
shown, or put in an error. A session the token no longer knows (the module was finalized and
initialized again, the token was removed and put back, an HSM restarted) is noticed on first
use: the token is logged in to again and the operation run once more.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from walletbackup.errors import StorageError

from .url import PinSource, Pkcs11Url

if TYPE_CHECKING:
    import pkcs11

T = TypeVar("T")
log = logging.getLogger(__name__)

_tokens: dict[tuple[str, str, str | None], Token] = {}
_module_locks: dict[str, threading.RLock] = {}
_tokens_lock = threading.Lock()


def token_for(url: Pkcs11Url) -> Token:
    """The process's :class:`Token` for the URL's module, token label and serial."""
    key = (url.module_path, url.token, url.serial)
    with _tokens_lock:
        token = _tokens.get(key)
        if token is None:
            lock = _module_locks.setdefault(url.module_path, threading.RLock())
            token = _tokens[key] = Token(url.module_path, url.token, url.serial, lock)
        return token


def forget_sessions() -> None:
    """Drop every token's session, without closing it.

    For a process that finalizes and initializes the PKCS#11 module again itself (a test that
    adds a SoftHSM2 token must, for the module to see it): the module then hands out session
    handles anew, so an old handle could name another token's new session, and closing or using
    it would act on that one. Each token logs in again on its next use.
    """
    with _tokens_lock:
        tokens = list(_tokens.values())
    for token in tokens:
        token.forget()


def lost_session_errors() -> tuple[type[Exception], ...]:
    """The errors that mean the session (or the login) is gone, not that the operation failed."""
    from pkcs11 import exceptions  # noqa: PLC0415 - the module loads only when a token is used

    return (
        exceptions.SessionHandleInvalid,
        exceptions.SessionClosed,
        exceptions.UserNotLoggedIn,
        exceptions.DeviceRemoved,
        exceptions.TokenNotPresent,
    )


class Token:
    """The session on one token; see the module docstring."""

    def __init__(
        self, module_path: str, label: str, serial: str | None, lock: threading.RLock
    ) -> None:
        self.module_path = module_path
        self.label = label
        self.serial = serial
        self._lock = lock
        self._session: pkcs11.Session | None = None

    def __repr__(self) -> str:
        return f"<Token {self.label!r} in {self.module_path}>"

    def run(self, pin_source: PinSource, operation: Callable[[pkcs11.Session], T]) -> T:
        """Run ``operation`` on the token's session; once more on a fresh login if it was lost."""
        lost = lost_session_errors()
        with self._lock:
            try:
                return operation(self._opened(pin_source))
            except lost:
                log.info("PKCS#11 token %r lost its session; logging in again", self.label)
            if self._session is not None:
                _close_quietly(self._session)
            self._session = None
            try:
                return operation(self._opened(pin_source))
            except lost:
                raise StorageError(
                    f"the PKCS#11 token {self.label!r} keeps dropping its sessions; "
                    "check the HSM and its module"
                ) from None

    def forget(self) -> None:
        """Drop the session without closing it (see :func:`forget_sessions`)."""
        with self._lock:
            self._session = None

    def _opened(self, pin_source: PinSource) -> pkcs11.Session:
        if self._session is None:
            self._session = self._open(pin_source)
        return self._session

    def _open(self, pin_source: PinSource) -> pkcs11.Session:
        """A new read-write session, logged in. Called with the lock held."""
        from pkcs11 import exceptions  # noqa: PLC0415 - see lost_session_errors

        token = self._find_token()
        try:
            # The PIN lives only for this call; it is never stored.
            return token.open(rw=True, user_pin=pin_source.read())
        except exceptions.UserAlreadyLoggedIn:
            pass  # something else in this process logged in: that login serves us too
        except exceptions.PinIncorrect:
            raise StorageError(
                f"the PKCS#11 token {self.label!r} refused the user PIN from {pin_source}"
            ) from None
        except exceptions.PinLocked:
            raise StorageError(
                f"the user PIN of PKCS#11 token {self.label!r} is locked (too many wrong "
                "PINs): the security officer must set a new one (softhsm2-util or the "
                "HSM's own tool)"
            ) from None
        except exceptions.PKCS11Error as exc:
            raise StorageError(
                f"cannot log in to PKCS#11 token {self.label!r}: {type(exc).__name__}"
            ) from None
        try:
            return token.open(rw=True)
        except exceptions.PKCS11Error as exc:
            raise StorageError(
                f"cannot open a session on PKCS#11 token {self.label!r}: {type(exc).__name__}"
            ) from None

    def _find_token(self) -> pkcs11.Token:
        import pkcs11  # noqa: PLC0415 - see lost_session_errors

        try:
            library = pkcs11.lib(self.module_path)
        except (OSError, RuntimeError) as exc:
            raise StorageError(
                f"cannot load the PKCS#11 module {self.module_path}: {exc}"
            ) from None
        try:
            wanted = None if self.serial is None else self.serial.encode()
            return library.get_token(token_label=self.label, token_serial=wanted)
        except pkcs11.exceptions.NoSuchToken:
            serial = f" with serial {self.serial}" if self.serial else ""
            raise StorageError(
                f"the PKCS#11 module {self.module_path} has no token labelled "
                f"{self.label!r}{serial}; initialise it (see docs/pkcs11.md) or fix the URL"
            ) from None
        except pkcs11.exceptions.MultipleTokensReturned:
            raise StorageError(
                f"the PKCS#11 module {self.module_path} has several tokens labelled "
                f"{self.label!r}: add serial=... to the URL"
            ) from None


def _close_quietly(session: pkcs11.Session) -> None:
    from pkcs11 import exceptions  # noqa: PLC0415 - see lost_session_errors

    # A lost session cannot be closed, and there is nothing left to release.
    with contextlib.suppress(exceptions.PKCS11Error):
        session.close()


__all__ = ["Token", "forget_sessions", "lost_session_errors", "token_for"]
