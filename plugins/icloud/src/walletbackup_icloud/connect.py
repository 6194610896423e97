"""Reaching iCloud Drive: from a caller's signed-in PyiCloudService, or from a saved sign-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from walletbackup.retry import RetryPolicy

from . import accounts
from .accounts import LOGIN_COMMAND, SignInNeeded
from .drive import KeyDrive
from .remote import Remote, bound_requests


@dataclass(frozen=True)
class Settings:
    """How to talk to iCloud: tries per request, seconds per answer, how to wait between tries."""

    attempts: int
    timeout: float
    sleep: Callable[[float], Any]


def connect(service: Any, apple_id: str | None, settings: Settings) -> KeyDrive:
    """The walletbackup key files of the Apple ID behind ``service`` or the saved sign-in.

    ``service`` (a signed-in ``PyiCloudService``) is used as it is: its requests keep the
    caller's settings. A saved sign-in is validated first (one request); when only its cookies
    have expired, pyicloud renews them from the saved session token, no questions asked.
    """
    if service is not None:
        account = str(getattr(service, "account_name", "the signed-in Apple ID"))
        remote = _remote(
            settings,
            f"the PyiCloudService passed as service= is no longer signed in to {account}",
            "sign it in again (two-factor included) and pass it again",
        )
        api = service
    else:
        saved = accounts.choose(apple_id)
        account = saved.apple_id
        remote = _remote(
            settings,
            f"the saved iCloud sign-in for {account} has expired",
            f"run `{LOGIN_COMMAND}` to sign in again",
        )
        api = accounts.service_factory(account, None, str(saved.directory))
        bound_requests(api.session, settings.timeout)
        try:
            remote.call("check the saved iCloud sign-in", api.authenticate)
        finally:
            accounts.tighten(saved.directory)
        if api.requires_2fa or api.requires_2sa:
            raise remote.sign_in_again()
    drive = remote.call("open iCloud Drive", lambda: api.drive)
    return KeyDrive(drive, remote, account)


def _remote(settings: Settings, reason: str, remedy: str) -> Remote:
    # Apple's web endpoints recover within seconds or not for a while: waits stay short.
    policy = RetryPolicy(
        attempts=settings.attempts, base_delay=0.5, max_delay=8.0, sleep=settings.sleep
    )
    return Remote(policy, lambda: SignInNeeded(reason, remedy))


__all__ = ["Settings", "connect"]
