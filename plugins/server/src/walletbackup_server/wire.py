"""What a request carries, checked before anything runs: its body (size-limited JSON) and path.

Every check fails with ``malformed`` (400), or ``too_large`` (413) for a body over the limit,
which is enforced while the body is read, so a huge body is never held in memory.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import ClientDisconnect, Request

from walletbackup.device import inputs
from walletbackup.errors import PolicyViolation

from .auth import is_user_id
from .errors import ApiError, malformed

MAX_REVISION = 2**63
_DIGITS = re.compile(r"[0-9]{1,19}")
_HEX = re.compile(r"[0-9a-f]+")


async def read_json(request: Request, limit: int) -> Any:
    """The request's body as JSON (at most ``limit`` bytes)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
    except ClientDisconnect:
        # The client gave up before its body was read (a request that waited for a database
        # that was down): an incomplete request, not the service's error. Nobody reads the
        # answer; the access log and the metrics say 400, not 500.
        raise malformed("the client closed the connection before the body ended") from None
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise malformed("the body is not valid JSON") from None


async def read_object(request: Request, limit: int, fields: dict[str, type]) -> dict[str, Any]:
    """A JSON object with exactly the ``fields`` given (name → type), each required."""
    data = await read_json(request, limit)
    if not isinstance(data, dict) or set(data) != set(fields):
        names = ", ".join(sorted(fields)) or "none"
        raise malformed(f"the body must be a JSON object with the fields: {names}")
    for name, kind in fields.items():
        if type(data[name]) is not kind:
            raise malformed(f"{name} must be a {kind.__name__}")
    return data


def wallet_id(raw: str) -> str:
    """A wallet id from the path, by the device's own rules."""
    try:
        return inputs.wallet_id(raw)
    except PolicyViolation as exc:
        raise malformed(str(exc)) from None


def revision(raw: str) -> int:
    """A revision number from the path: an integer from 1 below 2**63."""
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) < MAX_REVISION:
        raise malformed("a revision is an integer from 1 below 2**63")
    return int(raw)


def user_id(raw: str) -> str:
    if not is_user_id(raw):
        raise malformed("a user id is 1 to 128 of the characters A-Z a-z 0-9 . _ @ + -")
    return raw


def hex_id(value: str, size: int, name: str) -> str:
    """``value`` as lowercase hex of ``size`` bytes."""
    if len(value) != 2 * size or not _HEX.fullmatch(value):
        raise malformed(f"{name} must be {size} bytes in lowercase hex")
    return value


def _too_large(limit: int) -> ApiError:
    return ApiError("too_large", f"the body is larger than {limit} bytes")


__all__ = ["MAX_REVISION", "hex_id", "read_json", "read_object", "revision", "user_id", "wallet_id"]
