"""The OpenAPI 3.1 document the service serves at ``/openapi.json``.

The operations are written out below as data, one row per route (a test checks the app's
routes and this table against each other). The message schemas are derived from the core's
protocol dataclasses, the same ones :func:`walletbackup.protocol.to_json` encodes, so the
document cannot drift from what the service sends.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from walletbackup.protocol import PROTOCOL_VERSION, Proposal, Released, WalletView

from .auth import MAX_TTL, MIN_TTL
from .errors import CODES


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    #: Who may call it: "backend", "custodian", "device", "any" (any credential) or None (open).
    role: str | None
    request: dict[str, Any] | None
    status: int
    answer: dict[str, Any] | None
    answer_type: str = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


_EMPTY = _object({})
_HEX16 = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_TOKEN_REQUEST = _object(
    {
        "user": {"type": "string", "pattern": "^[A-Za-z0-9._@+-]{1,128}$"},
        "ttl_seconds": {"type": "integer", "minimum": MIN_TTL, "maximum": MAX_TTL},
    },
    ["user"],
)
_TOKEN = _object(
    {"token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}
)
_ME = _object(
    {
        "tenant": {"type": "string"},
        "role": {"enum": ["backend", "custodian", "device"]},
        "user": {"type": ["string", "null"]},
    }
)
_CHECKED = _object(
    {
        "revision": {"type": "integer"},
        "backup_set_id": {"type": "string"},
        "key_epoch": {"type": "integer"},
    }
)
_READY = _object({"ready": {"type": "boolean"}, "checks": {"type": "object"}}, ["ready", "checks"])
_EJECT_PREPARED = _object(
    {"revision": {"type": "integer"}, "not_before": {"type": "string", "format": "date-time"}}
)

OPERATIONS = (
    Operation("get", "/healthz", "healthz", "The process is alive.", None, None, 200, _object(
        {"status": {"const": "ok"}})),
    Operation("get", "/readyz", "readyz", "The store and the KMS answer (503 when not).", None,
              None, 200, _READY),
    Operation("get", "/metrics", "metrics", "Prometheus metrics.", None, None, 200,
              {"type": "string"}, "text/plain"),
    Operation("get", "/openapi.json", "openapi", "This document.", None, None, 200,
              {"type": "object"}),
    Operation("post", "/v1/tokens", "mint_token", "Mint a user token (the tenant's backend).",
              "backend", _TOKEN_REQUEST, 201, _TOKEN),
    Operation("get", "/v1/me", "me", "Who the credential belongs to.", "any", None, 200, _ME),
    Operation("get", "/v1/wallets", "list_wallets", "This user's wallet ids.", "device", None,
              200, _object({"wallets": {"type": "array", "items": {"type": "string"}}})),
    Operation("get", "/v1/wallets/{w}", "view", "What the custodian holds for a wallet.",
              "device", None, 200, _ref("WalletView")),
    Operation("post", "/v1/wallets/{w}/proposals", "propose",
              "Hold a new revision as pending.", "device", _ref("Proposal"), 201,
              _ref("RevisionView")),
    Operation("post", "/v1/wallets/{w}/revisions/{r}/promote", "promote",
              "Make the pending revision current.", "device", _EMPTY, 204, None),
    Operation("post", "/v1/wallets/{w}/revisions/{r}/abandon", "abandon",
              "Mark the pending revision failed.", "device",
              _object({"detail": {"type": "string", "maxLength": 256}}), 204, None),
    Operation("post", "/v1/wallets/{w}/revisions/{r}/verified", "record_verified",
              "Note that the device opened the revision with a stanza.", "device",
              _object({"stanza_id": _HEX16}), 204, None),
    Operation("post", "/v1/wallets/{w}/revisions/{r}/check", "check",
              "The service opens its custodian envelope of the revision.", "device", _EMPTY,
              200, _CHECKED),
    Operation("post", "/v1/audit", "audit", "Record a device's audit event.", "device",
              _object({"event": {"type": "object"}}), 204, None),
    Operation("post", "/v1/wallets/{w}/eject/prepare", "eject_prepare",
              "Ask to eject the current revision's custodian share, after the eject delay.",
              "device", _EMPTY, 202, _EJECT_PREPARED),
    Operation("post", "/v1/wallets/{w}/eject", "eject",
              "The custodian share of the prepared revision, once the delay has passed.",
              "device", _EMPTY, 200, _ref("Released")),
    Operation("delete", "/v1/wallets/{w}/eject", "eject_cancel", "Cancel the eject request.",
              "device", None, 204, None),
    Operation("get", "/v1/users/{u}/wallets/{w}/revisions/{r}/custodian-share",
              "custodian_share", "The custodian share of a revision (the tenant's node).",
              "custodian", None, 200, _ref("Released")),
)  # fmt: skip

_PARAMETERS = {
    "w": {"type": "string", "minLength": 1},
    "r": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    "u": {"type": "string", "pattern": "^[A-Za-z0-9._@+-]{1,128}$"},
}
#: The errors every authenticated route may answer.
ERROR_STATUSES = sorted({status for code, status in CODES.items() if code != "method_not_allowed"})
_REASONS = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict, stale or eject_not_ready",
    413: "too_large",
    422: "policy",
    429: "rate_limited",
    503: "unavailable",
}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    schemas = {"Error": _ERROR}
    for message in (WalletView, Proposal, Released):
        _schema(message, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "walletbackup custodian service",
            "version": f"{PROTOCOL_VERSION}",
            "description": "The two-parties protocol of walletbackup over HTTP (docs/server.md).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


_ERROR = _object({"error": {"enum": sorted(CODES)}, "message": {"type": "string"}})


def _operation(op: Operation) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": op.summary}
    if op.answer is not None:
        answer["content"] = {op.answer_type: {"schema": op.answer}}
    responses: dict[str, Any] = {str(op.status): answer}
    if op.role is not None:
        for status in ERROR_STATUSES:
            responses[str(status)] = {
                "description": _REASONS[status],
                "content": {"application/json": {"schema": _ref("Error")}},
            }
        responses["429"]["headers"] = {
            "Retry-After": {
                "description": "Seconds until one more request fits the limit.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    elif op.path == "/readyz":
        responses["503"] = {
            "description": "not ready",
            "content": {"application/json": {"schema": _READY}},
        }
    result: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": responses,
    }
    names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    if names:
        result["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": _PARAMETERS[name]}
            for name in names
        ]
    if op.request is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.request}},
        }
    if op.role is not None:
        result["security"] = [{"bearer": []}]
    return result


def _schema(kind: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of ``to_json`` of a ``kind`` value; dataclasses go to ``schemas``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [_schema(option, schemas) for option in typing.get_args(kind)]
        return {"anyOf": options}
    if origin is tuple:
        return {"type": "array", "items": _schema(typing.get_args(kind)[0], schemas)}
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        name = kind.__name__
        if name not in schemas:
            schemas[name] = {}  # placeholder while its fields are described
            hints = typing.get_type_hints(kind)
            fields = dataclasses.fields(kind)
            schemas[name] = _object(
                {f.name: _schema(hints[f.name], schemas) for f in fields},
                [
                    f.name
                    for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                ],
            )
        return _ref(name)
    return dict(_SCALARS[kind])


_SCALARS: dict[Any, dict[str, Any]] = {
    int: {"type": "integer"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    bytes: {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
}


__all__ = ["OPERATIONS", "Operation", "document"]
