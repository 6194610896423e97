"""``python -m walletbackup``: the same as the ``walletbackup`` command."""

from .cli import main

main()
