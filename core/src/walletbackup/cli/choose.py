"""Which backup method a command uses: its class, or the wallet's only method when none is named."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import click

from .options import MethodOptions, OptionInput, Purpose

if TYPE_CHECKING:
    from walletbackup.api import WalletBackup
    from walletbackup.methods import BackupMethod


def method_class(name: str) -> type[BackupMethod]:
    """The installed method called ``name`` (:class:`MethodUnavailable` when there is none)."""
    from walletbackup import plugins  # noqa: PLC0415 - plugin registries only when needed

    return plugins.get_method(name)


def discard_options(gathered: MethodOptions, name: str, given: OptionInput) -> dict[str, Any]:
    """What a removed method needs to delete its remote material (prompted, when it has any).

    A method whose plugin is gone can still be removed; its material then stays queued.
    """
    from walletbackup.errors import MethodUnavailable  # noqa: PLC0415 - see method_class
    from walletbackup.methods import BackupMethod  # noqa: PLC0415 - see method_class

    try:
        method = method_class(name)
    except MethodUnavailable as exc:
        if given.assignments or given.file or given.stdin:
            raise
        click.echo(f"warning: {exc}; its remote key material (if any) is not deleted", err=True)
        return {}
    purpose: Purpose = "discard" if method.discard is not BackupMethod.discard else "none"
    return gathered.for_method(method, purpose)


def only_method(
    wb: WalletBackup,
    wallet: str,
    flag: str,
    *,
    besides: str | None = None,
    one_stanza: bool = False,
    cipher_text: bytes | str | None = None,
) -> str:
    """The method to use when none was named: the only one (other than ``besides``).

    The methods of the given cipher text (self-managed: possibly not confirmed yet), else those
    of the wallet's current backup. ``besides`` is a method being removed: it unlocks only when
    ``one_stanza`` of several is (another of its stanzas may then unlock).
    """
    from walletbackup.errors import BackupNotFound, PolicyViolation  # noqa: PLC0415 - light

    if cipher_text is not None:
        found = _methods_in(cipher_text)
    else:
        found = wb.available_recovery_methods(wallet)
    methods = [m for m in found if m != besides]
    if len(methods) == 1:
        return methods[0]
    if not methods and besides in found and one_stanza:
        return besides
    if not methods and besides in found:
        # What the core says too, once unlocked; said here, there is nothing to unlock with.
        named = shlex.quote(wallet)
        raise PolicyViolation(
            f"{besides} is the only method protecting wallet {wallet!r}, so it cannot be "
            f"removed: add another method first (walletbackup add-method {named} METHOD), then "
            f"remove {besides}; or back up again with another method alone (walletbackup "
            f"backup {named} --method METHOD --replace)"
        )
    if not methods:
        raise BackupNotFound(f"wallet {wallet!r} has no current backup to unlock")
    raise click.UsageError(
        f"wallet {wallet!r} has several methods ({', '.join(methods)}); choose one with {flag}"
    )


def _methods_in(cipher_text: bytes | str) -> list[str]:
    """The methods whose stanzas a client cipher text holds (read from its public header)."""
    from walletbackup import envelope  # noqa: PLC0415 - cryptography only when a command needs it

    data = envelope.dearmor(cipher_text) if isinstance(cipher_text, str) else cipher_text
    return sorted({stanza.type for stanza in envelope.parse(data).stanzas})
