"""pyicloud pointed at the loopback fake, and a stand-in for it during sign-in.

``loopback_service`` builds the real ``PyiCloudService`` with one change: its fixed Apple hosts
(``_setup_endpoints``) point at the fake. Everything after that is pyicloud's own code: its
session (cookie jar and session files included), ``authenticate`` against the saved session,
the PCS check, ``drive`` and the ``DriveService`` over TLS.

``FakeSignIn`` stands in for ``PyiCloudService`` while signing in with a password (SRP and
two-factor run against Apple's hosts, which pyicloud fixes): it scripts Apple's side of
``requires_2fa``, ``validate_2fa_code``, ``confirm_security_key``, ``trust_session``... and on
success has the fake issue a session that the real pyicloud session saves, as a real sign-in does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from icloud_fake import FakeICloud
from pyicloud import PyiCloudService
from pyicloud.exceptions import (
    PyiCloudAccountLockedException,
    PyiCloudAPIResponseException,
    PyiCloudFailedLoginException,
)

from walletbackup_icloud import accounts

APPLE_ID = "ada@example.com"
OTHER_APPLE_ID = "grace@example.com"
PASSWORD = "Apple-Password-Otter-91"
CODE = "314159"


def loopback_service(fake: FakeICloud, apple_id: str, cookie_directory: str) -> Any:
    """The real PyiCloudService for ``apple_id``, its Apple hosts pointed at ``fake``."""

    class LoopbackICloud(PyiCloudService):
        def _setup_endpoints(self) -> None:
            self._idmsa_endpoint = fake.url("/idmsa")
            self._auth_endpoint = fake.url("/idmsa/appleauth/auth")
            self._home_endpoint = fake.root
            self._setup_endpoint = fake.url("/setup/ws/1")

    api = LoopbackICloud(
        apple_id, cookie_directory=cookie_directory, verify=str(fake.ca), authenticate=False
    )
    api.session.trust_env = False  # no proxy or CA bundle from the environment
    return api


def issue_session(fake: FakeICloud, apple_id: str, cookie_directory: str) -> None:
    """Have the fake sign ``apple_id`` in; pyicloud's own session saves what Apple sends."""
    api = loopback_service(fake, apple_id, cookie_directory)
    api.session.post(fake.url("/test/sign-in"), json={"apple_id": apple_id}, timeout=10)


def sign_in(fake: FakeICloud, apple_id: str) -> accounts.SavedAccount:
    """A saved sign-in for ``apple_id``, as `walletbackup icloud login` leaves it."""
    account = accounts.prepare(apple_id)
    issue_session(fake, apple_id, str(account.directory))
    accounts.remember(account)
    return account


@dataclass
class Script:
    """Apple's side of one sign-in."""

    mode: str = "code"  # none | code | security-key | two-step | locked | outage
    code: str = CODE
    trust: bool = True
    keys_connected: int = 1
    sent_code: bool = True
    codes: list[str] = field(default_factory=list)
    touched: list[Any] = field(default_factory=list)


class FakeSignIn:
    """PyiCloudService as the sign-in code sees it, with Apple scripted by ``Script``."""

    def __init__(
        self, fake: FakeICloud, script: Script, apple_id: str, password: str, cookie_directory: str
    ) -> None:
        self._fake, self._script, self._password = fake, script, password
        self._apple_id, self._directory = apple_id, cookie_directory
        self._trusted = self._verified = False
        self.account_name = apple_id
        self.session = requests.Session()  # the sign-in code bounds its requests in time
        self.two_factor_delivery_method = "trusted_device"

    def authenticate(self) -> None:
        if self._script.mode == "locked":
            response = requests.Response()
            response.status_code = 403
            raise PyiCloudAccountLockedException(-20209, response)
        if self._script.mode == "outage":
            try:
                raise PyiCloudAPIResponseException("Service Unavailable", 503)
            except PyiCloudAPIResponseException as error:
                raise PyiCloudFailedLoginException(
                    "Failed to initiate srp authentication."
                ) from error
        if self._password != PASSWORD:
            raise PyiCloudFailedLoginException("Invalid email/password combination.")
        if self._script.mode == "none":
            self._verified = True
            self._trust()

    @property
    def requires_2fa(self) -> bool:
        return self._script.mode in ("code", "security-key") and not self._verified

    @property
    def requires_2sa(self) -> bool:
        return self._script.mode == "two-step" and not self._verified

    @property
    def is_trusted_session(self) -> bool:
        return self._trusted

    @property
    def security_key_names(self) -> list[str] | None:
        return ["Ada's YubiKey"] if self._script.mode == "security-key" else None

    @property
    def fido2_devices(self) -> list[Any]:
        return [f"security key {n}" for n in range(1, self._script.keys_connected + 1)]

    def request_2fa_code(self) -> bool:
        return self._script.sent_code

    def validate_2fa_code(self, code: str) -> bool:
        self._script.codes.append(code)
        self._verified = code == self._script.code
        return self._verified

    def confirm_security_key(self, device: Any) -> None:
        self._script.touched.append(device)
        self._verified = True
        self.trust_session()

    def trust_session(self) -> bool:
        if self._verified and self._script.trust:
            self._trust()
        return self._trusted

    @property
    def trusted_devices(self) -> list[dict[str, Any]]:
        return [{"deviceName": "Ada's iPhone"}, {"phoneNumber": "********42"}]

    def send_verification_code(self, device: dict[str, Any]) -> bool:
        return True

    def validate_verification_code(self, device: dict[str, Any], code: str) -> bool:
        self._script.codes.append(code)
        self._verified = code == self._script.code
        return self._verified and self.trust_session()

    def _trust(self) -> None:
        issue_session(self._fake, self._apple_id, self._directory)
        self._trusted = True
