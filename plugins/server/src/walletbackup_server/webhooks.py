"""Signed webhook requests: how the service signs them, and how a tenant's backend checks them.

Every request the service sends to a tenant's webhook is a JSON body with a random
``event_id``, signed with the tenant's webhook secret (``walletbackup server set-webhook``):

- ``X-Walletbackup-Timestamp``: unix seconds when it was signed;
- ``X-Walletbackup-Signature``: ``v1=`` and the hex HMAC-SHA256 under the secret (its text as
  printed, ASCII) of ``timestamp + "." + body``.

:func:`verify_request` is the receiving side, for the tenant's backend: it refuses a wrong
signature, a timestamp too far from now, and an ``event_id`` it has seen (a replay). It uses
only the standard library and the core's error base class.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Container, Mapping
from typing import Any, Protocol

from walletbackup.errors import WalletBackupError

TIMESTAMP_HEADER = "X-Walletbackup-Timestamp"
SIGNATURE_HEADER = "X-Walletbackup-Signature"
SECRET_PREFIX = "wbw_"  # noqa: S105 - the prefix naming a webhook secret, not one
#: How far a request's timestamp may be from the receiver's clock by default.
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")


class SeenEvents(Container[str], Protocol):
    """Where a receiver remembers the event ids it accepted (a ``set``, or one in a database)."""

    def add(self, event_id: str) -> None: ...


class WebhookRejected(WalletBackupError):
    """A webhook request that is not to be acted on; ``reason`` says why, in one word:
    ``signature`` (missing or wrong), ``stale`` (timestamp outside the tolerance), ``replay``
    (its event id was seen) or ``malformed`` (not a JSON object with an ``event_id``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Walletbackup-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode("ascii"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """The two signature headers for ``body``, signed now (or at unix time ``at``)."""
    timestamp = str(int(time.time() if at is None else at))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify_request(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    seen: SeenEvents,
) -> dict[str, Any]:
    """The request's JSON body, once its signature, timestamp and event id check out.

    ``headers`` as received (names in any case); ``body`` the exact bytes received; ``seen``
    the event ids accepted so far: the event id is added to it when the request is accepted.
    Raises :class:`WebhookRejected` otherwise. Keep event ids at least ``tolerance_seconds``:
    an older replay is already refused for its timestamp.
    """
    found = {name.lower(): value for name, value in headers.items()}
    timestamp = found.get(TIMESTAMP_HEADER.lower(), "")
    given = found.get(SIGNATURE_HEADER.lower(), "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookRejected("signature", f"the request has no valid {TIMESTAMP_HEADER}")
    expected = signature(secret, timestamp, body).encode("ascii")
    # Several signatures may be sent while a secret is replaced; any one that matches will do.
    candidates = [part.strip() for part in given.split(",")]
    if not any(
        _SIGNATURE.fullmatch(c) and hmac.compare_digest(c.encode("ascii"), expected)
        for c in candidates
    ):
        raise WebhookRejected("signature", "the request's signature is not valid")
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        raise WebhookRejected(
            "stale", f"the request was signed more than {tolerance_seconds} s from now"
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("event_id"), str):
        raise WebhookRejected("malformed", "the body is not a JSON object with an event_id")
    if data["event_id"] in seen:
        raise WebhookRejected("replay", "this event was received already")
    seen.add(data["event_id"])
    return data


__all__ = [
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SeenEvents",
    "WebhookRejected",
    "signature",
    "signed_headers",
    "verify_request",
]
