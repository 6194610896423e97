"""The commands: ``walletbackup serve`` and ``walletbackup server add-tenant|add-credential|
revoke-credential|tenants|verify-audit``.

Secrets (a tenant's backend key, its custodian credential) are printed once, when made, and
kept only as hashes; listings show ids, roles and dates. The service and these commands find
the server's store with the same options (``--store``, ``--state``, ``--config``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .config import load

F = TypeVar("F", bound=Callable[..., Any])
#: ``verify-audit`` found a break (the command itself ran): the core's "check found a problem".
EXIT_BROKEN = 11


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
                "trusted_proxies, [rate_limits], eject_delay_seconds).",
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


@server.command(name="verify-audit")
@click.option("--wallet", metavar="KEY", help="Only this wallet's chain (its key in the store: "
              "TENANT/USER/WALLET).")  # fmt: skip
@_store_options
@click.option("--kms", metavar="URL", help="KMS URL that wraps the chain key (default: the "
              "config file's, else local: in the user data directory).")  # fmt: skip
@click.option("--pruned", is_flag=True, help="Accept chains that start after pruned records "
              "(each chain's start is listed, to compare with the archive).")  # fmt: skip
@click.option("--archive", "archives", metavar="FILE", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Records pruned with prune-audit --archive, verified as the chains' "
              "start (repeat, oldest first).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_audit(
    *,
    wallet: str | None,
    store: str | None,
    state: str | None,
    config_file: str | None,
    kms: str | None,
    pruned: bool,
    archives: tuple[str, ...],
    as_json: bool,
) -> None:
    """Verify the audit log's chains; say where each breaks (exit 11 when one does).

    Prints the number of records, each chain's head and a digest of all heads: keep that
    digest somewhere the databases' writers cannot reach, to catch a rollback later.
    """
    from .auditverify import verify_config  # noqa: PLC0415 - the stores only when it runs

    config = load(config_file, store=store, state=state, kms=kms)
    report = verify_config(config, wallet_id=wallet, pruned=pruned, archives=archives)
    if as_json:
        _echo_json(report.to_json())
    else:
        for found in report.breaks:
            click.echo(f"BROKEN {found.text()}")
        verdict = "OK" if report.ok else f"BROKEN ({len(report.breaks)} break(s))"
        click.echo(f"audit chains {verdict}: {len(report.chains)} chain(s), "
                   f"{report.records} record(s)")  # fmt: skip
        for chain in report.chains:
            name = chain.wallet_id if chain.wallet_id is not None else "(service events)"
            start = f" from n={chain.first}" if chain.first else ""
            click.echo(f"  {name}: head n={chain.last} mac={chain.head_mac}{start}")
        click.echo(f"heads digest: {report.heads_digest()}")
    if not report.ok:
        sys.exit(EXIT_BROKEN)


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
