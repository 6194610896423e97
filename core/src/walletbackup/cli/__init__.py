"""The ``walletbackup`` command line (console script ``walletbackup.cli:main``).

Modules, one job each: ``group`` (the command group and its global options), ``commands`` (the
commands that back up, recover and change a backup), ``info`` (the listings), ``choose`` (which
method a command uses), ``report`` (what a change prints), ``options`` (a method's options),
``prompts`` (asking a person for them), ``config`` (where store, KMS and mode come from), ``io``
(share and cipher text files), ``output`` (JSON, tables, progress, warnings), ``wording`` (CLI
names in the core's messages), ``exits`` (exit codes), ``interrupt`` (Ctrl-C), ``demo`` and
``scaffold``. Only click is imported at start-up; the API and cryptography only inside the
commands that use them. ``cli`` (the click group) is imported when first asked for, so the
console script's Ctrl-C handler is in place before almost anything else is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .group import cli


def main() -> None:
    """The console script: Ctrl-C handled first, then warnings, plugin commands, the command."""
    from .interrupt import run  # noqa: PLC0415 - first, before the imports below

    run(_main)


def _main() -> None:
    from walletbackup import plugins  # noqa: PLC0415 - plugin discovery only when the command runs

    from .group import cli  # noqa: PLC0415 - see main
    from .output import configure_logging  # noqa: PLC0415

    configure_logging()
    plugins.register_commands(cli)
    cli(prog_name="walletbackup")


def __getattr__(name: str) -> Any:
    if name == "cli":
        from .group import cli  # noqa: PLC0415 - see the module docstring

        return cli
    raise AttributeError(f"module 'walletbackup.cli' has no attribute {name!r}")


__all__ = ["cli", "main"]
