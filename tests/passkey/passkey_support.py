"""Helpers shared by the passkey tests (a plain module: conftest names clash across dirs)."""

from __future__ import annotations

from typing import Any

from fido2.client import UserInteraction
from fido2.ctap2.base import Ctap2
from fido2.ctap2.pin import ClientPin
from soft_authenticator import SoftAuthenticator

#: Distinctive, so the secrecy checks would find it in any output.
PIN = "pin-7Qz4-Vx81"


class Recorder(UserInteraction):
    """A person who answers PIN prompts with ``pin`` and notes every prompt and message."""

    def __init__(self, pin: str | None = PIN) -> None:
        self.pin = pin
        self.events: list[str] = []

    def prompt_up(self) -> None:
        self.events.append("touch")

    def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
        self.events.append("pin")
        return self.pin

    def request_uv(self, permissions: Any, rp_id: str | None) -> bool:
        self.events.append("uv")
        return True

    def notify(self, message: str) -> None:
        self.events.append(message)


def new_key(pin: str | None = PIN, **settings: Any) -> SoftAuthenticator:
    """A software key; the PIN is set through fido2's ClientPin (the setPIN command)."""
    key = SoftAuthenticator(**settings)
    if pin is not None:
        ClientPin(Ctap2(key)).set_pin(pin)
    return key
