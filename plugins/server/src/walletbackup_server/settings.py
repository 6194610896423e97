"""The service's settings: what ``create_app`` takes, with the defaults the plan fixes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from walletbackup.errors import PolicyViolation

from .auth import MAX_TTL, MIN_TTL
from .ratelimit import DEFAULT_LIMITS, GroupLimits, networks

DEFAULT_TOKEN_TTL = 15 * 60
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """``token_ttl_seconds``: a user token's life when the backend does not ask for one;
    ``max_body_bytes``: the largest request body (larger: 413 ``too_large``);
    ``rate_limits``: each rate-limit group's limits (:mod:`walletbackup_server.ratelimit`);
    ``trusted_proxies``: addresses or networks whose ``X-Forwarded-For`` is believed."""

    token_ttl_seconds: int = DEFAULT_TOKEN_TTL
    max_body_bytes: int = MAX_BODY
    rate_limits: Mapping[str, GroupLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    trusted_proxies: tuple[str, ...] = ()

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


__all__ = ["DEFAULT_TOKEN_TTL", "MAX_BODY", "Settings"]
