"""Stanza arguments and options: checked strictly, before any authenticator or browser."""

from __future__ import annotations

import base64
import webbrowser
from typing import Any

import pytest

from walletbackup.canonical import b64encode
from walletbackup.errors import MalformedBackup
from walletbackup_passkey import PasskeyMethod
from walletbackup_passkey import devices as devices_module
from walletbackup_passkey import method as method_module
from walletbackup_passkey.args import PasskeyArgs, parse

GOOD = PasskeyArgs("security-key", "localhost", b"\x11" * 48, b"\x22" * 32).to_args()


def test_args_round_trip() -> None:
    assert {
        "v": 1,
        "transport": "security-key",
        "rp_id": "localhost",
        "credential_id": b64encode(b"\x11" * 48),
        "salt": b64encode(b"\x22" * 32),
    } == GOOD
    assert parse(GOOD) == PasskeyArgs("security-key", "localhost", b"\x11" * 48, b"\x22" * 32)
    PasskeyMethod.validate_args(GOOD)
    browser = {**GOOD, "transport": "browser"}
    assert parse(browser).transport == "browser"
    assert parse({**GOOD, "rp_id": "wallet.example.com"}).rp_id == "wallet.example.com"


BAD: dict[str, Any] = {
    "unknown-key": {**GOOD, "extra": "x"},
    "no-version": {k: v for k, v in GOOD.items() if k != "v"},
    "version-2": {**GOOD, "v": 2},
    "version-text": {**GOOD, "v": "1"},
    "version-bool": {**GOOD, "v": True},
    "transport": {**GOOD, "transport": "nfc"},
    "rp-uppercase": {**GOOD, "rp_id": "LocalHost"},
    "rp-with-port": {**GOOD, "rp_id": "localhost:8080"},
    "rp-with-scheme": {**GOOD, "rp_id": "https://localhost"},
    "rp-empty": {**GOOD, "rp_id": ""},
    "rp-too-long": {**GOOD, "rp_id": ("a" * 60 + ".") * 5 + "com"},
    "rp-not-text": {**GOOD, "rp_id": 7},
    "browser-elsewhere": {**GOOD, "transport": "browser", "rp_id": "wallet.example.com"},
    "credential-short": {**GOOD, "credential_id": b64encode(b"\1" * 15)},
    "credential-long": {**GOOD, "credential_id": b64encode(b"\1" * 1024)},
    "credential-padded": {**GOOD, "credential_id": b64encode(b"\1" * 16) + "=="},
    "credential-std-b64": {**GOOD, "credential_id": base64.b64encode(b"\xfb" * 30).decode()},
    "credential-not-text": {**GOOD, "credential_id": ["x"]},
    "salt-short": {**GOOD, "salt": b64encode(b"\2" * 31)},
    "salt-long": {**GOOD, "salt": b64encode(b"\2" * 33)},
    "salt-missing": {k: v for k, v in GOOD.items() if k != "salt"},
    "not-a-mapping": ["v", 1],
}


@pytest.mark.parametrize("args", BAD.values(), ids=BAD.keys())
def test_malformed_args_are_refused(args: Any) -> None:
    with pytest.raises(MalformedBackup):
        PasskeyMethod.validate_args(args)


def test_unlock_refuses_malformed_args_before_any_ceremony() -> None:
    def never(url: str) -> bool:
        raise AssertionError("the browser must not open for malformed args")

    with pytest.raises(MalformedBackup, match="salt"):
        PasskeyMethod(transport="browser", open_browser=never).unlock(BAD["salt-short"], None)  # type: ignore[arg-type]


OPTIONS: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "unknown": ({"colour": "blue"}, TypeError, "unknown option"),
    "transport": ({"transport": "bluetooth"}, ValueError, "transport must be"),
    "browser-rp": ({"transport": "browser", "rp_id": "example.com"}, ValueError, "only use"),
    "rp-id": ({"rp_id": "Not A Domain"}, ValueError, "lowercase domain"),
    "timeout-zero": ({"timeout": 0}, ValueError, "between 0 and"),
    "timeout-nan": ({"timeout": float("nan")}, ValueError, "between 0 and"),
    "timeout-huge": ({"timeout": 3601}, ValueError, "between 0 and"),
    "timeout-text": ({"timeout": "60"}, TypeError, "number of seconds"),
    "timeout-bool": ({"timeout": True}, TypeError, "number of seconds"),
    "pin-bytes": ({"pin": b"1234"}, TypeError, "pin must be a str"),
    "opener": ({"open_browser": "firefox"}, TypeError, "must be callable"),
    "device": ({"device": "/dev/hidraw0"}, TypeError, "CtapDevice"),
    "user-name": ({"user_name": "x" * 64}, ValueError, "1 to 63"),
}


@pytest.mark.parametrize(("options", "error", "message"), OPTIONS.values(), ids=OPTIONS.keys())
def test_bad_options_are_refused(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PasskeyMethod(**options)


def test_availability_needs_a_key_or_a_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices_module, "key_connected", lambda: False)
    monkeypatch.setattr(method_module, "_browser_found", lambda: False)
    nothing = PasskeyMethod().availability()
    assert not nothing.available
    assert "no FIDO2 security key is connected and no web browser" in nothing.reason
    assert "password" in nothing.remedy
    assert not PasskeyMethod(transport="browser").availability().available
    assert PasskeyMethod(transport="browser", open_browser=print).availability().available
    assert not PasskeyMethod(transport="security-key", open_browser=print).availability().available
    monkeypatch.setattr(devices_module, "key_connected", lambda: True)
    assert PasskeyMethod().availability().available
    assert PasskeyMethod(transport="security-key").availability().available


@pytest.mark.parametrize(
    ("registered", "found"),
    [
        (webbrowser.BackgroundBrowser("firefox"), True),
        (webbrowser.GenericBrowser(["/opt/bin/open-in-chrome", "%s"]), True),  # from $BROWSER
        (webbrowser.GenericBrowser("w3m"), False),  # text mode: no WebAuthn
        (webbrowser.GenericBrowser(["/usr/bin/lynx", "-accept_all_cookies", "%s"]), False),
        (webbrowser.Elinks("elinks"), False),
        (None, False),
    ],
    ids=["graphical", "named-command", "text-mode", "text-mode-path", "elinks", "none"],
)
def test_any_browser_but_a_text_mode_one_counts(
    monkeypatch: pytest.MonkeyPatch, registered: webbrowser.BaseBrowser | None, found: bool
) -> None:
    def get() -> webbrowser.BaseBrowser:
        if registered is None:
            raise webbrowser.Error("could not locate runnable browser")
        return registered

    monkeypatch.setattr(webbrowser, "get", get)
    monkeypatch.setattr(devices_module, "key_connected", lambda: False)
    assert PasskeyMethod(transport="browser").availability().available is found


@pytest.mark.parametrize(
    ("variable", "found"),
    [
        ("/opt/bin/open-in-chrome", True),
        ("/opt/bin/open-in-chrome --new-window %s", True),
        ("w3m", False),
        ("/usr/bin/lynx %s", False),
    ],
    ids=["command", "command-line", "text-mode", "text-mode-line"],
)
def test_the_browser_variable_is_read_as_webbrowser_reads_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, found: bool
) -> None:
    # A fresh registry, filled by webbrowser itself from this environment (no display, no
    # terminal: only $BROWSER can supply a browser).
    monkeypatch.setattr(webbrowser, "_browsers", {})
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROWSER", variable)
    monkeypatch.setattr(devices_module, "key_connected", lambda: False)
    availability = PasskeyMethod(transport="browser").availability()
    assert availability.available is found
    if not found:
        assert "$BROWSER" in availability.remedy
