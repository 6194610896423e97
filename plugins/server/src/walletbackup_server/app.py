"""The ASGI app: Starlette routes around one core :class:`Custodian`.

Every answer that is not a success is JSON ``{"error", "message"}`` with a documented status,
including the router's own 404 and 405. An exception nothing expected is logged and answered
500 ``internal``: that is a bug (the tests fuzz the API to show there is none).
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from walletbackup import Custodian
from walletbackup.retry import RetryPolicy
from walletbackup.stores import Store

from .auditchain import ChainedStore, ChainKey
from .auth import Tenants
from .delivery import Delivery
from .eject import Ejects
from .errors import ApiError
from .keeper import WebhookKeeper
from .metrics import Metrics
from .observe import Observe
from .openapi import document
from .routes import ROUTES
from .service import Service
from .settings import Settings
from .state import ServerState
from .tenant_webhooks import TenantWebhooks

log = logging.getLogger("walletbackup.server")


def create_app(
    custodian: Custodian, state: Store | ServerState, *, settings: Settings | None = None
) -> Starlette:
    """The service for ``custodian``, keeping tenants and credentials in ``state``.

    The custodian's store is wrapped (once) in a :class:`ChainedStore`: every audit record it
    writes from now on is chained, its chain key wrapped by the custodian's KMS in ``state``.
    Unless ``custodian`` has an envelope keeper already, it gets the tenants' webhooks as one:
    a self-managed wallet's custodian envelope goes to its tenant's backend, when the tenant has
    a webhook (docs/server.md).
    """
    server_state = state if isinstance(state, ServerState) else ServerState(state)
    settings = settings or Settings()
    if not isinstance(custodian.store, ChainedStore):
        key = ChainKey(server_state, custodian.kms)
        custodian.store = ChainedStore(custodian.store, server_state, key)
    metrics = Metrics()
    custodian.store.lost = metrics.audit_lost.inc  # the newest app counts what is lost
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(Observe, metrics=metrics)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    # /v1/me/ is not /v1/me: no redirects that would carry a credential to another URL.
    app.router.redirect_slashes = False
    app.state.service = Service(custodian, server_state, Tenants(server_state), settings)
    webhooks = TenantWebhooks(server_state, custodian.kms)
    delivery = Delivery(
        settings.webhook_timeout_seconds, RetryPolicy(attempts=settings.webhook_attempts)
    )
    if custodian.keeper is None:
        custodian.keeper = WebhookKeeper(webhooks, delivery)
    app.state.ejects = Ejects(
        custodian, server_state, webhooks, delivery, settings.eject_delay_seconds
    )
    app.state.metrics = metrics
    app.state.openapi = document()
    return app


def error_response(error: ApiError) -> Response:
    return JSONResponse(
        {"error": error.code, "message": error.message},
        error.status,
        headers=error.headers,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError("method_not_allowed", "this route does not take that method")
        error.headers.update(exc.headers or {})
        return error_response(error)
    return error_response(ApiError("not_found", "there is no such route"))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error answering a request", exc_info=exc)
    return JSONResponse({"error": "internal", "message": "internal error"}, 500)


__all__ = ["create_app", "error_response"]
