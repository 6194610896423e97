"""Fixtures: the loopback fake iCloud (TLS), pyicloud pointed at it, a private config dir."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from icloud_fake import FakeICloud, make_tls
from icloud_support import APPLE_ID, OTHER_APPLE_ID, FakeSignIn, Script, loopback_service, sign_in

from walletbackup.methods import BackupMethod
from walletbackup_icloud import ICloudMethod, accounts


@pytest.fixture
def config_home(private_home: Path) -> Path:
    """Where saved sign-ins go: the test's own config directory (tests/conftest.py makes it)."""
    return Path(os.environ["XDG_CONFIG_HOME"])


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake(tls: tuple[Path, Path]) -> Iterator[FakeICloud]:
    server = FakeICloud(*tls).start()
    server.add_account(APPLE_ID)
    server.add_account(OTHER_APPLE_ID)
    yield server
    server.stop()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture(autouse=True)
def pyicloud_at_fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PyiCloudService the plugin makes talks to the fake (when the test has one)."""
    if "fake" not in request.fixturenames:
        monkeypatch.setattr(accounts, "service_factory", _no_network)
        return
    server: FakeICloud = request.getfixturevalue("fake")
    plan: Script = request.getfixturevalue("script")

    def factory(apple_id: str, password: str | None, cookie_directory: str) -> Any:
        if password is None:
            return loopback_service(server, apple_id, cookie_directory)
        return FakeSignIn(server, plan, apple_id, password, cookie_directory)

    monkeypatch.setattr(accounts, "service_factory", factory)


def _no_network(*_: object) -> Any:
    pytest.fail("this test has no fake iCloud, yet the plugin tried to reach iCloud")


@pytest.fixture
def signed_in(fake: FakeICloud) -> accounts.SavedAccount:
    return sign_in(fake, APPLE_ID)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_method(
    signed_in: accounts.SavedAccount, sleeps: list[float]
) -> Callable[..., BackupMethod]:
    """A fresh ICloudMethod on the saved sign-in of APPLE_ID; sleeps are recorded, not slept."""
    defaults: dict[str, Any] = {"apple_id": APPLE_ID, "sleep": sleeps.append, "timeout": 5}
    return lambda **overrides: ICloudMethod(**{**defaults, **overrides})
