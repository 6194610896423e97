"""The ``multipart/related`` body of a Drive multipart upload: JSON metadata, then the bytes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

#: Tries before giving up on finding a boundary absent from the content (random ones never clash).
_BOUNDARY_TRIES = 16


def random_boundary() -> str:
    return f"walletbackup-{secrets.token_hex(16)}"


def encode_related(
    metadata: Mapping[str, Any],
    data: bytes,
    new_boundary: Callable[[], str] = random_boundary,
) -> tuple[bytes, str]:
    """The request body and its Content-Type.

    The boundary is checked to occur nowhere in either part (RFC 2046 requires it), so binary
    content can never end a part early, whatever bytes it holds.
    """
    meta = json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=True).encode()
    for _ in range(_BOUNDARY_TRIES):
        boundary = new_boundary()
        marker = boundary.encode("ascii")
        if marker not in meta and marker not in data:
            break
    else:
        raise ValueError("no multipart boundary absent from the content could be found")
    body = b"".join(
        [
            b"--",
            marker,
            b"\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
            meta,
            b"\r\n--",
            marker,
            b"\r\nContent-Type: application/octet-stream\r\n\r\n",
            data,
            b"\r\n--",
            marker,
            b"--\r\n",
        ]
    )
    return body, f"multipart/related; boundary={boundary}"


__all__ = ["encode_related", "random_boundary"]
