"""What every route works with: the custodian, the tenants, the settings; and how it calls them.

The core is synchronous (files, SQLite, KMS calls), so every call into it runs in the
threadpool, never on the event loop; the core's exceptions become wire errors on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from walletbackup import Custodian
from walletbackup.errors import WalletBackupError

from .auth import Principal, Tenants
from .errors import ApiError, for_core_error
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


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


__all__ = ["Service", "service"]
