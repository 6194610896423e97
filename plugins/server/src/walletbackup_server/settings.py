"""The service's settings: what ``create_app`` takes, with the defaults the plan fixes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from walletbackup.errors import PolicyViolation

from .auth import MAX_TTL, MIN_TTL
from .ratelimit import DEFAULT_LIMITS, GroupLimits, networks

DEFAULT_TOKEN_TTL = 15 * 60
MAX_BODY = 1024 * 1024
DEFAULT_EJECT_DELAY = 86_400
#: The longest eject delay: a longer one would lock a user out of their own share for good.
MAX_EJECT_DELAY = 90 * 86_400


@dataclass(frozen=True)
class Settings:
    """``token_ttl_seconds``: a user token's life when the backend does not ask for one;
    ``max_body_bytes``: the largest request body (larger: 413 ``too_large``);
    ``rate_limits``: each rate-limit group's limits (:mod:`walletbackup_server.ratelimit`);
    ``trusted_proxies``: addresses or networks whose ``X-Forwarded-For`` is believed;
    ``eject_delay_seconds``: how long after ``eject/prepare`` the eject may happen;
    ``webhook_timeout_seconds`` (per connect or read) and ``webhook_attempts`` (the first try
    included): requests to a tenant's webhook."""

    token_ttl_seconds: int = DEFAULT_TOKEN_TTL
    max_body_bytes: int = MAX_BODY
    rate_limits: Mapping[str, GroupLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    trusted_proxies: tuple[str, ...] = ()
    eject_delay_seconds: int = DEFAULT_EJECT_DELAY
    webhook_timeout_seconds: float = 10.0
    webhook_attempts: int = 3

    def __post_init__(self) -> None:
        if type(self.token_ttl_seconds) is not int or not (
            MIN_TTL <= self.token_ttl_seconds <= MAX_TTL
        ):
            raise PolicyViolation(f"token_ttl_seconds must be from {MIN_TTL} to {MAX_TTL}")
        if type(self.max_body_bytes) is not int or self.max_body_bytes < 1:
            raise PolicyViolation("max_body_bytes must be a positive integer")
        missing = set(DEFAULT_LIMITS) - set(self.rate_limits)
        if missing:
            raise PolicyViolation(f"rate_limits has no limits for {', '.join(sorted(missing))}")
        networks(self.trusted_proxies)
        if type(self.eject_delay_seconds) is not int or not (
            0 <= self.eject_delay_seconds <= MAX_EJECT_DELAY
        ):
            raise PolicyViolation(f"eject_delay_seconds must be from 0 to {MAX_EJECT_DELAY}")
        if not isinstance(self.webhook_timeout_seconds, int | float) or not (
            0 < self.webhook_timeout_seconds <= 300
        ):
            raise PolicyViolation("webhook_timeout_seconds must be above 0 and at most 300")
        if type(self.webhook_attempts) is not int or not 1 <= self.webhook_attempts <= 10:
            raise PolicyViolation("webhook_attempts must be from 1 to 10")


__all__ = ["DEFAULT_EJECT_DELAY", "DEFAULT_TOKEN_TTL", "MAX_BODY", "MAX_EJECT_DELAY", "Settings"]
