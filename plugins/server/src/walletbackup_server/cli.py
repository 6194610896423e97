"""The commands: ``walletbackup serve`` and ``walletbackup server add-tenant|add-credential|
revoke-credential|tenants``.

Secrets (a tenant's backend key, its custodian credential) are printed once, when made, and
kept only as hashes; listings show ids, roles and dates. The service and these commands find
the server's store with the same options (``--store``, ``--state``, ``--config``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .config import load

F = TypeVar("F", bound=Callable[..., Any])


def _store_options(function: F) -> F:
    for option in reversed(
        (
            click.option(
                "--store",
                metavar="URL",
                help="Wallet store URL (default: the config file's, else sqlite: in the user "
                "data directory).",
            ),
            click.option(
                "--state",
                metavar="URL",
                help="Store URL for the server's own documents (tenants, credentials); "
                "default: beside the wallet store.",
            ),
            click.option(
                "--config",
                "config_file",
                metavar="FILE",
                help="Server config file (TOML: listen, store, kms, state, token_ttl_seconds, "
                "eject_delay_seconds).",
            ),
        )
    ):
        function = option(function)
    return function


@click.command(short_help="Run the custodian service over HTTP.")
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default 127.0.0.1:8080; "
              "port 0: any free port).")  # fmt: skip
@_store_options
@click.option(
    "--kms",
    metavar="URL",
    help="KMS URL for the custodian shares (default: the config file's, else local: in the user "
    "data directory).",
)
def serve(
    listen: str | None,
    store: str | None,
    state: str | None,
    config_file: str | None,
    kms: str | None,
) -> None:
    """Run the custodian service until SIGTERM or Ctrl-C.

    With no store or KMS given, the embedded default: SQLite and a local key file in the user
    data directory (the key is created on the first start). Prints one line,
    "listening on http://HOST:PORT", once it accepts connections.
    """
    from .serve import run  # noqa: PLC0415 - uvicorn only for this command

    run(load(config_file, listen=listen, store=store, kms=kms, state=state))


@click.group(short_help="Administer the service's tenants and credentials.")
def server() -> None:
    """Administer the custodian service's tenants and their credentials."""


@server.command(name="add-tenant")
@click.argument("name")
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def add_tenant(
    name: str, store: str | None, state: str | None, config_file: str | None, as_json: bool
) -> None:
    """Create tenant NAME; print its backend API key and custodian credential, once.

    The backend key mints user tokens (POST /v1/tokens); the custodian credential is for the
    tenant's MPC node (it fetches custodian shares). Only their hashes are kept: store them now.
    """
    with _tenants(store, state, config_file) as tenants:
        backend, custodian = tenants.add_tenant(name)
    if as_json:
        _echo_json(
            {
                "tenant": name,
                "backend_key": backend.secret,
                "backend_key_id": backend.credential_id,
                "custodian_credential": custodian.secret,
                "custodian_credential_id": custodian.credential_id,
            }
        )
        return
    click.echo(f"tenant {name} created; its credentials are shown this once, keep them secret:")
    click.echo(f"backend API key (id {backend.credential_id}): {backend.secret}")
    click.echo(f"custodian credential (id {custodian.credential_id}): {custodian.secret}")


@server.command(name="add-credential")
@click.argument("tenant")
@click.option("--role", type=click.Choice(["backend", "custodian"]), required=True)
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def add_credential(
    tenant: str,
    *,
    role: str,
    store: str | None,
    state: str | None,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Make another backend key or custodian credential for TENANT; print it once."""
    with _tenants(store, state, config_file) as tenants:
        issued = tenants.add_credential(tenant, role)
    if as_json:
        _echo_json({"tenant": tenant, "role": role, "id": issued.credential_id,
                    "credential": issued.secret})  # fmt: skip
        return
    click.echo(f"{role} credential (id {issued.credential_id}) for {tenant}: {issued.secret}")


@server.command(name="revoke-credential")
@click.argument("tenant")
@click.argument("credential_id")
@_store_options
def revoke_credential(
    tenant: str, credential_id: str, store: str | None, state: str | None, config_file: str | None
) -> None:
    """Revoke TENANT's credential CREDENTIAL_ID (as `walletbackup server tenants` lists it)."""
    with _tenants(store, state, config_file) as tenants:
        tenants.revoke_credential(tenant, credential_id)
    click.echo(f"revoked credential {credential_id} of {tenant}")


@server.command(name="set-webhook")
@click.argument("tenant")
@click.argument("url")
@_store_options
@click.option("--kms", metavar="URL", help="KMS URL the secret is sealed under (the service's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def set_webhook(
    tenant: str,
    url: str,
    *,
    store: str | None,
    state: str | None,
    config_file: str | None,
    kms: str | None,
    as_json: bool,
) -> None:
    """Send TENANT's webhook requests to URL; print the new signing secret, once.

    The service then hands the custodian share of TENANT's self-managed wallets to URL/backup
    and fetches it from URL/backup/fetch, and announces eject steps to URL/events, each request
    signed with this secret (docs/server.md). Setting it again replaces the URL and the secret.
    """
    from walletbackup.custodian import open_kms  # noqa: PLC0415 - the KMS only when it runs

    from .state import ServerState  # noqa: PLC0415
    from .tenant_webhooks import TenantWebhooks  # noqa: PLC0415

    config = load(config_file, store=store, state=state, kms=kms)
    server_state = ServerState.open(config.state_url())
    try:
        secret = TenantWebhooks(server_state, open_kms(config.kms)).set(tenant, url)
    finally:
        server_state.close()
    if as_json:
        _echo_json({"tenant": tenant, "url": url, "secret": secret})
        return
    click.echo(f"webhook of {tenant}: {url}")
    click.echo(f"signing secret (shown this once, give it to the backend): {secret}")


@server.command(name="tenants")
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tenants(
    store: str | None, state: str | None, config_file: str | None, as_json: bool
) -> None:
    """List the tenants and their credentials (ids, roles, dates; never a secret)."""
    with _tenants(store, state, config_file) as tenants:
        listing = tenants.tenants()
    if as_json:
        _echo_json({"tenants": listing})
        return
    if not listing:
        click.echo("no tenants (walletbackup server add-tenant NAME makes one)")
    for tenant in listing:
        click.echo(f"{tenant['id']}  created {tenant['created_at']}")
        for credential in tenant["credentials"]:
            click.echo(
                f"  {credential['id']}  {credential['role']:<9}  created {credential['created_at']}"
            )


class _tenants:
    """The tenants in the configured state store, closed when the block ends."""

    def __init__(self, store: str | None, state: str | None, config_file: str | None) -> None:
        from .auth import Tenants  # noqa: PLC0415 - the core's stores only when a command runs
        from .state import ServerState  # noqa: PLC0415

        config = load(config_file, store=store, state=state)
        self.state = ServerState.open(config.state_url())
        self.tenants = Tenants(self.state)

    def __enter__(self) -> Any:
        return self.tenants

    def __exit__(self, *exc: object) -> None:
        self.state.close()


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


__all__ = ["serve", "server"]
