"""Operations routes, open to anyone: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walletbackup.errors import WalletBackupError
from walletbackup_server.service import service
from walletbackup_server.state import PROBE_KEY

#: The most a readiness probe waits for one of its checks (seconds).
READY_TIMEOUT = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the wallet store, the server's own store and the KMS each answer a read."""
    svc = service(request)
    # At once, and each within READY_TIMEOUT: a database that is down makes a store wait for a
    # connection (its pool's timeout, 30 s) longer than a load balancer waits for the answer.
    store, state, kms = await asyncio.gather(
        _answers(lambda: svc.custodian.store.load(PROBE_KEY)),
        _answers(svc.state.probe),
        _answers(svc.custodian.kms.key_info),
    )
    checks = {"store": store, "state": state, "kms": kms}
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, 200 if ready else 503)


async def metrics(request: Request) -> Response:
    found = request.app.state.metrics
    return Response(found.render(), media_type=found.content_type)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


async def _answers(probe: Callable[[], object]) -> str:
    """``"ok"``, or why not (the error's class: a message could name a host or a path)."""
    try:
        await asyncio.wait_for(run_in_threadpool(probe), READY_TIMEOUT)
    except WalletBackupError as exc:
        return type(exc).__name__
    except TimeoutError:
        return "timeout"
    return "ok"


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
