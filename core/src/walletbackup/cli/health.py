"""``walletbackup check``: every wallet's backup health without a secret, or one wallet fully."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from walletbackup.errors import WalletBackupError

from .choose import method_class, only_method
from .config import open_backup
from .exits import EXIT_OK, EXIT_UNHEALTHY, exit_code_for
from .io import read_cipher_text
from .options import MethodOptions, OptionInput, option_sources
from .output import emit_json, progress, progress_bar, table
from .report import report_verified

if TYPE_CHECKING:
    from walletbackup.api import WalletBackup
    from walletbackup.health import MethodHealth, WalletHealth
    from walletbackup.results import VerifyReport


@click.command(short_help="Check the backups of every wallet, without a secret.")
@click.argument("wallets", metavar="[WALLET]...", nargs=-1)
@click.option(
    "--unlock",
    is_flag=True,
    help="Also open WALLET's backup with a method, as verify does (one WALLET; its secret is "
    "prompted).",
)
@click.option(
    "--method",
    "method_name",
    metavar="METHOD",
    help="With --unlock: the method to open it with (default: the wallet's only method).",
)
@click.option(
    "--cipher-text-file",
    metavar="PATH",
    help="With --unlock, self-managed mode: the wallet's client cipher text.",
)
@click.option(
    "--no-presence",
    is_flag=True,
    help="Do not ask the methods whether their remote key material is still there.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the problems and the summary.")
@option_sources()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(
    ctx: click.Context,
    *,
    wallets: tuple[str, ...],
    unlock: bool,
    method_name: str | None,
    cipher_text_file: str | None,
    no_presence: bool,
    quiet: bool,
    as_json: bool,
    options: OptionInput,
) -> None:
    """Check the backups of every wallet (or of each WALLET), without a secret.

    For each wallet: the custodian's record reads, the envelopes parse and belong together,
    the custodian share opens under the KMS, each method's remote key material is still there
    (for methods that can tell: a Drive or iCloud key file), and when each method was last
    verified (due after verify_every_days, from the config file). With --unlock, WALLET is also
    opened with a method, exactly as verify does. Exits 0 when all is well, 11 when a problem
    was found; a failed --unlock exits with its own code.
    """
    given = options.assignments or options.file is not None or options.stdin
    if unlock and len(wallets) != 1:
        raise click.UsageError("--unlock opens one wallet: give exactly one WALLET")
    if not unlock and (method_name or cipher_text_file or given):
        raise click.UsageError("--method, --cipher-text-file and method options go with --unlock")
    wb = open_backup(ctx, operator=True)
    opened: VerifyReport | None = None
    failure: WalletBackupError | None = None
    if unlock:
        opened, failure = _unlock(wb, wallets[0], method_name, cipher_text_file, options)
    ids = list(wallets) or wb.wallets()
    with progress_bar(len(ids), "checking wallets") as step:
        results = wb.check_backups(*ids, presence=not no_presence, progress=lambda _: step())
    if as_json:
        emit_json(_document(results, opened, failure))
    else:
        _print(results, quiet)
        if opened is not None:
            report_verified(opened, as_json=False)
    if failure is not None:
        click.echo(f"error: {failure}", err=True)
        sys.exit(exit_code_for(failure))
    sys.exit(EXIT_OK if all(result.ok for result in results) else EXIT_UNHEALTHY)


COMMANDS = (check,)


def _unlock(
    wb: WalletBackup,
    wallet: str,
    method_name: str | None,
    cipher_text_file: str | None,
    options: OptionInput,
) -> tuple[VerifyReport | None, WalletBackupError | None]:
    """Verify the wallet first (so the check shows the verification it just recorded)."""
    current = read_cipher_text(cipher_text_file) if cipher_text_file else None
    name = method_name or only_method(wb, wallet, "--method", cipher_text=current)
    values = MethodOptions(options).for_method(method_class(name), "unlock")
    with progress(f"opening wallet {wallet} with {name}", methods=(method_class(name),)):
        try:
            return wb.verify_backup(wallet, method=name, cipher_text=current, **values), None
        except WalletBackupError as exc:
            return None, exc


def _print(results: list[WalletHealth], quiet: bool) -> None:
    if not quiet:
        rows = [row for result in results for row in _rows(result)]
        click.echo(
            table(("WALLET", "METHOD", "STANZA", "STATUS", "REMOTE", "VERIFIED", "DUE"), rows)
        )
        notes = sorted({(m.method, m.detail) for r in results for m in r.methods if m.detail})
        for method, detail in notes:
            click.echo(f"note: {method}: remote key material not checked: {detail}")
    problems = [(result.wallet_id, p) for result in results for p in result.problems]
    if problems:
        click.echo("problems:")
    for wallet, problem in problems:
        which = f" ({problem.method} {problem.stanza_id[:8]})" if problem.stanza_id else ""
        click.echo(f"  {wallet}{which}: {problem.kind}: {problem.message}")
    unhealthy = sum(not result.ok for result in results)
    due = sum(len(result.due) for result in results)
    summary = f"checked {len(results)} wallet(s): {unhealthy} with problems"
    if due:
        summary += f"; {due} method(s) due for verification (walletbackup verify WALLET --method M)"
    click.echo(summary)


def _rows(result: WalletHealth) -> list[tuple[str, ...]]:
    if not result.methods:
        status = "unreadable" if result.mode is None else "no backup"
        return [(result.wallet_id, "-", "-", status, "-", "-", "-")]
    return [
        (
            result.wallet_id,
            m.method,
            m.stanza_id[:8],
            m.status,
            _remote(m),
            m.verified_at or "-",
            "yes" if m.due else "no",
        )
        for m in result.methods
    ]


def _remote(method: MethodHealth) -> str:
    if method.present is None:
        return "-"
    return "present" if method.present else "GONE"


def _document(
    results: list[WalletHealth], opened: VerifyReport | None, failure: WalletBackupError | None
) -> dict[str, Any]:
    unlocked: dict[str, Any] | None = None
    if opened is not None:
        unlocked = {
            "wallet_id": opened.wallet_id,
            "method": opened.method,
            "ok": True,
            "revision": opened.revision,
            "rewrap_advice": list(opened.rewrap_advice),
        }
    elif failure is not None:
        unlocked = {"ok": False, "error": type(failure).__name__, "message": str(failure)}
    return {
        "checked": len(results),
        "with_problems": sum(not result.ok for result in results),
        "due": sum(len(result.due) for result in results),
        "unlock": unlocked,
        "wallets": [
            {
                "wallet_id": r.wallet_id,
                "mode": r.mode,
                "revision": r.revision,
                "ok": r.ok,
                "problems": [
                    {
                        "kind": p.kind,
                        "message": p.message,
                        "method": p.method,
                        "stanza_id": p.stanza_id,
                    }
                    for p in r.problems
                ],
                "methods": [
                    {
                        "method": m.method,
                        "stanza_id": m.stanza_id,
                        "status": m.status,
                        "present": m.present,
                        "verified_at": m.verified_at,
                        "due": m.due,
                        "detail": m.detail,
                    }
                    for m in r.methods
                ],
            }
            for r in results
        ],
    }
