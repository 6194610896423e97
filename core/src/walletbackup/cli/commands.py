"""The commands that back up, recover and change a wallet's backup.

Each command checks its arguments and output paths first, then prompts, then does the work under
a progress line, then prints a result (``--json``: machine-readable, never a secret unless
``recover --stdout`` asked for the shares).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .choose import discard_options, method_class, only_method
from .config import open_backup, through_service
from .io import STDIO, check_writable, read_cipher_text, read_share, remove_quietly, write_private
from .options import MethodOptions, OptionInput, option_sources
from .output import emit_json, progress
from .report import report_change, report_recovered, report_verified

if TYPE_CHECKING:
    from walletbackup.api import WalletBackup

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def cipher_text_options(*, needs_current: bool) -> Callable[[F], F]:
    """``--cipher-text-file`` (self-managed: the current cipher text) and ``--cipher-text-out``."""

    def decorate(command: F) -> F:
        command = click.option(
            "--force", is_flag=True, help="Replace an existing --cipher-text-out file."
        )(command)
        command = click.option(
            "--cipher-text-out",
            metavar="PATH",
            help="Write the new client cipher text (ASCII armor, mode 0600) to PATH, or - for "
            "standard output. Required in self-managed mode.",
        )(command)
        return click.option(
            "--cipher-text-file",
            metavar="PATH",
            help="Self-managed mode: the wallet's current client cipher text"
            + (" (required)." if needs_current else " (to unlock it, with --unlock-with)."),
        )(command)

    return decorate


@click.command()
@click.argument("wallet")
@click.option(
    "--method",
    "method_name",
    required=True,
    metavar="METHOD",
    help="The backup method protecting the client share (see `walletbackup methods`).",
)
@click.option(
    "--client-share-file",
    required=True,
    metavar="PATH",
    help="The client share: a file of raw bytes, or - for one line of hex on standard input.",
)
@click.option(
    "--custodian-share-file",
    required=True,
    metavar="PATH",
    help="The custodian share: a file of raw bytes, or - for one line of hex on standard input.",
)
@click.option("--replace", is_flag=True, help="Keep only METHOD: drop the wallet's other methods.")
@click.option(
    "--unlock-with",
    metavar="METHOD",
    help="Unlock the current backup with METHOD first, to keep the wallet's other methods.",
)
@cipher_text_options(needs_current=False)
@option_sources(unlock=True)
@json_option
@click.pass_context
def backup(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str,
    client_share_file: str,
    custodian_share_file: str,
    replace: bool,
    unlock_with: str | None,
    cipher_text_file: str | None,
    cipher_text_out: str | None,
    force: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Back up WALLET's two shares.

    The client share is sealed under METHOD, the custodian share under the KMS. On a wallet
    that already has a backup, keeping its other methods needs one unlock (--unlock-with);
    --replace drops them. Options are prompted; for automation, give them in a file or on
    standard input.
    """
    if client_share_file == STDIO and custodian_share_file == STDIO:
        raise click.UsageError("only one share can come from standard input")
    if options.stdin and STDIO in (client_share_file, custodian_share_file):
        raise click.UsageError(
            "--options-stdin and a share on standard input (-) exclude each other"
        )
    wb = open_backup(ctx)
    _check_cipher_text_out(wb, cipher_text_out, force)
    method = method_class(method_name)
    gathered = MethodOptions(options, allow_unlock=unlock_with is not None)
    client_share = read_share(client_share_file, "client share")
    custodian_share = read_share(custodian_share_file, "custodian share")
    unlock = None
    if unlock_with is not None:
        unlock = {"method": unlock_with, **gathered.for_unlock(method_class(unlock_with))}
    values = gathered.for_method(
        method, "enroll", label=" (new)" if unlock_with == method_name else ""
    )
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    unlocking = () if unlock_with is None else (method_class(unlock_with),)
    with progress(f"backing up wallet {wallet} with {method_name}", methods=(method, *unlocking)):
        result = wb.backup_wallet(
            wallet,
            client_share,
            method=method_name,
            custodian_share=custodian_share,
            replace=replace,
            cipher_text=current,
            unlock_with=unlock,
            **values,
        )
    report_change(
        ctx,
        result,
        done=f"backed up wallet {wallet} with {method_name}",
        cipher_text_out=cipher_text_out,
        force=force,
        as_json=as_json,
    )


@click.command()
@click.argument("wallet")
@click.option(
    "--method",
    "method_name",
    metavar="METHOD",
    help="The method to unlock with (default: the wallet's only method).",
)
@click.option("--stanza-id", metavar="HEX", help="Which of several stanzas of METHOD to use.")
@click.option(
    "--cipher-text-file",
    metavar="PATH",
    help="Self-managed mode: the client cipher text to recover from.",
)
@click.option("--client-out", metavar="PATH", help="Write the client share here (new file, 0600).")
@click.option(
    "--custodian-out", metavar="PATH", help="Write the custodian share here (new file, 0600)."
)
@click.option(
    "--stdout",
    "to_stdout",
    is_flag=True,
    help="Print both shares as hex on standard output instead of writing files.",
)
@click.option(
    "--force", is_flag=True, help="Replace existing --client-out / --custodian-out files."
)
@option_sources()
@json_option
@click.pass_context
def recover(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str | None,
    stanza_id: str | None,
    cipher_text_file: str | None,
    client_out: str | None,
    custodian_out: str | None,
    to_stdout: bool,
    force: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Recover WALLET's two shares.

    Unlocks the client share with METHOD and the custodian share with the KMS. The shares go
    to --client-out and --custodian-out (files created with mode 0600, never overwritten
    without --force), or to standard output as hex with --stdout. Through a custodian
    service (--custodian) only the client share comes back: give --client-out alone.
    """
    remote = through_service(ctx)
    if remote and custodian_out:
        raise click.UsageError(
            "--custodian-out: a custodian service keeps the custodian share from a device"
        )
    if to_stdout == bool(client_out or custodian_out):
        raise click.UsageError("give --client-out and --custodian-out, or --stdout")
    if not to_stdout:
        if not (client_out and (custodian_out or remote)):
            raise click.UsageError("give both --client-out and --custodian-out")
        if client_out == custodian_out:
            raise click.UsageError("--client-out and --custodian-out must be different files")
        check_writable(client_out, force)
        if custodian_out:
            check_writable(custodian_out, force)
    wb = open_backup(ctx)
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    method_name = method_name or only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(method_class(method_name), "unlock")
    with progress(
        f"recovering wallet {wallet} with {method_name}", methods=(method_class(method_name),)
    ):
        recovered = wb.recover_wallet(
            wallet, method=method_name, cipher_text=current, stanza_id=stanza_id, **values
        )
    if not to_stdout:
        assert client_out is not None  # checked above
        write_private(client_out, recovered.client_share, force)
        if recovered.custodian_share is None or custodian_out is None:
            custodian_out = None  # a custodian service keeps its share: no file is written
        else:
            try:
                write_private(custodian_out, recovered.custodian_share, force)
            except click.ClickException:
                remove_quietly(client_out)
                raise
    report_recovered(recovered, client_out, custodian_out, to_stdout, as_json)


@click.command()
@click.argument("wallet")
@click.option(
    "--method",
    "method_name",
    metavar="METHOD",
    help="The method to test (default: the wallet's only method).",
)
@click.option("--stanza-id", metavar="HEX", help="Which of several stanzas of METHOD to test.")
@click.option(
    "--cipher-text-file", metavar="PATH", help="Self-managed mode: the client cipher text to test."
)
@option_sources()
@json_option
@click.pass_context
def verify(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str | None,
    stanza_id: str | None,
    cipher_text_file: str | None,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Test WALLET's backup; nothing secret is shown.

    Opens the client share with METHOD and the custodian share with the KMS, exactly as a
    recovery would, and says whether both opened.
    """
    wb = open_backup(ctx)
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    method_name = method_name or only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(method_class(method_name), "unlock")
    with progress(
        f"testing the backup of wallet {wallet} with {method_name}",
        methods=(method_class(method_name),),
    ):
        report = wb.verify_backup(
            wallet, method=method_name, cipher_text=current, stanza_id=stanza_id, **values
        )
    report_verified(report, as_json)


@click.command("add-method")
@click.argument("wallet")
@click.argument("method_name", metavar="METHOD")
@click.option(
    "--unlock-with",
    metavar="METHOD",
    help="The method to unlock with (default: the wallet's only method).",
)
@cipher_text_options(needs_current=True)
@option_sources(unlock=True)
@json_option
@click.pass_context
def add_method(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str,
    unlock_with: str | None,
    cipher_text_file: str | None,
    cipher_text_out: str | None,
    force: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Add backup method METHOD to WALLET.

    Unlocks the client share with a method the wallet has (--unlock-with), then protects it
    with METHOD too, under a fresh backup key. Adding a method the wallet already has and that
    allows one per wallet (password) replaces it: that is how a password is changed.
    """
    wb = open_backup(ctx)
    _check_cipher_text_out(wb, cipher_text_out, force)
    _check_cipher_text_file(wb, cipher_text_file)
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    unlock_name = unlock_with or only_method(wb, wallet, "--unlock-with", cipher_text=current)
    method = method_class(method_name)
    gathered = MethodOptions(options, allow_unlock=True)
    unlock = {"method": unlock_name, **gathered.for_unlock(method_class(unlock_name))}
    values = gathered.for_method(
        method, "enroll", label=" (new)" if unlock_name == method_name else ""
    )
    with progress(
        f"adding {method_name} to wallet {wallet}",
        methods=(method, method_class(unlock_name)),
    ):
        result = wb.add_backup_method(
            wallet, method_name, unlock_with=unlock, cipher_text=current, **values
        )
    report_change(
        ctx,
        result,
        done=f"added {method_name} to wallet {wallet}",
        cipher_text_out=cipher_text_out,
        force=force,
        as_json=as_json,
    )


@click.command("remove-method")
@click.argument("wallet")
@click.argument("method_name", metavar="METHOD")
@click.option(
    "--stanza-id", metavar="HEX", help="Remove only this stanza of METHOD (default: all of them)."
)
@click.option(
    "--unlock-with",
    metavar="METHOD",
    help="The method to unlock with (default: the wallet's only other method).",
)
@cipher_text_options(needs_current=True)
@option_sources(unlock=True)
@json_option
@click.pass_context
def remove_method(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str,
    stanza_id: str | None,
    unlock_with: str | None,
    cipher_text_file: str | None,
    cipher_text_out: str | None,
    force: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Remove backup method METHOD from WALLET.

    Unlocks the client share with another method (--unlock-with) and writes a new backup
    without METHOD. METHOD's remote key material (if it has any) is deleted once the new
    backup is stored; the options it needs for that are prompted. Refuses to remove the
    wallet's last method.
    """
    wb = open_backup(ctx)
    _check_cipher_text_out(wb, cipher_text_out, force)
    _check_cipher_text_file(wb, cipher_text_file)
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    unlock_name = unlock_with or only_method(
        wb,
        wallet,
        "--unlock-with",
        besides=method_name,
        one_stanza=stanza_id is not None,
        cipher_text=current,
    )
    gathered = MethodOptions(options, allow_unlock=True)
    unlock = {"method": unlock_name, **gathered.for_unlock(method_class(unlock_name))}
    values = discard_options(gathered, method_name, options)
    with progress(
        f"removing {method_name} from wallet {wallet}", methods=(method_class(unlock_name),)
    ):
        result = wb.remove_backup_method(
            wallet,
            method_name,
            unlock_with=unlock,
            cipher_text=current,
            stanza_id=stanza_id,
            **values,
        )
    report_change(
        ctx,
        result,
        done=f"removed {method_name} from wallet {wallet}",
        cipher_text_out=cipher_text_out,
        force=force,
        as_json=as_json,
    )


@click.command()
@click.argument("wallet")
@click.option(
    "--method",
    "method_name",
    metavar="METHOD",
    help="The method to re-enroll (default: the wallet's only method).",
)
@cipher_text_options(needs_current=True)
@option_sources()
@json_option
@click.pass_context
def rewrap(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str | None,
    cipher_text_file: str | None,
    cipher_text_out: str | None,
    force: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Re-enroll METHOD with today's policy.

    What recover and verify advise when stored costs are weak. Unlocks with METHOD's current
    options (e.g. the same password) and wraps a fresh backup key with today's costs.
    """
    wb = open_backup(ctx)
    _check_cipher_text_out(wb, cipher_text_out, force)
    _check_cipher_text_file(wb, cipher_text_file)
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    method_name = method_name or only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(method_class(method_name), "unlock")
    with progress(
        f"re-wrapping wallet {wallet} with {method_name}", methods=(method_class(method_name),)
    ):
        result = wb.rewrap_backup(wallet, method_name, cipher_text=current, **values)
    report_change(
        ctx,
        result,
        done=f"re-wrapped wallet {wallet} with {method_name}",
        cipher_text_out=cipher_text_out,
        force=force,
        as_json=as_json,
    )


@click.command()
@click.argument("wallet")
@click.argument("method_name", metavar="METHOD")
@click.option(
    "--failed", is_flag=True, help="The cipher text could NOT be stored: keep the previous backup."
)
@option_sources()
@json_option
@click.pass_context
def confirm(
    ctx: click.Context,
    *,
    wallet: str,
    method_name: str,
    failed: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Confirm a self-managed cipher text is stored.

    Self-managed mode: tells walletbackup that the application stored WALLET's new cipher text
    (made by a change with METHOD). Makes the pending backup current; with --failed, marks it
    failed and keeps the previous one as the recovery path.
    """
    wb = open_backup(ctx)
    values = MethodOptions(options).for_method(method_class(method_name), "none")
    with progress(f"confirming the backup of wallet {wallet}"):
        wb.stored_client_backup_share(wallet, method_name, success=not failed, **values)
    if as_json:
        emit_json({"wallet_id": wallet, "method": method_name, "confirmed": not failed})
    elif failed:
        click.echo(f"recorded as failed: wallet {wallet}'s previous backup stays the recovery path")
    else:
        click.echo(f"confirmed: wallet {wallet}'s new backup is current")


COMMANDS = (backup, recover, verify, add_method, remove_method, rewrap, confirm)


def _check_cipher_text_out(wb: WalletBackup, path: str | None, force: bool) -> None:
    if path is None:
        if wb.mode == "self-managed":
            raise click.UsageError(
                "self-managed mode: give --cipher-text-out PATH (or -) to receive the new "
                "cipher text; the store does not keep it"
            )
        return
    check_writable(path, force)


def _check_cipher_text_file(wb: WalletBackup, path: str | None) -> None:
    if path is None and wb.mode == "self-managed":
        raise click.UsageError(
            "self-managed mode: give --cipher-text-file PATH with the wallet's current cipher text"
        )
