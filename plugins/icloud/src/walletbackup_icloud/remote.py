"""Talking to iCloud: bounded retries with backoff, and pyicloud's errors turned into ours.

Transient failures (HTTP 429 and 5xx, a refused or dropped connection, a timeout) are retried
a bounded number of times; everything else becomes a typed walletbackup error at once. Messages
never quote pyicloud's exception text: it can carry Apple's response body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from walletbackup.errors import MethodUnavailable, StorageError, WalletBackupError

from .accounts import LOGIN_COMMAND

log = logging.getLogger(__name__)
T = TypeVar("T")

#: pyicloud's message when iCloud will not hand web sessions the keys to the account's data.
_PCS_ACCESS_ERROR = "Unable to request PCS access!"
ADVANCED_DATA_PROTECTION = (
    "iCloud Drive is closed to web sign-ins for this Apple ID; with Advanced Data Protection "
    "on, turn on 'Access iCloud Data on the Web' (Settings > your name > iCloud on an iPhone or "
    "iPad, System Settings on a Mac), approve the prompt on your device, then try again"
)
_SIGN_IN_STATUSES = frozenset({401, 421, 450})


class TryAgain(Exception):
    """Raised inside a retried action: a transient condition worth another attempt."""


@dataclass(frozen=True)
class Remote:
    """How many times to try, how to wait, and which error means "sign in again"."""

    attempts: int
    sleep: Callable[[float], Any]
    sign_in_again: Callable[[], WalletBackupError]
    first_delay: float = 0.5
    max_delay: float = 8.0

    def call(self, doing: str, action: Callable[[], T]) -> T:
        """Run ``action``; retry transient failures with exponential backoff, then give up."""
        attempt = 1
        while True:
            try:
                return action()
            except WalletBackupError:
                raise
            except Exception as exc:
                trouble = self._transient(exc, doing)
                if trouble is None:
                    raise
                if attempt >= self.attempts:
                    raise MethodUnavailable(
                        f"iCloud {trouble} on all {self.attempts} attempts while {doing}; "
                        "try again later"
                    ) from exc
                delay = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
                log.info("iCloud %s while %s; retrying in %.1f s", trouble, doing, delay)
                self.sleep(delay)
                attempt += 1

    def _transient(self, exc: Exception, doing: str) -> str | None:
        """What went wrong, when worth a retry; raises the final error when not; None if unknown."""
        import requests  # noqa: PLC0415 - comes with pyicloud, imported on first use
        from pyicloud import exceptions as px  # type: ignore[import-untyped]  # noqa: PLC0415

        if isinstance(exc, TryAgain):
            return str(exc)
        if isinstance(exc, px.PyiCloudFailedLoginException):
            trouble = unanswered_login(exc)
            if trouble is not None:
                return trouble
        if isinstance(exc, px.PyiCloudException):
            final = self._final(exc, px)
            if final is not None:
                raise final from exc
        if isinstance(exc, px.PyiCloudAPIResponseException):
            status = _status(exc.code)
            if status in _SIGN_IN_STATUSES:
                raise self.sign_in_again() from exc
            if status is not None and _retryable(status):
                return f"answered HTTP {status}"
            if status is not None:
                raise StorageError(
                    f"iCloud Drive refused a request (HTTP {status}) while {doing}"
                ) from exc
        trouble = _connection_trouble(exc, requests)
        if trouble is not None:
            return trouble
        if isinstance(exc, px.PyiCloudAPIResponseException):
            raise StorageError(f"an iCloud Drive request failed while {doing}") from exc
        if isinstance(exc, KeyError | IndexError | ValueError):
            raise StorageError(f"iCloud Drive gave an unexpected answer while {doing}") from exc
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
            return f"answered HTTP {status}"
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
            return "did not answer in time"
        if isinstance(link, requests.exceptions.ChunkedEncodingError):
            return "dropped the connection mid-answer"
        if isinstance(link, requests.ConnectionError):
            return "could not be reached (connection failed or dropped)"
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


__all__ = ["ADVANCED_DATA_PROTECTION", "Remote", "TryAgain", "bound_requests", "unanswered_login"]
