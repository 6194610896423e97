"""Talking to iCloud: bounded retries with backoff, and pyicloud's errors turned into ours.

Transient failures (HTTP 429 and 5xx, a refused or dropped connection, a timeout) are retried
under a :class:`walletbackup.retry.RetryPolicy`, then end in ``RetriesExhausted``; everything
else becomes a typed walletbackup error at once. Messages never quote pyicloud's exception text:
it can carry Apple's response body.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from walletbackup.errors import MethodUnavailable, StorageError, WalletBackupError
from walletbackup.retry import RetryPolicy, Transient, call_with_retries

from .accounts import LOGIN_COMMAND

T = TypeVar("T")

#: pyicloud's message when iCloud will not hand web sessions the keys to the account's data.
_PCS_ACCESS_ERROR = "Unable to request PCS access!"
ADVANCED_DATA_PROTECTION = (
    "iCloud Drive is closed to web sign-ins for this Apple ID; with Advanced Data Protection "
    "on, turn on 'Access iCloud Data on the Web' (Settings > your name > iCloud on an iPhone or "
    "iPad, System Settings on a Mac), approve the prompt on your device, then try again"
)
_SIGN_IN_STATUSES = frozenset({401, 421, 450})


@dataclass(frozen=True)
class Remote:
    """How to retry iCloud requests, and which error means "sign in again"."""

    policy: RetryPolicy
    sign_in_again: Callable[[], WalletBackupError]

    def call(self, action: str, call: Callable[[], T]) -> T:
        """Run ``call`` (it does what ``action`` says); retry passing failures, then give up."""
        return call_with_retries(
            self.policy,
            "iCloud",
            action,
            lambda _: call(),
            transient=lambda exc: self._transient(exc, action),
        )

    def single_try(self) -> Remote:
        """The same, with no retries (for clean-up after a failure: one try, then move on)."""
        return dataclasses.replace(self, policy=dataclasses.replace(self.policy, attempts=1))

    def _transient(self, exc: Exception, doing: str) -> Transient | None:
        """What went wrong, when worth a retry; raises the final error when not; None if unknown."""
        import requests  # noqa: PLC0415 - comes with pyicloud, imported on first use
        from pyicloud import exceptions as px  # type: ignore[import-untyped]  # noqa: PLC0415

        if isinstance(exc, px.PyiCloudFailedLoginException):
            trouble = unanswered_login(exc)
            if trouble is not None:
                return Transient(trouble)
        if isinstance(exc, px.PyiCloudException):
            final = self._final(exc, px)
            if final is not None:
                raise final from exc
        if isinstance(exc, px.PyiCloudAPIResponseException):
            status = _status(exc.code)
            if status in _SIGN_IN_STATUSES:
                raise self.sign_in_again() from exc
            if status is not None and _retryable(status):
                return Transient(f"HTTP {status}")
            if status is not None:
                raise StorageError(f"iCloud Drive refused to {doing} (HTTP {status})") from exc
        trouble = _connection_trouble(exc, requests)
        if trouble is not None:
            return Transient(trouble)
        if isinstance(exc, px.PyiCloudAPIResponseException):
            raise StorageError(f"iCloud Drive could not {doing}: the request failed") from exc
        if isinstance(exc, KeyError | IndexError | ValueError):
            raise StorageError(
                f"iCloud Drive gave an unexpected answer when asked to {doing}"
            ) from exc
        return None

    def _final(self, exc: Exception, px: Any) -> WalletBackupError | None:
        """The error for pyicloud's failures that no retry fixes (None: look at the status)."""
        if isinstance(exc, px.PyiCloudAccountLockedException):
            return MethodUnavailable(
                "Apple reports this Apple ID as locked: unlock it at https://iforgot.apple.com, "
                f"then run `{LOGIN_COMMAND}`"
            )
        if isinstance(
            exc,
            px.PyiCloudFailedLoginException
            | px.PyiCloud2FARequiredException
            | px.PyiCloud2SARequiredException
            | px.PyiCloudAuthRequiredException
            | px.TokenException,
        ):
            return self.sign_in_again()
        if isinstance(exc, px.PyiCloudEndpointGoneException):
            return MethodUnavailable(
                "Apple no longer serves an iCloud Drive endpoint that pyicloud uses: upgrade "
                "walletbackup-icloud and pyicloud"
            )
        if isinstance(exc, px.PyiCloudPCSTimeoutException) or (
            isinstance(exc, px.PyiCloudAPIResponseException) and exc.reason == _PCS_ACCESS_ERROR
        ):
            return MethodUnavailable(ADVANCED_DATA_PROTECTION)
        if isinstance(exc, px.PyiCloudServiceNotActivatedException | px.PyiCloudServiceUnavailable):
            return MethodUnavailable(
                "iCloud Drive is not available for this Apple ID: turn iCloud Drive on (sign in "
                "once at https://www.icloud.com to finish setting it up) and try again"
            )
        return None


def _status(code: object) -> int | None:
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.isdigit():
        return int(code)
    return None


def unanswered_login(exc: BaseException) -> str | None:
    """pyicloud reports a session check Apple failed to answer (HTTP 5xx) as a failed login;
    the status is further down the chain of exceptions."""
    for link in _chain(exc):
        status = _status(getattr(link, "code", None))
        if status is not None and _retryable(status):
            return f"HTTP {status}"
    return None


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, nearest first."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _connection_trouble(exc: BaseException, requests: Any) -> str | None:
    """Follow the chain to a requests transport failure, if there is one."""
    for link in _chain(exc):
        if isinstance(link, requests.Timeout):
            return "no answer in time"
        if isinstance(link, requests.exceptions.ChunkedEncodingError):
            return "the connection dropped mid-answer"
        if isinstance(link, requests.ConnectionError):
            return "the connection failed or dropped"
    return None


def bound_requests(session: Any, timeout: float) -> None:
    """Give every request on this requests session a timeout (pyicloud sets none)."""
    from requests import PreparedRequest, Response  # noqa: PLC0415
    from requests.adapters import HTTPAdapter  # noqa: PLC0415

    class _Bounded(HTTPAdapter):
        def send(  # noqa: PLR0917 - the signature is requests' own
            self,
            request: PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float, float] | tuple[float, None] | None = None,
            verify: bool | str = True,
            cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
            proxies: Mapping[str, str] | None = None,
        ) -> Response:
            return super().send(
                request,
                stream=stream,
                timeout=limit if timeout is None else timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )

    limit = timeout
    for prefix in ("https://", "http://"):
        session.mount(prefix, _Bounded())


__all__ = ["ADVANCED_DATA_PROTECTION", "Remote", "bound_requests", "unanswered_login"]
