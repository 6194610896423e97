"""What every route works with: the custodian, the tenants, the settings; and how it calls them.

The core is synchronous (files, SQLite, KMS calls), so every call into it runs in the
threadpool, never on the event loop; the core's exceptions become wire errors on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from walletbackup import Custodian
from walletbackup.errors import WalletBackupError

from .auth import Principal, Tenants
from .errors import ApiError, for_core_error
from .observe import template
from .ratelimit import (
    KIND_SOURCE,
    KIND_USER,
    ROUTE_GROUPS,
    IPNetwork,
    RateLimiter,
    networks,
    source_address,
)
from .settings import Settings
from .state import ServerState

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Service:
    custodian: Custodian
    state: ServerState
    tenants: Tenants
    settings: Settings
    limiter: RateLimiter = field(init=False)
    proxies: tuple[IPNetwork, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.state, self.settings.rate_limits)
        self.proxies = networks(self.settings.trusted_proxies)

    async def call(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``func(*args, **kwargs)`` in the threadpool, core errors turned into wire errors."""
        try:
            return await run_in_threadpool(func, *args, **kwargs)
        except WalletBackupError as exc:
            raise for_core_error(exc) from None

    async def caller(self, request: Request, *roles: str) -> Principal:
        """The authenticated caller (401 if none), if its role is one of ``roles`` (else 403)."""
        principal = await self.call(self.tenants.authenticate, request.headers.get("authorization"))
        if roles and principal.role not in roles:
            raise ApiError(
                "forbidden", f"this route is not for the {principal.role} role", headers={}
            )
        return principal

    async def limit(self, request: Request, route: str, tenant: str, user: str) -> None:
        """Count this request of ``route`` (an operation id in ``ratelimit.ROUTE_GROUPS``)
        against its group's limits for its source address and for ``user`` of ``tenant``;
        :class:`ApiError` 429 ``rate_limited`` with ``Retry-After`` when over one."""
        client = request.scope.get("client")
        source = source_address(
            client[0] if client else None,
            request.headers.getlist("x-forwarded-for"),
            self.proxies,
        )
        keys = ((KIND_SOURCE, source), (KIND_USER, f"{tenant}/{user}"))
        group = ROUTE_GROUPS[route]
        if not self.limiter.limited(group):
            return  # nothing to count: no trip to the threadpool and the state store
        refused = await self.call(self.limiter.hit, group, keys)
        if refused is None:
            return
        request.app.state.metrics.rate_limited.labels(template(request.scope), refused.kind).inc()
        raise ApiError(
            "rate_limited",
            f"too many requests for this {refused.kind}: retry in {refused.retry_after} s",
            headers={"Retry-After": str(refused.retry_after)},
        )


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


__all__ = ["Service", "service"]
