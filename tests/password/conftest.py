"""Shared set-up for the password method's tests."""

from __future__ import annotations

import pytest

from walletbackup import kdf


@pytest.fixture(autouse=True)
def _default_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests see the default unlock ceiling unless they set one, whatever the developer's shell has.
    monkeypatch.delenv(kdf.CEILING_ENV, raising=False)


@pytest.fixture
def kdf_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any Argon2 run fail loudly, to prove a check happened before it."""

    def boom(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the KDF ran")

    monkeypatch.setattr(kdf, "hash_secret_raw", boom)
