"""The service's routes, one module per area; :data:`ROUTES` is all of them, in matching order."""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import custodian, eject, ops, tokens, wallets

ROUTES: list[BaseRoute] = [
    *ops.ROUTES,
    *tokens.ROUTES,
    *eject.ROUTES,
    *wallets.ROUTES,
    *custodian.ROUTES,
]

__all__ = ["ROUTES"]
