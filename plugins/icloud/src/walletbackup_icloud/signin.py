"""Signing in to iCloud at the terminal: password, two-factor code or security key, trust.

Used by ``walletbackup icloud login``. The password and the codes are prompted without echo,
passed to pyicloud and never stored, logged or shown; pyicloud keeps only Apple's session
cookies, in the account's private directory (see :mod:`walletbackup_icloud.accounts`).
"""

from __future__ import annotations

from typing import Any

import click

from . import accounts
from .accounts import SavedAccount
from .remote import bound_requests, unanswered_login

CODE_ATTEMPTS = 3
TIMEOUT = 30.0  # seconds per request to Apple


def sign_in(account: SavedAccount, password: str) -> None:
    """Sign ``account`` in and leave a trusted session saved; ClickException saying why not."""
    from pyicloud import exceptions as px  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        api = accounts.service_factory(account.apple_id, password, str(account.directory))
        bound_requests(api.session, TIMEOUT)
        api.authenticate()
        if api.requires_2fa:
            _two_factor(api)
        elif api.requires_2sa:
            _two_step(api)
    except px.PyiCloudAccountLockedException as exc:
        raise click.ClickException(
            "Apple reports this Apple ID as locked: unlock it at https://iforgot.apple.com, "
            "then sign in again"
        ) from exc
    except px.PyiCloudFailedLoginException as exc:
        trouble = unanswered_login(exc)
        if trouble is not None:
            raise click.ClickException(
                f"Apple answered {trouble} to the sign-in: try again later"
            ) from exc
        raise click.ClickException("Apple did not accept this Apple ID and password") from exc
    except px.PyiCloudConnectionException as exc:
        raise click.ClickException(
            "could not reach Apple to sign in: check the connection and try again"
        ) from exc
    except px.PyiCloudException as exc:
        raise click.ClickException(f"sign-in failed ({type(exc).__name__})") from exc
    finally:
        accounts.tighten(account.directory)


def end_session(account: SavedAccount) -> bool:
    """Ask Apple to end the saved session (untrusting this "browser"); False if that failed."""
    try:
        api = accounts.service_factory(account.apple_id, None, str(account.directory))
        bound_requests(api.session, TIMEOUT)
        api.authenticate()
        return bool(api.logout(keep_trusted=False)["remote_logout_confirmed"])
    except Exception:  # the local copy is deleted whatever Apple answers
        return False


def _two_factor(api: Any) -> None:
    names = api.security_key_names
    if names:
        _security_key(api, names)
    else:
        _code(api)
    if not api.is_trusted_session and not api.trust_session():
        raise click.ClickException(
            "Apple did not trust this session (it would ask for a code every time): run login again"
        )


def _security_key(api: Any, names: list[str]) -> None:
    click.echo(f"Apple asks for a security key: {', '.join(names)}.")
    devices = list(api.fido2_devices)
    if not devices:
        raise click.ClickException(
            "no FIDO2 security key is connected: plug one in and run login again"
        )
    if len(devices) > 1:
        for number, found in enumerate(devices, start=1):
            product = getattr(getattr(found, "descriptor", None), "product_name", None)
            click.echo(f"  {number}. {product or 'security key'}")
    device = devices[_choose("Security key", len(devices))]
    click.echo("Touch the security key to confirm the sign-in.")
    api.confirm_security_key(device)


def _code(api: Any) -> None:
    if not api.request_2fa_code():
        raise click.ClickException(
            "Apple sent no verification code (this Apple ID may need a security key): run "
            "login again with one plugged in"
        )
    where = "by text message" if api.two_factor_delivery_method == "sms" else "to your devices"
    click.echo(f"Apple sent a verification code {where}.")
    for attempt in range(1, CODE_ATTEMPTS + 1):
        code = click.prompt("Verification code", hide_input=True)
        if api.validate_2fa_code(_digits(code)):
            return
        if attempt < CODE_ATTEMPTS:
            click.echo("Apple did not accept that code; try again.", err=True)
    raise click.ClickException(
        f"Apple accepted none of {CODE_ATTEMPTS} codes: run login again for a new one"
    )


def _two_step(api: Any) -> None:
    devices = list(api.trusted_devices or [])
    if not devices:
        raise click.ClickException("Apple asks for two-step verification but lists no device")
    for number, device in enumerate(devices, start=1):
        label = device.get("deviceName") or f"text message to {device.get('phoneNumber', '?')}"
        click.echo(f"  {number}. {label}")
    device = devices[_choose("Send the code to", len(devices))]
    if not api.send_verification_code(device):
        raise click.ClickException("Apple could not send the verification code: try again")
    code = click.prompt("Verification code", hide_input=True)
    if not api.validate_verification_code(device, _digits(code)):
        raise click.ClickException("Apple did not accept the code: run login again")


def _choose(what: str, count: int) -> int:
    if count == 1:
        return 0
    number: int = click.prompt(f"{what} (1-{count})", type=click.IntRange(1, count))
    return number - 1


def _digits(code: str) -> str:
    """Codes are read as "123 456" or "123-456" as often as "123456"."""
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


__all__ = ["CODE_ATTEMPTS", "end_session", "sign_in"]
