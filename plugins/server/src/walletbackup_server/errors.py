"""The service's errors: every failure is a documented status with ``{"error", "message"}``.

:class:`ApiError` is what routes raise; :func:`for_core_error` maps the core's exceptions to the
wire codes the device-side client turns back into the same exception types (docs/server.md).
Messages are the core's own (they never hold a secret) or written here.
"""

from __future__ import annotations

from collections.abc import Mapping

from walletbackup.errors import (
    BackupNotFound,
    MalformedBackup,
    PolicyViolation,
    StaleBackup,
    WalletBackupError,
)

#: Every error code and its HTTP status.
CODES: Mapping[str, int] = {
    "malformed": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "stale": 409,
    "eject_not_ready": 409,
    "too_large": 413,
    "policy": 422,
    "rate_limited": 429,
    "unavailable": 503,
}


class EjectNotReady(WalletBackupError):
    """An eject asked for before its delay has passed, or with none prepared."""


class ApiError(Exception):
    """An answer other than success: ``code`` (a key of :data:`CODES`) and a safe message."""

    def __init__(
        self, code: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = CODES[code]
        self.message = message
        self.headers = dict(headers or {})


def for_core_error(exc: WalletBackupError) -> ApiError:
    """The answer for an exception the core raised while serving a request.

    What is not the caller's doing (a store or KMS that fails, a custodian envelope that no
    longer opens, a missing KMS plugin) is ``unavailable``: an operator has to act, and the
    device keeps its previous backup meanwhile.
    """
    message = str(exc)
    if isinstance(exc, MalformedBackup):
        return ApiError("malformed", message)
    if isinstance(exc, BackupNotFound):
        return ApiError("not_found", message)
    if isinstance(exc, StaleBackup):
        return ApiError("stale", message)
    if isinstance(exc, PolicyViolation):
        return ApiError("policy", message)
    if isinstance(exc, EjectNotReady):
        return ApiError("eject_not_ready", message)
    return ApiError("unavailable", f"the custodian cannot serve this now: {message}")


def malformed(message: str) -> ApiError:
    return ApiError("malformed", message)


__all__ = ["CODES", "ApiError", "EjectNotReady", "for_core_error", "malformed"]
