"""The ``passkey`` backup method: the secret is a passkey's PRF result (WebAuthn PRF).

Each enrollment creates a new passkey (credential) and a random 32-byte salt; the method secret
is the PRF result for that salt, with user verification always required. Two paths reach the
authenticator: fido2's client on a security key (``security_key``) and a local page in the
system browser (``browser``). Both send the same salt through the PRF extension, which the client
turns into the hmac-secret input SHA-256("WebAuthn PRF" || 0x00 || salt), so a credential gives
the same secret through either path. fido2 is imported only when a ceremony runs.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from walletbackup.errors import MethodUnavailable, PolicyViolation
from walletbackup.methods import Availability, BackupMethod, Enrollment, MethodContext, Option

from . import args as stanza
from . import devices
from .args import BROWSER, LOCALHOST, SALT_SIZE, SECURITY_KEY, PasskeyArgs
from .errors import ALTERNATIVES, PasskeyNotFound, PinRejected
from .system_browser import system_browser

if TYPE_CHECKING:
    from fido2.ctap import CtapDevice

    from .browser import BrowserCeremony
    from .interaction import Session
    from .security_key import SecurityKey

AUTO = "auto"
DEFAULT_TIMEOUT = 180.0
MAX_TIMEOUT = 3600.0

# One ceremony at a time per process: two would fight over one security key, or leave the
# person with two passkey prompts and no way to tell which is which.
_ceremony = threading.Lock()


class PasskeyMethod(BackupMethod):
    """A passkey's PRF result, from a security key (fido2) or the system browser.

    Options: ``transport`` (``"auto"``: a security key if one is connected, else the browser;
    ``"security-key"``; ``"browser"``), ``rp_id`` (``"localhost"``; the browser path allows
    only that), ``device`` (a ``fido2.ctap.CtapDevice``; default: the first USB key found),
    ``pin`` (secret; default: asked through ``user_interaction`` when the key needs it),
    ``user_interaction`` (a ``fido2.client.UserInteraction``; default: terminal prompts),
    ``open_browser`` (a callable taking the page URL; default: ``webbrowser.open``),
    ``timeout`` (seconds to wait for the person, default 180) and ``user_name`` (the name the
    passkey is shown under; default: "walletbackup <wallet id>").
    """

    name = "passkey"
    multiple = True
    interactive = True  # PIN prompts and "touch your key" notes
    options = (
        Option("transport", "security-key, browser or auto (default: auto)"),
        Option(
            "rp_id",
            "relying party id the passkey is bound to (default: localhost)",
            for_unlock=False,
        ),
        Option(
            "device",
            "a fido2 CtapDevice to use instead of the first USB security key",
            python_only=True,
        ),
        Option("pin", "the security key's PIN (default: asked when needed)", secret=True),
        Option(
            "user_interaction",
            "a fido2 UserInteraction for PIN and touch prompts",
            python_only=True,
        ),
        Option(
            "open_browser",
            "a callable that opens the page URL (default: webbrowser.open)",
            python_only=True,
        ),
        Option("timeout", "seconds to wait for the passkey (default: 180)"),
        Option("user_name", "the name the passkey is shown under", for_unlock=False),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._transport = self.option("transport", AUTO)
        if self._transport not in (AUTO, SECURITY_KEY, BROWSER):
            raise ValueError("passkey: transport must be 'auto', 'security-key' or 'browser'")
        self._rp_id = stanza.check_rp_id(self.option("rp_id", LOCALHOST), ValueError)
        if self._transport == BROWSER and self._rp_id != LOCALHOST:
            raise ValueError(
                "passkey: the browser path can only use rp_id 'localhost' (its page is served "
                "from this computer); use transport='security-key' for another rp id"
            )
        self._timeout = self.option("timeout", DEFAULT_TIMEOUT)
        if isinstance(self._timeout, bool) or not isinstance(self._timeout, int | float):
            raise TypeError("passkey: timeout must be a number of seconds")
        if not 0 < self._timeout <= MAX_TIMEOUT or math.isnan(self._timeout):
            raise ValueError(f"passkey: timeout must be between 0 and {MAX_TIMEOUT:g} seconds")
        pin = self.option("pin")
        if pin is not None and not isinstance(pin, str):
            raise TypeError("passkey: pin must be a str")
        user_name = self.option("user_name")
        if user_name is not None and not (isinstance(user_name, str) and 0 < len(user_name) < 64):
            raise ValueError("passkey: user_name must be a str of 1 to 63 characters")
        if self.option("open_browser") is not None and not callable(self.option("open_browser")):
            raise TypeError("passkey: open_browser must be callable")
        device = self.option("device")
        if device is not None and not callable(getattr(device, "call", None)):
            raise TypeError("passkey: device must be a fido2.ctap.CtapDevice")
        self._session: Session | None = None
        self._pin_error: PinRejected | None = None

    # --- the BackupMethod contract -------------------------------------------------------------

    def enroll(self, context: MethodContext) -> Enrollment:
        salt = secrets.token_bytes(SALT_SIZE)
        user_name = self.option("user_name") or f"walletbackup {context.wallet_id}"[:63]
        with self._exclusive():
            transport = self._enroll_transport()
            if transport == BROWSER:
                ceremony = self._browser(f"protect the backup of wallet {context.wallet_id}")
                credential_id, secret = ceremony.create(user_name, salt)
            else:
                with self._security_key(None) as key:
                    credential_id, secret = key.create(user_name, salt)
        args = PasskeyArgs(transport, self._rp_id, credential_id, salt)
        return Enrollment(secret, args.to_args())

    def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
        found = stanza.parse(args)
        with self._exclusive():
            if self._unlock_transport(found) == BROWSER:
                ceremony = self._browser(f"open the backup of wallet {context.wallet_id}")
                return ceremony.evaluate(found.credential_id, found.salt)
            with self._security_key(found) as key:
                return key.evaluate(found.credential_id, found.salt)

    @classmethod
    def validate_args(cls, args: Mapping[str, Any]) -> None:
        stanza.parse(args)

    def availability(self) -> Availability:
        # Each look only when the answer still depends on it: every method listing pays for it.
        key = self._transport != BROWSER and (
            self.option("device") is not None or devices.key_connected()
        )
        browser = (
            not key
            and self._transport != SECURITY_KEY
            and (self.option("open_browser") is not None or _browser_found())
        )
        if key or browser:
            return Availability(True)
        if self._transport == SECURITY_KEY:
            return Availability(
                False, "no FIDO2 security key is connected", "plug in your security key"
            )
        if self._transport == BROWSER:
            return Availability(
                False,
                "no web browser that can use passkeys was found (text-mode ones cannot)",
                "run on a computer with a web browser, or name yours in $BROWSER",
            )
        return Availability(
            False,
            "no FIDO2 security key is connected and no web browser was found",
            f"plug in a security key, or run on a computer with a browser; or {ALTERNATIVES}",
        )

    # --- paths ---------------------------------------------------------------------------------

    def _enroll_transport(self) -> str:
        if self._transport != AUTO:
            return str(self._transport)
        if self._rp_id != LOCALHOST or self.option("device") is not None or devices.key_connected():
            return SECURITY_KEY
        return BROWSER

    def _unlock_transport(self, found: PasskeyArgs) -> str:
        """The stanza's path, unless the caller picked the other one and the rp id allows it.

        A passkey for rp id ``localhost`` on a security key works through both paths; any other
        rp id only through the security-key path (no local page can claim it).
        """
        if self._transport in (AUTO, found.transport):
            return found.transport
        if found.rp_id != LOCALHOST:
            raise PasskeyNotFound(
                f"this passkey is bound to relying party {found.rp_id!r}, which only the "
                "security-key path can use"
            )
        return str(self._transport)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._pin_error is not None:
            # Never try a rejected PIN again: each try uses up one of the key's few attempts.
            raise PinRejected(str(self._pin_error))
        if not _ceremony.acquire(blocking=False):
            raise PolicyViolation(
                "another passkey request is already waiting for the person in this program; "
                "finish or cancel it, then retry"
            )
        try:
            yield
        except PinRejected as error:
            self._pin_error = error
            if self._session is not None:
                self._session.forget_pin()
            raise
        finally:
            _ceremony.release()

    @contextlib.contextmanager
    def _security_key(self, found: PasskeyArgs | None) -> Iterator[SecurityKey]:
        """The key to use: the ``device`` option, else the first USB key (closed afterwards).

        ``found`` is the stanza being unlocked (None when enrolling).
        """
        from .security_key import SecurityKey, connected_keys  # noqa: PLC0415 - lazy fido2

        device: CtapDevice | None = self.option("device")
        opened: list[CtapDevice] = []
        if device is None:
            opened = list(connected_keys())
            if not opened:
                if found is not None:
                    raise PasskeyNotFound(
                        "no security key is connected: plug in the key that holds this passkey"
                        + (
                            " (or use transport='browser', which reaches it through the browser)"
                            if found.rp_id == LOCALHOST
                            else ""
                        )
                    )
                raise MethodUnavailable(
                    "no FIDO2 security key is connected: plug one in, or use "
                    "transport='browser' for a passkey in your browser or phone"
                )
            device = opened[0]
        try:
            rp_id = found.rp_id if found is not None else self._rp_id
            yield SecurityKey(device, rp_id, self._interaction(), float(self._timeout))
        finally:
            for each in opened:
                each.close()

    def _browser(self, purpose: str) -> BrowserCeremony:
        from .browser import BrowserCeremony  # noqa: PLC0415 - only the browser path needs it

        opener: Callable[[str], object] = self.option("open_browser") or webbrowser.open
        return BrowserCeremony(opener, float(self._timeout), self._interaction().notify, purpose)

    def _interaction(self) -> Session:
        if self._session is None:
            from .interaction import Session, TerminalInteraction  # noqa: PLC0415 - lazy fido2

            inner = self.option("user_interaction") or TerminalInteraction()
            self._session = Session(inner, self.option("pin"))
        return self._session


def _browser_found() -> bool:
    """Whether webbrowser would open a browser that can run WebAuthn (see system_browser)."""
    found = system_browser()
    return found is not None and not found.text_mode
