"""Whether a USB security key is plugged in, without importing fido2 when none can be.

``walletbackup methods`` asks every time it lists the methods. On Linux fido2 finds keys among
the ``/dev/hidraw*`` nodes; with none there is nothing it could find, so importing fido2 (tens of
milliseconds) to learn that is skipped. Elsewhere, and whenever such nodes exist, fido2 decides.
"""

from __future__ import annotations

import glob
import sys


def key_connected() -> bool:
    """Whether a USB security key is plugged in (lists devices without opening them)."""
    if sys.platform == "linux" and not glob.glob("/dev/hidraw*"):
        return False
    from fido2.hid import list_descriptors  # noqa: PLC0415 - heavy, only when a key may be there

    try:
        return bool(list_descriptors())  # type: ignore[no-untyped-call]  # fido2 leaves it untyped
    except OSError:
        return False


__all__ = ["key_connected"]
