"""Fixtures: the fake Google (OAuth + Drive v3 on loopback), user credentials, recorded sleeps.

Shared names live in gdrive_support (a plain module: conftest modules clash across dirs).
"""

from __future__ import annotations

import json
import webbrowser
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gdrive_browser import ScriptedBrowser
from gdrive_fake import FakeGoogle
from gdrive_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    TIMEOUT,
    user_credentials,
)
from google.oauth2.credentials import Credentials

from walletbackup_gdrive import GDriveMethod, RetryPolicy


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests honours proxy variables; a CI proxy must never see the fake's traffic.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    fake.add_client(CLIENT_ID, CLIENT_SECRET)
    fake.add_client(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def sleeps() -> list[float]:
    """Every backoff the code under test asked for (recorded, not slept)."""
    return []


@pytest.fixture
def retry(sleeps: list[float]) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append)


@pytest.fixture
def drive(google: FakeGoogle, retry: RetryPolicy) -> dict[str, Any]:
    """The gdrive options API-level calls pass besides credentials: the fake, fast retries."""
    return {"api_root": google.url, "retry": retry, "timeout": TIMEOUT}


@pytest.fixture
def credentials(google: FakeGoogle) -> Credentials:
    return user_credentials(google)


@pytest.fixture
def make_method(
    google: FakeGoogle, credentials: Credentials, retry: RetryPolicy
) -> Callable[..., GDriveMethod]:
    def make(**options: Any) -> GDriveMethod:
        return GDriveMethod(
            **{
                "credentials": credentials,
                "api_root": google.url,
                "retry": retry,
                "timeout": TIMEOUT,
                **options,
            }
        )

    return make


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedBrowser]:
    """The scripted browser as the only (preferred) browser, for this test only."""
    scripted = ScriptedBrowser()
    monkeypatch.setattr(webbrowser, "_browsers", {})
    monkeypatch.setattr(webbrowser, "_tryorder", [])
    webbrowser.register(scripted.name, None, scripted, preferred=True)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain http
    yield scripted
    scripted.join()


@pytest.fixture
def client_secrets(google: FakeGoogle, tmp_path: Path) -> Path:
    """The Desktop app client secrets JSON, as the Cloud console gives it (pointing at the fake)."""
    path = tmp_path / "client_secret.json"
    path.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "project_id": "wallet-app",
                    "auth_uri": f"{google.url}/o/oauth2/auth",
                    "token_uri": google.token_uri,
                    "revoke_uri": f"{google.url}/revoke",
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    return path
