"""The core's messages in the command line's words.

The core is a Python library: its errors name what a Python caller passes (``replace=True``,
``cipher_text=...``, ``unlock_with=...``). The CLI shows them with what its user types instead,
through the one mapping below; tests/core/test_cli_wording.py checks that every keyword the
core's messages name has its entry here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

#: A Python spelling in a core message (a regular expression), and what a CLI user types instead.
CLI_WORDS: tuple[tuple[str, str], ...] = (
    (r"unlock_with=\.\.\.", "--unlock-with METHOD"),
    (r"replace=True", "--replace"),
    (r"cipher_text=\.\.\.", "--cipher-text-file PATH"),
    (r"WalletBackup\(mode='([a-z-]+)'\)", r"--mode \1"),
    (r"kms=", "--kms URL"),
    (r"stored_client_backup_share", "walletbackup confirm"),
    (r"wallet_id", "WALLET"),
    (r"client_share", "the client share (--client-share-file)"),
    (r"custodian_share", "the custodian share (--custodian-share-file)"),
)

_SPELLINGS = tuple((re.compile(rf"(?<![\w-]){python}(?!\w)"), cli) for python, cli in CLI_WORDS)
#: A method option with a value, as a plugin's message suggests it (``transport='browser'``).
_OPTION_VALUE = re.compile(r"(?<![\w-])([a-z][a-z0-9_]*)='([^'\s]*)'")


def for_cli(message: str, options: Callable[[], Collection[str]] = frozenset) -> str:
    """``message`` with CLI words for Python ones.

    ``options`` gives the method options a user can pass with ``--option`` (asked only when the
    message suggests one): a plugin's ``NAME='value'`` becomes ``--option NAME=value``.
    """
    for spelling, cli in _SPELLINGS:
        message = spelling.sub(cli, message)
    if not _OPTION_VALUE.search(message):
        return message
    known = options()

    def option(found: re.Match[str]) -> str:
        name, value = found[1], found[2]
        return f"--option {name}={value}" if name in known else found[0]

    return _OPTION_VALUE.sub(option, message)


def method_options() -> set[str]:
    """The options of the installed methods that ``--option`` takes (not secrets, not objects)."""
    from walletbackup import plugins  # noqa: PLC0415 - only when an error is shown

    return {
        option.name
        for registered in plugins.method_registry().values()
        for option in registered.value.options
        if not (option.python_only or option.secret)
    }


__all__ = ["CLI_WORDS", "for_cli", "method_options"]
