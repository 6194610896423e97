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

#: Every event ``type`` (documented in the ``audit_event`` hookspec and docs/hooks.md).
DEVICE_EVENTS = (
    "backup",
    "recover",
    "verify",
    "add_method",
    "remove_method",
    "confirm",
    "rewrap_custodian",
    "forget",
)
OPERATOR_EVENTS = ("rotate_kms", "retire_kms")
#: What a health check found that the wallet's owner should act on.
HEALTH_EVENTS = ("material_missing", "verification_due")
#: What the custodian service records itself (walletbackup-server's eject): never taken from a
#: device's report.
SERVICE_EVENTS = ("eject_prepare", "eject_cancel", "eject")
EVENT_TYPES = DEVICE_EVENTS + OPERATOR_EVENTS + HEALTH_EVENTS + SERVICE_EVENTS


@contextmanager
def audited(
    custodian: CustodianApi, kind: str, wallet_id: str | None, **fields: Any
) -> Iterator[dict[str, Any]]:
    """Record ``kind`` (for ``wallet_id``, unless ``None``) when the block ends: ``ok``, or
    ``failed`` and why. The block may add public fields to the event it is given."""
    event = _event(kind, wallet_id, fields)
    try:
        yield event
    except BaseException as exc:
        custodian.audit(event | {"outcome": "failed", "error": type(exc).__name__, "at": now()})
        raise
    custodian.audit(event | {"outcome": "ok", "at": now()})


def record(custodian: CustodianApi, kind: str, wallet_id: str, outcome: str, **fields: Any) -> None:
    """Record one event that is not an operation (what a health check found)."""
    custodian.audit(_event(kind, wallet_id, fields) | {"outcome": outcome, "at": now()})


def _event(kind: str, wallet_id: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    if kind not in EVENT_TYPES:
        # A new event type must be documented first: docs/hooks.md and the hookspec list them.
        raise ValueError(f"unknown audit event type {kind!r}")
    event: dict[str, Any] = {"type": kind}
    if wallet_id is not None:
        event["wallet_id"] = wallet_id
    return event | {k: v for k, v in fields.items() if v is not None}
