"""``walletbackup passkey ...``: what is connected, and setting a security key's first PIN.

Enrolling and unlocking go through the generic commands (``backup``, ``recover``,
``add-method`` with ``--method passkey``); these commands only help get a key ready.
"""

from __future__ import annotations

import json
from typing import Any

import click

from walletbackup.errors import MethodUnavailable, PolicyViolation

from .system_browser import system_browser


@click.group(name="passkey")
def passkey() -> None:
    """Passkeys: security keys and the browser path."""


@passkey.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devices(as_json: bool) -> None:
    """List connected FIDO2 security keys, whether each can serve (PRF, PIN), and the browser."""
    from . import security_key  # noqa: PLC0415 - fido2 only when the command runs

    keys = []
    for device in security_key.connected_keys():
        try:
            keys.append(_describe(device))
        finally:
            device.close()
    browser = system_browser()
    if as_json:
        report = {
            "security_keys": keys,
            "browser": {
                "found": browser is not None,
                "name": browser.name if browser else None,
                "usable": browser is not None and not browser.text_mode,
            },
        }
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    if not keys:
        click.echo("No FIDO2 security key is connected.")
    for key in keys:
        verdict = "usable" if key["usable"] else f"not usable: {key['problem']}"
        click.echo(
            f"{key['name']} ({key['path']}): PRF {'yes' if key['prf'] else 'no'}, "
            f"PIN {key['pin']}; {verdict}"
        )
    if browser is None:
        click.echo("Browser: none found")
    else:
        click.echo(
            f"Browser: {browser.name}"
            + (" (text mode: cannot use passkeys)" if browser.text_mode else "")
        )


@passkey.command(name="set-pin")
def set_pin() -> None:
    """Set the first PIN of the one connected security key (the passkey method requires one)."""
    from fido2.ctap import CtapError  # noqa: PLC0415 - fido2 only when the command runs
    from fido2.ctap2.base import Ctap2  # noqa: PLC0415
    from fido2.ctap2.pin import ClientPin  # noqa: PLC0415

    from . import security_key  # noqa: PLC0415

    keys = security_key.connected_keys()
    try:
        if len(keys) != 1:
            raise MethodUnavailable(
                f"{len(keys)} security keys are connected: connect exactly the one to set up"
            )
        ctap = Ctap2(keys[0])
        if ctap.info.options.get("clientPin") is not False:
            raise PolicyViolation(
                "this key already has a PIN (or cannot have one); change it with the key "
                "maker's tool"
            )
        pin = click.prompt(
            "New PIN (4 to 63 characters)", hide_input=True, confirmation_prompt=True, err=True
        )
        if not 4 <= len(pin) <= 63:
            raise PolicyViolation("a security key PIN has 4 to 63 characters")
        try:
            ClientPin(ctap).set_pin(pin)
        except CtapError as exc:
            raise PolicyViolation(
                f"the key refused the PIN ({exc.code.name}): it may ask for a longer one"
            ) from exc
    finally:
        for key in keys:
            key.close()
    click.echo("PIN set.")


def _describe(device: Any) -> dict[str, Any]:
    from fido2.ctap2.base import Ctap2  # noqa: PLC0415 - fido2 only when the command runs

    descriptor = getattr(device, "descriptor", None)
    name = getattr(device, "product_name", None) or "security key"
    entry: dict[str, Any] = {"name": name, "path": str(getattr(descriptor, "path", "-"))}
    try:
        info = Ctap2(device).info
    except ValueError:
        return {
            **entry,
            "versions": ["U2F_V2"],
            "prf": False,
            "pin": "unsupported",
            "usable": False,
            "problem": "U2F only (no FIDO2)",
        }
    options = info.options
    pin = (
        "unsupported"
        if "clientPin" not in options
        else ("set" if options["clientPin"] else "not set")
    )
    prf = "hmac-secret" in info.extensions
    verified = bool(options.get("clientPin") or options.get("uv") or options.get("bioEnroll"))
    problem = (
        "no PRF (hmac-secret)"
        if not prf
        else "no PIN yet: run `walletbackup passkey set-pin`"
        if not verified
        else ""
    )
    return {
        **entry,
        "versions": list(info.versions),
        "prf": prf,
        "pin": pin,
        "usable": not problem,
        "problem": problem,
    }
