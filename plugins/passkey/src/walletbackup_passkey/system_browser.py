"""The browser ``webbrowser.open`` would start, and whether it can run the passkey page.

Python's webbrowser chooses: the commands named in ``$BROWSER`` first, then the graphical
browsers it finds (when there is a display), then text-mode ones (when there is a terminal).
Every browser it would use counts, except the text-mode browsers it knows, which have no
WebAuthn. A command the person named in ``$BROWSER`` (a wrapper script, a browser installed
somewhere unusual) counts: they have said it is their browser.
"""

from __future__ import annotations

import os
import webbrowser
from dataclasses import dataclass

#: The text-mode browsers webbrowser registers for a terminal (and links2): no WebAuthn.
TEXT_MODE = frozenset({"www-browser", "links", "links2", "elinks", "lynx", "w3m"})


@dataclass(frozen=True)
class SystemBrowser:
    name: str
    text_mode: bool


def system_browser() -> SystemBrowser | None:
    """The browser webbrowser would use first; None when it knows none."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return None
    name = str(getattr(browser, "name", "") or "")
    # A $BROWSER entry may be a whole command line ("w3m -N %s"): its first word is the program.
    words = name.split()
    program = os.path.basename(words[0]).lower() if words else ""
    return SystemBrowser(name or "default browser", program in TEXT_MODE)


__all__ = ["TEXT_MODE", "SystemBrowser", "system_browser"]
