"""The listing commands: ``methods``, ``wallets`` and ``status``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .config import open_backup
from .output import emit_json, table

if TYPE_CHECKING:
    from walletbackup.methods import BackupMethod

json_option = click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")


@click.command()
@json_option
def methods(as_json: bool) -> None:
    """List backup methods and broken plugins.

    Each installed method with its distribution, version, options and whether it can be used
    here. A method that cannot be used here says why and what to do. A plugin that failed to load is
    listed with its error; it never stops the other plugins.
    """
    from walletbackup import plugins  # noqa: PLC0415 - plugin registries only when a command needs them

    listed = [
        _describe(registered.value)
        | {"distribution": registered.distribution, "version": registered.version}
        for _, registered in sorted(plugins.method_registry().items())
    ]
    broken = [
        {"name": b.name, "distribution": b.distribution, "version": b.version, "error": b.error}
        for b in plugins.broken_plugins()
    ]
    if as_json:
        emit_json({"methods": listed, "broken_plugins": broken})
        return
    if not listed:
        click.echo(
            "no backup methods are installed; install one, e.g. pip install walletbackup-password"
        )
    for item in listed:
        click.echo(
            f"{item['name']}  ({item['distribution']} {item['version']})  "
            + _availability_text(item)
        )
        options = ", ".join(_option_text(option) for option in item["options"])
        click.echo(f"    options: {options or 'none'}")
    if broken:
        click.echo("broken plugins (not loaded):")
        for item in broken:
            click.echo(
                f"  {item['name']}  ({item['distribution']} {item['version']}): {item['error']}"
            )


@click.command()
@json_option
@click.pass_context
def wallets(ctx: click.Context, as_json: bool) -> None:
    """List the wallets in the store."""
    found = open_backup(ctx).wallets()
    if as_json:
        emit_json({"wallets": found})
        return
    for wallet in found:
        click.echo(wallet)


@click.command()
@click.argument("wallet")
@json_option
@click.pass_context
def status(ctx: click.Context, wallet: str, as_json: bool) -> None:
    """Show WALLET's backup status per method.

    Each stanza's method, status (pending, stored or failed), when it changed, its backup set
    and key epoch, when it last opened the wallet (VERIFIED) and whether verifying it again is
    due (after verify_every_days, from the config file), and the methods that can recover the
    wallet now.
    """
    wb = open_backup(ctx)
    statuses = wb.backup_status(wallet)
    recovery = wb.available_recovery_methods(wallet)
    due = [wb.verification_due(s) for s in statuses]
    if as_json:
        rows = [
            {
                "method": s.method,
                "status": s.status,
                "updated_at": s.updated_at,
                "stanza_id": s.stanza_id,
                "backup_set_id": s.backup_set_id,
                "key_epoch": s.key_epoch,
                "envelope_id": s.client_envelope_id,
                "detail": s.detail,
                "verified_at": s.verified_at,
                "due": is_due,
            }
            for s, is_due in zip(statuses, due, strict=True)
        ]
        emit_json(
            {"wallet_id": wallet, "mode": wb.mode, "recovery_methods": recovery, "methods": rows}
        )
        return
    headers = (
        "METHOD",
        "STATUS",
        "UPDATED",
        "STANZA",
        "BACKUP SET",
        "EPOCH",
        "VERIFIED",
        "DUE",
        "DETAIL",
    )
    click.echo(
        table(
            headers,
            [
                (
                    s.method,
                    s.status,
                    s.updated_at,
                    s.stanza_id[:8],
                    s.backup_set_id[:16],
                    str(s.key_epoch),
                    s.verified_at or "-",
                    "yes" if is_due else "no",
                    s.detail,
                )
                for s, is_due in zip(statuses, due, strict=True)
            ],
        )
    )
    click.echo(f"recovery methods: {', '.join(recovery) or 'none'}")


COMMANDS = (methods, wallets, status)


def _describe(method: type[BackupMethod]) -> dict[str, Any]:
    """A method's name, options and availability here (JSON-ready)."""
    try:
        availability = method().availability()
        available: bool | None = availability.available
        reason, remedy = availability.reason, availability.remedy
    except Exception as exc:
        available, reason, remedy = None, f"could not check: {type(exc).__name__}: {exc}", ""
    return {
        "name": method.name,
        "available": available,
        "reason": reason,
        "remedy": remedy,
        "options": [
            {
                "name": o.name,
                "help": o.help,
                "secret": o.secret,
                "confirm": o.confirm,
                "required": o.required,
                "for_unlock": o.for_unlock,
            }
            for o in method.options
            if not o.python_only
        ],
    }


def _availability_text(item: dict[str, Any]) -> str:
    if item["available"]:
        return "available"
    text = ("unavailable: " if item["available"] is False else "") + str(item["reason"])
    return text + (f" ({item['remedy']})" if item["remedy"] else "")


def _option_text(option: dict[str, Any]) -> str:
    flags = [flag for flag in ("required", "secret") if option[flag]]
    if not option["for_unlock"]:
        flags.append("enroll only")
    return str(option["name"]) + (f" ({', '.join(flags)})" if flags else "")
