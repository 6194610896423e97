"""How the passkey method talks to the person: PIN and touch prompts, progress notes.

Imported only when a ceremony runs (it needs fido2). :class:`TerminalInteraction` is the default:
it prompts on the terminal through click (the PIN without echo) and writes notes to stderr.
Pass ``user_interaction=`` any ``fido2.client.UserInteraction`` to prompt another way; one with a
``notify(message)`` method also receives the notes (such as the URL of the browser page).
"""

from __future__ import annotations

from typing import Any

import click
from fido2.client import UserInteraction


class TerminalInteraction(UserInteraction):
    """Prompts on the terminal: the PIN hidden, touch and browser notes on stderr."""

    def notify(self, message: str) -> None:
        click.echo(message, err=True)

    def prompt_up(self) -> None:
        self.notify("Touch your security key now.")

    def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
        try:
            pin: str = click.prompt(
                "PIN of your security key (empty to cancel)",
                hide_input=True,
                default="",
                show_default=False,
                err=True,
            )
        except click.Abort:  # Ctrl-C, or no terminal to read from: the request is cancelled
            return None
        return pin or None

    def request_uv(self, permissions: Any, rp_id: str | None) -> bool:
        self.notify("Verify yourself on your security key (fingerprint or PIN pad).")
        return True


class Session(UserInteraction):
    """One method instance's interaction: asks the PIN once and reuses it for every request.

    Enrollment makes two requests (create, then evaluate the PRF) and a wallet with several
    passkeys may need one per stanza; the person types the PIN once. The PIN lives only in this
    object's memory and is forgotten as soon as the key rejects it.
    """

    def __init__(self, inner: UserInteraction, pin: str | None) -> None:
        self._inner = inner
        self._pin = pin

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"  # never the PIN

    def notify(self, message: str) -> None:
        notify = getattr(self._inner, "notify", None)
        if callable(notify):
            notify(message)

    def prompt_up(self) -> None:
        self._inner.prompt_up()

    def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
        if self._pin is None:
            self._pin = self._inner.request_pin(permissions, rp_id)
        return self._pin

    def request_uv(self, permissions: Any, rp_id: str | None) -> bool:
        return self._inner.request_uv(permissions, rp_id)

    def forget_pin(self) -> None:
        self._pin = None
