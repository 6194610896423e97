"""``walletbackup icloud login | logout | status``: the saved sign-ins the icloud method uses."""

from __future__ import annotations

import json
import time

import click

from . import accounts, signin
from .connect import Settings, connect

_CHECK = Settings(attempts=3, timeout=30.0, sleep=time.sleep)


@click.group(name="icloud")
def icloud() -> None:
    """iCloud sign-in for the icloud backup method."""


@icloud.command()
@click.option("--apple-id", metavar="EMAIL", help="The Apple ID (asked for when not given).")
def login(apple_id: str | None) -> None:
    """Sign in to iCloud (two-factor included) and save the session.

    The password and verification codes are asked for here and never stored: only Apple's
    session cookies are kept, in a directory only you can read. Then checks that iCloud Drive
    is reachable with the new session.
    """
    if apple_id is None:
        apple_id = click.prompt("Apple ID")
    try:
        apple_id = accounts.normalize_apple_id(apple_id)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="Apple ID") from exc
    password = click.prompt("Apple ID password", hide_input=True)
    account = accounts.prepare(apple_id)
    signed_in_before = accounts.is_saved(account)
    try:
        signin.sign_in(account, password)
    except BaseException:
        if not signed_in_before:
            accounts.forget(account)  # nothing half-made is left to look like a sign-in
        raise
    accounts.remember(account)
    click.echo(f"Signed in as {account.apple_id}; the session is saved in {account.directory}.")
    connect(None, account.apple_id, _CHECK)
    click.echo("iCloud Drive is reachable: the icloud backup method is ready.")


@icloud.command()
@click.option("--apple-id", metavar="EMAIL", help="Which saved sign-in (needed when several).")
def logout(apple_id: str | None) -> None:
    """End the saved session at Apple and delete it from this machine."""
    account = accounts.choose(apple_id, choose_with="--apple-id EMAIL")
    ended = signin.end_session(account)
    accounts.forget(account)
    click.echo(f"Deleted the saved iCloud sign-in for {account.apple_id}.")
    if not ended:
        click.echo(
            "Apple could not be told to end the session; it lapses by itself, and it can be "
            "removed now under Sign-In and Security at https://account.apple.com.",
            err=True,
        )


@icloud.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """List the saved sign-ins (offline: the sessions are not checked)."""
    saved = accounts.saved_accounts()
    if as_json:
        rows = [{"apple_id": a.apple_id, "directory": str(a.directory)} for a in saved]
        click.echo(json.dumps(rows, indent=2))
    elif not saved:
        click.echo(f"No saved iCloud sign-in: run `{accounts.LOGIN_COMMAND}`.")
    else:
        for account in saved:
            click.echo(f"{account.apple_id}\t{account.directory}")


__all__ = ["icloud"]
