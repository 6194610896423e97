"""Eject: the device takes the custodian share itself, a delay after it asked (``prepare``).

Only the wallet's own device token reaches these routes (another user's wallet is not there:
404). :mod:`walletbackup_server.eject` keeps the requests, audits and announces each step.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walletbackup import protocol
from walletbackup_server import wire
from walletbackup_server.eject import Ejects

from .wallets import wallet


async def prepare(request: Request) -> Response:
    svc, _, key = await wallet(request, limit="eject_prepare")
    await wire.read_object(request, svc.settings.max_body_bytes, {})
    answer = await svc.call(_ejects(request).prepare, key)
    return JSONResponse(answer, 202)


async def eject(request: Request) -> Response:
    svc, wallet_id, key = await wallet(request, limit="eject")
    await wire.read_object(request, svc.settings.max_body_bytes, {})
    released = await svc.call(_ejects(request).eject, key)
    return JSONResponse(protocol.to_json(dataclasses.replace(released, wallet_id=wallet_id)))


async def cancel(request: Request) -> Response:
    svc, _, key = await wallet(request, limit="eject_cancel")
    await svc.call(_ejects(request).cancel, key)
    return Response(status_code=204)


def _ejects(request: Request) -> Ejects:
    found: Ejects = request.app.state.ejects
    return found


ROUTES = [
    Route("/v1/wallets/{w:path}/eject/prepare", prepare, methods=["POST"]),
    Route("/v1/wallets/{w:path}/eject", eject, methods=["POST"]),
    Route("/v1/wallets/{w:path}/eject", cancel, methods=["DELETE"]),
]
