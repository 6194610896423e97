"""The device's routes: one user's wallets, through the custodian's protocol methods.

A device token reaches only the wallets under its own tenant and user (the key is built from
the token, never from the request), so another user's wallet is simply not there: 404, the
same answer as a wallet that does not exist. Bodies carry the device's own wallet id; the
service maps it to its internal key and back.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walletbackup import protocol
from walletbackup.errors import MalformedBackup
from walletbackup.protocol import Proposal
from walletbackup_server import checks, keys, wire
from walletbackup_server.auth import Principal
from walletbackup_server.errors import ApiError, malformed
from walletbackup_server.service import Service, service

#: The envelope format's bound on a wallet id, which the internal key must also meet.
MAX_KEY_BYTES = 128


async def list_wallets(request: Request) -> Response:
    svc = service(request)
    principal = await svc.caller(request, "device")
    prefix = keys.user_prefix(principal.tenant, _user(principal))
    found = await svc.call(lambda: list(svc.custodian.store.wallets_with_prefix(prefix)))
    return JSONResponse({"wallets": [keys.device_wallet_id(k) for k in found]})


async def view(request: Request) -> Response:
    svc, wallet_id, key = await wallet(request, limit="view")
    held = await svc.call(svc.custodian.view, key)
    if held is None:
        raise _not_found(wallet_id)
    return JSONResponse(protocol.to_json(dataclasses.replace(held, wallet_id=wallet_id)))


async def propose(request: Request) -> Response:
    svc, wallet_id, key = await wallet(request)
    data = await wire.read_json(request, svc.settings.max_body_bytes)
    try:
        proposal = protocol.from_json(Proposal, data)
    except MalformedBackup as exc:
        raise malformed(str(exc)) from None
    if proposal.wallet_id != wallet_id:
        raise malformed("the proposal's wallet_id is not the wallet of the path")
    checks.proposal(proposal)
    try:
        held = await svc.call(svc.custodian.propose, dataclasses.replace(proposal, wallet_id=key))
    except ApiError as exc:
        raise await _conflict_or(svc, key, proposal.base_revision, proposal.revision, exc) from None
    return JSONResponse(protocol.to_json(held), 201)


async def promote(request: Request) -> Response:
    svc, _, key = await wallet(request)
    revision = wire.revision(request.path_params["r"])
    await wire.read_object(request, svc.settings.max_body_bytes, {})
    try:
        await svc.call(svc.custodian.promote, key, revision)
    except ApiError as exc:
        raise await _conflict_or(svc, key, None, revision, exc) from None
    return Response(status_code=204)


async def abandon(request: Request) -> Response:
    svc, _, key = await wallet(request)
    revision = wire.revision(request.path_params["r"])
    body = await wire.read_object(request, svc.settings.max_body_bytes, {"detail": str})
    try:
        await svc.call(svc.custodian.abandon, key, revision, checks.detail(body["detail"]))
    except ApiError as exc:
        raise await _conflict_or(svc, key, None, revision, exc) from None
    return Response(status_code=204)


async def verified(request: Request) -> Response:
    svc, wallet_id, key = await wallet(request)
    revision = wire.revision(request.path_params["r"])
    body = await wire.read_object(request, svc.settings.max_body_bytes, {"stanza_id": str})
    stanza_id = wire.hex_id(body["stanza_id"], 16, "stanza_id")

    def record() -> bool:
        # One trip to the threadpool for both: each trip costs about what a statement does.
        if svc.custodian.view(key) is None:
            return False
        svc.custodian.record_verified(key, revision, stanza_id)
        return True

    if not await svc.call(record):
        raise _not_found(wallet_id)
    return Response(status_code=204)


async def check(request: Request) -> Response:
    """The service opens its custodian envelope of the revision; nothing secret is answered."""
    svc, _, key = await wallet(request, limit="check")
    revision = wire.revision(request.path_params["r"])
    await wire.read_object(request, svc.settings.max_body_bytes, {})
    released = await svc.call(svc.custodian.release, key, revision)
    return JSONResponse(
        {
            "revision": released.revision,
            "backup_set_id": released.backup_set_id,
            "key_epoch": released.key_epoch,
        }
    )


async def record_audit(request: Request) -> Response:
    svc = service(request)
    principal = await svc.caller(request, "device")
    body = await wire.read_object(request, svc.settings.max_body_bytes, {"event": dict})
    event = checks.event(body["event"])
    if "wallet_id" in event:
        if not isinstance(event["wallet_id"], str):
            raise malformed("an audit event's wallet_id is a string")
        event["wallet_id"] = _key(principal, wire.wallet_id(event["wallet_id"]))
    # Who sent it is the service's to say, whatever the event claims.
    event |= {"tenant": principal.tenant, "user": _user(principal)}
    await svc.call(svc.custodian.audit, event)
    return Response(status_code=204)


async def wallet(request: Request, limit: str | None = None) -> tuple[Service, str, str]:
    """The service, the path's wallet id and its internal key, for an authenticated device;
    with ``limit`` (the route's operation id), counted against that route's rate limits."""
    svc = service(request)
    principal = await svc.caller(request, "device")
    if limit is not None:
        await svc.limit(request, limit, principal.tenant, _user(principal))
    wallet_id = wire.wallet_id(request.path_params["w"])
    return svc, wallet_id, _key(principal, wallet_id)


def _key(principal: Principal, wallet_id: str) -> str:
    key = keys.wallet_key(principal.tenant, _user(principal), wallet_id)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError(
            "policy",
            f"this service keeps a wallet under its tenant, user and wallet id together, at most "
            f"{MAX_KEY_BYTES} bytes: use a shorter wallet id",
        )
    return key


def _user(principal: Principal) -> str:
    assert principal.user is not None  # a device credential always names its user
    return principal.user


def _not_found(wallet_id: str) -> ApiError:
    return ApiError("not_found", f"there is no backup for wallet {wallet_id!r}")


async def _conflict_or(
    svc: Service, key: str, base_revision: int | None, revision: int, exc: ApiError
) -> ApiError:
    """``conflict`` when the wallet moved on under the change, else ``exc`` as it was.

    The core says both "changed under you" and "the store failed" with one exception type;
    the wallet's revisions tell them apart: its current one is not the change's base, or
    another change (a device racing through another request or replica) took ``revision``
    or a later one. ``base_revision`` is ``None`` for a promote or abandon of ``revision``.
    """
    if exc.code != "unavailable":
        return exc
    try:
        held = await svc.call(svc.custodian.view, key)
    except ApiError:
        return exc
    current = held.current.revision if held is not None and held.current is not None else 0
    last = held.last_revision if held is not None else 0
    if base_revision is not None and current != base_revision:
        return ApiError(
            "conflict",
            f"the wallet is at revision {current}, the change was built on {base_revision}: "
            "read it again and retry",
        )
    if last > revision or (base_revision is not None and last == revision):
        return ApiError(
            "conflict",
            f"another change of the wallet took revision {last} meanwhile: read it again and retry",
        )
    return exc


ROUTES = [
    Route("/v1/wallets", list_wallets, methods=["GET"]),
    Route("/v1/wallets/{w:path}/proposals", propose, methods=["POST"]),
    Route("/v1/wallets/{w:path}/revisions/{r}/promote", promote, methods=["POST"]),
    Route("/v1/wallets/{w:path}/revisions/{r}/abandon", abandon, methods=["POST"]),
    Route("/v1/wallets/{w:path}/revisions/{r}/verified", verified, methods=["POST"]),
    Route("/v1/wallets/{w:path}/revisions/{r}/check", check, methods=["POST"]),
    Route("/v1/wallets/{w:path}", view, methods=["GET"]),
    Route("/v1/audit", record_audit, methods=["POST"]),
]
