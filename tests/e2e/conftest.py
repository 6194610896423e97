"""Fixtures for end-to-end tests: a real SQLite store and a real local KMS key file per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from walletbackup import WalletBackup


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    return {
        "store": f"sqlite://{tmp_path / 'backups.db'}",
        "kms": f"local://{tmp_path / 'custodian.key'}",
    }


@pytest.fixture
def wb(paths: dict[str, str]) -> Iterator[WalletBackup]:
    with WalletBackup(store=paths["store"], kms=paths["kms"]) as instance:
        yield instance


@pytest.fixture
def wb_self(paths: dict[str, str]) -> Iterator[WalletBackup]:
    with WalletBackup(store=paths["store"], kms=paths["kms"], mode="self-managed") as instance:
        yield instance


HERE = Path(__file__).parent
#: What child processes and this process need on sys.path to load the test-only plugins.
PLUGIN_PATHS = [str(HERE), str(HERE / "plugins"), str(HERE.parent / "fixtures")]


@pytest.fixture
def vault_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Install the test-only ``vault`` method (distribution walletbackup-e2evault)."""
    from walletbackup import plugins

    for path in PLUGIN_PATHS:
        monkeypatch.syspath_prepend(path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(PLUGIN_PATHS))
    plugins.reset_plugins()
    yield "vault"
    plugins.reset_plugins()
