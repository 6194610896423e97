"""The ``walletbackup`` command line (console script ``walletbackup.cli:main``).

Modules, one job each: ``group`` (the command group and its global options), ``commands`` (the
commands that back up, recover and change a backup), ``info`` (the listings), ``choose`` (which
method a command uses), ``report`` (what a change prints), ``options`` (a method's options),
``config`` (where store, KMS and mode come from), ``io`` (share and cipher text files),
``output`` (JSON, tables, progress, warnings), ``exits`` (exit codes), ``demo`` and ``scaffold``.
Only click is imported at start-up; the API and cryptography only inside the commands that use
them.
"""

from __future__ import annotations

from .group import cli
from .output import configure_logging


def main() -> None:
    """The console script: one-line warnings, plugin commands, then the command line."""
    configure_logging()
    from walletbackup import plugins  # noqa: PLC0415 - plugin discovery only when the command runs

    plugins.register_commands(cli)
    cli(prog_name="walletbackup")


__all__ = ["cli", "main"]
