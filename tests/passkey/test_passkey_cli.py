"""``walletbackup passkey ...`` and the terminal prompts, with software keys as the connected keys.

This machine has no USB keys: ``connected_keys`` is pointed at software keys (or at none), so a
developer's own key is never touched.
"""

from __future__ import annotations

import json
import webbrowser
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner
from passkey_support import PIN, Recorder, new_key
from soft_authenticator import SoftAuthenticator

from walletbackup import plugins
from walletbackup.cli import cli
from walletbackup.cli.exits import EXIT_POLICY, EXIT_UNAVAILABLE
from walletbackup.testing import new_context
from walletbackup_passkey import PasskeyDeclined, PasskeyMethod
from walletbackup_passkey import security_key as security_key_module
from walletbackup_passkey.interaction import TerminalInteraction

Connect = Callable[..., None]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Connect:
    def plug(*keys: SoftAuthenticator) -> None:
        monkeypatch.setattr(security_key_module, "connected_keys", lambda: list(keys))

    plug()
    return plug


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    plugins.reset_plugins()
    plugins.register_commands(cli)
    yield CliRunner()
    cli.commands.pop("passkey", None)  # leave the shared root group as it was


def test_the_passkey_group_is_registered(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["passkey", "--help"])
    assert result.exit_code == 0, result.output
    assert "devices" in result.output
    assert "set-pin" in result.output


def test_devices_with_nothing_connected(runner: CliRunner, connect: Connect) -> None:
    result = runner.invoke(cli, ["passkey", "devices"])
    assert result.exit_code == 0, result.output
    assert "No FIDO2 security key is connected." in result.output
    assert "Browser: " in result.output


def test_devices_says_which_key_can_serve(runner: CliRunner, connect: Connect) -> None:
    connect(new_key(), new_key(hmac_secret=False), new_key(pin=None))
    result = runner.invoke(cli, ["passkey", "devices", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    usable = [(k["prf"], k["pin"], k["usable"], k["problem"]) for k in report["security_keys"]]
    assert usable == [
        (True, "set", True, ""),
        (False, "set", False, "no PRF (hmac-secret)"),
        (True, "not set", False, "no PIN yet: run `walletbackup passkey set-pin`"),
    ]
    assert isinstance(report["browser"]["found"], bool)
    text = runner.invoke(cli, ["passkey", "devices"]).output
    assert "PRF yes, PIN set; usable" in text
    assert "not usable: no PRF (hmac-secret)" in text


@pytest.mark.parametrize(
    ("variable", "usable", "line"),
    [
        ("/opt/bin/open-in-chrome %s", True, "Browser: /opt/bin/open-in-chrome\n"),
        ("w3m", False, "Browser: w3m (text mode: cannot use passkeys)\n"),
    ],
    ids=["named-command", "text-mode"],
)
def test_devices_says_whether_the_browser_can_use_passkeys(
    runner: CliRunner,
    connect: Connect,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    usable: bool,
    line: str,
) -> None:
    # A fresh registry, filled by webbrowser itself: only $BROWSER supplies a browser.
    monkeypatch.setattr(webbrowser, "_browsers", {})
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROWSER", variable)
    report = json.loads(runner.invoke(cli, ["passkey", "devices", "--json"]).output)
    assert report["browser"]["found"] is True
    assert report["browser"]["usable"] is usable
    assert line in runner.invoke(cli, ["passkey", "devices"]).output


def test_set_pin_on_a_new_key(runner: CliRunner, connect: Connect) -> None:
    key = new_key(pin=None)
    connect(key)
    result = runner.invoke(cli, ["passkey", "set-pin"], input=f"{PIN}\n{PIN}\n")
    assert result.exit_code == 0, result.output
    assert "PIN set." in result.output
    assert PIN not in result.output
    enrollment = PasskeyMethod(device=key, pin=PIN, user_interaction=Recorder()).enroll(
        new_context()
    )
    assert len(enrollment.secret) == 32


@pytest.mark.parametrize(
    ("keys", "typed", "code", "message"),
    [
        (0, PIN, EXIT_UNAVAILABLE, "0 security keys are connected"),
        (2, PIN, EXIT_UNAVAILABLE, "2 security keys are connected"),
        (1, "123", EXIT_POLICY, "4 to 63 characters"),
    ],
    ids=["no-key", "two-keys", "short-pin"],
)
def test_set_pin_refusals(
    runner: CliRunner, connect: Connect, keys: int, typed: str, code: int, message: str
) -> None:
    connect(*[new_key(pin=None) for _ in range(keys)])
    result = runner.invoke(cli, ["passkey", "set-pin"], input=f"{typed}\n{typed}\n")
    assert result.exit_code == code, result.output
    assert message in result.output


def test_set_pin_refuses_a_key_that_has_one(runner: CliRunner, connect: Connect) -> None:
    connect(new_key())
    result = runner.invoke(cli, ["passkey", "set-pin"])
    assert result.exit_code == EXIT_POLICY
    assert "already has a PIN" in result.output


def test_the_terminal_asks_the_pin_once_and_prompts_for_touch(key: SoftAuthenticator) -> None:
    with CliRunner().isolation(input=f"{PIN}\n") as (_, errors, _):
        enrollment = PasskeyMethod(device=key, user_interaction=TerminalInteraction()).enroll(
            new_context()
        )
        shown = errors.getvalue().decode()
    assert len(enrollment.secret) == 32
    assert shown.count("PIN of your security key") == 1
    assert "Touch your security key now." in shown
    assert PIN not in shown


@pytest.mark.parametrize("typed", ["\n", ""], ids=["empty", "end-of-input"])
def test_no_pin_at_the_terminal_cancels(key: SoftAuthenticator, typed: str) -> None:
    with CliRunner().isolation(input=typed), pytest.raises(PasskeyDeclined, match="no PIN"):
        PasskeyMethod(device=key, user_interaction=TerminalInteraction()).enroll(new_context())
