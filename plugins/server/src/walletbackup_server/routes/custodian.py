"""The tenant's custodian node (its MPC node) fetches a custodian share.

Only the tenant's custodian credential reaches this route: a device token gets 403 (the
custodian share goes to the node, or to the device through eject), and the user and wallet
are looked up within the credential's own tenant.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walletbackup import protocol
from walletbackup_server import keys, wire
from walletbackup_server.errors import ApiError
from walletbackup_server.service import service

from .wallets import MAX_KEY_BYTES


async def custodian_share(request: Request) -> Response:
    svc = service(request)
    principal = await svc.caller(request, "custodian")
    user = wire.user_id(request.path_params["u"])
    await svc.limit(request, "custodian_share", principal.tenant, user)
    wallet_id = wire.wallet_id(request.path_params["w"])
    revision = wire.revision(request.path_params["r"])
    key = keys.wallet_key(principal.tenant, user, wallet_id)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError("not_found", f"there is no backup for wallet {wallet_id!r}")
    released = await svc.call(svc.custodian.release, key, revision)
    return JSONResponse(protocol.to_json(dataclasses.replace(released, wallet_id=wallet_id)))


ROUTES = [
    Route(
        "/v1/users/{u}/wallets/{w:path}/revisions/{r}/custodian-share",
        custodian_share,
        methods=["GET"],
    ),
]
