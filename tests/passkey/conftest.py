"""Fixtures for the passkey tests: software security keys, and one headless Chromium per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chromium_devtools import Chromium, DevToolsError, Tab
from passkey_support import Recorder, new_key
from soft_authenticator import SoftAuthenticator


@pytest.fixture
def key() -> SoftAuthenticator:
    return new_key()


@pytest.fixture
def person() -> Recorder:
    return Recorder()


@pytest.fixture
def key_options(key: SoftAuthenticator, person: Recorder) -> dict[str, Any]:
    """Options that make the method use the software key, with the right PIN."""
    return {"transport": "security-key", "device": key, "user_interaction": person}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    try:
        browser = Chromium()
    except DevToolsError as exc:
        pytest.fail(f"the browser-path tests need Chromium: {exc}")
    yield browser
    browser.close()


@pytest.fixture
def tab(chromium: Chromium) -> Iterator[Tab]:
    opened = chromium.new_tab()
    yield opened
    opened.close()


@pytest.fixture
def new_tab(chromium: Chromium) -> Iterator[Callable[[], Tab]]:
    """More tabs for one test (each with its own virtual authenticators)."""
    tabs: list[Tab] = []

    def make() -> Tab:
        tabs.append(chromium.new_tab())
        return tabs[-1]

    yield make
    for each in tabs:
        each.close()
