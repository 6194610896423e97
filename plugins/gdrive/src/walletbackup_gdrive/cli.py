"""``walletbackup gdrive login | logout | status``: the desktop user's Google sign-in.

No token is ever printed; errors are walletbackup errors, which the root command turns into one
line on stderr and a documented exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from walletbackup.errors import StorageError

from . import signin as signin_store
from .endpoints import DEFAULT_API_ROOT

# Reusable: click makes a fresh Option each time the decorator is applied.
signin_option = click.option(
    "--signin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the sign-in is kept (default: gdrive/signin.json in the user config dir).",
)


@click.group(name="gdrive")
def gdrive() -> None:
    """Google Drive sign-in for the gdrive backup method."""


@gdrive.command()
@click.option(
    "--client-secrets",
    required=True,
    envvar="WALLETBACKUP_GDRIVE_CLIENT_SECRETS",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The application's OAuth client secrets JSON (a Desktop app client). "
    "Also read from WALLETBACKUP_GDRIVE_CLIENT_SECRETS.",
)
@signin_option
@click.option(
    "--no-browser",
    is_flag=True,
    help="Only print the sign-in address; open it in a browser on this machine.",
)
@click.option(
    "--wait",
    type=click.IntRange(1, 3600),
    default=300,
    show_default=True,
    help="Seconds to wait for the browser sign-in.",
)
def login(client_secrets: Path, signin_file: Path | None, no_browser: bool, wait: int) -> None:
    """Sign in to Google in the browser and save the sign-in for the gdrive method.

    Asks only for the app's own hidden Drive folder (drive.appdata): walletbackup cannot see
    any other file in the Drive.
    """
    saved = signin_store.login(
        client_secrets, signin_file, wait_seconds=wait, open_browser=not no_browser
    )
    click.echo(
        f"Signed in to Google Drive; the sign-in is saved in {saved.path} (readable "
        f"by you only). OAuth client fingerprint: {saved.client}."
    )


@gdrive.command()
@signin_option
@click.option(
    "--local-only",
    is_flag=True,
    help="Delete the saved sign-in without revoking the app's access at Google.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def logout(signin_file: Path | None, local_only: bool, yes: bool) -> None:
    """Revoke the saved sign-in at Google and delete it."""
    path = signin_file or signin_store.default_path()
    saved = signin_store.load(path)
    if saved is None:
        click.echo(f"Not signed in (no sign-in at {path}).")
        return
    if not local_only and not yes:
        click.confirm(
            "Revoking removes walletbackup's access to your Google Drive. Google deletes an "
            "app's hidden folder when the app is removed from the account; if it does, the "
            "gdrive keys in it are gone and wallets can no longer be recovered with gdrive. "
            "Keep another backup method on every wallet (or use --local-only). Revoke now?",
            abort=True,
        )
    try:
        known = signin_store.revoke(saved) if not local_only else None
    except StorageError as exc:
        raise StorageError(
            f"{exc}; the saved sign-in was deleted all the same. To end walletbackup's access, "
            "remove it at https://myaccount.google.com/permissions"
        ) from None
    finally:
        # The user asked to sign out: the saved token goes even when Google cannot be reached.
        signin_store.delete(path)
    if local_only:
        click.echo(f"Deleted the sign-in at {path}; the app's access at Google was kept.")
    else:
        state = "revoked" if known else "was already revoked"
        click.echo(f"Signed out: the sign-in {state} at Google and deleted from {path}.")


@gdrive.command()
@signin_option
@click.option(
    "--api-root",
    default=DEFAULT_API_ROOT,
    show_default=True,
    help="Google APIs root URL (for proxies).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(signin_file: Path | None, api_root: str, as_json: bool) -> None:
    """Show the saved sign-in and the key files in the app's Drive folder (checks access)."""
    path = signin_file or signin_store.default_path()
    saved = signin_store.load(path)
    report: dict[str, object] = {"signed_in": saved is not None, "signin_file": str(path)}
    key_files: list[dict[str, str]] = []
    if saved is not None:
        from .drive import DriveClient, app_property_query  # noqa: PLC0415 - heavy, lazy
        from .keyfile import KIND_PROPERTY  # noqa: PLC0415

        credentials = saved.credentials()
        try:
            with DriveClient(credentials, api_root=api_root) as drive:
                files = drive.list_files(app_property_query(*KIND_PROPERTY))
        finally:
            saved.keep_rotated(credentials)
        key_files = [
            {
                "name": f.name,
                "wallet": f.app_properties.get("wallet", ""),
                "created": f.created_time,
            }
            for f in sorted(files, key=lambda f: f.created_time)
        ]
        report |= {"client": saved.client, "scopes": list(saved.scopes), "key_files": key_files}
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif saved is None:
        click.echo(f"Not signed in (no sign-in at {path}). Run `walletbackup gdrive login`.")
    else:
        click.echo(f"Signed in ({path}); OAuth client fingerprint {saved.client}.")
        click.echo(f"{len(key_files)} walletbackup key file(s) in the app's Drive folder.")
        for item in key_files:
            click.echo(f"  {item['name']}  created {item['created']}")


__all__ = ["gdrive"]
