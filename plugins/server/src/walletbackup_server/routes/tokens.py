"""The tenant's backend mints user tokens; anyone authenticated asks who it is."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walletbackup_server import auth
from walletbackup_server.errors import malformed
from walletbackup_server.service import service
from walletbackup_server.wire import read_json


async def mint_token(request: Request) -> Response:
    svc = service(request)
    principal = await svc.caller(request, "backend")
    data = await read_json(request, svc.settings.max_body_bytes)
    user, ttl = _token_request(data, svc.settings.token_ttl_seconds)
    issued = await svc.call(svc.tenants.mint_token, principal.tenant, user, ttl)
    return JSONResponse({"token": issued.secret, "expires_at": issued.expires_at}, 201)


async def me(request: Request) -> Response:
    principal = await service(request).caller(request)
    return JSONResponse(
        {"tenant": principal.tenant, "role": principal.role, "user": principal.user}
    )


def _token_request(data: Any, default_ttl: int) -> tuple[str, int]:
    if not isinstance(data, dict) or "user" not in data or set(data) - {"user", "ttl_seconds"}:
        raise malformed('the body is {"user": ID} with an optional "ttl_seconds"')
    if not auth.is_user_id(data["user"]):
        raise malformed("a user id is 1 to 128 of the characters A-Z a-z 0-9 . _ @ + -")
    ttl = data.get("ttl_seconds", default_ttl)
    if type(ttl) is not int or not auth.MIN_TTL <= ttl <= auth.MAX_TTL:
        raise malformed(f"ttl_seconds is an integer from {auth.MIN_TTL} to {auth.MAX_TTL}")
    return data["user"], ttl


ROUTES = [
    Route("/v1/tokens", mint_token, methods=["POST"]),
    Route("/v1/me", me, methods=["GET"]),
]
