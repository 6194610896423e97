"""How often, and how long after, a Drive request that failed for a passing reason is retried."""

from __future__ import annotations

import email.utils
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

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


__all__ = ["RetryPolicy", "retry_after_seconds"]
