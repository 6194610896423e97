"""Audit events: one per operation, success or failure, recorded by the custodian.

An event is JSON-safe and never holds a secret: the operation, the wallet, the mode, the
outcome, the error class on failure, and a few public fields (the method, a revision).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .protocol import CustodianApi
from .state import now


@contextmanager
def audited(custodian: CustodianApi, kind: str, wallet_id: str, **fields: Any) -> Iterator[None]:
    """Record ``kind`` for ``wallet_id`` when the block ends: ``ok``, or ``failed`` and why."""
    event: dict[str, Any] = {
        "type": kind,
        "wallet_id": wallet_id,
        **{k: v for k, v in fields.items() if v is not None},
    }
    try:
        yield
    except BaseException as exc:
        custodian.audit(event | {"outcome": "failed", "error": type(exc).__name__, "at": now()})
        raise
    custodian.audit(event | {"outcome": "ok", "at": now()})
