"""The ``walletbackup`` command group: its global options, errors as exit codes, its commands.

Besides the group, the two commands that need no wallet live here (``demo`` and ``new-plugin``):
their work is imported only when they run, so ``walletbackup --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from walletbackup.errors import WalletBackupError

from .audit import COMMANDS as AUDIT_COMMANDS
from .commands import COMMANDS as CHANGE_COMMANDS
from .config import CONFIG_ENV, MODES, TOKEN_ENV, Globals
from .exits import EXIT_ERROR, EXIT_OK, exit_code_for
from .health import COMMANDS as HEALTH_COMMANDS
from .info import COMMANDS as LISTING_COMMANDS
from .operator import COMMANDS as OPERATOR_COMMANDS
from .wording import for_cli, method_options


class _Group(click.Group):
    """Turns walletbackup errors into one line on stderr (in CLI words) and a documented exit
    code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WalletBackupError as exc:
            click.echo(f"error: {for_cli(str(exc), method_options)}", err=True)
            sys.exit(exit_code_for(exc))


@click.group(cls=_Group)
@click.version_option(package_name="walletbackup")
@click.option(
    "--store",
    metavar="URL",
    help="Store URL (sqlite:///path.db, file:///dir, ...; default: from the config file, "
    "else sqlite: in the user data directory).",
)
@click.option(
    "--kms",
    metavar="URL",
    help="KMS URL for the custodian share (local:///path.key, ...; default: from the "
    "config file, else local: in the user data directory).",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    help="managed (the store keeps the client cipher text) or self-managed (you keep "
    "it); default: from the config file, else managed.",
)
@click.option(
    "--config",
    metavar="PATH",
    help=f"Config file (default: ${CONFIG_ENV}, else config.toml in the user config directory).",
)
@click.option(
    "--custodian",
    metavar="URL",
    help=f"A custodian service (https://...) to back up to and recover from, with your user "
    f"token in ${TOKEN_ENV} (default: from the config file, else the embedded custodian).",
)
@click.pass_context
def cli(  # noqa: PLR0917 - click passes the group's options by name, one per option
    ctx: click.Context,
    store: str | None,
    kms: str | None,
    mode: str | None,
    config: str | None,
    custodian: str | None,
) -> None:
    """Back up and recover the two backup shares of an MPC wallet.

    Secrets are prompted, never taken from the command line; for automation, read them from a
    file or standard input (--options-file, --options-stdin). Exit codes: 0 ok, 1 error,
    2 usage, 3 unlock failed, 4 not found, 5 method unavailable, 6 malformed backup, 7 policy,
    8 storage, 9 plugin, 10 stale backup, 11 check found a problem, 12 access denied,
    130 interrupted (Ctrl-C).
    """
    ctx.obj = Globals(store, kms, mode, config, custodian)


@cli.command(short_help="Run the whole job on a demo wallet.")
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Store to use (default: the global --store, else sqlite in a fresh temporary "
    "directory, deleted at the end; never the config file's). A store given here keeps the "
    "demo wallet.",
)
@click.option(
    "--kms",
    "kms_url",
    metavar="URL",
    help="KMS for the custodian share (default: the global --kms, else custodian.key beside "
    "a given sqlite: or file: store, else a key file in the temporary directory).",
)
@click.pass_obj
def demo(given: Globals, store_url: str | None, kms_url: str | None) -> None:
    """Run the whole job on a demo wallet, non-interactively, and say what happened.

    Makes a random wallet secret, splits it into a client and a custodian share, backs both up
    with the password method (managed mode), recovers them, and checks the secret is identical.
    Exits 0 only if every step held. Says at the end what was kept, and where.
    """
    from .demo import run_demo  # noqa: PLC0415 - keeps --help free of cryptography

    ok = run_demo(store_url or given.store, kms_url or given.kms, click.echo)
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


@cli.command(name="new-plugin", short_help="Start a new backup method plugin.")
@click.argument("name")
@click.option(
    "--directory",
    metavar="DIR",
    help="Create the plugin here: a new directory (default: ./walletbackup-NAME).",
)
def new_plugin(name: str, directory: str | None) -> None:
    """Start a new backup method plugin: distribution walletbackup-NAME.

    Writes a working example method (a random key in a file in a directory), its entry point,
    a test that runs the conformance kit, and a README saying what to change next. NAME is the
    method's name: a lowercase letter, then up to 31 lowercase letters, digits, hyphens or
    underscores, ending in a letter or digit; its package is walletbackup_NAME with hyphens as
    underscores.
    """
    import shlex  # noqa: PLC0415 - this command's imports stay out of start-up
    from pathlib import Path  # noqa: PLC0415

    from .scaffold import LAYOUT, PluginNames, ScaffoldError, create_plugin  # noqa: PLC0415

    try:
        target = create_plugin(name, Path(directory) if directory is not None else None)
    except ScaffoldError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.parameter) from None
    package = PluginNames.of(name).package
    click.echo(f"created walletbackup-{name} in {target}:")
    for path, _ in LAYOUT:
        click.echo(f"  {path.format(package=package)}")
    click.echo("next:")
    click.echo(f"  cd {shlex.quote(str(target))}")
    click.echo("  python -m pip install -e '.[test]'")
    click.echo("  python -m pytest")
    click.echo(f"  walletbackup methods    # lists {name}")
    click.echo("then read its README.md: what to change next.")


for _command in (
    *CHANGE_COMMANDS,
    *LISTING_COMMANDS,
    *HEALTH_COMMANDS,
    *OPERATOR_COMMANDS,
    *AUDIT_COMMANDS,
):
    cli.add_command(_command)
