"""Headless Chromium driven over the DevTools protocol, with WebAuthn virtual authenticators.

Only what the passkey tests need: start the browser, open a tab, add a virtual authenticator
(``hasPrf``), navigate, evaluate JavaScript, close the tab. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import websocket

STARTUP_SECONDS = 30
CALL_SECONDS = 30
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


class DevToolsError(RuntimeError):
    """A DevTools call failed or did not answer in time."""


class Chromium:
    """One headless Chromium process and its browser-level DevTools connection."""

    def __init__(self) -> None:
        binary = shutil.which("chromium")
        if binary is None:
            raise DevToolsError(
                "chromium is not installed: apt-get install -y --no-install-recommends chromium "
                "(declared in plugins/passkey/pyproject.toml, [tool.walletbackup-dev])"
            )
        self._profile = tempfile.TemporaryDirectory(prefix="wb-chromium-")
        self._process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        try:
            self._socket = websocket.create_connection(
                self._browser_url(), timeout=CALL_SECONDS, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise

    def _browser_url(self) -> str:
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DevToolsError(f"chromium exited early with code {self._process.returncode}")
            if port_file.exists():
                lines = port_file.read_text().split("\n")
                if len(lines) >= 2 and lines[1]:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise DevToolsError(f"chromium did not start within {STARTUP_SECONDS} s")

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and wait for its answer (events in between are dropped)."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + CALL_SECONDS
        while time.monotonic() < deadline:
            answer = json.loads(self._socket.recv())
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise DevToolsError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
        raise DevToolsError(f"{method}: no answer within {CALL_SECONDS} s")

    def new_tab(self) -> Tab:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Tab(self, target, session["sessionId"])

    def close(self) -> None:
        try:
            if getattr(self, "_socket", None) is not None:
                self._socket.close()
        finally:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._profile.cleanup()


class Tab:
    """One tab (target) with its own DevTools session and virtual authenticators."""

    def __init__(self, browser: Chromium, target: str, session: str) -> None:
        self.browser, self.target, self.session = browser, target, session
        self.closed = False
        self.call("WebAuthn.enable", {"enableUI": False})

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def add_authenticator(
        self, *, prf: bool = True, user_verified: bool = True, presence: bool = True
    ) -> str:
        """A CTAP 2.1 platform authenticator; ``presence=False`` leaves requests waiting."""
        options = {
            "protocol": "ctap2",
            "ctap2Version": "ctap2_1",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": user_verified,
            "hasPrf": prf,
            "automaticPresenceSimulation": presence,
        }
        answer = self.call("WebAuthn.addVirtualAuthenticator", {"options": options})
        authenticator: str = answer["authenticatorId"]
        return authenticator

    def credentials(self, authenticator: str) -> list[dict[str, Any]]:
        found = self.call("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        credentials: list[dict[str, Any]] = found["credentials"]
        return credentials

    def navigate(self, url: str) -> None:
        # WebAuthn runs only in the focused page: bring this tab to the front first.
        self.call("Page.bringToFront")
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (with a user gesture) and return its JSON value."""
        answer = self.call(
            "Runtime.evaluate",
            {
                "expression": expression,
                "awaitPromise": True,
                "returnByValue": True,
                "userGesture": True,
            },
        )
        if "exceptionDetails" in answer:
            raise DevToolsError(f"page script failed: {answer['exceptionDetails']}")
        return answer.get("result", {}).get("value")

    def wait_for(self, expression: str, seconds: float = CALL_SECONDS) -> Any:
        """Evaluate ``expression`` until it is truthy (bounded)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except DevToolsError:
                value = None  # the page is between documents
            if value:
                return value
            time.sleep(0.05)
        raise DevToolsError(f"{expression!r} was not true within {seconds} s")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.browser.call("Target.closeTarget", {"targetId": self.target})


#: Makes create() report only ``prf.enabled`` (no result), as some passkey providers do.
PRF_ONLY_ENABLED_AT_CREATE = """
const original = PublicKeyCredential.prototype.getClientExtensionResults;
PublicKeyCredential.prototype.getClientExtensionResults = function () {
  const results = original.call(this);
  if (this.response instanceof AuthenticatorAttestationResponse && results.prf) {
    return {...results, prf: {enabled: results.prf.enabled}};
  }
  return results;
};
"""


class Person:
    """Plays the person at the browser: the method's ``open_browser``, on a DevTools tab.

    ``action`` is what they do on the page: ``"use"`` (press the button, and again when the
    page asks for one more step), ``"cancel"`` (press Cancel while the passkey is asked for),
    ``"close"`` (close the tab while it is asked for) or ``"nothing"`` (just look at it).
    """

    def __init__(self, tab: Tab, action: str = "use") -> None:
        self.tab, self.action = tab, action
        self.urls: list[str] = []

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        self.tab.navigate(url)
        self.tab.wait_for(
            f"location.href === {json.dumps(url)} && !!document.getElementById('start')"
        )
        if self.action == "nothing":
            return True
        self.tab.evaluate("document.getElementById('start').click()")
        if self.action == "cancel":
            self.tab.wait_for("controller !== null")
            self.tab.evaluate("document.getElementById('cancel').click()")
        elif self.action == "close":
            self.tab.wait_for("controller !== null")
            self.tab.close()
            return True
        self.tab.wait_for("finished || (created !== null && !start.disabled)")
        if self.tab.evaluate("!finished"):
            self.tab.evaluate("document.getElementById('start').click()")
            self.tab.wait_for("finished")
        return True

    def page_text(self) -> str:
        text: str = self.tab.evaluate("document.body.innerText")
        return text
