"""What every test shares: a home of its own, and a store, a KMS and a WalletBackup on them.

Only the core and pytest are imported here: the nox sessions ``core`` (no plugin installed) and
``plugin-<name>`` (one plugin) load this file too. Helper modules that tests import by name
(``cli_support``, ``generate``, ...) are on ``sys.path`` through the ``pythonpath`` setting in
the root pyproject.toml, not through path edits in test files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from walletbackup import WalletBackup

#: Where platformdirs (XDG on Linux) finds each user directory, relative to the home.
XDG_DIRS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "XDG_CACHE_HOME": ".cache",
}


@pytest.fixture(autouse=True)
def private_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME and the XDG user directories in a directory of the test's own.

    No test reads or writes the real user's config file, store, key file or sign-ins, and child
    processes inherit the same. Not under ``tmp_path``: tests that list it see only their files.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for variable, relative in XDG_DIRS.items():
        monkeypatch.setenv(variable, str(home / relative))
    monkeypatch.delenv("WALLETBACKUP_CONFIG", raising=False)
    return home


@pytest.fixture
def urls(tmp_path: Path) -> dict[str, str]:
    """A store and a KMS of the test's own: SQLite and a local key file in ``tmp_path``."""
    return {
        "store": f"sqlite://{tmp_path / 'backups.db'}",
        "kms": f"local://{tmp_path / 'custodian.key'}",
    }


@pytest.fixture
def wb(urls: dict[str, str]) -> Iterator[WalletBackup]:
    """A managed-mode WalletBackup on :func:`urls`."""
    with WalletBackup(**urls) as instance:
        yield instance


@pytest.fixture
def wb_self(urls: dict[str, str]) -> Iterator[WalletBackup]:
    """A self-managed WalletBackup on :func:`urls` (the application keeps the cipher text)."""
    with WalletBackup(**urls, mode="self-managed") as instance:
        yield instance
