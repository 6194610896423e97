"""The custodian operator's commands: the KMS key (show, rotate, retire), re-sealing every
custodian share under its current version, and forgetting a wallet."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from walletbackup.errors import WalletBackupError

from .config import open_backup, open_custodian, open_kms
from .exits import exit_code_for
from .output import emit_json, progress_bar

if TYPE_CHECKING:
    from walletbackup.custodian import Custodian
    from walletbackup.kms import KeyInfo

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("kms-info", short_help="Show the KMS key's id, versions and fingerprint.")
@json_option
@click.pass_context
def kms_info(ctx: click.Context, as_json: bool) -> None:
    """Show the KMS key: its id, versions, current version and fingerprint.

    The fingerprint identifies the current version's key material without revealing it:
    compare it with that of a backup copy of the key. Nothing secret is shown.
    """
    kms = open_kms(ctx)
    info = kms.key_info()
    if as_json:
        emit_json(_key_document(info) | {"url": kms.url})
        return
    click.echo(f"provider: {info.provider} ({kms.url})")
    click.echo(f"key id: {info.key_id}")
    click.echo(f"current version: {info.current}")
    click.echo(f"versions: {', '.join(map(str, info.versions))}")
    click.echo(f"fingerprint: {info.fingerprint} (of version {info.current})")


@click.command("rotate-kms")
@json_option
@click.pass_context
def rotate_kms(ctx: click.Context, as_json: bool) -> None:
    """Roll in a new KMS key version for new custodian shares.

    Shares sealed under older versions still open. Re-seal them under the new version with
    rewrap-custodian, then drop the old versions with retire-kms. Audited (rotate_kms).
    """
    custodian = open_custodian(ctx)
    version = custodian.rotate_kms_key()
    info = custodian.kms.key_info()
    if as_json:
        emit_json(_key_document(info))
        return
    click.echo(
        f"rotated KMS key {info.key_id} to version {version} (fingerprint {info.fingerprint})"
    )
    click.echo("re-seal the custodian shares under it with: walletbackup rewrap-custodian")


@click.command("rewrap-custodian", short_help="Re-seal custodian shares under the current KMS key.")
@click.argument("wallets", metavar="[WALLET]...", nargs=-1)
@json_option
@click.pass_context
def rewrap_custodian(ctx: click.Context, wallets: tuple[str, ...], as_json: bool) -> None:
    """Re-seal custodian shares under the KMS key's current version.

    Every wallet (or each WALLET). A wallet already sealed under the current version is
    skipped, so a run that was stopped continues where it left off when started again. Shows a
    progress bar on a terminal. A wallet that fails is reported and the others go on; the exit
    code is then that of the first failure. Each re-seal is audited (rewrap_custodian).
    """
    custodian = open_custodian(ctx)
    current = custodian.kms.key_info().current
    ids = list(wallets) or custodian.wallets()
    done, skipped = 0, 0
    failed: list[tuple[str, WalletBackupError]] = []
    with progress_bar(len(ids), f"re-sealing under KMS key version {current}") as step:
        for wallet in ids:
            try:
                if _rewrapped(custodian, wallet, current):
                    done += 1
                else:
                    skipped += 1
            except WalletBackupError as exc:
                failed.append((wallet, exc))
            step()
    if as_json:
        emit_json(
            {
                "version": current,
                "rewrapped": done,
                "skipped": skipped,
                "failed": [
                    {"wallet_id": w, "error": type(e).__name__, "message": str(e)}
                    for w, e in failed
                ],
            }
        )
    else:
        click.echo(
            f"re-sealed {done} wallet(s) under KMS key version {current}; {skipped} already were"
        )
    for wallet, error in failed:
        click.echo(f"error: wallet {wallet}: {error}", err=True)
    if failed:
        sys.exit(exit_code_for(failed[0][1]))


@click.command("retire-kms")
@click.option(
    "--below",
    required=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Drop every KMS key version numbered below N.",
)
@json_option
@click.pass_context
def retire_kms(ctx: click.Context, below: int, as_json: bool) -> None:
    """Drop the KMS key versions below N.

    Refused (exit 7) while a custodian share is still sealed under one of them: re-seal them
    first with rewrap-custodian. Once retired, a leaked copy of an old version opens nothing
    sealed since. Audited (retire_kms).
    """
    custodian = open_custodian(ctx)
    retired = custodian.retire_kms_versions(below)
    info = custodian.kms.key_info()
    if as_json:
        emit_json(_key_document(info) | {"retired": list(retired)})
        return
    if retired:
        click.echo(
            f"retired version(s) {', '.join(map(str, retired))} of KMS key {info.key_id}; "
            f"it keeps {', '.join(map(str, info.versions))}"
        )
    else:
        click.echo(f"KMS key {info.key_id} has no version below {below} to retire")


@click.command()
@click.argument("wallet")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@json_option
@click.pass_context
def forget(ctx: click.Context, wallet: str, yes: bool, as_json: bool) -> None:
    """Delete WALLET's backup for good.

    Deletes the custodian's record of WALLET (its custodian share and, in managed mode, the
    client cipher text) and what this device remembers of it. Nothing recovers the wallet
    afterwards. Remote key material (a Drive key file) is left in place. Asks first, unless
    --yes. Audited (forget).
    """
    if not yes:
        if not can_ask():
            raise click.UsageError(
                "forget asks for confirmation on a terminal; pass --yes to forget without asking"
            )
        click.confirm(
            f"Forget wallet {wallet}? Its backup is deleted and can never be recovered",
            abort=True,
            err=True,
        )
    open_backup(ctx, operator=True).forget_wallet(wallet)
    if as_json:
        emit_json({"wallet_id": wallet, "forgotten": True})
    else:
        click.echo(f"forgot wallet {wallet}: its backup is deleted")


COMMANDS = (kms_info, rotate_kms, rewrap_custodian, retire_kms, forget)


def can_ask() -> bool:
    """Whether a person can answer a prompt (standard input is a terminal)."""
    return sys.stdin.isatty()


def _rewrapped(custodian: Custodian, wallet: str, current: int) -> bool:
    """Re-seal the wallet unless every custodian envelope of it is under ``current`` already."""
    from walletbackup.audit import audited  # noqa: PLC0415 - keeps --help light

    if min(custodian.kms_versions(wallet), default=current) >= current:
        return False
    with audited(custodian, "rewrap_custodian", wallet):
        custodian.rewrap(wallet)
    return True


def _key_document(info: KeyInfo) -> dict[str, Any]:
    return {
        "provider": info.provider,
        "key_id": info.key_id,
        "current": info.current,
        "versions": list(info.versions),
        "fingerprint": info.fingerprint,
    }
