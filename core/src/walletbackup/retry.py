"""Retrying a remote call that failed for a passing reason: bounded, with backoff and jitter.

Methods that keep key material with a service (a cloud drive, a key server) retry its passing
failures (HTTP 429 and 5xx, a dropped or hung connection) the same way, and give up the same
way: with :class:`RetriesExhausted`, which says what was tried, how often and what went wrong.

An action signals a passing failure by raising :class:`Transient`, or the caller's ``transient``
function recognises one among the exceptions of its client library. walletbackup errors are
never retried: they are final answers.
"""

from __future__ import annotations

import email.utils
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from .errors import StorageError, WalletBackupError

log = logging.getLogger("walletbackup.retry")
T = TypeVar("T")

# Jitter only spreads clients out in time; it needs no secrecy, but `random` is banned project-wide.
_jitter = secrets.SystemRandom()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, honouring ``Retry-After``.

    ``attempts`` counts every try of one request (the first included). Before retry *n* the
    client waits the server's ``Retry-After`` when it sent one, else a random time between half
    and all of ``min(max_delay, base_delay * 2 ** (n - 1))``. A ``Retry-After`` longer than
    ``max_retry_after`` ends the retries at once rather than block for that long. ``sleep`` is
    what waits (tests pass one that records instead of waiting).
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], object] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool):
            raise TypeError("RetryPolicy.attempts must be an int")
        if not 1 <= self.attempts <= 20:
            raise ValueError("RetryPolicy.attempts must be 1 to 20")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ValueError(f"RetryPolicy.{name} must be a finite number of seconds >= 0")
        if not callable(self.sleep):
            raise TypeError("RetryPolicy.sleep must be callable")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first) without Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling / 2 + _jitter.uniform(0, ceiling / 2)


class Transient(Exception):
    """A passing failure, worth another try: ``detail`` says what happened (never a secret)."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        #: Seconds the service asked to wait (its ``Retry-After``), if it said.
        self.retry_after = retry_after


class RetriesExhausted(StorageError):
    """A remote call failed for passing reasons until the retries ran out (or the wait asked for
    was too long). A :class:`StorageError`: the service holding the data failed, and nothing
    needs installing or signing in again; trying later may well work.
    """

    def __init__(self, service: str, action: str, detail: str, attempts: int) -> None:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        super().__init__(f"{service} could not {action}: {detail} ({tries}); try again later")
        self.service = service
        self.action = action
        self.detail = detail
        self.attempts = attempts


def call_with_retries(
    policy: RetryPolicy,
    service: str,
    action: str,
    attempt: Callable[[int], T],
    *,
    transient: Callable[[Exception], Transient | None] | None = None,
) -> T:
    """``attempt(n)`` for n = 1, 2, ... until it returns, under ``policy``.

    ``service`` and ``action`` name the call in messages ("Google Drive could not upload the key
    file: ..."). An exception is retried when it is a :class:`Transient`, or ``transient(exc)``
    returns one for it (it may also raise the final error itself); anything else propagates.
    """
    number = 1
    while True:
        try:
            return attempt(number)
        except WalletBackupError:
            raise
        except Exception as exc:
            problem = exc if isinstance(exc, Transient) else transient(exc) if transient else None
            if problem is None:
                raise
            if number >= policy.attempts:
                # from None: the cause may be a client library's exception quoting a response.
                raise RetriesExhausted(service, action, problem.detail, number) from None
            delay = problem.retry_after
            if delay is None:
                delay = policy.backoff(number)
            elif delay > policy.max_retry_after:
                detail = f"{problem.detail}, and asks to wait {delay:.0f} s before trying again"
                raise RetriesExhausted(service, action, detail, number) from None
            log.warning(
                "%s could not %s (%s); trying again in %.1f s (attempt %d of %d)",
                service,
                action,
                problem.detail,
                delay,
                number + 1,
                policy.attempts,
            )
            policy.sleep(delay)
            number += 1


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay-seconds or an HTTP date; None when absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an offset-less one is read that way
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


__all__ = [
    "RetriesExhausted",
    "RetryPolicy",
    "Transient",
    "call_with_retries",
    "retry_after_seconds",
]
