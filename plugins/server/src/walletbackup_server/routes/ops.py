"""Operations routes, open to anyone: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walletbackup.errors import WalletBackupError
from walletbackup_server.service import service
from walletbackup_server.state import PROBE_KEY


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the wallet store, the server's own store and the KMS each answer a read."""
    svc = service(request)
    checks = {
        "store": await _answers(lambda: svc.custodian.store.load(PROBE_KEY)),
        "state": await _answers(svc.state.probe),
        "kms": await _answers(svc.custodian.kms.key_info),
    }
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
        await run_in_threadpool(probe)
    except WalletBackupError as exc:
        return type(exc).__name__
    return "ok"


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
