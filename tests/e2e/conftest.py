"""End-to-end fixtures: the test-only ``vault`` method (the store, KMS and ``wb`` fixtures are in
tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
#: The test-only distribution walletbackup-e2evault: a dist-info and its module.
VAULT_DIST = HERE / "plugins"
#: What a child process needs on its path: the distribution and the helper modules it imports
#: (this process has the helpers through pytest's ``pythonpath`` setting).
PLUGIN_PATHS = [str(HERE), str(VAULT_DIST), str(HERE.parent / "fixtures")]


@pytest.fixture
def vault_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Install the test-only ``vault`` method (distribution walletbackup-e2evault).

    Putting its dist-info on the path is what installs it: entry points are found there, so it
    is done for the tests that want the method, never for all.
    """
    from walletbackup import plugins

    monkeypatch.syspath_prepend(str(VAULT_DIST))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(PLUGIN_PATHS))
    plugins.reset_plugins()
    yield "vault"
    plugins.reset_plugins()
