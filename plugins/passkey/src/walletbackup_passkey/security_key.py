"""The security-key path: CTAP2 through fido2's ``Fido2Client``, on any fido2 ``CtapDevice``.

Without a ``device`` option the first USB (HID) security key found is used. The origin is
``https://<rp_id>``; user verification is always required (PIN or built-in), because the
authenticator keeps different PRF keys with and without it. Imported only when a ceremony runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, PinRequiredError
from fido2.ctap import CtapDevice, CtapError
from fido2.ctap2.base import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.hid import CtapHidDevice
from fido2.webauthn import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from walletbackup.errors import MethodUnavailable, WalletBackupError
from walletbackup.methods import SECRET_SIZE

from .args import SALT_SIZE
from .errors import ALTERNATIVES, PasskeyDeclined, PasskeyNotFound, PinRejected
from .interaction import Session

ERR = CtapError.ERR
PUBLIC_KEY = PublicKeyCredentialType.PUBLIC_KEY
#: ES256 first (every key has it), then EdDSA.
ALGORITHMS = (-7, -8)
SET_PIN = "set one with `walletbackup passkey set-pin` or the key maker's tool"


def connected_keys() -> list[CtapHidDevice]:
    """Every USB security key that answers, opened (the caller closes them)."""
    try:
        return list(CtapHidDevice.list_devices())
    except OSError as exc:
        raise MethodUnavailable(
            f"could not list USB security keys ({type(exc).__name__}); on Linux, check that "
            "your user may open /dev/hidraw* (the udev rules of libfido2 or your distribution)"
        ) from exc


class SecurityKey:
    """PRF ceremonies on one security key, for one relying party id."""

    def __init__(self, device: CtapDevice, rp_id: str, session: Session, timeout: float) -> None:
        self._device = device
        self._rp_id = rp_id
        self._timeout_ms = round(timeout * 1000)
        with _translated(device, rp_id):
            self._client = Fido2Client(
                device, DefaultClientDataCollector(f"https://{rp_id}"), session
            )
        self._check_capabilities()

    def create(self, user_name: str, salt: bytes) -> tuple[bytes, bytes]:
        """Make a new credential with PRF; return its id and the PRF result for ``salt``."""
        options = PublicKeyCredentialCreationOptions(
            rp=PublicKeyCredentialRpEntity(id=self._rp_id, name="walletbackup"),
            user=PublicKeyCredentialUserEntity(
                id=os.urandom(16), name=user_name, display_name=user_name
            ),
            challenge=os.urandom(32),
            pub_key_cred_params=[
                PublicKeyCredentialParameters(type=PUBLIC_KEY, alg=alg) for alg in ALGORITHMS
            ],
            timeout=self._timeout_ms,
            # Not discoverable: nothing is stored on the key, so no slot is used up.
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            extensions={"prf": {"eval": {"first": salt}}},
        )
        with _translated(self._device, self._rp_id):
            response = self._client.make_credential(options)
        prf = response.client_extension_results.prf
        if prf is None or not prf.enabled:
            raise _no_prf()
        credential_id = bytes(response.raw_id)
        # Keys without hmac-secret-mc only say "enabled" at creation: ask for the result.
        first = prf.results.first if prf.results is not None else None
        if first is None:
            return credential_id, self.evaluate(credential_id, salt)
        return credential_id, _checked(first)

    def evaluate(self, credential_id: bytes, salt: bytes) -> bytes:
        """The PRF result of credential ``credential_id`` for ``salt`` (user verified)."""
        if len(salt) != SALT_SIZE:
            raise ValueError("the PRF salt must be 32 bytes")
        options = PublicKeyCredentialRequestOptions(
            challenge=os.urandom(32),
            timeout=self._timeout_ms,
            rp_id=self._rp_id,
            allow_credentials=[PublicKeyCredentialDescriptor(type=PUBLIC_KEY, id=credential_id)],
            user_verification=UserVerificationRequirement.REQUIRED,
            extensions={"prf": {"eval": {"first": salt}}},
        )
        with _translated(self._device, self._rp_id):
            response = self._client.get_assertion(options).get_response(0)
        if bytes(response.raw_id) != credential_id:
            raise PasskeyNotFound(_not_here(self._rp_id))
        prf = response.client_extension_results.prf
        if prf is None or prf.results is None:
            raise _no_prf()
        return _checked(prf.results.first)

    def _check_capabilities(self) -> None:
        info = self._client.info
        if "hmac-secret" not in info.extensions:
            raise _no_prf()
        verifiers = ("uv", "clientPin", "bioEnroll")
        if not any(key in info.options for key in verifiers):
            raise MethodUnavailable(
                "this security key cannot verify its user (no PIN, no fingerprint), which the "
                f"passkey method requires; {ALTERNATIVES}"
            )
        if not any(info.options.get(key) for key in verifiers):
            raise MethodUnavailable(f"this security key has no PIN yet: {SET_PIN}, then retry")


def _checked(first: bytes) -> bytes:
    if not isinstance(first, bytes) or len(first) != SECRET_SIZE:
        raise MethodUnavailable("the security key returned a PRF result of the wrong size")
    return first


def _no_prf() -> MethodUnavailable:
    return MethodUnavailable(
        "this security key does not support the PRF extension (CTAP2 hmac-secret), which "
        f"derives the key; {ALTERNATIVES}"
    )


def _not_here(rp_id: str) -> str:
    return (
        f"this security key does not hold the passkey (relying party {rp_id!r}): it was "
        "deleted or the key was reset, or it is on another key. Plug in the key you enrolled, "
        "or recover with another method"
    )


@contextlib.contextmanager
def _translated(device: CtapDevice, rp_id: str) -> Iterator[None]:
    """Turn fido2 and transport errors into walletbackup errors with something to act on."""
    try:
        yield
    except WalletBackupError:
        raise
    except PinRequiredError as exc:
        raise PasskeyDeclined("no PIN was entered: the request was cancelled") from exc
    except ClientError as exc:
        raise _client_error(exc, device, rp_id) from exc
    except CtapError as exc:
        raise _ctap_error(exc.code, device, rp_id) from exc
    except OSError as exc:
        raise MethodUnavailable(
            f"the security key stopped answering ({type(exc).__name__}): was it removed? "
            "Plug it in again and retry"
        ) from exc
    except ValueError as exc:  # fido2's word for answers it cannot use (e.g. protocol versions)
        raise MethodUnavailable(
            "the security key answered in a way fido2 cannot use (an unsupported PIN protocol or "
            "malformed data); update its firmware or use another key"
        ) from exc


def _client_error(exc: ClientError, device: CtapDevice, rp_id: str) -> WalletBackupError:
    if isinstance(exc.cause, CtapError):
        return _ctap_error(exc.cause.code, device, rp_id)
    if exc.code == ClientError.ERR.DEVICE_INELIGIBLE:
        return PasskeyNotFound(_not_here(rp_id))
    if exc.code == ClientError.ERR.TIMEOUT:
        return PasskeyDeclined("the security key was not touched in time; retry and touch it")
    if exc.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED:
        return MethodUnavailable(
            f"the security key cannot do what the passkey method needs ({exc.cause}); "
            f"{ALTERNATIVES}"
        )
    return MethodUnavailable(f"the security key request failed ({exc.code.name}); retry")


def _ctap_error(code: int, device: CtapDevice, rp_id: str) -> WalletBackupError:
    if code == ERR.NO_CREDENTIALS:
        return PasskeyNotFound(_not_here(rp_id))
    if code == ERR.PIN_INVALID:
        return PinRejected(f"the security key rejected the PIN{_retries_left(device)}")
    known = _CTAP_ERRORS.get(code)
    if known is not None:
        kind, message = known
        return kind(message)
    return MethodUnavailable(f"the security key failed the request (CTAP error {code:#04x}); retry")


_NOT_TOUCHED = (PasskeyDeclined, "the security key was not touched in time; retry and touch it")
_CTAP_ERRORS: dict[int, tuple[type[WalletBackupError], str]] = {
    ERR.PIN_BLOCKED: (
        MethodUnavailable,
        "the security key's PIN is blocked after too many wrong PINs; only a reset of the key "
        "unblocks it, and a reset deletes its passkeys: recover with another method",
    ),
    ERR.PIN_AUTH_BLOCKED: (
        MethodUnavailable,
        "the security key refuses PINs after 3 wrong ones in a row: unplug it, plug it in again "
        "and retry",
    ),
    ERR.PIN_NOT_SET: (
        MethodUnavailable,
        f"this security key has no PIN yet: {SET_PIN}, then retry",
    ),
    ERR.UV_INVALID: (PasskeyDeclined, "the security key refused user verification; retry"),
    ERR.UV_BLOCKED: (PasskeyDeclined, "the security key refused user verification; retry"),
    ERR.OPERATION_DENIED: (PasskeyDeclined, "the security key refused the request; retry"),
    ERR.USER_ACTION_TIMEOUT: _NOT_TOUCHED,
    ERR.ACTION_TIMEOUT: _NOT_TOUCHED,
    ERR.KEEPALIVE_CANCEL: _NOT_TOUCHED,
}


def _retries_left(device: CtapDevice) -> str:
    try:
        retries, _ = ClientPin(Ctap2(device)).get_pin_retries()
    except (CtapError, OSError, ValueError):
        return ""
    return f" ({retries} attempts left before the key locks)"
