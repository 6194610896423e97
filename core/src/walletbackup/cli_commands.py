"""The commands that back up, recover and change a wallet's backup.

Each command checks its arguments and output paths first, then prompts, then does the work under
a progress line, then prints a result (``--json``: machine-readable, never a secret unless
``recover --stdout`` asked for the shares).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .cli_config import Globals, open_backup
from .cli_io import (
    STDIO,
    check_writable,
    read_cipher_text,
    read_share,
    remove_quietly,
    write_private,
)
from .cli_options import MethodOptions, OptionInput, Purpose, option_sources
from .cli_output import emit_json, progress

if TYPE_CHECKING:
    from .api import WalletBackup
    from .methods import BackupMethod
    from .results import BackupResult, Recovered, VerifyReport

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
            + (" (required)." if needs_current else " (keeps its other methods)."),
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
@cipher_text_options(needs_current=False)
@option_sources()
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
    cipher_text_file: str | None,
    cipher_text_out: str | None,
    force: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Back up WALLET's two shares.

    The client share is sealed under METHOD, the custodian share under the KMS. On a wallet
    that already has a backup, its other methods keep working (--replace drops them). METHOD's
    options are prompted; for automation, give them in a file or on standard input.
    """
    if client_share_file == STDIO and custodian_share_file == STDIO:
        raise click.UsageError("only one share can come from standard input")
    if options.stdin and STDIO in (client_share_file, custodian_share_file):
        raise click.UsageError(
            "--options-stdin and a share on standard input (-) exclude each other"
        )
    wb = open_backup(ctx)
    _check_cipher_text_out(wb, cipher_text_out, force)
    method = _method_class(method_name)
    gathered = MethodOptions(options)
    client_share = read_share(client_share_file, "client share")
    custodian_share = read_share(custodian_share_file, "custodian share")
    values = gathered.for_method(method, "enroll")
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    with progress(f"backing up wallet {wallet} with {method_name}", methods=(method,)):
        result = wb.backup_wallet(
            wallet,
            client_share,
            method=method_name,
            custodian_share=custodian_share,
            replace=replace,
            cipher_text=current,
            **values,
        )
    _report_change(
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
    without --force), or to standard output as hex with --stdout.
    """
    if to_stdout == bool(client_out or custodian_out):
        raise click.UsageError("give --client-out and --custodian-out, or --stdout")
    if not to_stdout:
        if not (client_out and custodian_out):
            raise click.UsageError("give both --client-out and --custodian-out")
        if client_out == custodian_out:
            raise click.UsageError("--client-out and --custodian-out must be different files")
        check_writable(client_out, force)
        check_writable(custodian_out, force)
    wb = open_backup(ctx)
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    method_name = method_name or _only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(_method_class(method_name), "unlock")
    with progress(
        f"recovering wallet {wallet} with {method_name}", methods=(_method_class(method_name),)
    ):
        recovered = wb.recover_wallet(
            wallet, method=method_name, cipher_text=current, stanza_id=stanza_id, **values
        )
    if not to_stdout:
        assert client_out is not None  # checked above
        assert custodian_out is not None
        write_private(client_out, recovered.client_share, force)
        try:
            write_private(custodian_out, recovered.custodian_share, force)
        except click.ClickException:
            remove_quietly(client_out)
            raise
    _report_recovered(recovered, client_out, custodian_out, to_stdout, as_json)


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
    method_name = method_name or _only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(_method_class(method_name), "unlock")
    with progress(
        f"testing the backup of wallet {wallet} with {method_name}",
        methods=(_method_class(method_name),),
    ):
        report = wb.verify_backup(
            wallet, method=method_name, cipher_text=current, stanza_id=stanza_id, **values
        )
    _report_verified(report, as_json)


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
    unlock_name = unlock_with or _only_method(wb, wallet, "--unlock-with", cipher_text=current)
    method = _method_class(method_name)
    gathered = MethodOptions(options, allow_unlock=True)
    unlock = {"method": unlock_name, **gathered.for_unlock(_method_class(unlock_name))}
    values = gathered.for_method(
        method, "enroll", label=" (new)" if unlock_name == method_name else ""
    )
    with progress(
        f"adding {method_name} to wallet {wallet}",
        methods=(method, _method_class(unlock_name)),
    ):
        result = wb.add_backup_method(
            wallet, method_name, unlock_with=unlock, cipher_text=current, **values
        )
    _report_change(
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
    unlock_name = unlock_with or _only_method(
        wb, wallet, "--unlock-with", besides=method_name, cipher_text=current
    )
    gathered = MethodOptions(options, allow_unlock=True)
    unlock = {"method": unlock_name, **gathered.for_unlock(_method_class(unlock_name))}
    values = _discard_options(gathered, method_name, options)
    with progress(
        f"removing {method_name} from wallet {wallet}", methods=(_method_class(unlock_name),)
    ):
        result = wb.remove_backup_method(
            wallet,
            method_name,
            unlock_with=unlock,
            cipher_text=current,
            stanza_id=stanza_id,
            **values,
        )
    _report_change(
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
    method_name = method_name or _only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(_method_class(method_name), "unlock")
    with progress(
        f"re-wrapping wallet {wallet} with {method_name}", methods=(_method_class(method_name),)
    ):
        result = wb.rewrap_backup(wallet, method_name, cipher_text=current, **values)
    _report_change(
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
    values = MethodOptions(options).for_method(_method_class(method_name), "none")
    with progress(f"confirming the backup of wallet {wallet}"):
        wb.stored_client_backup_share(wallet, method_name, success=not failed, **values)
    if as_json:
        emit_json({"wallet_id": wallet, "method": method_name, "confirmed": not failed})
    elif failed:
        click.echo(f"recorded as failed: wallet {wallet}'s previous backup stays the recovery path")
    else:
        click.echo(f"confirmed: wallet {wallet}'s new backup is current")


COMMANDS = (backup, recover, verify, add_method, remove_method, rewrap, confirm)


# --- helpers -----------------------------------------------------------------------------------


def _method_class(name: str) -> type[BackupMethod]:
    from . import plugins  # noqa: PLC0415 - plugin registries only when a command needs them

    return plugins.get_method(name)


def _discard_options(gathered: MethodOptions, name: str, given: OptionInput) -> dict[str, Any]:
    """What a removed method needs to delete its remote material (prompted, when it has any).

    A method whose plugin is gone can still be removed; its material then stays queued.
    """
    from .errors import MethodUnavailable  # noqa: PLC0415 - see _method_class
    from .methods import BackupMethod  # noqa: PLC0415 - see _method_class

    try:
        method = _method_class(name)
    except MethodUnavailable as exc:
        if given.assignments or given.file or given.stdin:
            raise
        click.echo(f"warning: {exc}; its remote key material (if any) is not deleted", err=True)
        return {}
    purpose: Purpose = "discard" if method.discard is not BackupMethod.discard else "none"
    return gathered.for_method(method, purpose)


def _only_method(
    wb: WalletBackup,
    wallet: str,
    flag: str,
    *,
    besides: str | None = None,
    cipher_text: bytes | str | None = None,
) -> str:
    """The method to use when none was named: the only one (other than ``besides``).

    The methods of the given cipher text (self-managed: possibly not confirmed yet), else those
    of the wallet's current backup.
    """
    from .errors import BackupNotFound  # noqa: PLC0415 - light, but only needed here

    if cipher_text is not None:
        found = _methods_in(cipher_text)
    else:
        found = wb.available_recovery_methods(wallet)
    methods = [m for m in found if m != besides]
    if len(methods) == 1:
        return methods[0]
    if not methods:
        raise BackupNotFound(f"wallet {wallet!r} has no current backup to unlock")
    raise click.UsageError(
        f"wallet {wallet!r} has several methods ({', '.join(methods)}); choose one with {flag}"
    )


def _methods_in(cipher_text: bytes | str) -> list[str]:
    """The methods whose stanzas a client cipher text holds (read from its public header)."""
    from . import envelope  # noqa: PLC0415 - cryptography only when a command needs it

    data = envelope.dearmor(cipher_text) if isinstance(cipher_text, str) else cipher_text
    return sorted({stanza.type for stanza in envelope.parse(data).stanzas})


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


def _report_change(
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


def _report_recovered(
    recovered: Recovered,
    client_out: str | None,
    custodian_out: str | None,
    to_stdout: bool,
    as_json: bool,
) -> None:
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
            document["custodian_share"] = recovered.custodian_share.hex()
        emit_json(document)
        return
    if to_stdout:
        click.echo(f"client_share: {recovered.client_share.hex()}")
        click.echo(f"custodian_share: {recovered.custodian_share.hex()}")
    else:
        click.echo(
            f"recovered wallet {recovered.wallet_id} with {recovered.method}: client "
            f"share in {client_out}, custodian share in {custodian_out}"
        )
    _advise(recovered.wallet_id, recovered.method, recovered.rewrap_advice)


def _report_verified(report: VerifyReport, as_json: bool) -> None:
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
