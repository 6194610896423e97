"""Google's endpoints and scope, and the rule for overriding them (stdlib only: imported early)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

DEFAULT_API_ROOT = "https://www.googleapis.com"
DEFAULT_REVOKE_URI = "https://oauth2.googleapis.com/revoke"
#: The only scope the method asks for: the app's own hidden folder, nothing else in Drive.
SCOPE = "https://www.googleapis.com/auth/drive.appdata"
#: Full Drive access also reaches the app's folder; accepted, never requested.
FULL_DRIVE_SCOPE = "https://www.googleapis.com/auth/drive"


def check_url(url: object, what: str) -> str:
    """``url`` if it is https, or plain http to this machine (a test fake); else ValueError.

    Bearer tokens and refresh tokens travel to these URLs, so never in clear over a network.
    """
    if not isinstance(url, str):
        raise TypeError(f"gdrive: {what} must be a URL string")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise ValueError(
        f"gdrive: {what} must be an https:// URL (or http:// to this machine), not {url!r}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["DEFAULT_API_ROOT", "DEFAULT_REVOKE_URI", "FULL_DRIVE_SCOPE", "SCOPE", "check_url"]
