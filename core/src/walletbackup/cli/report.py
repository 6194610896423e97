"""What the commands print when they are done: text for people, ``--json`` for programs.

Nothing secret is printed, except the shares when ``recover --stdout`` asked for them.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import click

from .config import Globals
from .io import STDIO, write_private
from .output import emit_json

if TYPE_CHECKING:
    from walletbackup.results import BackupResult, Recovered, VerifyReport

#: Where the custodian share is when a custodian service kept it (it does not release it to a
#: device: it goes to the tenant's MPC node, or to the device through eject).
KEPT = "kept by the custodian service (not released to this device)"


def report_change(
    ctx: click.Context,
    result: BackupResult,
    *,
    done: str,
    cipher_text_out: str | None,
    force: bool,
    as_json: bool,
) -> None:
    armored = result.cipher_text_armored
    if cipher_text_out is not None and cipher_text_out != STDIO:
        write_private(cipher_text_out, armored.encode("ascii"), force)
    confirm_command = None
    if result.status == "pending":
        confirm_command = _confirm_command(ctx, result.wallet_id, result.method)
    if as_json:
        document: dict[str, Any] = {
            "wallet_id": result.wallet_id,
            "method": result.method,
            "status": result.status,
            "backup_set_id": result.backup_set_id,
            "key_epoch": result.key_epoch,
            "envelope_id": result.envelope_id,
            "methods": list(result.methods),
            "cipher_text_out": cipher_text_out,
            "confirm_command": confirm_command,
        }
        if cipher_text_out == STDIO:
            document["cipher_text"] = armored
        emit_json(document)
        return
    if cipher_text_out == STDIO:
        click.echo(armored, nl=not armored.endswith("\n"))
    say = click.echo if cipher_text_out != STDIO else _to_stderr
    say(
        f"{done}: {result.status} (backup set {result.backup_set_id[:16]}..., "
        f"epoch {result.key_epoch})"
    )
    say(f"methods protecting the client share: {', '.join(result.methods)}")
    if cipher_text_out not in (None, STDIO):
        say(f"cipher text written to {cipher_text_out}")
    if confirm_command is not None:
        say("store the cipher text, then confirm with:")
        say(f"  {confirm_command}")


def _to_stderr(text: str) -> None:
    click.echo(text, err=True)


def _confirm_command(ctx: click.Context, wallet: str, method: str) -> str:
    given = ctx.find_object(Globals)
    assert given is not None  # the group always sets it
    words = ["walletbackup"]
    for key, value in given.given_on_command_line().items():
        words += [f"--{key}", value]
    return shlex.join([*words, "confirm", wallet, method])


def report_recovered(
    recovered: Recovered,
    client_out: str | None,
    custodian_out: str | None,
    to_stdout: bool,
    as_json: bool,
) -> None:
    custodian = recovered.custodian_share
    if as_json:
        document: dict[str, Any] = {
            "wallet_id": recovered.wallet_id,
            "method": recovered.method,
            "backup_set_id": recovered.backup_set_id,
            "key_epoch": recovered.key_epoch,
            "rewrap_advice": list(recovered.rewrap_advice),
            "client_out": client_out,
            "custodian_out": custodian_out,
        }
        if to_stdout:
            document["client_share"] = recovered.client_share.hex()
            document["custodian_share"] = custodian.hex() if custodian else None
        emit_json(document)
        return
    if to_stdout:
        click.echo(f"client_share: {recovered.client_share.hex()}")
        click.echo(f"custodian_share: {custodian.hex() if custodian else KEPT}")
    else:
        where = f"in {custodian_out}" if custodian else KEPT
        click.echo(
            f"recovered wallet {recovered.wallet_id} with {recovered.method}: client "
            f"share in {client_out}, custodian share {where}"
        )
    _advise(recovered.wallet_id, recovered.method, recovered.rewrap_advice)


def report_verified(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "wallet_id": report.wallet_id,
                "method": report.method,
                "ok": True,
                "backup_set_id": report.backup_set_id,
                "key_epoch": report.key_epoch,
                "envelope_id": report.envelope_id,
                "rewrap_advice": list(report.rewrap_advice),
            }
        )
        return
    click.echo(
        f"ok: wallet {report.wallet_id}'s backup opens with {report.method} and the KMS "
        f"(backup set {report.backup_set_id[:16]}..., epoch {report.key_epoch})"
    )
    _advise(report.wallet_id, report.method, report.rewrap_advice)


def _advise(wallet: str, method: str, advice: tuple[str, ...]) -> None:
    for reason in advice:
        click.echo(f"advice: {reason}", err=True)
    if advice:
        click.echo(
            f"  re-wrap with: walletbackup rewrap {shlex.quote(wallet)} --method {method}", err=True
        )
